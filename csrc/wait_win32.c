/*
 * wait_win32.c - park and wake on Windows: a named semaphore per waitpoint
 * (opened by segment_win32.c), since WaitOnAddress only works inside one
 * process.
 *
 * A semaphore keeps its count, so a post that lands between a sleeper's
 * last look at seq and its wait is not lost: the wait returns at once. The
 * waiter count in the waitpoint (block.c, shmring_notify) still gates every
 * post, so a ring nobody sleeps on makes no system call. A post nobody
 * consumed (its sleeper's slice ran out first) costs one early return of a
 * later park, which re-checks and parks again.
 *
 * Windows has no signals to interrupt a wait: Ctrl-C reaches Python on
 * another thread, and the caller sees it between slices (<= 50 ms), so a
 * park never returns SHMRING_EINTR here.
 */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include "internal.h"

#include <windows.h>

static HANDLE semaphore_of(const shmring_segment *seg, const shmring_waitpoint *wp) {
    const shmring_header *hdr = (const shmring_header *)seg->base;
    return seg->wake[wp == &hdr->space_wait ? 1 : 0];
}

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    if (timeout_ns <= 0)
        return SHMRING_OK;
    /* Whole milliseconds, rounded up: a shorter wait would spin. */
    int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    if (ms > SHMRING_SLICE_NS / 1000000)
        ms = SHMRING_SLICE_NS / 1000000;
    /* acquire: pairs with the waker's release bump of seq; a bump already
     * made means its post is made or coming, and we need not sleep */
    if (atomic_load_explicit(&wp->seq, memory_order_acquire) != expected)
        return SHMRING_OK;
    HANDLE sem = semaphore_of(seg, wp);
    if (sem == NULL) /* a handle opened only to look at the header: nap */
        Sleep((DWORD)ms);
    else
        WaitForSingleObject(sem, (DWORD)ms); /* posted, or the slice passed: re-check */
    return SHMRING_OK;
}

void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) {
    HANDLE sem = semaphore_of(seg, wp);
    if (sem != NULL)
        ReleaseSemaphore(sem, 1, NULL); /* fails only when full: enough posts wait already */
}

void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) {
    HANDLE sem = semaphore_of(seg, wp);
    if (sem == NULL)
        return;
    /* relaxed: the caller's release bump of seq came first; a sleeper that
     * counted itself later sees the new seq before it parks */
    uint32_t sleepers = atomic_load_explicit(&wp->waiters, memory_order_relaxed);
    if (sleepers == 0 || sleepers > SHMRING_WAKE_MAX_POSTS)
        sleepers = sleepers == 0 ? 1 : SHMRING_WAKE_MAX_POSTS; /* a hostile count is bounded */
    /* One post per sleeper; a post past the semaphore's maximum fails and
     * stops the loop (every possible sleeper has one then). */
    for (uint32_t i = 0; i < sleepers; i++) {
        if (!ReleaseSemaphore(sem, 1, NULL))
            break;
    }
}

/* No way to fence other processes' CPUs: every notifier uses a real fence. */
bool shmring_light_fence_ready(void) { return false; }

int shmring_heavy_fence(void) {
    /* seq_cst: pairs with the notifier's fence in shmring_notify() */
    atomic_thread_fence(memory_order_seq_cst);
    return SHMRING_OK;
}

#endif /* _WIN32 */
