/*
 * segment_posix.c - named shared memory on POSIX: shm_open + mmap.
 *
 * Segments are created with O_EXCL and mode 0600, and their memory is
 * allocated up front (posix_fallocate on Linux), so a full /dev/shm fails
 * here with ENOSPACE instead of killing a process with SIGBUS on first touch.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void os_name(const char *name, char out[SHMRING_NAME_MAX + 2]) {
    out[0] = '/';
    memcpy(out + 1, name, strlen(name) + 1);
}

static int error_from_errno(int err) {
    switch (err) {
    case ENOENT: return SHMRING_ENOENT;
    case EEXIST: return SHMRING_EEXIST;
    case ENOSPC: case ENOMEM: case EFBIG: return SHMRING_ENOSPACE;
    default: errno = err; return SHMRING_ESYS;
    }
}

static int reserve_memory(int fd, size_t size) {
#if defined(__linux__)
    int err = posix_fallocate(fd, 0, (off_t)size);
    if (err == 0)
        return SHMRING_OK;
    if (err != EOPNOTSUPP && err != EINVAL)
        return error_from_errno(err);
#endif
    /* Elsewhere (macOS allows one ftruncate on a shm object) size it only. */
    if (ftruncate(fd, (off_t)size) != 0)
        return error_from_errno(errno);
    return SHMRING_OK;
}

static int map_fd(int fd, size_t size, bool populate, shmring_segment *seg) {
    int flags = MAP_SHARED;
#if defined(MAP_POPULATE)
    /* Fill the page tables now: otherwise the first lap of the ring takes
     * a page fault every 4 KiB, a latency spike in the middle of traffic. */
    if (populate)
        flags |= MAP_POPULATE;
#else
    (void)populate;
#endif
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED)
        return error_from_errno(errno);
    seg->base = p;
    seg->size = size;
    seg->size_granule = 1; /* fstat gave the exact size */
    return SHMRING_OK;
}

int shmring_segment_create(const char *name, size_t size, shmring_segment *seg) {
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return error_from_errno(errno);
    int rc = reserve_memory(fd, size);
    if (rc == SHMRING_OK)
        rc = map_fd(fd, size, false, seg); /* the creator only writes the header */
    int saved = errno;
    close(fd);
    if (rc != SHMRING_OK)
        shm_unlink(path);
    errno = saved;
    return rc;
}

int shmring_segment_attach(const char *name, bool populate, shmring_segment *seg) {
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    int fd = shm_open(path, O_RDWR, 0);
    if (fd < 0)
        return error_from_errno(errno);
    struct stat st;
    int rc = SHMRING_OK;
    if (fstat(fd, &st) != 0)
        rc = error_from_errno(errno);
    else if (st.st_size == 0)
        rc = SHMRING_ENOTREADY; /* the creator has not sized it yet */
    else if (st.st_size < (off_t)sizeof(uint64_t))
        rc = SHMRING_ENOTSHMRING;
    else
        rc = map_fd(fd, (size_t)st.st_size, populate, seg);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void shmring_segment_detach(shmring_segment *seg) {
    if (seg->base != NULL)
        munmap(seg->base, seg->size);
    seg->base = NULL;
    seg->size = 0;
}

int shmring_segment_unlink(const char *name) {
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    if (shm_unlink(path) != 0)
        return error_from_errno(errno);
    return SHMRING_OK;
}

#endif /* !_WIN32 */
