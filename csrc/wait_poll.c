/*
 * wait_poll.c - park by napping: sleep in short, growing naps and re-check
 * the word. Correct, but a wake-up costs up to one nap (<= 1 ms); the spin
 * phase in block.c hides this for busy rings.
 *
 * POSIX systems other than Linux and macOS park this way. macOS parks on an
 * address wait (wait_darwin.c) and naps only where neither os_sync nor
 * __ulock can be found, so the nap loop is built there too.
 */
#if !defined(__linux__) && !defined(_WIN32)
#include "internal.h"

#include <errno.h>
#include <time.h>

/* Sleep while *word == expected, at most timeout_ns; as shmring_park(). */
int shmring_park_naps(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    if (timeout_ns <= 0)
        return SHMRING_OK;
    int64_t deadline = shmring_later(shmring_now_ns(), timeout_ns);
    int64_t nap = 20000;
    for (;;) {
        /* acquire: pairs with the waker's release bump of the word */
        if (atomic_load_explicit(word, memory_order_acquire) != expected)
            return SHMRING_OK;
        int64_t left = deadline - shmring_now_ns();
        if (left <= 0)
            return SHMRING_OK;
        if (nap > left)
            nap = left;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap};
        if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
            return SHMRING_EINTR;
        if (nap < 1000000)
            nap *= 2;
    }
}

#if !defined(__APPLE__)

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    (void)seg;
    return shmring_park_naps(&wp->seq, expected, timeout_ns);
}

/* Sleepers poll the word: nothing to wake. */
void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) { (void)seg; (void)wp; }
void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) { (void)seg; (void)wp; }

/* No way to fence other processes here: every notifier uses a real fence. */
bool shmring_light_fence_ready(void) { return false; }

int shmring_heavy_fence(void) {
    /* seq_cst: pairs with the notifier's fence */
    atomic_thread_fence(memory_order_seq_cst);
    return SHMRING_OK;
}

#endif /* !__APPLE__ */
#endif /* !__linux__ && !_WIN32 */
