/*
 * layout.h - the bytes of a shmring segment, as every process sees them.
 *
 * A segment is one header page (SHMRING_HEADER_SIZE bytes) followed by the
 * data area. docs/FORMAT.md draws the same layout; change both together and
 * bump SHMRING_LAYOUT_VERSION whenever any offset or meaning changes.
 *
 * Every field is _Atomic because other processes may write it at any time
 * (a buggy or hostile peer included); plain fields would make such a write a
 * data race. Values read from here are copied out once and checked before use.
 *
 *   offset  size  what                               written by
 *   0       128   identity: magic, version, sizes    creator, once
 *   128     128   producer line: head                the sending side
 *   256     128   consumer line: tail                the receiving side
 *   384     128   data waitpoint (receivers park)    receivers / senders
 *   512     128   space waitpoint (senders park)     senders / receivers
 *   640     128   control: closed_ends               whoever closes an end
 *   768     128   stats: recovered claims (MPMC)     whoever recovers one
 *   1024    1024  sender end: state, user, holders   processes holding it
 *   2048    1024  receiver end: state, holder table  processes holding it
 *   4096    ...   data area: SPSC a ring of records, MPMC an array of slots
 */
#ifndef SHMRING_LAYOUT_H
#define SHMRING_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shmring.h" /* enum shmring_kind, enum shmring_role_id */

/* "SHMRING1" read as a little-endian u64; stored last, with release. */
#define SHMRING_MAGIC UINT64_C(0x31474e49524d4853)
#define SHMRING_LAYOUT_VERSION 1u

#define SHMRING_HEADER_SIZE 4096u
/* Two 64-byte lines: adjacent-line prefetch would otherwise couple them. */
#define SHMRING_LINE 128u
/* Processes that may hold copies of one end at the same time. */
#define SHMRING_MAX_HOLDERS 63u

enum shmring_end_state {
    SHMRING_END_NEW = 0,    /* never opened: a named ring waiting for its peer */
    SHMRING_END_OPEN = 1,   /* at least one copy exists (or existed, then died) */
    SHMRING_END_CLOSED = 2, /* every copy closed, or every holder died: final */
};

typedef struct shmring_identity {
    _Atomic uint64_t magic;            /* 0: SHMRING_MAGIC once initialised, 0 before */
    _Atomic uint32_t layout_version;   /* 8 */
    _Atomic uint32_t kind;             /* 12: enum shmring_kind */
    _Atomic uint64_t total_size;       /* 16: header + data area, bytes */
    _Atomic uint64_t capacity;         /* 24: SPSC: data bytes; MPMC: slots (powers of two) */
    _Atomic uint64_t max_message_size; /* 32: largest payload accepted (MPMC: slot size) */
    _Atomic uint64_t data_offset;      /* 40: == SHMRING_HEADER_SIZE */
    _Atomic uint32_t creator_pid;      /* 48 */
    _Atomic uint32_t reserved0;        /* 52 */
    _Atomic uint64_t creator_start;    /* 56: creator's start time (see process.h) */
    _Atomic uint64_t created_unix_ns;  /* 64: wall clock, for `shmring ls` */
    _Atomic uint64_t slot_stride;      /* 72: MPMC: bytes per slot; SPSC: 0 */
    _Atomic uint64_t reserved[6];      /* 80..127 */
} shmring_identity;

/* One index, alone on its line: only one side ever writes it. */
typedef struct shmring_index_line {
    _Atomic uint64_t pos; /* monotonic byte position; never wraps in 2^64 */
    uint8_t pad[SHMRING_LINE - sizeof(uint64_t)];
} shmring_index_line;

/*
 * Where one side sleeps. `seq` is the futex word: a waker bumps it before
 * waking, so a sleeper that read the old value cannot miss the change.
 * `waiters` counts sleepers so a waker with nobody to wake makes no syscall;
 * `wake_at` is the other side's index at which the sleeper can go on, so it
 * is not woken (one syscall each) for every record that does not yet help.
 */
typedef struct shmring_waitpoint {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
    _Atomic uint64_t wake_at;
    uint8_t pad[SHMRING_LINE - 2 * sizeof(uint32_t) - sizeof(uint64_t)];
} shmring_waitpoint;

typedef struct shmring_control {
    _Atomic uint32_t closed_ends; /* 0..2; whoever makes it 2 unlinks the name */
    uint8_t pad[SHMRING_LINE - sizeof(uint32_t)];
} shmring_control;

/* MPMC: claims of dead processes taken back (see mpmc.c). */
typedef struct shmring_stats {
    _Atomic uint64_t recovered_writes; /* a dead sender's slot skipped: nothing lost */
    _Atomic uint64_t recovered_reads;  /* a dead receiver's slot freed: its message lost */
    uint8_t pad[SHMRING_LINE - 2 * sizeof(uint64_t)];
} shmring_stats;

