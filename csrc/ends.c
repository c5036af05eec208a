/*
 * ends.c - who holds each end of a ring, and when an end is closed.
 *
 * An end (sender or receiver) may be held by several processes: a parent
 * hands it to a child, a forked child inherits it. Each process holding
 * copies has an entry {pid, copies, start time} in the end's holder table.
 * A copy counts from the moment it is exported (pickled): an entry of its
 * own carries it "in transit", under the exporter, until the importing
 * process takes it over. The exporter that learns which process will import
 * it (a child it started) hands the entry to that process, so a child killed
 * before it imports closes the end as any holder's death does.
 *
 * An end is CLOSED when no entry holds a copy any more, or when every
 * process holding one has died. Either the last closer or a peer that finds
 * the holders dead makes that transition, exactly once (CAS on `state`).
 * Whoever closes the second end unlinks the segment's name.
 *
 * Entry word: (pid << 32) | copies. copies == 0 means free; CLAIMING marks
 * an entry whose owner is still writing its start time; TRANSIT | tag is one
 * copy in transit (tag: unique per export of this process, so that an entry
 * freed and claimed again is never mistaken for the one exported). An entry
 * in transit has start time 0 (the pid's existence is checked, not its start
 * time), so that it can change hands in one atomic step.
 */
#include "internal.h"

#define CLAIMING UINT32_C(0xffffffff)
#define TRANSIT UINT32_C(0x80000000)
#define TAG_MASK UINT32_C(0x7ffffffe) /* tags are even: TRANSIT | tag never equals CLAIMING */

static inline uint32_t pid_of(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint32_t copies_of(uint64_t w) { return (uint32_t)w; }
static inline uint64_t entry(uint32_t pid, uint32_t copies) {
    return ((uint64_t)pid << 32) | copies;
}

static bool holder_alive(shmring_holder *h) {
    /* acquire: pairs with the release that published the entry, so the
     * start time we read next belongs to this pid */
    uint64_t w = atomic_load_explicit(&h->pid_copies, memory_order_acquire);
    uint32_t copies = copies_of(w);
    if (copies == 0)
        return false;
    if (copies == CLAIMING)
        return shmring_process_alive(pid_of(w), 0);
    /* relaxed: ordered by the acquire load of pid_copies above */
    uint64_t start = atomic_load_explicit(&h->start_time, memory_order_relaxed);
    return shmring_process_alive(pid_of(w), start);
}

static bool end_has_live_holder(shmring_end *end) {
    for (uint32_t i = 0; i < SHMRING_MAX_HOLDERS; i++) {
        if (holder_alive(&end->holders[i]))
            return true;
    }
    return false;
}

bool shmring_end_holder_alive(shmring_end *end, uint32_t index) {
    return index < SHMRING_MAX_HOLDERS && holder_alive(&end->holders[index]);
}

uint32_t shmring_end_live_holders(shmring_end *end) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < SHMRING_MAX_HOLDERS; i++)
        n += holder_alive(&end->holders[i]);
    return n;
}

