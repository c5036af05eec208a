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

int shmring_park(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
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

void shmring_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

#endif /* __linux__ */
