/*
 * segment_fuzz.c - the layers below the C core, faked for fuzzing: the
 * named segment (instead of segment_posix.c), processes and clocks (instead
 * of process_posix.c) and parking (instead of wait_futex.c).
 *
 * The segment is one buffer holding an input's segment bytes, of exactly
 * their size (page-aligned, as a mapping would be), so AddressSanitizer
 * reports any access outside it. Every end maps that same buffer, as every
 * process maps the same memory. Which processes live comes from the input,
 * so dead holders and claimers are found and recovered; the clock moves a
 * step (from the input too) on each read, so waits for liveness checks and
 * claim timeouts pass without sleeping. Nothing here blocks: a park would
 * mean a call with timeout 0 blocked, and fails the run.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign, strtok_r */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void fuzz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

/* ---- processes and clocks ------------------------------------------------ */

static uint32_t self_pid = 1;
static uint32_t alive_mask = UINT32_MAX;
static int64_t clock_ns, clock_step_ns;

static void (*deferred)(void);
static unsigned deferred_calls;

void fuzz_os_defer(unsigned calls, void (*fn)(void)) {
    deferred = fn;
    deferred_calls = calls;
}

/* Every call into this layer: fire a deferred write when its turn comes. */
static void tick(void) {
    if (deferred != NULL && --deferred_calls == 0) {
        void (*fn)(void) = deferred;
        deferred = NULL;
        fn();
    }
}

void fuzz_os_reset(uint32_t pid, uint32_t mask, int64_t step_ns) {
    deferred = NULL;
    self_pid = pid != 0 ? pid : 1;
    alive_mask = mask;
    clock_ns = INT64_C(1000000000);
    clock_step_ns = step_ns;
}

void fuzz_os_set_self(uint32_t pid) { self_pid = pid != 0 ? pid : 1; }
void fuzz_os_set_alive(uint32_t mask) { alive_mask = mask; }
uint32_t fuzz_os_alive(void) { return alive_mask; }
void fuzz_os_advance_clock(int64_t ns) { clock_ns += ns; }

/* Never 0, and another pid's never matches (pid reuse reads as death). */
uint64_t fuzz_start_time(uint32_t pid) { return (uint64_t)pid * 2 + 1; }

uint32_t shmring_self_pid(void) {
    tick();
    return self_pid;
}

uint64_t shmring_self_start_time(void) {
    tick();
    return fuzz_start_time(self_pid);
}

bool shmring_process_alive(uint32_t pid, uint64_t start_time) {
    tick();
    if (pid == 0)
        return false;
    if (pid != self_pid && ((alive_mask >> (pid % 32)) & 1) == 0)
        return false;
    return start_time == 0 || start_time == fuzz_start_time(pid);
}

int64_t shmring_now_ns(void) {
    tick();
    clock_ns += clock_step_ns; /* at most 255 ms a read: no overflow in a run */
    return clock_ns;
}

uint64_t shmring_unix_ns(void) { return UINT64_C(1767225600000000000); /* 2026-01-01 */ }

/* ---- parking: never, with every timeout 0 --------------------------------- */

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    (void)seg;
    (void)wp;
    (void)expected;
    FUZZ_CHECK(timeout_ns <= 0); /* every call the harness makes has timeout 0 */
    return SHMRING_OK;
}

void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    (void)wp;
}

void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    (void)wp;
}

bool shmring_light_fence_ready(void) { return false; }

int shmring_heavy_fence(void) {
    /* seq_cst: what the real one does first; one thread here, so nothing pairs with it */
    atomic_thread_fence(memory_order_seq_cst);
    return SHMRING_OK;
}

/* ---- the named segment ----------------------------------------------------- */

static struct {
    unsigned char *buf;
    size_t size;
    size_t granule;
    bool present, owned, unlinked;
    unsigned mappings;
} the;

void fuzz_segment_install(unsigned char *buf, size_t size, size_t granule, bool owned) {
    FUZZ_CHECK(!the.present);
    the.buf = buf;
    the.size = size;
    the.granule = granule;
    the.present = true;
    the.owned = owned;
    the.unlinked = false;
    the.mappings = 0;
}

