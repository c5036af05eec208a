/*
 * ring.c - creating a segment, opening one end of it as a handle, closing.
 *
 * The creator writes every header field, then stores the magic last with
 * release; an opener loads the magic with acquire and only then trusts the
 * rest, which it copies out and checks against the real size of the object.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

const char *shmring_strerror(int code) {
    switch (code) {
    case SHMRING_OK: return "success";
    case SHMRING_EAGAIN: return "would block";
    case SHMRING_ETIMEDOUT: return "timed out";
    case SHMRING_ECLOSED: return "closed";
    case SHMRING_EINTR: return "interrupted by a signal";
    case SHMRING_ETOOBIG: return "message larger than the ring's max_message_size";
    case SHMRING_ENOBUFS: return "buffer smaller than the next message";
    case SHMRING_ECORRUPT: return "corrupt segment";
    case SHMRING_ENOENT: return "no such segment";
    case SHMRING_EEXIST: return "a segment of that name already exists";
    case SHMRING_ENOTSHMRING: return "not a shmring segment";
    case SHMRING_EVERSION: return "incompatible layout version";
    case SHMRING_ENOTREADY: return "segment not initialised yet";
    case SHMRING_EINUSE: return "that end is held by a live process";
    case SHMRING_EINVAL: return "invalid argument";
    case SHMRING_ESYS: return "operating system error";
    case SHMRING_EKIND: return "the segment holds another kind of ring";
    case SHMRING_ENOSPACE: return "no room for the segment";
    case SHMRING_EENDCLOSED: return "that end was closed for good";
    default: return "unknown error";
    }
}

static bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

uint64_t shmring_spsc_max_message_size(uint64_t capacity) {
    /* A record of up to capacity/2 bytes always fits once the ring is empty,
     * wherever the wrap falls (padding + record <= capacity). */
    return capacity / 2 - sizeof(shmring_record);
}

int shmring_spsc_create(const char *name, uint64_t capacity) {
    if (shmring_name_check(name) != SHMRING_OK || !is_power_of_two(capacity) ||
        capacity < SHMRING_MIN_CAPACITY || capacity > SHMRING_MAX_CAPACITY)
        return SHMRING_EINVAL;
    shmring_segment seg;
    uint64_t total = SHMRING_HEADER_SIZE + capacity;
    int rc = shmring_segment_create(name, (size_t)total, &seg);
    if (rc != SHMRING_OK)
        return rc;
    shmring_header *hdr = (shmring_header *)seg.base;
    shmring_identity *id = &hdr->id;
    /* relaxed: all published by the release store of magic below */
    atomic_store_explicit(&id->layout_version, SHMRING_LAYOUT_VERSION, memory_order_relaxed);
    atomic_store_explicit(&id->kind, SHMRING_KIND_SPSC, memory_order_relaxed);
    atomic_store_explicit(&id->total_size, total, memory_order_relaxed);
    atomic_store_explicit(&id->capacity, capacity, memory_order_relaxed);
    atomic_store_explicit(&id->max_message_size, shmring_spsc_max_message_size(capacity),
                          memory_order_relaxed);
    atomic_store_explicit(&id->data_offset, SHMRING_HEADER_SIZE, memory_order_relaxed);
    atomic_store_explicit(&id->creator_pid, shmring_self_pid(), memory_order_relaxed);
    atomic_store_explicit(&id->creator_start, shmring_self_start_time(), memory_order_relaxed);
    atomic_store_explicit(&id->created_unix_ns, shmring_unix_ns(), memory_order_relaxed);
    /* release: pairs with the acquire in check_header(); magic goes last */
    atomic_store_explicit(&id->magic, SHMRING_MAGIC, memory_order_release);
    shmring_segment_detach(&seg);
    return SHMRING_OK;
}

#define LOAD(field) atomic_load_explicit(&id->field, memory_order_relaxed)

/* Validate the header against the object's real size; fill r's geometry. */
static int check_header(shmring_ring *r, int kind) {
    shmring_identity *id = (shmring_identity *)r->seg.base;
    /* acquire: pairs with the release store of magic in shmring_spsc_create() */
    uint64_t magic = atomic_load_explicit(&id->magic, memory_order_acquire);
    if (magic == 0 && r->seg.size >= SHMRING_HEADER_SIZE)
        return SHMRING_ENOTREADY;
    if (magic != SHMRING_MAGIC)
        return SHMRING_ENOTSHMRING;
    if (r->seg.size < SHMRING_HEADER_SIZE)
        return SHMRING_ECORRUPT; /* truncated below its own header */
    if (LOAD(layout_version) != SHMRING_LAYOUT_VERSION)
        return SHMRING_EVERSION;
    uint32_t seg_kind = LOAD(kind);
    if (seg_kind != SHMRING_KIND_SPSC && seg_kind != SHMRING_KIND_MPMC)
        return SHMRING_ECORRUPT;
    if ((int)seg_kind != kind)
        return SHMRING_EKIND;
    uint64_t capacity = LOAD(capacity);
    if (LOAD(total_size) != r->seg.size || LOAD(data_offset) != SHMRING_HEADER_SIZE ||
        !is_power_of_two(capacity) || capacity < SHMRING_MIN_CAPACITY ||
        capacity > SHMRING_MAX_CAPACITY || SHMRING_HEADER_SIZE + capacity != r->seg.size ||
        LOAD(max_message_size) != shmring_spsc_max_message_size(capacity))
        return SHMRING_ECORRUPT;
    r->hdr = (shmring_header *)r->seg.base;
    r->data = r->seg.base + SHMRING_HEADER_SIZE;
    r->kind = kind;
    r->capacity = capacity;
    r->mask = capacity - 1;
    r->max_message = shmring_spsc_max_message_size(capacity);
    return SHMRING_OK;
}

