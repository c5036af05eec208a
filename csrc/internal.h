/*
 * internal.h - what the C files of the core share and a user never sees:
 * the process-local handle, and the layers below the public API.
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#include "layout.h"
#include "shmring.h"

#include <stdbool.h>
#if defined(_MSC_VER)
#include <intrin.h> /* _mm_pause, __yield, _BitScanForward64 (MSVC and clang-cl) */
#endif

/* How long one park lasts before the caller re-checks signals and liveness. */
#define SHMRING_SLICE_NS INT64_C(50000000)
/* ...and when a notifier might not see that we sleep (see shmring_heavy_fence). */
#define SHMRING_UNFENCED_SLICE_NS INT64_C(1000000)
/* How often a waiter asks the OS whether the peer's processes still live. */
#define SHMRING_LIVENESS_NS INT64_C(50000000)
#define SHMRING_DEFAULT_SPIN_NS INT64_C(50000)
#define SHMRING_DEFAULT_CLAIM_TIMEOUT_NS INT64_C(100000000)

/* ---- segment_*.c: a named mapping ------------------------------------ */

typedef struct shmring_segment {
    unsigned char *base;
    size_t size;
    /* How exactly `size` is known: 1 where the OS says the object's size
     * (POSIX fstat); the page size where only the view's is known (Windows
     * rounds a view up to whole pages). See shmring_segment_fit(). */
    size_t size_granule;
    /* Windows: the named semaphores the data and space waitpoints park on
     * (segment_win32.c opens them, wait_win32.c uses them); unused elsewhere. */
    void *wake[2];
    /* Linux: `base` is a private copy of the header (a look), not a mapping. */
    bool copy;
    /* Linux, a sealed segment (shmring_segment_attach_fd): the descriptor
     * this handle keeps, so that it can hand the ring on; closed at detach. */
    bool has_fd;
    int fd;
} shmring_segment;

/* Windows: the most posts a waitpoint's semaphore holds, one per possible
 * sleeper (every holder of both ends); more would only be spurious wake-ups. */
#define SHMRING_WAKE_MAX_POSTS (2 * SHMRING_MAX_HOLDERS + 2)

/* `name` is validated by shmring_name_check() first. perms: NULL for mode
 * 0600 and the creator's group; checked here (EINVAL). */
int shmring_segment_create(const char *name, size_t size, const shmring_perms *perms,
                           shmring_segment *seg);
/* end: map the whole segment for an end that will use it, faulted in now,
 * and only if its owner and mode pass the checks of shmring_open_trusting()
 * with `trust` (NULL: none) on the object mapped (EFOREIGN otherwise). Not
 * an end: a look at the header only, whoever owns it (shmring_inspect),
 * which reads and never writes; on Linux a private copy of the header page
 * (the owner could shrink the object under a mapping: SIGBUS). Either way a
 * segment that is not a regular object is EFOREIGN. */
int shmring_segment_attach(const char *name, bool end, const shmring_trust *trust,
                           shmring_segment *seg);
void shmring_segment_detach(shmring_segment *seg);
/* Linux: a segment with no name, in a memfd sealed against shrinking and
 * growing before anything is written, mapped writable for the creator; the
 * descriptor goes to *fd (close-on-exec). Elsewhere ENOTSUP. */
int shmring_segment_create_sealed(size_t size, shmring_segment *seg, int *fd);
/* Linux: map the sealed segment `fd` for an end, keeping a duplicate of it.
 * EFOREIGN unless it is a regular object this user owns that grants nobody
 * else access and carries both seals; `fd` itself stays the caller's. */
int shmring_segment_attach_fd(int fd, shmring_segment *seg);
/* Remove the name. POSIX: shm_unlink. Windows, where a mapping lives only
 * while a handle to it is open: drop the handle this process keeps for a
 * ring it created (ENOENT if the name is gone, OK if it still lives on in
 * other processes' handles). */
int shmring_segment_unlink(const char *name);
int shmring_name_check(const char *name);
/* Both ends closed: unlink the ring's name (a sealed ring has none). */
void shmring_drop_name(shmring_ring *r);

/* Does the header's `total` size fit the mapped object? Exactly where the
 * OS told the size; within the last page where it only told the view's.
 * Then seg->size becomes `total`. */
static inline bool shmring_segment_fit(shmring_segment *seg, uint64_t total) {
    if (total > seg->size || seg->size - total >= seg->size_granule)
        return false;
    seg->size = (size_t)total;
    return true;
}

/* ---- process_*.c: who is alive --------------------------------------- */

