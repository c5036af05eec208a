/*
 * segment_posix.c - named shared memory on POSIX: shm_open + mmap.
 *
 * Segments are created with O_EXCL and mode 0600 (or the group bits the
 * creator asks for, never "other" bits), and their memory is allocated up
 * front (posix_fallocate on Linux), so a full /dev/shm fails here with
 * ENOSPACE instead of killing a process with SIGBUS on first touch.
 *
 * Foreign segments. Any user can create a segment of any free name, so an
 * end maps a segment only after fstat of the very descriptor it maps says
 * it is a regular object, this user's own (or a trusted one's) and open to
 * nobody else (see shmring_open_trusting in shmring.h). On Linux shm_open
 * is open() in /dev/shm, where anyone can also leave a symbolic link or a
 * FIFO under a ring's name: opens there never follow a link (O_NOFOLLOW)
 * nor wait for a FIFO's writer (O_NONBLOCK). macOS keeps segments in a
 * namespace of their own that holds nothing else; its fstat of one shows
 * the permission bits without a file type, and it takes neither fchmod nor
 * fchown nor read() on one.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__linux__)
/* glibc and musl pass these through to open(); FreeBSD's shm_open refuses
 * flags it does not know, and elsewhere names are not files. */
#define OPEN_FLAGS (O_NOFOLLOW | O_NONBLOCK)
#define SHM_DIR "/dev/shm/" /* where glibc and musl keep POSIX shared memory */
#else
#define OPEN_FLAGS 0
#endif

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

/* ---- whose a segment is -------------------------------------------------- */

/* A uid or gid of a trust or perms: -1 (none) or a real id ((uid_t)-1 is not one). */
static bool valid_id(int64_t id) { return id >= -1 && id < (int64_t)UINT32_MAX; }

static bool trusts(int64_t trusted, uint32_t id) { return trusted >= 0 && (uint64_t)trusted == id; }

/* What fstat (or lstat) says of an object, as shmring_owner; the file type
 * bits filled in where the OS leaves them out (macOS). */
static void describe(const struct stat *st, shmring_owner *out) {
    memset(out, 0, sizeof *out);
    out->uid = (uint32_t)st->st_uid;
    out->gid = (uint32_t)st->st_gid;
    out->mode = (uint32_t)st->st_mode;
#if defined(__APPLE__)
    if ((st->st_mode & S_IFMT) == 0)
        out->mode |= S_IFREG; /* a shm object: its namespace holds nothing else */
#endif
}

/* Why an open with `trust` refuses the object `o` describes (0: it does not).
 * Everyone who can write to the segment must be trusted: its owner unless
 * the mode gives it to a trusted group (whose members alone can give a file
 * their group, root aside), the group if the mode grants it anything, and
 * never every user. */
static uint32_t refusal(const shmring_owner *o, const shmring_trust *trust) {
    int64_t uid = trust != NULL ? trust->uid : -1;
    int64_t gid = trust != NULL ? trust->gid : -1;
    bool group_access = (o->mode & 070) != 0;
    bool group_trusted = group_access && trusts(gid, o->gid);
    bool owner_trusted = o->uid == (uint32_t)geteuid() || trusts(uid, o->uid);
    uint32_t why = 0;
    if ((o->mode & S_IFMT) != S_IFREG)
        why |= SHMRING_REFUSE_NOT_REGULAR;
    if (!owner_trusted && !group_trusted)
        why |= SHMRING_REFUSE_OWNER;
    if (group_access && !group_trusted)
        why |= SHMRING_REFUSE_GROUP;
    if ((o->mode & 007) != 0)
        why |= SHMRING_REFUSE_OTHERS;
    return why;
}

static int check_trust(const shmring_trust *trust) {
    if (trust != NULL && (!valid_id(trust->uid) || !valid_id(trust->gid)))
        return SHMRING_EINVAL;
    return SHMRING_OK;
}

#if defined(__linux__)
/* Describe the name itself, whatever it is (a link, an object we may not
 * open): for messages only, so a look by path is enough. */
