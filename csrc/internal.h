/*
 * internal.h - what the C files of the core share and a user never sees:
 * the process-local handle, and the layers below the public API.
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#include "layout.h"
#include "shmring.h"

#include <stdbool.h>

/* How long one park lasts before the caller re-checks signals and liveness. */
#define SHMRING_SLICE_NS INT64_C(50000000)
/* How often a waiter asks the OS whether the peer's processes still live. */
#define SHMRING_LIVENESS_NS INT64_C(50000000)
#define SHMRING_DEFAULT_SPIN_NS INT64_C(50000)

/* ---- segment_*.c: a named mapping ------------------------------------ */

typedef struct shmring_segment {
    unsigned char *base;
    size_t size;
} shmring_segment;

/* `name` is validated by shmring_name_check() first. */
int shmring_segment_create(const char *name, size_t size, shmring_segment *seg);
int shmring_segment_attach(const char *name, shmring_segment *seg);
void shmring_segment_detach(shmring_segment *seg);
int shmring_segment_unlink(const char *name);
int shmring_name_check(const char *name);

/* ---- process_*.c: who is alive --------------------------------------- */

uint32_t shmring_self_pid(void);
/* Start time of this process in OS-specific units (never 0). */
uint64_t shmring_self_start_time(void);
/* True unless the process is gone, a zombie, or a different process with a
 * reused pid (start time differs). start_time 0 means "not known". */
bool shmring_process_alive(uint32_t pid, uint64_t start_time);
int64_t shmring_now_ns(void); /* monotonic */
uint64_t shmring_unix_ns(void); /* wall clock */

/* ---- wait_*.c: park and wake on a 32-bit word in shared memory ------- */

/* Sleep while *word == expected, at most timeout_ns. 0 when woken or the
 * value differs or the time passed; SHMRING_EINTR on a signal. */
int shmring_park(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void shmring_wake_all(_Atomic uint32_t *word);

/* ---- the process-local handle ----------------------------------------- */

struct shmring_ring {
    shmring_segment seg;
    shmring_header *hdr;
    unsigned char *data;
    char name[SHMRING_NAME_MAX + 1];

    /* Geometry, copied out of the header once and validated at open. */
    int kind;
    int role;
    uint64_t capacity;
    uint64_t mask;
    uint64_t max_message;

    uint32_t holder;     /* our entry in hdr->ends[role].holders */
    _Atomic int closed;  /* set by shmring_close(), possibly from another thread */

    /* SPSC: the last value seen of the other side's index (sender: tail,
     * receiver: head). Process-local, so reading it costs no coherence traffic. */
    uint64_t cached_peer;
    uint64_t want;          /* sender: bytes a blocked send waits for */
    uint64_t peeked;        /* receiver: bytes of a peeked record not yet consumed */

    int64_t spin_ns;
    int64_t next_liveness_ns;
};

/* ---- ends.c: copies, holders, closing -------------------------------- */

int shmring_end_open(shmring_ring *r);
int shmring_end_export(shmring_ring *r, shmring_origin *origin);
int shmring_end_import(shmring_ring *r, const shmring_origin *origin);
/* Drop our copy; returns true when the segment's name should be unlinked. */
bool shmring_end_release(shmring_ring *r);
/* Has the other end closed or died? 0 if not, SHMRING_ECLOSED if so,
 * SHMRING_ECORRUPT for an impossible state. Asks the OS at most every
 * SHMRING_LIVENESS_NS whether the peer's processes still live. */
int shmring_peer_status(shmring_ring *r);
/* Bump both waitpoints and wake every sleeper (on close: rare, never gated). */
void shmring_wake_everyone(shmring_header *hdr);

static inline shmring_end *shmring_peer_end(const shmring_ring *r) {
    return &r->hdr->ends[1 - r->role];
}

/* ---- block.c: spin, then park ---------------------------------------- */

/* A readiness test: 1 ready, 0 not yet, < 0 an error code. */
typedef int (*shmring_ready_fn)(shmring_ring *r);

typedef struct shmring_wait {
    shmring_waitpoint *wp;  /* where to sleep */
    shmring_ready_fn ready; /* what we wait for */
    uint64_t wake_at;       /* the other side's index at which ready() holds */
    uint32_t max_pauses;    /* the longest gap between polls while spinning (block.c) */
} shmring_wait;

/* Wait until w->ready(r) says so, the timeout passes (ETIMEDOUT), the peer
 * is gone or the handle closed (ECLOSED), or a signal arrives (EINTR). Parks
 * for at most one slice per call to shmring_park(). */
int shmring_block(shmring_ring *r, const shmring_wait *w, int64_t timeout_ns);

/*
 * After publishing index `pos`, wake the other side if it sleeps waiting
 * for an index it has now reached (a hostile wake_at only delays a
 * sleeper's own wake-up, by at most one slice). The seq_cst
 * fence pairs with the one in shmring_block() between "waiters++" and its
 * re-check of the index (Dekker): either the sleeper sees our new index, or
 * we see its waiter count. Without it a wake-up could be lost.
 */
static inline void shmring_notify(shmring_waitpoint *wp, uint64_t pos) {
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: both ordered by the fence above */
    if (atomic_load_explicit(&wp->waiters, memory_order_relaxed) != 0 &&
        pos >= atomic_load_explicit(&wp->wake_at, memory_order_relaxed)) {
        /* release: a sleeper that reads the new seq also sees our index store */
        atomic_fetch_add_explicit(&wp->seq, 1, memory_order_release);
        shmring_wake_all(&wp->seq);
    }
}

static inline bool shmring_is_closed(const shmring_ring *r) {
    /* relaxed: a hint; close() also wakes us through the waitpoints */
    return atomic_load_explicit(&r->closed, memory_order_relaxed) != 0;
}

static inline void shmring_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* SHMRING_INTERNAL_H */