uint32_t shmring_self_pid(void);
/* Start time of this process in OS-specific units (never 0). */
uint64_t shmring_self_start_time(void);
/* True unless the process is gone, a zombie, or a different process with a
 * reused pid (start time differs). start_time 0 means "not known". */
bool shmring_process_alive(uint32_t pid, uint64_t start_time);
int64_t shmring_now_ns(void); /* monotonic */
uint64_t shmring_unix_ns(void); /* wall clock */

/* ---- wait_*.c: park and wake on a waitpoint of a segment ------------- */

/* Sleep while wp->seq == expected, at most timeout_ns. 0 when woken, when
 * the value differs or the time passed (or spuriously: callers re-check);
 * SHMRING_EINTR on a signal. The segment carries what the OS needs to meet
 * the other processes there (Windows: its named semaphores). */
int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns);
void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp);
void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp);

/*
 * Asymmetric fences. The wake-up handshake needs a full fence on both sides
 * (see shmring_notify), but the notifier runs on every message and a
 * sleeper only before it parks. Where the OS can impose a fence on other
 * processes (Linux membarrier), a process that registered for it notifies
 * with a compiler barrier alone, and a sleeper calls shmring_heavy_fence()
 * instead, which makes every registered process's CPU execute a full fence.
 */
/* Register this process (once, again after fork); true if it may notify
 * with a compiler barrier only. */
bool shmring_light_fence_ready(void);
/* The sleeper's side: 0 when every registered process has been fenced,
 * < 0 if that could not be done (the sleeper must then not sleep long). */
int shmring_heavy_fence(void);

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
    uint64_t own_pos;       /* our own index (sender: head, receiver: tail) */
    uint64_t token;         /* names this handle in hdr->ends[role].user */
    bool light_fence;       /* notify without a CPU fence (see shmring_heavy_fence) */
    uint64_t want;          /* sender: bytes a blocked send waits for */
    uint64_t peeked;        /* receiver: bytes of a peeked record not yet consumed */

    int64_t spin_ns;
    int64_t next_liveness_ns;
    uint64_t needed;        /* length of the message that did not fit (ENOBUFS) */

    /* MPMC */
    uint32_t slot_shift;    /* log2(slots) */
    uint64_t slot_stride;
    int64_t claim_timeout_ns;
    void *stuck_slot;       /* the slot we last found taken, its state, and since when */
    uint64_t stuck_state;
    int64_t stuck_since_ns;
};

/* ---- ends.c: copies, holders, closing -------------------------------- */

int shmring_end_open(shmring_ring *r);
uint32_t shmring_end_live_holders(shmring_end *end);
/* Is the process of holder entry `index` alive? */
bool shmring_end_holder_alive(shmring_end *end, uint32_t index);
int shmring_end_export(shmring_ring *r, shmring_origin *origin);
int shmring_end_import(shmring_ring *r, const shmring_origin *origin);
int shmring_end_hand_over(shmring_ring *r, const shmring_origin *origin, uint32_t pid);
/* Drop our copy; returns true when the segment's name should be unlinked. */
bool shmring_end_release(shmring_ring *r);
/* Has the other end closed or died? 0 if not, SHMRING_ECLOSED if so,
 * SHMRING_ECORRUPT for an impossible state. With ask_os, also asks the OS
 * (at most every SHMRING_LIVENESS_NS) whether the peer's processes live. */
int shmring_peer_status(shmring_ring *r, bool ask_os);
/* Bump both waitpoints and wake every sleeper (on close: rare, never gated). */
void shmring_wake_everyone(shmring_ring *r);

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
/* The same, for a caller that has just asked the question of w->ready() and
 * got 0 (SPSC: its own look at the peer's index), so it is not asked twice:
 * with timeout 0 or SHMRING_POLL, only whether the peer is gone is left. */
int shmring_block_after_look(shmring_ring *r, const shmring_wait *w, int64_t timeout_ns);

/*
 * After publishing index `pos`, wake the other side if it sleeps waiting
 * for an index it has now reached (a hostile wake_at only delays a
 * sleeper's own wake-up, by at most one slice). The seq_cst
 * fence pairs with the one in shmring_block() between "waiters++" and its
 * re-check of the index (Dekker): either the sleeper sees our new index, or
 * we see its waiter count. Without it a wake-up could be lost.
 */