static int describe_path(const char *name, shmring_owner *out) {
    char path[sizeof SHM_DIR + SHMRING_NAME_MAX];
    memcpy(path, SHM_DIR, sizeof SHM_DIR - 1);
    memcpy(path + sizeof SHM_DIR - 1, name, strlen(name) + 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return error_from_errno(errno);
    describe(&st, out);
    return SHMRING_OK;
}
#endif

/* An open of `name` failed with `err`: EFOREIGN if what is there is foreign
 * (a symbolic link: ELOOP; another user's segment we may not open: EACCES;
 * a socket or directory: ENXIO, EISDIR), else the error itself. */
static int open_error(const char *name, int err, const shmring_trust *trust) {
#if defined(__linux__)
    shmring_owner o;
    if (err != ENOENT && describe_path(name, &o) == SHMRING_OK && refusal(&o, trust) != 0)
        return SHMRING_EFOREIGN;
#else
    (void)name;
    (void)trust;
#endif
    return error_from_errno(err);
}

int shmring_segment_owner(const char *name, const shmring_trust *trust, shmring_owner *out) {
    if (shmring_name_check(name) != SHMRING_OK || check_trust(trust) != SHMRING_OK)
        return SHMRING_EINVAL;
#if defined(__linux__)
    int rc = describe_path(name, out);
    if (rc != SHMRING_OK)
        return rc;
#else
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    int fd = shm_open(path, O_RDONLY, 0);
    if (fd < 0)
        return error_from_errno(errno);
    struct stat st;
    int failed = fstat(fd, &st);
    int saved = errno;
    close(fd);
    if (failed)
        return error_from_errno(saved);
    describe(&st, out);
#endif
    out->refused = refusal(out, trust);
    return SHMRING_OK;
}

/* ---- create, attach ------------------------------------------------------- */

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

static int map_fd(int fd, size_t size, bool populate, bool writable, shmring_segment *seg) {
    int flags = MAP_SHARED;
#if defined(MAP_POPULATE)
    /* Fill the page tables now: otherwise the first lap of the ring takes
     * a page fault every 4 KiB, a latency spike in the middle of traffic. */
    if (populate)
        flags |= MAP_POPULATE;
#else
    (void)populate;
#endif
    void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED)
        return error_from_errno(errno);
    seg->base = p;
    seg->size = size;
    seg->size_granule = 1; /* fstat gave the exact size */
    seg->copy = false;
    seg->has_fd = false;
    return SHMRING_OK;
}

/* The permissions a creator asked for, checked: 0600 plus group bits. */
static int check_perms(const shmring_perms *perms) {
    if (perms == NULL)
        return SHMRING_OK;
    if ((perms->mode & ~(uint32_t)070) != 0600 || !valid_id(perms->gid))
        return SHMRING_EINVAL;
#if defined(__APPLE__)
    /* No fchown of a shm object there: it keeps the creator's group. */
    if (perms->gid >= 0 && (uint64_t)perms->gid != (uint64_t)getegid())
        return SHMRING_EINVAL;
#endif
    return SHMRING_OK;
}

/* Give the new segment its group and mode, exactly: the umask may have
 * taken bits off shm_open's mode. The group first, so the mode never grants
 * anything to a group the creator did not choose. */
static int apply_perms(int fd, const shmring_perms *perms) {
#if defined(__APPLE__)
    (void)fd;
    (void)perms; /* shm_open set the mode whole (no umask for shm objects there) */
    return SHMRING_OK;
#else
    if (perms != NULL && perms->gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)perms->gid) != 0)
        return errno == EPERM ? SHMRING_EINVAL : error_from_errno(errno); /* not a group of ours */
    if (fchmod(fd, perms != NULL ? (mode_t)perms->mode : 0600) != 0)
        return error_from_errno(errno);
    return SHMRING_OK;
#endif
}

int shmring_segment_create(const char *name, size_t size, const shmring_perms *perms,
                           shmring_segment *seg) {
    int rc = check_perms(perms);
    if (rc != SHMRING_OK)
        return rc;
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
#if defined(__APPLE__)
    mode_t mode = perms != NULL ? (mode_t)perms->mode : 0600;
#else
    mode_t mode = 0600; /* apply_perms() widens it once the group is right */
#endif
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return error_from_errno(errno);
    rc = apply_perms(fd, perms);
    if (rc == SHMRING_OK)
        rc = reserve_memory(fd, size);
    if (rc == SHMRING_OK)
        rc = map_fd(fd, size, false, true, seg); /* the creator only writes the header */
    int saved = errno;
    close(fd);
    if (rc != SHMRING_OK)
        shm_unlink(path);
    errno = saved;
    return rc;
}

/* A look at the header: a private copy where the owner could shrink the
 * object under a mapping (tmpfs; a SIGBUS would kill `shmring ls`), a
 * read-only mapping on macOS, which allows no read() of a shm object and no
 * resizing once sized. */
static int look(int fd, size_t size, shmring_segment *seg) {
#if defined(__APPLE__)
    return map_fd(fd, size, false, false, seg);
#else
    unsigned char *copy = calloc(1, SHMRING_HEADER_SIZE);
    if (copy == NULL)
        return SHMRING_ENOSPACE;
    size_t want = size < SHMRING_HEADER_SIZE ? size : SHMRING_HEADER_SIZE;
    for (size_t got = 0; got < want;) {
        ssize_t n = pread(fd, copy + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(copy);
            return error_from_errno(err);
        }
        if (n == 0)
            break; /* shrunk meanwhile: the rest reads as zeros, which the checks refuse */
        got += (size_t)n;
    }
    seg->base = copy;
    seg->size = size; /* the object's, for the header's size checks */
    seg->size_granule = 1;
    seg->copy = true;
    seg->has_fd = false;
    return SHMRING_OK;
#endif
}

