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
    case SHMRING_EFOREIGN: return "the segment is another user's, or open to other users";
    case SHMRING_ENOTSUP: return "not available on this system";
    default: return "unknown error";
    }
}

/* Names are 1..SHMRING_NAME_MAX of [A-Za-z0-9._-], not starting with '.',
 * on every OS; segment_*.c turn one into the OS's own name. */
int shmring_name_check(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SHMRING_NAME_MAX || name[0] == '.')
        return SHMRING_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return SHMRING_EINVAL;
    }
    return SHMRING_OK;
}

static bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

uint64_t shmring_spsc_max_message_size(uint64_t capacity) {
    /* A record of up to capacity/2 bytes always fits once the ring is empty,
     * wherever the wrap falls (padding + record <= capacity). */
    return capacity / 2 - sizeof(shmring_record);
}

/* The shape of a segment, all derived from kind, capacity and slot size. */
typedef struct geometry {
    uint32_t kind;
    uint64_t capacity;    /* SPSC: data bytes; MPMC: slots */
    uint64_t max_message;
    uint64_t slot_stride; /* MPMC only */
    uint64_t data_bytes;
} geometry;

static int spsc_geometry(uint64_t capacity, geometry *g) {
    if (!is_power_of_two(capacity) || capacity < SHMRING_MIN_CAPACITY ||
        capacity > SHMRING_MAX_CAPACITY)
        return SHMRING_EINVAL;
    *g = (geometry){SHMRING_KIND_SPSC, capacity, shmring_spsc_max_message_size(capacity), 0,
                    capacity};
    return SHMRING_OK;
}

static int mpmc_geometry(uint64_t slots, uint64_t slot_size, geometry *g) {
    if (!is_power_of_two(slots) || slots < SHMRING_MIN_SLOTS || slots > SHMRING_MAX_SLOTS ||
        slot_size < 1 || slot_size > SHMRING_MAX_SLOT_SIZE)
        return SHMRING_EINVAL;
    uint64_t stride = (sizeof(shmring_slot) + slot_size + SHMRING_SLOT_ALIGN - 1) &
                      ~(uint64_t)(SHMRING_SLOT_ALIGN - 1);
    if (slots * stride > SHMRING_MAX_MPMC_BYTES)
        return SHMRING_EINVAL;
    *g = (geometry){SHMRING_KIND_MPMC, slots, slot_size, stride, slots * stride};
    return SHMRING_OK;
}

/* Fill in a new segment's identity; its MPMC slots start FREE for lap 0,
 * the all-zero state word the OS gave every byte. */
static void write_identity(shmring_segment *seg, const geometry *g, uint64_t total) {
    shmring_identity *id = &((shmring_header *)seg->base)->id;
    /* relaxed: all published by the release store of magic below */
    atomic_store_explicit(&id->layout_version, SHMRING_LAYOUT_VERSION, memory_order_relaxed);
    atomic_store_explicit(&id->kind, g->kind, memory_order_relaxed);
    atomic_store_explicit(&id->total_size, total, memory_order_relaxed);
    atomic_store_explicit(&id->capacity, g->capacity, memory_order_relaxed);
    atomic_store_explicit(&id->max_message_size, g->max_message, memory_order_relaxed);
    atomic_store_explicit(&id->slot_stride, g->slot_stride, memory_order_relaxed);
    atomic_store_explicit(&id->data_offset, SHMRING_HEADER_SIZE, memory_order_relaxed);
    atomic_store_explicit(&id->creator_pid, shmring_self_pid(), memory_order_relaxed);
    atomic_store_explicit(&id->creator_start, shmring_self_start_time(), memory_order_relaxed);
    atomic_store_explicit(&id->created_unix_ns, shmring_unix_ns(), memory_order_relaxed);
    /* release: pairs with the acquire in check_header(); magic goes last */
    atomic_store_explicit(&id->magic, SHMRING_MAGIC, memory_order_release);
}