static int map_ring(const char *name, int role, int kind, shmring_ring **out) {
    if (shmring_name_check(name) != SHMRING_OK ||
        (role != SHMRING_ROLE_SENDER && role != SHMRING_ROLE_RECEIVER) ||
        kind != SHMRING_KIND_SPSC)
        return SHMRING_EINVAL;
    shmring_ring *r = calloc(1, sizeof *r);
    if (r == NULL)
        return SHMRING_ENOSPACE;
    memcpy(r->name, name, strlen(name) + 1);
    r->role = role;
    r->spin_ns = SHMRING_DEFAULT_SPIN_NS;
    int rc = shmring_segment_attach(name, &r->seg);
    if (rc == SHMRING_OK)
        rc = check_header(r, kind);
    if (rc != SHMRING_OK) {
        shmring_segment_detach(&r->seg);
        free(r);
        return rc;
    }
    *out = r;
    return SHMRING_OK;
}

/* A token no other live handle has: this process's pid and a counter. */
static uint64_t new_token(void) {
    static _Atomic uint32_t counter;
    /* relaxed: only uniqueness matters */
    uint32_t n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    return ((uint64_t)shmring_self_pid() << 32) | n;
}

void shmring_take_over(shmring_ring *r) {
    r->token = new_token();
    r->light_fence = shmring_light_fence_ready();
    _Atomic uint64_t *pos = r->role == SHMRING_ROLE_SENDER ? &r->hdr->head.pos : &r->hdr->tail.pos;
    /* relaxed: the hand-over (open, pickle, fork) orders this; the caller
     * validates the value before it uses it */
    atomic_store_explicit(&r->hdr->ends[r->role].user, r->token, memory_order_relaxed);
    r->own_pos = atomic_load_explicit(pos, memory_order_relaxed);
    r->peeked = 0;
}

static int finish_open(shmring_ring *r, int rc, shmring_ring **out) {
    if (rc != SHMRING_OK) {
        shmring_segment_detach(&r->seg);
        free(r);
        return rc;
    }
    shmring_take_over(r);
    *out = r;
    return SHMRING_OK;
}

int shmring_open(const char *name, int role, int kind, shmring_ring **out) {
    shmring_ring *r;
    int rc = map_ring(name, role, kind, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_open(r), out);
}

int shmring_import(const char *name, int role, int kind, const shmring_origin *origin,
                   shmring_ring **out) {
    shmring_ring *r;
    int rc = map_ring(name, role, kind, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_import(r, origin), out);
}

int shmring_export(shmring_ring *r, shmring_origin *origin) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    return shmring_end_export(r, origin);
}

int shmring_adopt_after_fork(shmring_ring *r, const shmring_origin *origin) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    r->next_liveness_ns = 0;
    int rc = shmring_end_import(r, origin);
    if (rc == SHMRING_OK)
        shmring_take_over(r);
    return rc;
}

int shmring_close(shmring_ring *r) {
    int was_closed = 0;
    /* acq_rel: exactly one caller closes; later calls are no-ops */
    if (!atomic_compare_exchange_strong_explicit(&r->closed, &was_closed, 1, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return SHMRING_OK;
    bool unlink = shmring_end_release(r);
    /* Wake our own threads blocked on this handle, so they see `closed`. */
    shmring_wake_everyone(r->hdr);
    if (unlink)
        shmring_segment_unlink(r->name);
    return SHMRING_OK;
}

void shmring_free(shmring_ring *r) {
    if (r == NULL)
        return;
    shmring_close(r);
    shmring_segment_detach(&r->seg);
    free(r);
}

int shmring_inspect(const char *name, shmring_info *out) {
    shmring_ring *r;
    int rc = map_ring(name, SHMRING_ROLE_RECEIVER, SHMRING_KIND_SPSC, &r);
    if (rc != SHMRING_OK)
        return rc;
    shmring_header *hdr = r->hdr;
    shmring_identity *id = &hdr->id;
    memset(out, 0, sizeof *out);
    out->kind = (uint32_t)r->kind;
    out->capacity = r->capacity;
    out->max_message_size = r->max_message;
    out->creator_pid = LOAD(creator_pid);
    out->created_unix_ns = LOAD(created_unix_ns);
    out->creator_alive = shmring_process_alive(out->creator_pid, LOAD(creator_start));
    /* acquire, both: a snapshot for display; checked like any other read */
    uint64_t head = atomic_load_explicit(&hdr->head.pos, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&hdr->tail.pos, memory_order_acquire);
    out->used_bytes = head >= tail && head - tail <= r->capacity ? head - tail : 0;
    for (int role = 0; role < 2; role++) {
        out->end_state[role] = atomic_load_explicit(&hdr->ends[role].state, memory_order_acquire);
        out->live_holders[role] = shmring_end_live_holders(&hdr->ends[role]);
    }
    shmring_segment_detach(&r->seg);
    free(r);
    return SHMRING_OK;
}

int shmring_unlink(const char *name) {
    if (shmring_name_check(name) != SHMRING_OK)
        return SHMRING_EINVAL;
    return shmring_segment_unlink(name);
}

uint64_t shmring_capacity(const shmring_ring *r) { return r->capacity; }
uint64_t shmring_max_message_size(const shmring_ring *r) { return r->max_message; }
const char *shmring_name(const shmring_ring *r) { return r->name; }
void shmring_set_spin(shmring_ring *r, int64_t spin_ns) { r->spin_ns = spin_ns < 0 ? 0 : spin_ns; }