int shmring_segment_attach(const char *name, bool end, const shmring_trust *trust,
                           shmring_segment *seg) {
    if (check_trust(trust) != SHMRING_OK)
        return SHMRING_EINVAL;
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    /* A look opens read-only: it may describe a segment this user cannot write. */
    int fd = shm_open(path, (end ? O_RDWR : O_RDONLY) | OPEN_FLAGS, 0);
    if (fd < 0)
        return end ? open_error(name, errno, trust) : open_error(name, errno, NULL);
    struct stat st;
    shmring_owner o;
    int rc = SHMRING_OK;
    if (fstat(fd, &st) != 0) {
        rc = error_from_errno(errno);
    } else {
        describe(&st, &o);
        uint32_t why = refusal(&o, trust);
        if (!end)
            why &= SHMRING_REFUSE_NOT_REGULAR; /* a look describes anyone's segment */
        if (why != 0)
            rc = SHMRING_EFOREIGN; /* checked before anything is mapped */
        else if (st.st_size == 0)
            rc = SHMRING_ENOTREADY; /* the creator has not sized it yet */
        else if (st.st_size < (off_t)sizeof(uint64_t))
            rc = SHMRING_ENOTSHMRING;
        else if (end)
            rc = map_fd(fd, (size_t)st.st_size, true, true, seg);
        else
            rc = look(fd, (size_t)st.st_size, seg);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void shmring_segment_detach(shmring_segment *seg) {
    if (seg->base != NULL) {
        if (seg->copy)
            free(seg->base);
        else
            munmap(seg->base, seg->size);
    }
    if (seg->has_fd)
        close(seg->fd);
    seg->base = NULL;
    seg->size = 0;
    seg->copy = false;
    seg->has_fd = false;
}

/* ---- sealed segments, with no name (Linux) ---------------------------------- */

#if defined(__linux__) && defined(MFD_ALLOW_SEALING) && defined(F_ADD_SEALS)
/* Sealed against resizing; F_SEAL_SEAL so that nobody can add F_SEAL_WRITE
 * (which would make every later mapping of it fail) or remove anything. */
#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int shmring_segment_create_sealed(size_t size, shmring_segment *seg, int *fd_out) {
    int fd = memfd_create("shmring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return errno == ENOSYS || errno == EPERM ? SHMRING_ENOTSUP : error_from_errno(errno);
    /* Sized, its memory reserved and sealed before the first byte is written:
     * from here on no process can make a page of it go away. */
    int rc = fchmod(fd, 0600) == 0 ? SHMRING_OK : error_from_errno(errno);
    if (rc == SHMRING_OK)
        rc = reserve_memory(fd, size);
    if (rc == SHMRING_OK && fcntl(fd, F_ADD_SEALS, RING_SEALS) != 0)
        rc = error_from_errno(errno);
    if (rc == SHMRING_OK)
        rc = map_fd(fd, size, false, true, seg);
    if (rc != SHMRING_OK) {
        int saved = errno;
        close(fd);
        errno = saved;
        return rc;
    }
    *fd_out = fd;
    return SHMRING_OK;
}

int shmring_segment_attach_fd(int fd, shmring_segment *seg) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno == EBADF ? SHMRING_EINVAL : error_from_errno(errno);
    shmring_owner o;
    describe(&st, &o);
    int seals = fcntl(fd, F_GET_SEALS);
    /* Not sealed (or not a memfd: EINVAL): it could shrink under us. */
    if (refusal(&o, NULL) != 0 || seals < 0 || (seals & RING_SEALS) != RING_SEALS)
        return SHMRING_EFOREIGN;
    if (st.st_size < (off_t)sizeof(uint64_t))
        return SHMRING_ENOTSHMRING;
    int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0)
        return error_from_errno(errno);
    int rc = map_fd(keep, (size_t)st.st_size, true, true, seg);
    if (rc != SHMRING_OK) {
        int saved = errno;
        close(keep);
        errno = saved;
        return rc;
    }
    seg->has_fd = true;
    seg->fd = keep;
    return SHMRING_OK;
}
#else
int shmring_segment_create_sealed(size_t size, shmring_segment *seg, int *fd_out) {
    (void)size;
    (void)seg;
    (void)fd_out;
    return SHMRING_ENOTSUP;
}

int shmring_segment_attach_fd(int fd, shmring_segment *seg) {
    (void)fd;
    (void)seg;
    return SHMRING_ENOTSUP;
}
#endif

int shmring_segment_unlink(const char *name) {
    char path[SHMRING_NAME_MAX + 2];
    os_name(name, path);
    if (shm_unlink(path) != 0)
        return error_from_errno(errno);
    return SHMRING_OK;
}

#endif /* !_WIN32 */