/* A process holding copies of an end: (pid << 32) | copies in one word. */
typedef struct shmring_holder {
    _Atomic uint64_t pid_copies;
    _Atomic uint64_t start_time; /* 0 while the slot is being claimed */
} shmring_holder;

typedef struct shmring_end {
    _Atomic uint32_t state; /* enum shmring_end_state */
    _Atomic uint32_t reserved;
    /* Token of the handle that last used this end. A handle keeps its own
     * index in process-local memory and re-reads it from the segment only
     * when another copy of the end (in another process) was used since. */
    _Atomic uint64_t user;
    shmring_holder holders[SHMRING_MAX_HOLDERS];
} shmring_end;

typedef struct shmring_header {
    shmring_identity id;         /* 0 */
    shmring_index_line head;     /* 128: written by the sender only */
    shmring_index_line tail;     /* 256: written by the receiver only */
    shmring_waitpoint data_wait; /* 384: receivers sleep here for data */
    shmring_waitpoint space_wait;/* 512: senders sleep here for space */
    shmring_control control;     /* 640 */
    shmring_stats stats;         /* 768 */
    uint8_t reserved[1024 - 896];
    shmring_end ends[2];         /* 1024: indexed by enum shmring_role_id */
    uint8_t tail_reserved[SHMRING_HEADER_SIZE - 3072];
} shmring_header;

/* SPSC record: 8-byte header, payload, padding to the next 8-byte boundary. */
typedef struct shmring_record {
    uint32_t length; /* payload bytes (for padding: bytes skipped after this header) */
    uint32_t type;   /* SHMRING_RECORD_* */
} shmring_record;

enum { SHMRING_RECORD_MESSAGE = 0x4d534721u, SHMRING_RECORD_PADDING = 0x50414421u };
#define SHMRING_RECORD_ALIGN 8u

/*
 * MPMC slot: a state word, the message length, then slot_size bytes; slots
 * are padded to whole 64-byte lines so neighbours never share one.
 * state = (lap << 9) | (holder << 3) | SHMRING_SLOT_*, where lap is the
 * position this state is about divided by the number of slots, and holder
 * the claimer's entry in the holder table of its end.
 */
typedef struct shmring_slot {
    _Atomic uint64_t state;
    _Atomic uint32_t length;
    _Atomic uint32_t reserved;
} shmring_slot;

enum {
    SHMRING_SLOT_FREE = 0,    /* lap's producer may claim it */
    SHMRING_SLOT_WRITING = 1, /* claimed by a producer (holder set) */
    SHMRING_SLOT_READY = 2,   /* holds a message */
    SHMRING_SLOT_SKIPPED = 3, /* its producer died mid-write: consumers pass over it */
    SHMRING_SLOT_READING = 4, /* claimed by a consumer (holder set) */
};
#define SHMRING_SLOT_ALIGN 64u
#define SHMRING_SLOT_STATE_BITS 3u
#define SHMRING_SLOT_HOLDER_BITS 6u

/* The layout is a contract between processes and versions: pin it. */
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free in shared memory");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free in shared memory");
static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 must be plain-sized");
static_assert(sizeof(_Atomic uint32_t) == 4, "futex words are 32 bits");
static_assert(offsetof(shmring_identity, magic) == 0, "magic is at offset 0 forever");
static_assert(offsetof(shmring_identity, layout_version) == 8, "version is at offset 8 forever");
static_assert(offsetof(shmring_identity, created_unix_ns) == 64, "identity layout");
static_assert(sizeof(shmring_identity) == SHMRING_LINE, "identity is one line");
static_assert(offsetof(shmring_header, head) == 128, "producer line");
static_assert(offsetof(shmring_header, tail) == 256, "consumer line");
static_assert(offsetof(shmring_header, data_wait) == 384, "data waitpoint");
static_assert(offsetof(shmring_header, space_wait) == 512, "space waitpoint");
static_assert(offsetof(shmring_header, control) == 640, "control line");
static_assert(offsetof(shmring_header, stats) == 768, "stats line");
static_assert(offsetof(shmring_identity, slot_stride) == 72, "identity layout");
static_assert(sizeof(shmring_slot) == 16, "slot header is 16 bytes");
static_assert(SHMRING_MAX_HOLDERS < (1u << SHMRING_SLOT_HOLDER_BITS), "holder index fits a slot state");
static_assert(offsetof(shmring_header, ends) == 1024, "end tables");
static_assert(sizeof(shmring_end) == 1024, "one end table is 1 KiB");
static_assert(sizeof(shmring_header) == SHMRING_HEADER_SIZE, "header is one page");
static_assert(sizeof(shmring_record) == 8, "record header is 8 bytes");
static_assert(SHMRING_RECORD_ALIGN % 8 == 0, "records keep 8-byte alignment");

#endif /* SHMRING_LAYOUT_H */