unsigned char *fuzz_segment_base(size_t *size) {
    *size = the.size;
    return the.buf;
}

unsigned fuzz_segment_mappings(void) { return the.mappings; }
bool fuzz_segment_unlinked(void) { return the.unlinked; }

void fuzz_segment_remove(void) {
    FUZZ_CHECK(the.mappings == 0); /* every handle's mapping was released */
    if (the.owned)
        free(the.buf);
    memset(&the, 0, sizeof the);
}

unsigned char *fuzz_page_alloc(size_t size) {
    void *p = NULL;
    /* exactly `size` bytes (ASan poisons the rest of the last page) */
    if (posix_memalign(&p, 4096, size) != 0 || (p == NULL && size != 0))
        abort();
    return p;
}

int shmring_segment_create(const char *name, size_t size, const shmring_perms *perms,
                           shmring_segment *seg) {
    if (perms != NULL && ((perms->mode & ~(uint32_t)070) != 0600 || perms->gid < -1))
        return SHMRING_EINVAL;
    if (the.present && !the.unlinked)
        return SHMRING_EEXIST;
    if (strcmp(name, FUZZ_NAME) != 0)
        return SHMRING_EINVAL; /* one name is all the fake knows */
    if (the.present)
        fuzz_segment_remove();
    unsigned char *buf = fuzz_page_alloc(size);
    memset(buf, 0, size); /* a new object reads as zeros */
    fuzz_segment_install(buf, size, 1, true);
    seg->base = buf;
    seg->size = size;
    seg->size_granule = 1;
    seg->copy = false;
    the.mappings++;
    return SHMRING_OK;
}

int shmring_segment_attach(const char *name, bool end, const shmring_trust *trust,
                           shmring_segment *seg) {
    if (trust != NULL)
        return SHMRING_EINVAL; /* nobody else to trust here */
    if (!the.present || the.unlinked || strcmp(name, FUZZ_NAME) != 0)
        return SHMRING_ENOENT;
    /* What segment_posix.c refuses from fstat, before it maps anything. */
    if (the.size == 0)
        return SHMRING_ENOTREADY;
    if (the.size < sizeof(uint64_t))
        return SHMRING_ENOTSHMRING;
    if (end) {
        seg->base = the.buf;
        seg->size = the.size;
        seg->size_granule = the.granule;
        seg->copy = false;
        the.mappings++;
        return SHMRING_OK;
    }
    /* A look: a private copy of the header page, as segment_posix.c's
     * look() makes on Linux (zeros past the object's end), with the
     * object's size for the header's checks. */
    unsigned char *copy = calloc(1, SHMRING_HEADER_SIZE);
    if (copy == NULL)
        abort();
    memcpy(copy, the.buf, the.size < SHMRING_HEADER_SIZE ? the.size : SHMRING_HEADER_SIZE);
    seg->base = copy;
    seg->size = the.size;
    seg->size_granule = 1;
    seg->copy = true;
    return SHMRING_OK;
}

void shmring_segment_detach(shmring_segment *seg) {
    if (seg->base != NULL) {
        if (seg->copy) {
            free(seg->base);
        } else {
            FUZZ_CHECK(seg->base == the.buf && the.mappings > 0);
            the.mappings--;
        }
    }
    seg->base = NULL;
    seg->size = 0;
    seg->copy = false;
}

/* Sealed rings differ only in how they are mapped (segment_posix.c); once
 * mapped, the same check_header and ring code read them as fuzzed here. */
int shmring_segment_create_sealed(size_t size, shmring_segment *seg, int *fd) {
    (void)size;
    (void)seg;
    (void)fd;
    return SHMRING_ENOTSUP;
}

int shmring_segment_attach_fd(int fd, shmring_segment *seg) {
    (void)fd;
    (void)seg;
    return SHMRING_ENOTSUP;
}

int shmring_segment_unlink(const char *name) {
    if (!the.present || the.unlinked || strcmp(name, FUZZ_NAME) != 0)
        return SHMRING_ENOENT;
    the.unlinked = true; /* the memory stays while it is mapped (here: until the run ends) */
    return SHMRING_OK;
}
