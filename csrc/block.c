/*
 * block.c - how a call waits: spin briefly, then park on a waitpoint.
 *
 * Spinning catches a peer that answers within microseconds without any
 * syscall. After spin_ns we park on the waitpoint's futex word, one slice
 * (<= SHMRING_SLICE_NS) at a time, re-checking between slices whether our
 * handle was closed and whether the peer is still there.
 *
 * The sleeper's protocol, which pairs with shmring_notify():
 *   seq = load(seq); wake_at = ...; waiters++; fence; if ready: done;
 *   park(seq); waiters--
 * Reading seq before the re-check means a wake that happens after the
 * re-check changes seq, and the park returns at once.
 */
#include "internal.h"

/*
 * Poll ready() until it says so or `until` passes. A waiter that polls a
 * line the other side keeps writing steals it on every read and slows the
 * writer down, so the gap between polls doubles up to w->max_pauses pause
 * instructions: a few for a receiver (each one adds to its latency), many
 * for a sender waiting for space (where a microsecond does not matter).
 */
static int spin(shmring_ring *r, const shmring_wait *w, int64_t until) {
    uint32_t pauses = 1;
    for (uint32_t i = 1;; i++) {
        for (uint32_t p = 0; p < pauses; p++) /* first: the caller has just looked */
            shmring_cpu_relax();
        if (pauses < w->max_pauses)
            pauses *= 2;
        int rc = w->ready(r);
        if (rc != 0)
            return rc;
        if ((i & 15) == 0 && shmring_now_ns() >= until)
            return 0;
    }
}

static int park_once(shmring_ring *r, const shmring_wait *w, int64_t deadline) {
    shmring_waitpoint *wp = w->wp;
    /* acquire: pairs with the notifier's release bump; if we read its new
     * value, its index store is visible to ready() below */
    uint32_t seq = atomic_load_explicit(&wp->seq, memory_order_acquire);
    /* relaxed, both: ordered by the fence that follows */
    atomic_store_explicit(&wp->wake_at, w->wake_at, memory_order_relaxed);
    atomic_fetch_add_explicit(&wp->waiters, 1, memory_order_relaxed);
    /* Pairs with the fence in shmring_notify() (see internal.h), or stands
     * in for it where the notifier skipped it. If we cannot fence for the
     * notifier, it may miss us: then sleep in short slices. */
    int64_t slice = shmring_heavy_fence() == SHMRING_OK ? SHMRING_SLICE_NS : SHMRING_UNFENCED_SLICE_NS;
    int rc = w->ready(r);
    if (rc == 0) {
        int64_t left = deadline - shmring_now_ns();
        if (left > 0)
            rc = shmring_park(&r->seg, wp, seq, left < slice ? left : slice);
        else
            rc = SHMRING_ETIMEDOUT;
    }
    /* relaxed: only a hint for notifiers; a late decrement costs one syscall */
    atomic_fetch_sub_explicit(&wp->waiters, 1, memory_order_relaxed);
    return rc;
}

int shmring_block(shmring_ring *r, const shmring_wait *w, int64_t timeout_ns) {
    int rc = w->ready(r);
    if (rc != 0)
        return rc > 0 ? SHMRING_OK : rc;
    return shmring_block_after_look(r, w, timeout_ns);
}

int shmring_block_after_look(shmring_ring *r, const shmring_wait *w, int64_t timeout_ns) {
    int rc;
    if (timeout_ns == 0 || timeout_ns == SHMRING_POLL) {
        /* Whether the peer closed is one load; whether it died needs the
         * clock and, when due, the OS, which a tight polling loop skips. */
        rc = shmring_peer_status(r, timeout_ns == 0);
        return rc != SHMRING_OK ? rc : SHMRING_EAGAIN;
    }
    int64_t start = shmring_now_ns();
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : shmring_later(start, timeout_ns);
    int64_t spin_until = shmring_later(start, r->spin_ns);
    if (spin_until > deadline)
        spin_until = deadline;
    rc = spin(r, w, spin_until);
    while (rc == 0) {
        if (shmring_is_closed(r))
            return SHMRING_ECLOSED;
        rc = shmring_peer_status(r, true);
        if (rc != SHMRING_OK)
            return rc;
        rc = park_once(r, w, deadline);
    }
    return rc > 0 ? SHMRING_OK : rc;
}
