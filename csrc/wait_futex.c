/*
 * wait_futex.c - park and wake on Linux: a shared (not private) futex, so
 * processes that map the same segment at different addresses meet on it.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* From <linux/membarrier.h> (Linux 4.16), which old build images lack. */
#define MEMBARRIER_QUERY 0
#define MEMBARRIER_GLOBAL_EXPEDITED (1 << 1)
#define MEMBARRIER_REGISTER_GLOBAL_EXPEDITED (1 << 2)

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    (void)seg;
    _Atomic uint32_t *word = &wp->seq;
    if (timeout_ns <= 0)
        return SHMRING_OK;
    struct timespec ts = {
        .tv_sec = (time_t)(timeout_ns / 1000000000),
        .tv_nsec = (long)(timeout_ns % 1000000000),
    };
    /* FUTEX_WAIT (relative timeout) checks *word == expected atomically with
     * going to sleep, so a bump of the word before we sleep is never lost. */
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
    if (rc != 0 && errno == EINTR)
        return SHMRING_EINTR;
    return SHMRING_OK; /* woken, EAGAIN (value changed) or ETIMEDOUT: re-check */
}

void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    syscall(SYS_futex, (uint32_t *)&wp->seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    syscall(SYS_futex, (uint32_t *)&wp->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

#if defined(SYS_membarrier)
static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }
#else
static long membarrier(int cmd) { (void)cmd; errno = ENOSYS; return -1; }
#endif

/* The pid that registered (registration is per process, so a forked child
 * registers again), and the pid for which it failed. */
static _Atomic uint32_t registered_pid, refused_pid;

bool shmring_light_fence_ready(void) {
    uint32_t pid = shmring_self_pid();
    /* relaxed, both: a cache of a syscall's answer; registering twice is harmless */
    if (atomic_load_explicit(&registered_pid, memory_order_relaxed) == pid)
        return true;
    if (atomic_load_explicit(&refused_pid, memory_order_relaxed) == pid)
        return false;
    long cmds = membarrier(MEMBARRIER_QUERY);
    bool ok = cmds > 0 && (cmds & MEMBARRIER_GLOBAL_EXPEDITED) &&
              (cmds & MEMBARRIER_REGISTER_GLOBAL_EXPEDITED) &&
              membarrier(MEMBARRIER_REGISTER_GLOBAL_EXPEDITED) == 0;
    atomic_store_explicit(ok ? &registered_pid : &refused_pid, pid, memory_order_relaxed);
    return ok;
}

int shmring_heavy_fence(void) {
    /* seq_cst: our own side of the handshake */
    atomic_thread_fence(memory_order_seq_cst);
    /* Every CPU running a registered process executes a full fence before
     * this returns: it stands in for the fence light notifiers skip. */
    return membarrier(MEMBARRIER_GLOBAL_EXPEDITED) == 0 ? SHMRING_OK : SHMRING_ESYS;
}

#endif /* __linux__ */
