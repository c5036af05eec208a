/*
 * mpmc.c - many senders, many receivers, fixed-size slots.
 *
 * A bounded queue after Vyukov: a power-of-two array of slots, each with a
 * state word that says which position (lap) it serves and what it holds:
 *
 *   (lap, FREE) --sender claims--> (lap, WRITING, holder) --> (lap, READY)
 *   (lap, READY) --receiver claims--> (lap, READING, holder) --> (lap+1, FREE)
 *
 * Positions come from two counters, enqueue (head line) and dequeue (tail
 * line). A claimer first takes the *slot* with a CAS that also records who
 * it is (its holder entry: pid and start time), and only then advances the
 * counter; anyone who finds a slot already taken advances the counter for
 * it. So there is never a moment when a position is taken by nobody known.
 *
 * Dead claimers: a process killed while WRITING or READING would wedge every
 * process behind it. Whoever waits on such a slot for claim_timeout asks the
 * OS whether the claimer still lives; if not, it takes the slot back with a
 * CAS: a WRITING slot becomes SKIPPED (receivers pass over it; the dead
 * sender's message was never sent), a READING slot becomes FREE for the
 * next lap (the dead receiver's message is lost). Both are counted in the
 * stats line. A live claimer is never overtaken, however slow.
 *
 * Everything read from the segment is checked: a state word that cannot
 * follow from the counters is SHMRING_ECORRUPT, never a loop or a stray
 * access.
 */
#include "internal.h"

#include <string.h>

#define STATE_MASK ((UINT64_C(1) << SHMRING_SLOT_STATE_BITS) - 1)
#define HOLDER_SHIFT SHMRING_SLOT_STATE_BITS
#define LAP_SHIFT (SHMRING_SLOT_STATE_BITS + SHMRING_SLOT_HOLDER_BITS)

static inline uint64_t make_state(uint64_t lap, uint32_t holder, unsigned st) {
    return (lap << LAP_SHIFT) | ((uint64_t)holder << HOLDER_SHIFT) | st;
}
static inline unsigned state_of(uint64_t w) { return (unsigned)(w & STATE_MASK); }
static inline uint32_t holder_of(uint64_t w) {
    return (uint32_t)(w >> HOLDER_SHIFT) & ((1u << SHMRING_SLOT_HOLDER_BITS) - 1);
}
static inline uint64_t lap_of_state(uint64_t w) { return w >> LAP_SHIFT; }

static inline uint64_t lap_of_pos(const shmring_ring *r, uint64_t pos) {
    /* laps must fit the state word; 2^55 laps is centuries of messages */
    return (pos >> r->slot_shift) & (UINT64_MAX >> LAP_SHIFT);
}

static inline shmring_slot *slot_at(const shmring_ring *r, uint64_t pos) {
    return (shmring_slot *)(r->data + (pos & r->mask) * r->slot_stride);
}

static inline unsigned char *payload_of(shmring_slot *slot) {
    return (unsigned char *)slot + sizeof *slot;
}

/* Move a counter from pos to pos + 1 unless someone already did. */
static inline void advance(_Atomic uint64_t *counter, uint64_t pos) {
    /* relaxed: the counter is a hint of where to look; slot states decide */
    atomic_compare_exchange_strong_explicit(counter, &pos, pos + 1, memory_order_relaxed,
                                            memory_order_relaxed);
}

static bool valid_state(uint64_t w) {
    unsigned st = state_of(w);
    return st <= SHMRING_SLOT_READING && holder_of(w) < SHMRING_MAX_HOLDERS;
}

/* ---- taking back the slots of dead claimers -------------------------- */

/* The slot at `slot` has shown state `w` since we last looked; if that has
 * lasted claim_timeout and its claimer is dead, take it back. */
