/*
 * wait_poll.c - park and wake where no address-wait syscall is used yet
 * (POSIX systems other than Linux): sleep in short, growing naps and
 * re-check the word. Correct, but a wake-up costs up to one nap (<= 1 ms);
 * the spin phase in block.c hides this for busy rings.
 */
#if !defined(__linux__) && !defined(_WIN32)
#include "internal.h"

#include <errno.h>
#include <time.h>

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    (void)seg;
    _Atomic uint32_t *word = &wp->seq;
    int64_t deadline = shmring_now_ns() + timeout_ns;
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

void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg; (void)word; /* sleepers poll the word */ }
void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg; (void)word; }

/* No way to fence other processes here: every notifier uses a real fence. */
bool shmring_light_fence_ready(void) { return false; }

int shmring_heavy_fence(void) {
    /* seq_cst: pairs with the notifier's fence */
    atomic_thread_fence(memory_order_seq_cst);
    return SHMRING_OK;
}

#endif