/* A named segment (name, perms), or with name NULL a sealed one whose
 * descriptor goes to *fd, which then keeps it. */
static int create_segment(const char *name, const geometry *g, const shmring_perms *perms, int *fd) {
    if (name != NULL && shmring_name_check(name) != SHMRING_OK)
        return SHMRING_EINVAL;
    shmring_segment seg = {0};
    uint64_t total = SHMRING_HEADER_SIZE + g->data_bytes;
    int rc = name != NULL ? shmring_segment_create(name, (size_t)total, perms, &seg)
                          : shmring_segment_create_sealed((size_t)total, &seg, fd);
    if (rc != SHMRING_OK)
        return rc;
    write_identity(&seg, g, total);
    shmring_segment_detach(&seg);
    return SHMRING_OK;
}

int shmring_spsc_create_sealed(uint64_t capacity, int *fd) {
    geometry g;
    int rc = spsc_geometry(capacity, &g);
    return rc != SHMRING_OK ? rc : create_segment(NULL, &g, NULL, fd);
}

int shmring_mpmc_create_sealed(uint64_t slots, uint64_t slot_size, int *fd) {
    geometry g;
    int rc = mpmc_geometry(slots, slot_size, &g);
    return rc != SHMRING_OK ? rc : create_segment(NULL, &g, NULL, fd);
}

int shmring_spsc_create_with(const char *name, uint64_t capacity, const shmring_perms *perms) {
    geometry g;
    int rc = spsc_geometry(capacity, &g);
    return rc != SHMRING_OK ? rc : create_segment(name, &g, perms, NULL);
}

int shmring_mpmc_create_with(const char *name, uint64_t slots, uint64_t slot_size,
                             const shmring_perms *perms) {
    geometry g;
    int rc = mpmc_geometry(slots, slot_size, &g);
    return rc != SHMRING_OK ? rc : create_segment(name, &g, perms, NULL);
}

int shmring_spsc_create(const char *name, uint64_t capacity) {
    return shmring_spsc_create_with(name, capacity, NULL);
}

int shmring_mpmc_create(const char *name, uint64_t slots, uint64_t slot_size) {
    return shmring_mpmc_create_with(name, slots, slot_size, NULL);
}

/* relaxed: ordered after check_header()'s acquire load of magic, which pairs
 * with the creator's release store of it */
#define LOAD(field) atomic_load_explicit(&id->field, memory_order_relaxed)

/* Validate the header against the object's real size; fill r's geometry.
 * kind 0 accepts either kind. */
static int check_header(shmring_ring *r, int kind) {
    shmring_identity *id = (shmring_identity *)r->seg.base;
    /* acquire: pairs with the release store of magic in create_segment() */
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
    geometry g;
    int rc = seg_kind == SHMRING_KIND_SPSC   ? spsc_geometry(LOAD(capacity), &g)
             : seg_kind == SHMRING_KIND_MPMC ? mpmc_geometry(LOAD(capacity), LOAD(max_message_size), &g)
                                             : SHMRING_ECORRUPT;
    if (rc != SHMRING_OK)
        return SHMRING_ECORRUPT;
    if (kind != 0 && (int)seg_kind != kind)
        return SHMRING_EKIND;
    if (!shmring_segment_fit(&r->seg, LOAD(total_size)) || LOAD(data_offset) != SHMRING_HEADER_SIZE ||
        SHMRING_HEADER_SIZE + g.data_bytes != r->seg.size ||
        LOAD(max_message_size) != g.max_message || LOAD(slot_stride) != g.slot_stride)
        return SHMRING_ECORRUPT;
    r->hdr = (shmring_header *)r->seg.base;
    r->data = r->seg.base + SHMRING_HEADER_SIZE;
    r->kind = (int)seg_kind;
    r->capacity = g.capacity;
    r->mask = g.capacity - 1;
    r->max_message = g.max_message;
    r->slot_stride = g.slot_stride;
    r->slot_shift = shmring_ctz64(g.capacity);
    return SHMRING_OK;
}