static inline void shmring_notify(shmring_ring *r, shmring_waitpoint *wp, uint64_t pos) {
    if (r->light_fence) /* the sleeper's shmring_heavy_fence() fences our CPU for us */
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: both ordered by the fence above */
    if (atomic_load_explicit(&wp->waiters, memory_order_relaxed) != 0 &&
        pos >= atomic_load_explicit(&wp->wake_at, memory_order_relaxed)) {
        /* release: a sleeper that reads the new seq also sees our index store */
        atomic_fetch_add_explicit(&wp->seq, 1, memory_order_release);
        shmring_wake_one(&r->seg, wp); /* one message (or slot) serves one sleeper */
    }
}

/*
 * Our own index. Only the handle in use writes it, so it lives in the
 * handle; reading it back from the segment would miss in the cache whenever
 * the other side had just polled the line. When another copy of this end
 * was used since (a hand-over between processes, which is itself ordered by
 * the pickle, fork or message that handed over), re-read it once.
 */
static inline uint64_t shmring_own_index(shmring_ring *r, _Atomic uint64_t *pos) {
    _Atomic uint64_t *user = &r->hdr->ends[r->role].user;
    /* relaxed: see above; the value read back is validated by the caller */
    if (atomic_load_explicit(user, memory_order_relaxed) != r->token) {
        atomic_store_explicit(user, r->token, memory_order_relaxed);
        r->own_pos = atomic_load_explicit(pos, memory_order_relaxed);
    }
    return r->own_pos;
}

/* Check a batch before any of it is sent: what every send checks, then
 * sizes that add up to `size`, none over max_message. */
int shmring_check_batch(const shmring_ring *r, int kind, size_t size, const uint64_t *lens,
                        size_t n);

/* Make this handle the user of its end and read its index (open, import, fork). */
void shmring_take_over(shmring_ring *r);

static inline bool shmring_is_closed(const shmring_ring *r) {
    /* relaxed: a hint; close() also wakes us through the waitpoints */
    return atomic_load_explicit(&r->closed, memory_order_relaxed) != 0;
}

/* What every receive checks first: an open receiver handle of this kind. */
static inline int shmring_check_recv(const shmring_ring *r, int kind) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    if (r->role != SHMRING_ROLE_RECEIVER || r->kind != kind)
        return SHMRING_EINVAL;
    return SHMRING_OK;
}

/* What every send checks first: an open sender handle of this kind, a
 * message that fits, a receiver that has not closed for good. */
static inline int shmring_check_send(const shmring_ring *r, int kind, size_t len) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    if (r->role != SHMRING_ROLE_SENDER || r->kind != kind)
        return SHMRING_EINVAL;
    if (len > r->max_message)
        return SHMRING_ETOOBIG;
    /* relaxed: a fail-fast hint; a blocked send re-checks with acquire */
    if (atomic_load_explicit(&r->hdr->ends[SHMRING_ROLE_RECEIVER].state, memory_order_relaxed) ==
        SHMRING_END_CLOSED)
        return SHMRING_ECLOSED;
    return SHMRING_OK;
}

/* A point in time `ns` (>= 0) after `now` (>= 0), INT64_MAX at the most:
 * a huge timeout must not overflow (undefined behaviour) into the past. */
static inline int64_t shmring_later(int64_t now, int64_t ns) {
    return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/* A timeout as a deadline on the monotonic clock: 0 and SHMRING_POLL stay
 * as they are (never block), other negatives become -1 (for ever). */
static inline int64_t shmring_deadline(int64_t timeout_ns) {
    if (timeout_ns == 0 || timeout_ns == SHMRING_POLL)
        return timeout_ns;
    return timeout_ns < 0 ? -1 : shmring_later(shmring_now_ns(), timeout_ns);
}

/* The timeout left until a deadline made by shmring_deadline(). A deadline
 * that has passed leaves 1 ns, not 0: 0 would mean "never block" and turn a
 * timed wait's end into EAGAIN instead of ETIMEDOUT. */
static inline int64_t shmring_time_left(int64_t deadline) {
    if (deadline <= 0)
        return deadline; /* 0, SHMRING_POLL, or -1 for ever */
    int64_t left = deadline - shmring_now_ns();
    return left > 0 ? left : 1;
}


#define SHMRING_CACHE_LINE 64u

/* A hint to start loading p's cache line; never faults, changes nothing. */
static inline void shmring_prefetch(const void *p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

static inline void shmring_cpu_relax(void) {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
    __yield();
#elif defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Trailing zero bits of x != 0 (log2 of a power of two). */
static inline uint32_t shmring_ctz64(uint64_t x) {
#if defined(_MSC_VER) && !defined(__clang__)
    unsigned long i;
    _BitScanForward64(&i, x);
    return (uint32_t)i;
#else
    return (uint32_t)__builtin_ctzll(x);
#endif
}

#endif /* SHMRING_INTERNAL_H */