static bool recover_if_abandoned(shmring_ring *r, shmring_slot *slot, uint64_t w) {
    unsigned st = state_of(w);
    if (st != SHMRING_SLOT_WRITING && st != SHMRING_SLOT_READING)
        return false;
    int64_t now = shmring_now_ns();
    if (slot != r->stuck_slot || w != r->stuck_state) {
        r->stuck_slot = slot;
        r->stuck_state = w;
        r->stuck_since_ns = now;
        return false;
    }
    if (now - r->stuck_since_ns < r->claim_timeout_ns)
        return false;
    r->stuck_since_ns = now; /* ask the OS at most once per timeout */
    int role = st == SHMRING_SLOT_WRITING ? SHMRING_ROLE_SENDER : SHMRING_ROLE_RECEIVER;
    if (shmring_end_holder_alive(&r->hdr->ends[role], holder_of(w)))
        return false;
    uint64_t lap = lap_of_state(w);
    uint64_t taken_back = st == SHMRING_SLOT_WRITING ? make_state(lap, 0, SHMRING_SLOT_SKIPPED)
                                                     : make_state(lap + 1, 0, SHMRING_SLOT_FREE);
    /* acq_rel: exactly one of us takes it back, after the claimer's writes */
    if (!atomic_compare_exchange_strong_explicit(&slot->state, &w, taken_back, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    shmring_stats *stats = &r->hdr->stats;
    /* relaxed: counters for display */
    atomic_fetch_add_explicit(st == SHMRING_SLOT_WRITING ? &stats->recovered_writes
                                                         : &stats->recovered_reads,
                              1, memory_order_relaxed);
    shmring_notify(r, &r->hdr->data_wait, UINT64_MAX);
    shmring_notify(r, &r->hdr->space_wait, UINT64_MAX);
    return true;
}

/* ---- senders ------------------------------------------------------------ */

enum { SCAN_FULL = 0, SCAN_FOUND = 1, SCAN_PASS = 2 };

/* What a sender makes of a slot showing state w, at its position's lap. */
static int classify_for_write(uint64_t w, uint64_t lap) {
    uint64_t slot_lap = lap_of_state(w);
    if (slot_lap == lap && state_of(w) == SHMRING_SLOT_FREE)
        return SCAN_FOUND;
    if (slot_lap + 1 == lap)
        return SCAN_FULL; /* the last lap's message is still there */
    return SCAN_PASS;     /* taken already, or our position is stale */
}

/* What a receiver makes of it. */
static int classify_for_read(uint64_t w, uint64_t lap) {
    uint64_t slot_lap = lap_of_state(w);
    unsigned st = state_of(w);
    if (slot_lap == lap && (st == SHMRING_SLOT_READY || st == SHMRING_SLOT_SKIPPED))
        return SCAN_FOUND;
    if ((slot_lap == lap && st <= SHMRING_SLOT_WRITING) || slot_lap + 1 == lap)
        return SCAN_FULL; /* nothing published here yet ("full" of nothing: empty) */
    return SCAN_PASS;     /* being read, read already, or our position is stale */
}

/*
 * From where `counter` points, find the first position whose slot is not
 * passed over, helping the counter past the others. The state is loaded
 * with acquire: it pairs with the release that last changed the slot (a
 * receiver's FREE for a sender, a sender's READY for a receiver).
 */
static int scan(shmring_ring *r, _Atomic uint64_t *counter, int (*classify)(uint64_t, uint64_t),
                uint64_t *pos_out, uint64_t *state_out) {
    /* relaxed: a hint; the slot's state decides */
    uint64_t pos = atomic_load_explicit(counter, memory_order_relaxed);
    /* Every pass follows a claim some other process made meanwhile; passing
     * 64 laps of them in one scan means slots no honest process wrote (one
     * stamped far ahead passes for ever): not a ring we know. */
    uint64_t steps_left = (UINT64_C(64) << r->slot_shift) + 100000;
    for (uint32_t stale = 0;;) {
        if (steps_left-- == 0)
            return SHMRING_ECORRUPT;
        /* acquire: see above (the slot's last release) */
        uint64_t w = atomic_load_explicit(&slot_at(r, pos)->state, memory_order_acquire);
        uint64_t lap = lap_of_pos(r, pos);
        *pos_out = pos;
        *state_out = w;
        if (!valid_state(w) || lap_of_state(w) + 1 < lap)
            return SHMRING_ECORRUPT; /* a slot cannot fall two laps behind */
        int found = classify(w, lap);
        if (found != SCAN_PASS)
            return found;
        advance(counter, pos);
        /* relaxed: a hint, like the first load */
        uint64_t next = atomic_load_explicit(counter, memory_order_relaxed);
        if (next == pos && ++stale > 1000)
            return SHMRING_ECORRUPT; /* the counter will not move: not a ring we know */
        pos = next;
    }
}

/* shmring_block()'s question, for either side: 1 if a slot is there for us
 * (or one a dead process held was just taken back), 0 if not yet, < 0 on
 * error. */
static int ready_at(shmring_ring *r, _Atomic uint64_t *counter, int (*classify)(uint64_t, uint64_t)) {
    uint64_t pos, w;
    int rc = scan(r, counter, classify, &pos, &w);
    if (rc != SCAN_FULL)
        return rc;
    return recover_if_abandoned(r, slot_at(r, pos), w);
}

static int scan_for_write(shmring_ring *r, uint64_t *pos, uint64_t *state) {
    return scan(r, &r->hdr->head.pos, classify_for_write, pos, state);
}

static int ready_to_send(shmring_ring *r) {
    return ready_at(r, &r->hdr->head.pos, classify_for_write);
}

int shmring_mpmc_send(shmring_ring *r, const void *data, size_t len, int64_t timeout_ns) {
    int checked = shmring_check_send(r, SHMRING_KIND_MPMC, len);
    if (checked != SHMRING_OK)
        return checked;
    shmring_header *hdr = r->hdr;
    int64_t deadline = shmring_deadline(timeout_ns);
    for (;;) {
        uint64_t pos, w;
        int rc = scan_for_write(r, &pos, &w);
        if (rc == SCAN_FULL) {
            shmring_wait wait = {.wp = &hdr->space_wait, .ready = ready_to_send, .max_pauses = 64};
            rc = shmring_block(r, &wait, shmring_time_left(deadline));
            if (rc != SHMRING_OK)
                return rc;
            continue;
        }
        if (rc < 0)
            return rc;
        shmring_slot *slot = slot_at(r, pos);
        uint64_t lap = lap_of_pos(r, pos);
        uint64_t writing = make_state(lap, r->holder, SHMRING_SLOT_WRITING);
        /* acquire: the slot's last reader is done with it (pairs with its
         * release to FREE); relaxed on failure: we only look again */
        if (!atomic_compare_exchange_strong_explicit(&slot->state, &w, writing, memory_order_acquire,
                                                     memory_order_relaxed))
            continue; /* another sender was first */
        advance(&hdr->head.pos, pos);
        /* relaxed: published by the release CAS below */
        atomic_store_explicit(&slot->length, (uint32_t)len, memory_order_relaxed);
        if (len != 0)
            memcpy(payload_of(slot), data, len);
        /* release: pairs with the receiver's acquire of the state; the
         * length and payload are written before the slot reads READY */
        if (!atomic_compare_exchange_strong_explicit(&slot->state, &writing,
                                                     make_state(lap, 0, SHMRING_SLOT_READY),
                                                     memory_order_release, memory_order_relaxed))
            return SHMRING_ECORRUPT; /* someone took back a live claim: not our protocol */
        shmring_notify(r, &hdr->data_wait, UINT64_MAX);
        return SHMRING_OK;
    }
}

/* ---- receivers ---------------------------------------------------------- */

static int scan_for_read(shmring_ring *r, uint64_t *pos, uint64_t *state) {
    return scan(r, &r->hdr->tail.pos, classify_for_read, pos, state);
}

static int ready_to_recv(shmring_ring *r) {
    return ready_at(r, &r->hdr->tail.pos, classify_for_read);
}

/* Claim the next message: 1 with its slot, lap and checked length, 0 if
 * there is none, < 0 error. The length is read once, here, before the claim:
 * a value read again later could have been changed by a hostile process. */
static int claim_for_read(shmring_ring *r, size_t cap, shmring_slot **out, uint64_t *lap_out,
                          uint32_t *len_out) {
    for (;;) {
        uint64_t pos, w;
        int rc = scan_for_read(r, &pos, &w);
        if (rc <= 0)
            return rc;
        shmring_slot *slot = slot_at(r, pos);
        uint64_t lap = lap_of_pos(r, pos);
        if (state_of(w) == SHMRING_SLOT_SKIPPED) {
            /* acq_rel: as a read-and-free, in one step */
            if (atomic_compare_exchange_strong_explicit(&slot->state, &w,
                                                        make_state(lap + 1, 0, SHMRING_SLOT_FREE),
                                                        memory_order_acq_rel, memory_order_relaxed)) {
                advance(&r->hdr->tail.pos, pos);
                shmring_notify(r, &r->hdr->space_wait, UINT64_MAX);
            }
            continue;
        }
        /* relaxed: ordered after the acquire load of READY in scan_for_read */
        uint32_t len = atomic_load_explicit(&slot->length, memory_order_relaxed);
        if (len > r->max_message)
            return SHMRING_ECORRUPT;
        if (len > cap) {
            r->needed = len; /* it stays for a receiver with room, or a second try */
            return SHMRING_ENOBUFS;
        }
        /* acquire: the sender's writes happen before our reads */
        if (atomic_compare_exchange_strong_explicit(&slot->state, &w,
                                                    make_state(lap, r->holder, SHMRING_SLOT_READING),
                                                    memory_order_acquire, memory_order_relaxed)) {
            advance(&r->hdr->tail.pos, pos);
            *out = slot;
            *lap_out = lap;
            *len_out = len;
            return 1;
        }
    }
}

int64_t shmring_mpmc_recv(shmring_ring *r, void *buf, size_t cap, int64_t timeout_ns) {
    int checked = shmring_check_recv(r, SHMRING_KIND_MPMC);
    if (checked != SHMRING_OK)
        return checked;
    shmring_slot *slot;
    uint64_t lap;
    uint32_t len;
    int64_t deadline = shmring_deadline(timeout_ns);
    for (;;) {
        int rc = claim_for_read(r, cap, &slot, &lap, &len);
        if (rc > 0)
            break;
        if (rc < 0)
            return rc;
        shmring_wait wait = {.wp = &r->hdr->data_wait, .ready = ready_to_recv, .max_pauses = 8};
        rc = shmring_block(r, &wait, shmring_time_left(deadline));
        if (rc == SHMRING_ECLOSED && !shmring_is_closed(r)) {
            /* Every sender is gone; deliver what they sent before closing. */
            rc = claim_for_read(r, cap, &slot, &lap, &len);
            if (rc > 0)
                break;
            return rc < 0 ? rc : SHMRING_ECLOSED;
        }
        if (rc != SHMRING_OK)
            return rc;
    }
    if (len != 0) /* len <= cap and <= max_message: checked by the claim */
        memcpy(buf, payload_of(slot), len);
    uint64_t reading = make_state(lap, r->holder, SHMRING_SLOT_READING);
    /* release: pairs with the next sender's acquire; we are done reading */
    if (!atomic_compare_exchange_strong_explicit(&slot->state, &reading,
                                                 make_state(lap + 1, 0, SHMRING_SLOT_FREE),
                                                 memory_order_release, memory_order_relaxed))
        return SHMRING_ECORRUPT; /* someone took back a live claim: not our protocol */
    shmring_notify(r, &r->hdr->space_wait, UINT64_MAX);
    return (int64_t)len;
}

/* ---- batches ---------------------------------------------------------- */

/* Each message still takes its own slot; a batch saves the caller's
 * crossings into C, and waits only as long as the whole timeout allows. */
int shmring_mpmc_send_many(shmring_ring *r, const void *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent) {
    *sent = 0;
    int rc = shmring_check_batch(r, SHMRING_KIND_MPMC, size, lens, n);
    if (rc != SHMRING_OK)
        return rc;
    int64_t deadline = shmring_deadline(timeout_ns);
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        rc = shmring_mpmc_send(r, p, (size_t)lens[i], shmring_time_left(deadline));
        if (rc != SHMRING_OK)
            return rc;
        p += lens[i];
        *sent = i + 1;
    }
    return SHMRING_OK;
}

/* Wait for one message, then take those already there that fit in buf. */
int64_t shmring_mpmc_recv_many(shmring_ring *r, void *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns) {
    if (max_n == 0)
        return SHMRING_EINVAL;
    int64_t got = shmring_mpmc_recv(r, buf, cap, timeout_ns);
    if (got < 0)
        return got;
    size_t n = 0, used = 0;
    while (got >= 0) {
        lens[n++] = (uint64_t)got;
        used += (size_t)got;
        if (n == max_n)
            break;
        /* SHMRING_POLL: never waits, and the first call asked after the senders */
        got = shmring_mpmc_recv(r, (unsigned char *)buf + used, cap - used, SHMRING_POLL);
    }
    return (int64_t)n;
}