static int check_open_args(int role, int kind) {
    if ((role != SHMRING_ROLE_SENDER && role != SHMRING_ROLE_RECEIVER) ||
        (kind != 0 && kind != SHMRING_KIND_SPSC && kind != SHMRING_KIND_MPMC))
        return SHMRING_EINVAL;
    return SHMRING_OK;
}

static shmring_ring *new_handle(const char *name, int role) {
    shmring_ring *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    memcpy(r->name, name, strlen(name) + 1); /* "": a sealed ring, with no name */
    r->role = role;
    r->spin_ns = SHMRING_DEFAULT_SPIN_NS;
    r->claim_timeout_ns = SHMRING_DEFAULT_CLAIM_TIMEOUT_NS;
    return r;
}

/* The segment is attached (rc OK) or not: check its header, or undo. */
static int finish_map(shmring_ring *r, int rc, int kind, shmring_ring **out) {
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

/* end: map it for an end (checked against trust); else a look at the header. */
static int map_ring(const char *name, int role, int kind, bool end, const shmring_trust *trust,
                    shmring_ring **out) {
    if (shmring_name_check(name) != SHMRING_OK || check_open_args(role, kind) != SHMRING_OK)
        return SHMRING_EINVAL;
    shmring_ring *r = new_handle(name, role);
    if (r == NULL)
        return SHMRING_ENOSPACE;
    return finish_map(r, shmring_segment_attach(name, end, trust, &r->seg), kind, out);
}

static int map_sealed_ring(int fd, int role, int kind, shmring_ring **out) {
    if (fd < 0 || check_open_args(role, kind) != SHMRING_OK)
        return SHMRING_EINVAL;
    shmring_ring *r = new_handle("", role);
    if (r == NULL)
        return SHMRING_ENOSPACE;
    return finish_map(r, shmring_segment_attach_fd(fd, &r->seg), kind, out);
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

int shmring_open_trusting(const char *name, int role, int kind, const shmring_trust *trust,
                          shmring_ring **out) {
    shmring_ring *r;
    int rc = map_ring(name, role, kind, true, trust, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_open(r), out);
}

int shmring_open(const char *name, int role, int kind, shmring_ring **out) {
    return shmring_open_trusting(name, role, kind, NULL, out);
}

int shmring_import_trusting(const char *name, int role, int kind, const shmring_origin *origin,
                            const shmring_trust *trust, shmring_ring **out) {
    shmring_ring *r;
    int rc = map_ring(name, role, kind, true, trust, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_import(r, origin), out);
}

int shmring_import(const char *name, int role, int kind, const shmring_origin *origin,
                   shmring_ring **out) {
    return shmring_import_trusting(name, role, kind, origin, NULL, out);
}

int shmring_open_fd(int fd, int role, int kind, shmring_ring **out) {
    shmring_ring *r;
    int rc = map_sealed_ring(fd, role, kind, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_open(r), out);
}

int shmring_import_fd(int fd, int role, int kind, const shmring_origin *origin, shmring_ring **out) {
    shmring_ring *r;
    int rc = map_sealed_ring(fd, role, kind, &r);
    if (rc != SHMRING_OK)
        return rc;
    return finish_open(r, shmring_end_import(r, origin), out);
}

int shmring_fd(const shmring_ring *r) { return r->seg.has_fd ? r->seg.fd : -1; }

void shmring_drop_name(shmring_ring *r) {
    if (r->name[0] != '\0') /* a sealed ring has none: its memory goes with the last descriptor */
        shmring_segment_unlink(r->name);
}

int shmring_export(shmring_ring *r, shmring_origin *origin) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    return shmring_end_export(r, origin);
}

int shmring_export_to(shmring_ring *r, const shmring_origin *origin, uint32_t pid) {
    /* also after close: the copy in transit is not this handle's own */
    if (origin->pid != shmring_self_pid())
        return SHMRING_EINVAL; /* only the exporter hands its copy on */
    return shmring_end_hand_over(r, origin, pid);
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
    shmring_wake_everyone(r);
    if (unlink)
        shmring_drop_name(r);
    return SHMRING_OK;
}

void shmring_free(shmring_ring *r) {
    if (r == NULL)
        return;
    shmring_close(r);
    shmring_segment_detach(&r->seg);
    free(r);
}

int shmring_inspect_handle(shmring_ring *r, shmring_info *out) {
    shmring_header *hdr = r->hdr;
    shmring_identity *id = &hdr->id;
    memset(out, 0, sizeof *out);
    out->kind = (uint32_t)r->kind;
    out->capacity = r->capacity;
    out->max_message_size = r->max_message;
    out->creator_pid = LOAD(creator_pid);
    out->created_unix_ns = LOAD(created_unix_ns);
    out->creator_alive = shmring_process_alive(out->creator_pid, LOAD(creator_start));
    /* acquire, both: pair with the release stores of each side; a snapshot
     * for a report, checked before it is used */
    uint64_t head = atomic_load_explicit(&hdr->head.pos, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&hdr->tail.pos, memory_order_acquire);
    uint64_t used = head >= tail && head - tail <= r->capacity ? head - tail : 0;
    out->used_bytes = r->kind == SHMRING_KIND_SPSC ? used : used * r->max_message; /* MPMC: at most */
    out->slot_stride = r->slot_stride;
    /* relaxed: counters for a report; nothing is read through them */
    out->recovered_writes = atomic_load_explicit(&hdr->stats.recovered_writes, memory_order_relaxed);
    out->recovered_reads = atomic_load_explicit(&hdr->stats.recovered_reads, memory_order_relaxed);
    for (int role = 0; role < 2; role++) {
        /* acquire: pairs with mark_closed()'s acq_rel CAS */
        out->end_state[role] = atomic_load_explicit(&hdr->ends[role].state, memory_order_acquire);
        out->live_holders[role] = shmring_end_live_holders(&hdr->ends[role]);
    }
    return SHMRING_OK;
}

int shmring_inspect(const char *name, shmring_info *out) {
    shmring_ring *r;
    int rc = map_ring(name, SHMRING_ROLE_RECEIVER, 0, false, NULL, &r);
    if (rc != SHMRING_OK)
        return rc;
    shmring_inspect_handle(r, out);
    shmring_segment_detach(&r->seg);
    free(r);
    return SHMRING_OK;
}

int shmring_unlink(const char *name) {
    if (shmring_name_check(name) != SHMRING_OK)
        return SHMRING_EINVAL;
    return shmring_segment_unlink(name);
}

int shmring_check_batch(const shmring_ring *r, int kind, size_t size, const uint64_t *lens,
                        size_t n) {
    int rc = shmring_check_send(r, kind, 0);
    if (rc != SHMRING_OK)
        return rc;
    uint64_t total = 0;
    bool too_big = false;
    for (size_t i = 0; i < n; i++) {
        too_big |= lens[i] > r->max_message;
        total += lens[i] > size ? (uint64_t)size + 1 : lens[i]; /* no wrap-around of the sum */
        if (total > size)
            return SHMRING_EINVAL; /* would read past the caller's buffer */
    }
    if (total != size)
        return SHMRING_EINVAL;
    return too_big ? SHMRING_ETOOBIG : SHMRING_OK;
}

uint64_t shmring_capacity(const shmring_ring *r) { return r->capacity; }
uint64_t shmring_max_message_size(const shmring_ring *r) { return r->max_message; }
const char *shmring_name(const shmring_ring *r) { return r->name; }
void shmring_set_spin(shmring_ring *r, int64_t spin_ns) { r->spin_ns = spin_ns < 0 ? 0 : spin_ns; }
void shmring_set_claim_timeout(shmring_ring *r, int64_t ns) { r->claim_timeout_ns = ns < 0 ? 0 : ns; }
uint64_t shmring_needed(const shmring_ring *r) { return r->needed; }
int shmring_kind_of(const shmring_ring *r) { return r->kind; }