/* Try to turn entry i from `seen` into ours, then publish it with `copies`. */
static bool claim_entry(shmring_holder *h, uint64_t seen, uint32_t pid, uint64_t start, uint32_t copies) {
    /* acq_rel: we take over the entry; nobody else may claim it meanwhile */
    if (!atomic_compare_exchange_strong_explicit(&h->pid_copies, &seen, entry(pid, CLAIMING),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    /* relaxed: published by the release store of pid_copies below */
    atomic_store_explicit(&h->start_time, start, memory_order_relaxed);
    /* release: pairs with holder_alive()'s acquire; start_time is visible first */
    atomic_store_explicit(&h->pid_copies, entry(pid, copies), memory_order_release);
    return true;
}

/* Claim a free entry, or one whose process died, for (pid, start, copies). */
static int claim_free_entry(shmring_end *end, uint32_t pid, uint64_t start, uint32_t copies, uint32_t *index) {
    for (uint32_t i = 0; i < SHMRING_MAX_HOLDERS; i++) {
        shmring_holder *h = &end->holders[i];
        /* acquire: pairs with drop_copy()'s release that freed the entry */
        uint64_t w = atomic_load_explicit(&h->pid_copies, memory_order_acquire);
        if (copies_of(w) == 0 && claim_entry(h, w, pid, start, copies)) {
            *index = i;
            return SHMRING_OK;
        }
    }
    /* Table full: take over an entry whose process died. */
    for (uint32_t i = 0; i < SHMRING_MAX_HOLDERS; i++) {
        shmring_holder *h = &end->holders[i];
        /* acquire: pairs with claim_entry()'s release; the CAS re-checks it */
        uint64_t w = atomic_load_explicit(&h->pid_copies, memory_order_acquire);
        if (!holder_alive(h) && claim_entry(h, w, pid, start, copies)) {
            *index = i;
            return SHMRING_OK;
        }
    }
    return SHMRING_EINUSE;
}

/* Add one copy to this process's entry (finding or claiming one). */
static int add_own_copy(shmring_end *end, uint32_t *index) {
    uint32_t pid = shmring_self_pid();
    uint64_t start = shmring_self_start_time();
    for (uint32_t i = 0; i < SHMRING_MAX_HOLDERS; i++) {
        shmring_holder *h = &end->holders[i];
        /* acquire: pairs with claim_entry()'s release (an entry fully published) */
        uint64_t w = atomic_load_explicit(&h->pid_copies, memory_order_acquire);
        /* start_time relaxed: ordered by the acquire load of pid_copies */
        while (pid_of(w) == pid && copies_of(w) != 0 && copies_of(w) < TRANSIT - 1 &&
               atomic_load_explicit(&h->start_time, memory_order_relaxed) == start) {
            /* release: our copy is visible before anything we do with the end */
            if (atomic_compare_exchange_weak_explicit(&h->pid_copies, &w, w + 1,
                                                      memory_order_release, memory_order_acquire)) {
                *index = i;
                return SHMRING_OK;
            }
        }
    }
    return claim_free_entry(end, pid, start, 1, index);
}

/* Remove one copy from entry `index` if it still belongs to (pid, start). */
static bool drop_copy(shmring_end *end, uint32_t index, uint32_t pid, uint64_t start) {
    if (index >= SHMRING_MAX_HOLDERS)
        return false;
    shmring_holder *h = &end->holders[index];
    /* acquire: pairs with the release of whoever last changed the entry */
    uint64_t w = atomic_load_explicit(&h->pid_copies, memory_order_acquire);
    for (;;) {
        uint32_t c = copies_of(w);
        /* start_time relaxed: ordered by the acquire load (or CAS) of pid_copies */
        if (pid_of(w) != pid || c == 0 || c >= TRANSIT ||
            atomic_load_explicit(&h->start_time, memory_order_relaxed) != start)
            return false; /* reclaimed after its process died: the copy went with it */
        /* release: everything this copy did (messages sent) happens before
         * a peer that sees the end closed */
        if (atomic_compare_exchange_weak_explicit(&h->pid_copies, &w, w - 1, memory_order_release,
                                                  memory_order_acquire))
            return true;
    }
}

/* Remove this handle's own copy from its end. */
static bool drop_own_copy(shmring_ring *r) {
    return drop_copy(&r->hdr->ends[r->role], r->holder, shmring_self_pid(), shmring_self_start_time());
}

void shmring_wake_everyone(shmring_ring *r) {
    shmring_header *hdr = r->hdr;
    /* release: a sleeper that reads the new seq sees the state change too */
    atomic_fetch_add_explicit(&hdr->data_wait.seq, 1, memory_order_release);
    atomic_fetch_add_explicit(&hdr->space_wait.seq, 1, memory_order_release);
    shmring_wake_all(&r->seg, &hdr->data_wait);
    shmring_wake_all(&r->seg, &hdr->space_wait);
}

/* Make end `role` CLOSED. Returns the number of closed ends if we made the
 * transition (2 means: unlink now), 0 if someone else did. */
static uint32_t mark_closed(shmring_ring *r, int role) {
    shmring_header *hdr = r->hdr;
    shmring_end *end = &hdr->ends[role];
    /* acquire: pairs with another closer's acq_rel CAS below */
    uint32_t st = atomic_load_explicit(&end->state, memory_order_acquire);
    while (st != SHMRING_END_CLOSED) {
        /* acq_rel: pairs with the acquire load in shmring_peer_status() */
        if (atomic_compare_exchange_weak_explicit(&end->state, &st, SHMRING_END_CLOSED,
                                                  memory_order_acq_rel, memory_order_acquire)) {
            /* acq_rel: the two closers agree on who is second */
            uint32_t n = atomic_fetch_add_explicit(&hdr->control.closed_ends, 1,
                                                   memory_order_acq_rel) + 1;
            shmring_wake_everyone(r);
            return n;
        }
    }
    return 0;
}

/* Add ourselves to an end that is open (MPMC), unless it closes meanwhile. */
static int join_open_end(shmring_ring *r, shmring_end *end) {
    int rc = add_own_copy(end, &r->holder);
    if (rc != SHMRING_OK)
        return rc;
    /* acquire: pairs with mark_closed(); our copy is counted before we look */
    if (atomic_load_explicit(&end->state, memory_order_acquire) != SHMRING_END_OPEN) {
        drop_own_copy(r);
        return SHMRING_EENDCLOSED;
    }
    return SHMRING_OK;
}

int shmring_end_open(shmring_ring *r) {
    shmring_end *end = &r->hdr->ends[r->role];
    for (;;) {
        /* acquire: pairs with mark_closed() and the NEW->OPEN CAS below */
        uint32_t st = atomic_load_explicit(&end->state, memory_order_acquire);
        if (st == SHMRING_END_CLOSED)
            return SHMRING_EENDCLOSED;
        if (st == SHMRING_END_OPEN) {
            if (!end_has_live_holder(end)) {
                mark_closed(r, r->role); /* its holders all died */
                return SHMRING_EENDCLOSED;
            }
            if (r->kind == SHMRING_KIND_SPSC)
                return SHMRING_EINUSE; /* one sender and one receiver */
            return join_open_end(r, end); /* MPMC: one more sender or receiver */
        }
        if (st != SHMRING_END_NEW)
            return SHMRING_ECORRUPT;
        /* Hold a copy before the end turns OPEN, so it never looks abandoned. */
        int rc = add_own_copy(end, &r->holder);
        if (rc != SHMRING_OK)
            return rc;
        /* acq_rel: only one opener wins a NEW end */
        if (atomic_compare_exchange_strong_explicit(&end->state, &st, SHMRING_END_OPEN,
                                                    memory_order_acq_rel, memory_order_acquire))
            return SHMRING_OK;
        drop_own_copy(r);
    }
}

static _Atomic uint32_t last_tag; /* of this process's exports */

int shmring_end_export(shmring_ring *r, shmring_origin *origin) {
    shmring_end *end = &r->hdr->ends[r->role];
    uint32_t pid = shmring_self_pid();
    /* acquire: pairs with the release of whoever last changed our entry */
    uint64_t own = atomic_load_explicit(&end->holders[r->holder].pid_copies, memory_order_acquire);
    if (pid_of(own) != pid || copies_of(own) == 0 || copies_of(own) >= TRANSIT)
        return SHMRING_ECORRUPT; /* our own entry was overwritten */
    /* relaxed: the tag only has to differ from this process's other exports */
    uint32_t tag = (atomic_fetch_add_explicit(&last_tag, 2, memory_order_relaxed) + 2) & TAG_MASK;
    uint32_t index;
    int rc = claim_free_entry(end, pid, 0, TRANSIT | tag, &index);
    if (rc != SHMRING_OK)
        return rc;
    origin->pid = pid;
    origin->holder = index;
    origin->start_time = shmring_self_start_time();
    origin->tag = tag;
    return SHMRING_OK;
}

/* Free entry `index` if it is the copy in transit (pid, tag). */
static bool take_transit(shmring_end *end, uint32_t index, uint32_t pid, uint32_t tag) {
    if (index >= SHMRING_MAX_HOLDERS || (tag & ~TAG_MASK) != 0)
        return false;
    uint64_t w = entry(pid, TRANSIT | tag);
    /* release: pairs with holder_alive()'s acquire; the importer's own copy,
     * counted before this call, is visible before this one goes */
    return atomic_compare_exchange_strong_explicit(&end->holders[index].pid_copies, &w, 0,
                                                   memory_order_release, memory_order_relaxed);
}

int shmring_end_import(shmring_ring *r, const shmring_origin *origin) {
    shmring_end *end = &r->hdr->ends[r->role];
    /* Our own copy first, then free the one in transit: the count never
     * touches zero in between, so the peer cannot see the end closed. It is
     * under the exporter, or under us if the exporter handed it to us. */
    int rc = add_own_copy(end, &r->holder);
    if (rc != SHMRING_OK)
        return rc;
    if (!take_transit(end, origin->holder, origin->pid, origin->tag))
        take_transit(end, origin->holder, shmring_self_pid(), origin->tag);
    /* acquire: pairs with mark_closed() */
    if (atomic_load_explicit(&end->state, memory_order_acquire) != SHMRING_END_OPEN) {
        drop_own_copy(r);
        return SHMRING_EENDCLOSED; /* the exporter died before we arrived */
    }
    return SHMRING_OK;
}

int shmring_end_hand_over(shmring_ring *r, const shmring_origin *origin, uint32_t pid) {
    if (origin->holder >= SHMRING_MAX_HOLDERS || (origin->tag & ~TAG_MASK) != 0 || pid == 0)
        return SHMRING_EINVAL;
    shmring_holder *h = &r->hdr->ends[r->role].holders[origin->holder];
    uint64_t w = entry(origin->pid, TRANSIT | origin->tag);
    /* acq_rel: the entry changes hands in one step, and the importer's
     * take_transit and this CAS agree on which came first. Failure (the copy
     * was taken over already) leaves the entry as it is. */
    atomic_compare_exchange_strong_explicit(&h->pid_copies, &w, entry(pid, TRANSIT | origin->tag),
                                            memory_order_acq_rel, memory_order_relaxed);
    return SHMRING_OK;
}

bool shmring_end_release(shmring_ring *r) {
    shmring_header *hdr = r->hdr;
    shmring_end *end = &hdr->ends[r->role];
    drop_own_copy(r);
    /* Copies of processes that died without closing (a forked child that
     * exited, say) do not keep the end open. */
    if (end_has_live_holder(end)) /* an entry without copies is not alive: no syscall */
        return false;
    uint32_t closed = mark_closed(r, r->role);
    /* The peer may have died unseen: then we close its end too. */
    shmring_end *peer = shmring_peer_end(r);
    /* acquire: pairs with mark_closed() by the peer's last closer */
    if (closed == 1 && atomic_load_explicit(&peer->state, memory_order_acquire) == SHMRING_END_OPEN &&
        !end_has_live_holder(peer))
        closed = mark_closed(r, 1 - r->role);
    return closed == 2;
}

int shmring_peer_status(shmring_ring *r, bool ask_os) {
    shmring_end *peer = shmring_peer_end(r);
    /* acquire: pairs with mark_closed(); what the peer sent before closing
     * is visible to the re-check the caller makes next */
    uint32_t st = atomic_load_explicit(&peer->state, memory_order_acquire);
    if (st == SHMRING_END_CLOSED)
        return SHMRING_ECLOSED;
    if (st > SHMRING_END_CLOSED)
        return SHMRING_ECORRUPT;
    if (st == SHMRING_END_NEW || !ask_os)
        return SHMRING_OK;
    int64_t now = shmring_now_ns();
    if (now < r->next_liveness_ns)
        return SHMRING_OK;
    r->next_liveness_ns = now + SHMRING_LIVENESS_NS;
    if (end_has_live_holder(peer))
        return SHMRING_OK;
    if (mark_closed(r, 1 - r->role) == 2)
        shmring_drop_name(r);
    return SHMRING_ECLOSED;
}
