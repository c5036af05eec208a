/*
 * fuzz.h - what the fuzz target (fuzz_segment.c), its fake OS layer
 * (segment_fuzz.c) and the corpus generator (gen_corpus.c) share.
 *
 * An input is a control prefix of FUZZ_CTL_SIZE bytes, then the bytes of a
 * segment as another process may have left them (header page and data
 * area). The prefix says who we are, which processes live, how fast the
 * clock runs, and a script of calls to make on the segment; see
 * fuzz_segment.c for the ops.
 */
#ifndef SHMRING_FUZZ_H
#define SHMRING_FUZZ_H

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_NAME "fuzz"

/* ---- the control prefix ---------------------------------------------- */

#define FUZZ_CTL_SIZE 64u
enum {
    FUZZ_CTL_FLAGS = 0,  /* FUZZ_F_* */
    FUZZ_CTL_SELF = 1,   /* our pid (0 reads as 1: no process has pid 0) */
    FUZZ_CTL_CLOCK = 2,  /* ms the monotonic clock moves on each read */
    FUZZ_CTL_SPARE = 3,
    FUZZ_CTL_ALIVE = 4,  /* u32 LE: pid p (not ours) lives iff bit p % 32 is set */
    FUZZ_CTL_SCRIPT = 8, /* ops up to the end of the prefix */
};
#define FUZZ_SCRIPT_SIZE (FUZZ_CTL_SIZE - FUZZ_CTL_SCRIPT)

enum {
    FUZZ_F_KIND = 3,          /* the kind opens ask for: 0 either, 1 SPSC, 2 MPMC, 3 either */
    FUZZ_F_PAGE_GRANULE = 4,  /* the segment's size is only known to a page (Windows views) */
    FUZZ_F_POLL = 8,          /* non-blocking calls pass SHMRING_POLL instead of 0 */
    FUZZ_F_CLOSE_RECEIVER_FIRST = 16, /* the order of the closes at the end */
};

/* An op byte: the op in the low nibble, its argument in the high one; some
 * ops read more bytes of the script (see fuzz_segment.c). A zero byte ends
 * the script, so a short one is padded with zeros. */
enum {
    FUZZ_OP_FACTS = 0,    /* arg 0: end of the script; else the handle getters */
    FUZZ_OP_OPEN = 1,     /* arg: role | mode << 1 */
    FUZZ_OP_RECV = 2,     /* arg: cap class (3 bits) | handle slot << 3 */
    FUZZ_OP_PEEK = 3,     /* arg: bit 0 consume too, bit 1 handle slot */
    FUZZ_OP_RECV_MANY = 4,/* arg: max_n - 1 (3 bits), bit 3 max_n = 0; next byte: cap class */
    FUZZ_OP_SEND = 5,     /* arg: length class (3 bits) | handle slot << 3 */
    FUZZ_OP_SEND_MANY = 6,/* arg: n - 1 (3 bits); next byte: length classes */
    FUZZ_OP_EXPORT = 7,   /* arg: role | mode << 1 */
    FUZZ_OP_CLOSE = 8,    /* arg: role | slot << 1 | free << 2 */
    FUZZ_OP_SELF = 9,     /* next byte: our pid from now on */
    FUZZ_OP_POKE = 10,    /* next 3 bytes: u64 at offset 8 * (b0 | b1 << 8) += (int8_t)b2, now
                           * (arg 0) or in the middle of a later call: at the arg-th call
                           * the core makes into the fake OS layer from now on */
    FUZZ_OP_CLAIM_TIMEOUT = 11, /* arg * 10 ms on every handle */
    FUZZ_OP_INSPECT = 12,
    FUZZ_OP_CLOCK = 13,   /* the clock jumps arg * 25 ms */
    FUZZ_OP_KILL = 14,    /* next byte: flip whether pids of that value % 32 live */
    FUZZ_OP_CONSUME = 15, /* arg: handle slot */
};
#define FUZZ_OP(op, arg) ((uint8_t)((op) | (arg) << 4))
/* An op's result where it had no handle to act on. */
#define FUZZ_NO_HANDLE INT64_MIN

/* Size classes: 0, 1, 7, 8, 40, 100, max, then for a message length max + 1
 * and for a buffer 8 * max. */
enum { FUZZ_SIZE_MAX = 6, FUZZ_SIZE_OVER = 7, FUZZ_SIZE_BATCH = 7 };

/* Open modes (FUZZ_OP_OPEN arg >> 1). */
enum {
    FUZZ_OPEN_PLAIN = 0,    /* shmring_open(kind from the flags) */
    FUZZ_OPEN_ANY = 2,      /* shmring_open(kind 0) */
    FUZZ_OPEN_OTHER = 3,    /* shmring_open(the other kind) */
    FUZZ_OPEN_TAKE = 4,     /* import the copy of holder entry <next byte % 64> (read from the segment) */
    FUZZ_OPEN_EXPORTED = 6, /* import the copy the last export made */
    FUZZ_OPEN_FORGED = 7,   /* import with origin pid <next>, holder <next>, start of that pid */
};

/* Export modes (FUZZ_OP_EXPORT arg >> 1). */
enum {
    FUZZ_EXPORT_ONLY = 0,    /* a copy in flight, taken up later or never */
    FUZZ_EXPORT_HANDOVER = 1,/* import it here, then close and free the exporter */
    FUZZ_EXPORT_FORK = 2,    /* become pid <next byte>, then shmring_adopt_after_fork() */
    FUZZ_EXPORT_CHILD = 3,   /* become pid <next byte>, then import it */
};

/* What a run did: one result per op executed (for the corpus generator). */
typedef struct fuzz_trace {
    unsigned n;
    uint8_t op[FUZZ_SCRIPT_SIZE];
    int64_t rc[FUZZ_SCRIPT_SIZE];
} fuzz_trace;

/* Run one input (fuzz_segment.c); trace may be NULL. */
void fuzz_run(const uint8_t *data, size_t size, fuzz_trace *trace);

/* ---- segment_fuzz.c: the fake OS layer ---------------------------------- */

/* Processes: pid p lives iff p is ours or bit p % 32 of the mask is set,
 * and its start time is fuzz_start_time(p). */
void fuzz_os_reset(uint32_t self_pid, uint32_t alive_mask, int64_t clock_step_ns);
void fuzz_os_set_self(uint32_t pid);
void fuzz_os_set_alive(uint32_t mask);
uint32_t fuzz_os_alive(void);
void fuzz_os_advance_clock(int64_t ns);
/* Call fn at the `calls`-th call into this layer from now (pid, start time,
 * liveness, clock): another process's write in the middle of one of ours.
 * One at a time; reset by fuzz_os_reset(). */
void fuzz_os_defer(unsigned calls, void (*fn)(void));
uint64_t fuzz_start_time(uint32_t pid);

/* A page-aligned allocation of exactly `size` bytes (free() it). */
unsigned char *fuzz_page_alloc(size_t size);

/* The one segment, named FUZZ_NAME. install: `buf` of exactly `size`
 * bytes, freed by fuzz_segment_remove() if `owned`. */
void fuzz_segment_install(unsigned char *buf, size_t size, size_t granule, bool owned);
unsigned char *fuzz_segment_base(size_t *size);
/* Mappings (attaches not yet detached) of the segment. */
unsigned fuzz_segment_mappings(void);
bool fuzz_segment_unlinked(void);
void fuzz_segment_remove(void);

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond);                                              \
    } while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#endif /* SHMRING_FUZZ_H */
