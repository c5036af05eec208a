/*
 * gen_corpus.c - writes the seed corpus of the fuzz target: valid segments
 * (SPSC and MPMC; new, empty, with messages, wrapped, full, closed, with
 * dead holders and claimers, copies in flight), each with a control prefix
 * whose script works it, plus a few broken headers.
 *
 * The segments are made by the core itself, through the public API, on the
 * fake segment layer (segment_fuzz.c), as processes of the pids below; only
 * what a killed process leaves behind (a claimed slot, a half-claimed
 * holder entry) is written by hand. Each file is then run as the fuzz target
 * runs it, and what every op returned is checked against the expectation
 * written next to it here, so the corpus is known to reach what it names.
 *
 * usage: gen_corpus DIR    (tools/fuzz.sh builds it; see tests/fuzz/README.md)
 * GEN_CORPUS_VERBOSE=1 prints what each file's ops returned.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign, strtok_r */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S SHMRING_ROLE_SENDER
#define R SHMRING_ROLE_RECEIVER

/* Script ops (fuzz.h); those that read more bytes take them as arguments. */
#define FACTS(arg) FUZZ_OP(FUZZ_OP_FACTS, arg)
#define OPEN(role) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_PLAIN << 1)
#define OPEN_ANY(role) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_ANY << 1)
#define OPEN_OTHER(role) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_OTHER << 1)
#define TAKE(role, entry) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_TAKE << 1), (entry)
#define IMPORT_EXPORTED(role) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_EXPORTED << 1)
#define FORGED(role, pid, entry) FUZZ_OP(FUZZ_OP_OPEN, (role) | FUZZ_OPEN_FORGED << 1), (pid), (entry)
#define RECV(cls) FUZZ_OP(FUZZ_OP_RECV, cls)
#define RECV_SLOT(cls, slot) FUZZ_OP(FUZZ_OP_RECV, (cls) | (slot) << 3)
#define PEEK(consume) FUZZ_OP(FUZZ_OP_PEEK, consume)
#define RECV_MANY(n, cls) FUZZ_OP(FUZZ_OP_RECV_MANY, (n) - 1), (cls)
#define SEND(cls) FUZZ_OP(FUZZ_OP_SEND, cls)
#define SEND_MANY(n, classes) FUZZ_OP(FUZZ_OP_SEND_MANY, (n) - 1), (classes)
#define EXPORT(role, mode) FUZZ_OP(FUZZ_OP_EXPORT, (role) | (mode) << 1)
#define EXPORT_TO(role, mode, pid) FUZZ_OP(FUZZ_OP_EXPORT, (role) | (mode) << 1), (pid)
#define CLOSE(role) FUZZ_OP(FUZZ_OP_CLOSE, role)
#define CLOSE_FREE(role) FUZZ_OP(FUZZ_OP_CLOSE, (role) | 4)
#define SELF(pid) FUZZ_OP(FUZZ_OP_SELF, 0), (pid)
#define CLAIM(tens_of_ms) FUZZ_OP(FUZZ_OP_CLAIM_TIMEOUT, tens_of_ms)
#define INSPECT FUZZ_OP(FUZZ_OP_INSPECT, 0)
#define CLOCK(quarters) FUZZ_OP(FUZZ_OP_CLOCK, quarters)
#define KILL(pid) FUZZ_OP(FUZZ_OP_KILL, 0), (pid)
#define CONSUME FUZZ_OP(FUZZ_OP_CONSUME, 0)
/* Another process adds delta to the u64 at byte 8 * word of the segment:
 * now, or at the calls-th call of ours into the OS layer (mid-call). */
#define POKE_AT(calls, word, delta)                                                            \
    FUZZ_OP(FUZZ_OP_POKE, calls), (uint8_t)((word) & 255), (uint8_t)((word) >> 8), (uint8_t)(delta)
#define POKE(word, delta) POKE_AT(0, word, delta)
/* Words of the segment to poke. */
#define W_HEAD (offsetof(shmring_header, head) / 8)
#define W_END_STATE(role) ((offsetof(shmring_header, ends) + (role) * sizeof(shmring_end)) / 8)
#define W_DATA(byte) ((SHMRING_HEADER_SIZE + (byte)) / 8)

/* Size classes. */
enum { C0 = 0, C1 = 1, C7 = 2, C8 = 3, C40 = 4, C100 = 5, CMAX = FUZZ_SIZE_MAX, COVER = FUZZ_SIZE_OVER,
       CBATCH = FUZZ_SIZE_BATCH };

#define ALL UINT32_MAX
#define DEAD(pid) (~(UINT32_C(1) << ((pid) % 32)))
#define ME 9 /* the pid a corpus file runs as, unless it says otherwise */

static const char *out_dir;
static unsigned written;
static size_t written_bytes;

static _Noreturn void die(const char *what, long long got) {
    fprintf(stderr, "gen_corpus: %s (got %lld)\n", what, got);
    exit(1);
}

#define MUST(call)                                                                             \
    do {                                                                                       \
        int64_t rc_ = (call);                                                                  \
        if (rc_ < 0)                                                                           \
            die(#call, rc_);                                                                   \
    } while (0)

/* ---- building segments as several processes ------------------------------- */

static shmring_header *hdr(void) {
    size_t size;
    return (shmring_header *)fuzz_segment_base(&size);
}

static unsigned char *data_area(void) { return (unsigned char *)hdr() + SHMRING_HEADER_SIZE; }

static shmring_ring *handles[80];
static unsigned n_handles;

static void begin(void) {
    fuzz_os_reset(1, ALL, 1000000);
    n_handles = 0;
}

static void spsc(uint64_t capacity) {
    begin();
    MUST(shmring_spsc_create(FUZZ_NAME, capacity));
}

static void mpmc(uint64_t slots, uint64_t slot_size) {
    begin();
    MUST(shmring_mpmc_create(FUZZ_NAME, slots, slot_size));
}

static shmring_ring *keep(shmring_ring *r) {
    if (n_handles == sizeof handles / sizeof handles[0])
        die("too many handles", 0);
    handles[n_handles++] = r;
    return r;
}

static shmring_ring *open_as(uint32_t pid, int role) {
    shmring_ring *r = NULL;
    fuzz_os_set_self(pid);
    MUST(shmring_open(FUZZ_NAME, role, 0, &r));
    return keep(r);
}

static void send_n(shmring_ring *r, size_t len, int n) {
    unsigned char buf[1024];
    for (size_t i = 0; i < len && i < sizeof buf; i++)
        buf[i] = (unsigned char)(i + 1);
    for (int i = 0; i < n; i++) {
        int rc = shmring_kind_of(r) == SHMRING_KIND_SPSC ? shmring_spsc_send(r, buf, len, 0)
                                                         : shmring_mpmc_send(r, buf, len, 0);
        if (rc != SHMRING_OK)
            die("send", rc);
    }
}

/* Send until the ring is full: how many went. */
static int fill(shmring_ring *r, size_t len) {
    unsigned char buf[1024] = {0};
    for (int n = 0;; n++) {
        int rc = shmring_kind_of(r) == SHMRING_KIND_SPSC ? shmring_spsc_send(r, buf, len, 0)
                                                         : shmring_mpmc_send(r, buf, len, 0);
        if (rc == SHMRING_EAGAIN)
            return n;
        if (rc != SHMRING_OK)
            die("fill", rc);
    }
}

static void recv_n(shmring_ring *r, int n) {
    unsigned char buf[1024];
    for (int i = 0; i < n; i++) {
        int64_t rc = shmring_kind_of(r) == SHMRING_KIND_SPSC ? shmring_spsc_recv(r, buf, sizeof buf, 0)
                                                             : shmring_mpmc_recv(r, buf, sizeof buf, 0);
        if (rc < 0)
            die("recv", rc);
    }
}

static void export_as(uint32_t pid, shmring_ring *r, shmring_origin *origin) {
    fuzz_os_set_self(pid);
    MUST(shmring_export(r, origin));
}

static void close_as(uint32_t pid, shmring_ring *r) {
    fuzz_os_set_self(pid);
    MUST(shmring_close(r));
}

static uint64_t slot_state(uint64_t lap, uint32_t holder, unsigned st) {
    return lap << (SHMRING_SLOT_STATE_BITS + SHMRING_SLOT_HOLDER_BITS) |
           (uint64_t)holder << SHMRING_SLOT_STATE_BITS | st;
}

static shmring_slot *slot(uint64_t pos, uint64_t slots, uint64_t stride) {
    return (shmring_slot *)(data_area() + (pos & (slots - 1)) * stride);
}

/* ---- files ------------------------------------------------------------------ */

typedef struct pending {
    char name[64];
    unsigned char *bytes;
    size_t size;
    char expect[256];
} pending;

static pending queue[16];
static unsigned queued;

/*
 * One corpus file: the control prefix, then the segment as it is now (and
 * `pad` zero bytes past it: a Windows view rounded up to a page). `expect`
 * lists what each op of the script returns: a number, an error name, '*'
 * for anything, '+' for a length >= 0, '-' for no handle to act on.
 */
static void emit(const char *name, uint8_t flags, uint8_t self, uint8_t clock_ms, uint32_t alive,
                 const uint8_t *script, size_t n, size_t pad, const char *expect) {
    size_t seg_size;
    const unsigned char *seg = fuzz_segment_base(&seg_size);
    if (n > FUZZ_SCRIPT_SIZE || queued == sizeof queue / sizeof queue[0])
        die("script too long or too many files", (long long)n);
    pending *p = &queue[queued++];
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->expect, sizeof p->expect, "%s", expect);
    p->size = FUZZ_CTL_SIZE + seg_size + pad;
    p->bytes = calloc(1, p->size);
    p->bytes[FUZZ_CTL_FLAGS] = flags;
    p->bytes[FUZZ_CTL_SELF] = self;
    p->bytes[FUZZ_CTL_CLOCK] = clock_ms;
    memcpy(p->bytes + FUZZ_CTL_ALIVE, &alive, sizeof alive);
    memcpy(p->bytes + FUZZ_CTL_SCRIPT, script, n);
    if (seg_size != 0)
        memcpy(p->bytes + FUZZ_CTL_SIZE, seg, seg_size);
}

#define EMIT_PADDED(name, flags, self, clock_ms, alive, pad, expect, ...)                     \
    do {                                                                                       \
        const uint8_t script_[] = {__VA_ARGS__};                                               \
        emit(name, flags, self, clock_ms, alive, script_, sizeof script_, pad, expect);        \
    } while (0)
#define EMIT(name, flags, self, clock_ms, alive, expect, ...)                                  \
    EMIT_PADDED(name, flags, self, clock_ms, alive, 0, expect, __VA_ARGS__)

static const struct {
    const char *name;
    int64_t code;
} codes[] = {
    {"EAGAIN", SHMRING_EAGAIN},       {"ECLOSED", SHMRING_ECLOSED},
    {"ETOOBIG", SHMRING_ETOOBIG},     {"ENOBUFS", SHMRING_ENOBUFS},
    {"ECORRUPT", SHMRING_ECORRUPT},   {"ENOENT", SHMRING_ENOENT},
    {"ENOTSHMRING", SHMRING_ENOTSHMRING}, {"EVERSION", SHMRING_EVERSION},
    {"ENOTREADY", SHMRING_ENOTREADY}, {"EINUSE", SHMRING_EINUSE},
    {"EINVAL", SHMRING_EINVAL},       {"EKIND", SHMRING_EKIND},
    {"EENDCLOSED", SHMRING_EENDCLOSED},
};

static bool matches(const char *want, int64_t got) {
    if (strcmp(want, "*") == 0)
        return true;
    if (strcmp(want, "+") == 0)
        return got >= 0 && got != FUZZ_NO_HANDLE;
    if (strcmp(want, "-") == 0)
        return got == FUZZ_NO_HANDLE;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(want, codes[i].name) == 0)
            return got == codes[i].code;
    }
    char *end;
    long long v = strtoll(want, &end, 10);
    if (*end != '\0')
        die("bad expectation", 0);
    return got == v;
}

/* Write the files queued for the segment just made, after its handles
 * are gone, then run each as the fuzz target does and check the script. */
static void finish(void) {
    for (unsigned i = 0; i < n_handles; i++)
        shmring_free(handles[i]);
    n_handles = 0;
    fuzz_segment_remove();
    for (unsigned i = 0; i < queued; i++) {
        pending *p = &queue[i];
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", out_dir, p->name) >= (int)sizeof path)
            die("path too long", 0);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(p->bytes, 1, p->size, f) != p->size || fclose(f) != 0)
            die(strerror(errno), 0);
        fuzz_trace t;
        fuzz_run(p->bytes, p->size, &t);
        char got[1024] = "", want[256];
        unsigned k = 0;
        bool ok = true;
        snprintf(want, sizeof want, "%s", p->expect);
        char *save = NULL, *tok = strtok_r(want, " ", &save);
        for (k = 0; k < t.n; k++) {
            size_t at = strlen(got);
            if (t.rc[k] == FUZZ_NO_HANDLE)
                snprintf(got + at, sizeof got - at, " -");
            else
                snprintf(got + at, sizeof got - at, " %lld", (long long)t.rc[k]);
            if (tok == NULL || !matches(tok, t.rc[k]))
                ok = false;
            if (tok != NULL)
                tok = strtok_r(NULL, " ", &save);
        }
        if (tok != NULL)
            ok = false;
        if (getenv("GEN_CORPUS_VERBOSE") != NULL)
            printf("%-32s%s\n", p->name, got);
        if (!ok) {
            fprintf(stderr, "gen_corpus: %s: the script returned%s\n  expected: %s\n", p->name, got,
                    p->expect);
            exit(1);
        }
        written++;
        written_bytes += p->size;
        free(p->bytes);
    }
    queued = 0;
}

/* ---- the corpus --------------------------------------------------------------- */

static void spsc_corpus(void) {
    /* 1024 bytes: max message 504; size classes 0 1 7 8 40 100 504 505. */
    spsc(1024);
    EMIT("spsc-new-pair", SHMRING_KIND_SPSC, ME, 1, ALL,
         "0 0 0 0 0 40 0 3 EAGAIN 0 ECLOSED 0",
         OPEN(S), OPEN(R), SEND(C40), SEND(C0), SEND_MANY(3, 0x05), RECV(CMAX), PEEK(1),
         RECV_MANY(8, CMAX), RECV(CMAX), CLOSE(S), RECV(CMAX), INSPECT);
    /* Someone else opens the sender end while we do. */
    EMIT("spsc-new-open-race", SHMRING_KIND_SPSC, ME, 1, ALL, "0 EENDCLOSED 0",
         POKE_AT(2, W_END_STATE(S), 1), OPEN(S), OPEN(R));
    EMIT("spsc-new-kinds-poll", SHMRING_KIND_MPMC | FUZZ_F_POLL, ME, 1, ALL,
         "EKIND 0 0 0 ETOOBIG ENOBUFS ENOBUFS 504 EAGAIN 0 ECLOSED",
         OPEN(S), OPEN_ANY(S), OPEN_OTHER(R), SEND(CMAX), SEND(COVER), RECV(C100),
         RECV_MANY(2, C100), RECV(CMAX), RECV(CMAX), CLOSE_FREE(R), SEND(C1));
    finish();

    /* The sender (pid 3) sent two messages; the receiver end is new. */
    spsc(1024);
    shmring_ring *tx = open_as(3, S);
    send_n(tx, 8, 1);
    send_n(tx, 100, 1);
    EMIT("spsc-sender-only", SHMRING_KIND_SPSC, ME, 1, ALL, "0 8 100 EAGAIN EINUSE",
         OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX), OPEN(S));
    EMIT("spsc-sender-only-dead", 0, ME, 1, DEAD(3), "0 8 100 ECLOSED 0",
         OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX), INSPECT);
    /* Mid-call writes: the sender's end turns CLOSED, head moves. */
    EMIT("spsc-sender-only-races", SHMRING_KIND_SPSC, ME, 1, ALL, "0 8 100 0 * 0 * *",
         OPEN(R), RECV(CMAX), RECV(CMAX), POKE_AT(1, W_END_STATE(S), 1), RECV(CMAX),
         POKE_AT(2, W_HEAD, 16), RECV(CMAX), RECV(CMAX));
    finish();

    /* Sender pid 3 and receiver pid 4, five messages queued. */
    spsc(1024);
    tx = open_as(3, S);
    shmring_ring *rx = open_as(4, R);
    send_n(tx, 0, 1);
    send_n(tx, 1, 1);
    send_n(tx, 7, 1);
    send_n(tx, 8, 1);
    send_n(tx, 100, 1);
    EMIT("spsc-messages-take-receiver", SHMRING_KIND_SPSC, ME, 1, ALL,
         "0 0 1 7 2 EAGAIN 0 EAGAIN 0",
         TAKE(R, 0), RECV(CMAX), RECV(CMAX), PEEK(1), RECV_MANY(8, CMAX), RECV(CMAX),
         EXPORT_TO(R, FUZZ_EXPORT_CHILD, 10), RECV_SLOT(CMAX, 1), CLOSE(R));
    EMIT("spsc-messages-take-sender", SHMRING_KIND_SPSC, ME, 1, ALL,
         "0 0 0 EAGAIN 0 0 0 EINUSE",
         TAKE(S, 0), SEND(C100), SEND_MANY(4, 0x0c), SEND(CMAX), EXPORT(S, FUZZ_EXPORT_HANDOVER),
         SEND(C1), CLOSE_FREE(S + 2), OPEN(R));
    EMIT("spsc-messages-peek-nobufs", 0, ME, 1, ALL,
         "0 0 0 EINVAL 1 EINVAL 7 7 ENOBUFS 8 100",
         TAKE(R, 0), PEEK(0), RECV(C0), CONSUME, PEEK(1), CONSUME, PEEK(0), PEEK(1), RECV(C7),
         RECV(C8), RECV(C100));
    EMIT("spsc-messages-fork", SHMRING_KIND_SPSC, ME, 1, ALL, "0 0 0 0 0 1 0 7",
         TAKE(R, 0), EXPORT_TO(R, FUZZ_EXPORT_FORK, 11), RECV(CMAX), EXPORT(R, FUZZ_EXPORT_ONLY),
         IMPORT_EXPORTED(R), RECV_SLOT(CMAX, 1), CLOSE_FREE(R), RECV_SLOT(CMAX, 1));
    EMIT_PADDED("spsc-messages-page-view", SHMRING_KIND_SPSC | FUZZ_F_PAGE_GRANULE, ME, 1, ALL, 100,
                "0 5 0 0 504", TAKE(R, 0), RECV_MANY(8, CMAX), TAKE(S, 0), SEND(CMAX), RECV(CMAX));
    finish();

    /* Wrapped: records at 624 and 832 (a padding record), a message at 0. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 200, 4);
    recv_n(rx, 3);
    send_n(tx, 200, 1);
    EMIT("spsc-wrapped-recv", SHMRING_KIND_SPSC, ME, 1, ALL, "0 200 200 EAGAIN 0 0",
         TAKE(R, 0), RECV(CMAX), RECV(CMAX), RECV(CMAX), TAKE(S, 0), SEND(CMAX));
    EMIT("spsc-wrapped-peek", 0, ME, 1, ALL, "0 200 200 0 EAGAIN",
         TAKE(R, 0), PEEK(1), PEEK(0), CONSUME, PEEK(1));
    EMIT("spsc-wrapped-bad-padding", SHMRING_KIND_SPSC, ME, 1, ALL, "0 0 200 ECORRUPT ECORRUPT",
         TAKE(R, 0), POKE(W_DATA(832), 8), RECV(CMAX), RECV(CMAX), PEEK(0));
    EMIT("spsc-wrapped-many", SHMRING_KIND_SPSC, ME, 1, ALL, "0 2 0 0 EAGAIN 1",
         TAKE(R, 0), RECV_MANY(8, CMAX), TAKE(S, 0), SEND(CMAX), SEND_MANY(2, 0x2d), RECV_MANY(4, CMAX));
    finish();

    /* Wrapped without padding: 128-byte records from 512 up to the end
     * exactly, and two more from 0 (a longer one at 896 would cross it). */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 120, 8);
    recv_n(rx, 4);
    send_n(tx, 120, 2);
    EMIT("spsc-wrapped-exact", SHMRING_KIND_SPSC, ME, 1, ALL, "0 3 120 2 EAGAIN",
         TAKE(R, 0), RECV_MANY(3, CBATCH), RECV(CMAX), RECV_MANY(8, CBATCH), RECV(CMAX));
    finish();

    /* Full: nine 100-byte messages (112-byte records) in 1024 bytes. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    if (fill(tx, 100) != 9)
        die("fill", 0);
    EMIT("spsc-full-receiver-dies", SHMRING_KIND_SPSC, ME, 1, ALL, "0 EAGAIN 0 0 ECLOSED ECLOSED 0",
         TAKE(S, 0), SEND(C100), KILL(4), CLOCK(2), SEND(C100), SEND_MANY(2, 0x00), CLOSE(S));
    EMIT("spsc-full-drain", SHMRING_KIND_SPSC | FUZZ_F_POLL, ME, 1, ALL, "0 5 4 EAGAIN 0 0",
         TAKE(R, 0), RECV_MANY(8, CMAX), RECV_MANY(8, CMAX), RECV(CMAX), TAKE(S, 0), SEND(CMAX));
    finish();

    /* The sender sent three and closed; the receiver is open. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 40, 3);
    close_as(3, tx);
    EMIT("spsc-sender-closed", SHMRING_KIND_SPSC, ME, 1, ALL, "0 40 2 ECLOSED EENDCLOSED 0",
         TAKE(R, 0), RECV(CMAX), RECV_MANY(8, CMAX), RECV(CMAX), OPEN(S), CLOSE(R));
    finish();

    /* Both ends closed. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 7, 2);
    close_as(4, rx);
    close_as(3, tx);
    EMIT("spsc-both-closed", 0, ME, 1, ALL, "EENDCLOSED EENDCLOSED 0 -",
         OPEN(S), OPEN(R), INSPECT, RECV(CMAX));
    finish();

    /* A copy of the sender exported by pid 3, in flight; two messages. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 40, 2);
    shmring_origin origin;
    export_as(3, tx, &origin);
    EMIT("spsc-exported-dead-exporter", SHMRING_KIND_SPSC, ME, 1, DEAD(3), "0 0 0 3 0",
         TAKE(S, 0), SEND(C8), TAKE(R, 0), RECV_MANY(8, CMAX), CLOSE(S));
    EMIT("spsc-exported-forged", SHMRING_KIND_SPSC, ME, 1, ALL, "0 0 EINUSE 0",
         FORGED(S, 3, 5), SEND(C1), OPEN(R), INSPECT);
    finish();

    /* The sender held by pid 3 and by pid 5, which imported pid 3's export. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 8, 3);
    export_as(3, tx, &origin);
    shmring_ring *tx2 = NULL;
    fuzz_os_set_self(5);
    MUST(shmring_import(FUZZ_NAME, S, 0, &origin, &tx2));
    keep(tx2);
    send_n(tx2, 1, 1);
    EMIT("spsc-two-holders-one-dead", SHMRING_KIND_SPSC, ME, 1, DEAD(3), "0 8 8 8 1 EAGAIN",
         TAKE(R, 0), RECV(CMAX), RECV(CMAX), RECV(CMAX), RECV(CMAX), RECV(CMAX));
    EMIT("spsc-two-holders-all-dead", SHMRING_KIND_SPSC, ME, 1, DEAD(3) & DEAD(5), "0 4 ECLOSED 0",
         TAKE(R, 0), RECV_MANY(8, CMAX), RECV(CMAX), INSPECT);
    finish();

    /* Large indices: head and tail start at 2^63 - 512 (offset 512). */
    spsc(1024);
    atomic_store(&hdr()->head.pos, UINT64_C(0x7ffffffffffffe00));
    atomic_store(&hdr()->tail.pos, UINT64_C(0x7ffffffffffffe00));
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 200, 3);
    EMIT("spsc-large-indices", SHMRING_KIND_SPSC, ME, 1, ALL, "0 2 200 EAGAIN 0 0 0",
         TAKE(R, 0), RECV_MANY(8, CMAX), RECV(CMAX), RECV(CMAX), TAKE(S, 0), SEND(CMAX), INSPECT);
    finish();

    /* 2048 bytes (max message 1016), the second max-size record at the wrap. */
    spsc(2048);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 1016, 1);
    recv_n(rx, 1);
    send_n(tx, 1016, 1);
    send_n(tx, 8, 1);
    EMIT("spsc-2048-max", SHMRING_KIND_SPSC, ME, 1, ALL, "0 1016 8 EAGAIN 0 0",
         TAKE(R, 0), PEEK(1), RECV(CMAX), RECV(CMAX), TAKE(S, 0), SEND_MANY(3, 0x36));
    finish();

    /* The receiver (pid 4) died with messages queued. */
    spsc(1024);
    tx = open_as(3, S);
    rx = open_as(4, R);
    send_n(tx, 100, 2);
    EMIT("spsc-receiver-dead", SHMRING_KIND_SPSC, ME, 1, DEAD(4), "0 0 EENDCLOSED ECLOSED 0 -",
         TAKE(S, 0), SEND(C40), OPEN(R), SEND(C1), CLOSE_FREE(S), SEND(C1));
    EMIT("spsc-receiver-dead-taken-over", SHMRING_KIND_SPSC, ME, 1, DEAD(4), "0 100 100 EAGAIN 0",
         TAKE(R, 0), RECV(CMAX), RECV(CMAX), RECV(CMAX), INSPECT);
    finish();
}

static void mpmc_corpus(void) {
    /* 4 slots of 40 bytes (64-byte stride): size classes 0 1 7 8 40 100 40 41. */
    mpmc(4, 40);
    EMIT("mpmc-new-pair", SHMRING_KIND_MPMC, ME, 1, ALL,
         "0 0 0 0 0 0 EAGAIN 40 1 0 2 ENOBUFS 0 - 1 40 ECLOSED",
         OPEN(S), OPEN(R), SEND(C40), SEND(C1), SEND(C0), SEND(C7), SEND(C8), RECV(CMAX), RECV(C1),
         SEND_MANY(2, 0x09), RECV_MANY(2, CMAX), RECV(C0), CLOSE(S), CLOSE(S + 2), RECV(CMAX), RECV(CMAX),
         RECV(CMAX));
    EMIT("mpmc-new-kinds", SHMRING_KIND_SPSC | FUZZ_F_POLL, ME, 1, ALL,
         "EKIND 0 0 ETOOBIG 0 EINVAL ENOBUFS 40 EINVAL",
         OPEN(R), OPEN_ANY(R), OPEN_OTHER(S), SEND(COVER), SEND(CMAX), PEEK(0), RECV(C7),
         RECV(CMAX), FUZZ_OP(FUZZ_OP_RECV_MANY, 8), CMAX);
    finish();

    /* Senders pid 3 and 4, receivers pid 5 and 6; three messages. */
    mpmc(4, 40);
    shmring_ring *tx = open_as(3, S);
    shmring_ring *tx2 = open_as(4, S);
    shmring_ring *rx = open_as(5, R);
    open_as(6, R);
    send_n(tx, 40, 1);
    send_n(tx2, 0, 1);
    send_n(tx, 7, 1);
    EMIT("mpmc-open-join", SHMRING_KIND_MPMC, ME, 1, ALL, "0 40 0 7 EAGAIN 0 0 8 0",
         OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX), RECV(CMAX), OPEN(S), SEND(C8), RECV(CMAX), INSPECT);
    /* The receiver end closes while we join it (after our copy is counted). */
    EMIT("mpmc-open-join-race", SHMRING_KIND_MPMC, ME, 1, ALL, "0 EENDCLOSED 0",
         POKE_AT(3, W_END_STATE(R), 1), OPEN(R), INSPECT);
    EMIT("mpmc-open-senders-dead", 0, ME, 1, DEAD(3) & DEAD(4), "0 2 7 ECLOSED EENDCLOSED",
         OPEN(R), RECV_MANY(8, CMAX), RECV(CMAX), RECV(CMAX), OPEN(S));
    EMIT("mpmc-open-receivers-dead", SHMRING_KIND_MPMC, ME, 1, DEAD(5) & DEAD(6), "EENDCLOSED 0 ECLOSED 0",
         OPEN(R), OPEN(S), SEND(C1), INSPECT);
    finish();

    /* Full, and wrapped: slots at laps 2 and 3. */
    mpmc(4, 40);
    tx = open_as(3, S);
    rx = open_as(5, R);
    for (int i = 0; i < 10; i++) {
        send_n(tx, (size_t)i * 4, 1);
        recv_n(rx, 1);
    }
    if (fill(tx, 40) != 4)
        die("fill", 0);
    EMIT("mpmc-full-wrapped", SHMRING_KIND_MPMC, ME, 1, ALL, "0 EAGAIN 0 2 EAGAIN EAGAIN 4 EAGAIN",
         OPEN(S), SEND(C1), OPEN(R), RECV_MANY(2, C100), SEND_MANY(4, 0x00), SEND(C1), RECV_MANY(8, C100),
         RECV(CMAX));
    finish();

    /* A sender (pid 3, holder entry 0) killed mid-write: slot 1 WRITING. */
    mpmc(4, 40);
    tx = open_as(3, S);
    tx2 = open_as(4, S);
    rx = open_as(5, R);
    send_n(tx, 40, 1);
    atomic_store(&slot(1, 4, 64)->state, slot_state(0, 0, SHMRING_SLOT_WRITING));
    atomic_store(&hdr()->head.pos, 2);
    send_n(tx2, 8, 1);
    EMIT("mpmc-dead-writer", SHMRING_KIND_MPMC, ME, 1, DEAD(3), "0 0 40 EAGAIN 8 EAGAIN 0",
         OPEN(R), CLAIM(0), RECV(CMAX), RECV(CMAX), RECV(CMAX), RECV(CMAX), INSPECT);
    EMIT("mpmc-dead-writer-clock", SHMRING_KIND_MPMC, ME, 60, DEAD(3), "0 40 EAGAIN 8 0",
         OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX), INSPECT);
    EMIT("mpmc-dead-writer-races", SHMRING_KIND_MPMC, ME, 1, DEAD(3), "0 0 40 0 * 0 * *",
         OPEN(R), CLAIM(0), RECV(CMAX), POKE_AT(3, W_DATA(64), 1), RECV(CMAX),
         POKE_AT(1, W_END_STATE(S), 1), RECV(CMAX), RECV(CMAX));
    EMIT("mpmc-dead-writer-alive", SHMRING_KIND_MPMC | FUZZ_F_POLL, ME, 1, ALL,
         "0 0 40 EAGAIN EAGAIN 0 0",
         OPEN(R), CLAIM(0), RECV(CMAX), RECV(CMAX), RECV(CMAX), OPEN(S), SEND(C1));
    finish();

    /* Full, and a receiver (pid 5, entry 0) killed mid-read of slot 0. */
    mpmc(4, 40);
    tx = open_as(3, S);
    rx = open_as(5, R);
    open_as(6, R);
    fill(tx, 40);
    atomic_store(&slot(0, 4, 64)->state, slot_state(0, 0, SHMRING_SLOT_READING));
    atomic_store(&hdr()->tail.pos, 1);
    EMIT("mpmc-dead-reader", SHMRING_KIND_MPMC, ME, 1, DEAD(5), "0 0 EAGAIN 0 0 2 0",
         OPEN(S), CLAIM(0), SEND(C8), SEND(C8), OPEN(R), RECV_MANY(8, C100), INSPECT);
    EMIT("mpmc-dead-reader-poll", SHMRING_KIND_MPMC | FUZZ_F_POLL, ME, 1, DEAD(5), "0 0 EAGAIN 0 EAGAIN",
         OPEN(S), CLAIM(0), SEND_MANY(2, 0x00), SEND(C8), SEND(C8));
    finish();

    /* Taken back already: slot 1 SKIPPED (a dead writer's), counted in stats. */
    mpmc(4, 40);
    tx = open_as(3, S);
    rx = open_as(5, R);
    send_n(tx, 7, 1);
    atomic_store(&slot(1, 4, 64)->state, slot_state(0, 0, SHMRING_SLOT_SKIPPED));
    atomic_store(&hdr()->head.pos, 2);
    atomic_store(&hdr()->stats.recovered_writes, 1);
    send_n(tx, 1, 1);
    EMIT("mpmc-skipped", SHMRING_KIND_MPMC, ME, 1, ALL, "0 0 7 1 EAGAIN",
         INSPECT, OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX));
    finish();

    /* The senders sent two and closed; receiver pid 5 still open. */
    mpmc(4, 40);
    tx = open_as(3, S);
    rx = open_as(5, R);
    send_n(tx, 40, 2);
    close_as(3, tx);
    EMIT("mpmc-senders-closed", SHMRING_KIND_MPMC, ME, 1, ALL, "0 40 40 ECLOSED EENDCLOSED",
         OPEN(R), RECV(CMAX), RECV(CMAX), RECV(CMAX), OPEN(S));
    finish();

    /* Both closed. */
    mpmc(4, 40);
    tx = open_as(3, S);
    rx = open_as(5, R);
    send_n(tx, 40, 1);
    close_as(5, rx);
    close_as(3, tx);
    EMIT("mpmc-both-closed", SHMRING_KIND_MPMC, ME, 1, ALL, "EENDCLOSED EENDCLOSED 0",
         OPEN(S), OPEN(R), INSPECT);
    finish();

    /* The smallest: 2 slots of 1 byte. */
    mpmc(2, 1);
    tx = open_as(3, S);
    rx = open_as(5, R);
    send_n(tx, 1, 1);
    EMIT("mpmc-2x1", SHMRING_KIND_MPMC, ME, 1, ALL, "0 0 ETOOBIG EAGAIN 0 1 0 EAGAIN",
         OPEN(S), SEND(C0), SEND(C7), SEND(C1), OPEN(R), RECV(CMAX), RECV(C0), RECV(CMAX));
    finish();

    /* 16 slots of 100 bytes (128-byte stride), wrapped, eight queued. */
    mpmc(16, 100);
    tx = open_as(3, S);
    rx = open_as(5, R);
    for (int i = 0; i < 3; i++) {
        send_n(tx, 100, 7);
        recv_n(rx, 7);
    }
    send_n(tx, 50, 8);
    EMIT("mpmc-16x100", SHMRING_KIND_MPMC, ME, 1, ALL, "0 8 EAGAIN 0 0 8 0",
         OPEN(R), RECV_MANY(8, CBATCH), RECV(CMAX), OPEN(S), SEND_MANY(8, 0x2a), RECV_MANY(8, CBATCH), INSPECT);
    finish();

    /* A full receiver table: pids 1..63; a half-claimed sender entry of a
     * dead pid 12 beside sender pid 3. */
    mpmc(4, 40);
    for (uint32_t pid = 1; pid <= SHMRING_MAX_HOLDERS; pid++)
        open_as(pid, R);
    tx = open_as(3, S);
    send_n(tx, 8, 2);
    atomic_store(&hdr()->ends[S].holders[1].pid_copies, (UINT64_C(12) << 32) | UINT32_MAX);
    EMIT("mpmc-full-table-dead", SHMRING_KIND_MPMC, 100, 1, DEAD(7) & DEAD(12), "0 8 0 0 0",
         OPEN(R), RECV(CMAX), OPEN(S), SEND(C1), INSPECT);
    EMIT("mpmc-full-table-alive", SHMRING_KIND_MPMC, 100, 1, ALL, "EINUSE 0 0 EINUSE EINUSE",
         OPEN(R), OPEN(S), SEND(C1), OPEN(R), FORGED(R, 3, 0));
    finish();
}

/* Headers no creator wrote: each is refused at open. */
static void broken_corpus(void) {
    spsc(1024);
    atomic_store(&hdr()->id.magic, 0);
    EMIT("bad-not-ready", 0, ME, 1, ALL, "ENOTREADY ENOTREADY", INSPECT, OPEN(R));
    finish();

    spsc(1024);
    atomic_store(&hdr()->id.layout_version, SHMRING_LAYOUT_VERSION + 1);
    EMIT("bad-version", 0, ME, 1, ALL, "EVERSION EVERSION", INSPECT, OPEN(S));
    finish();

    mpmc(4, 40);
    atomic_store(&hdr()->id.slot_stride, 48);
    EMIT("bad-stride", 0, ME, 1, ALL, "ECORRUPT ECORRUPT", INSPECT, OPEN(S));
    finish();

    /* A segment cut short of its data area, and one cut short of a header. */
    spsc(1024);
    size_t size;
    (void)fuzz_segment_base(&size);
    {
        const uint8_t script[] = {OPEN(R), INSPECT};
        unsigned char *copy = malloc(size);
        memcpy(copy, hdr(), size);
        fuzz_segment_remove();
        fuzz_segment_install(copy, SHMRING_HEADER_SIZE + 512, 1, true);
        emit("bad-truncated", 0, ME, 1, ALL, script, sizeof script, 0, "ECORRUPT ECORRUPT");
        finish();
        copy = malloc(12);
        memcpy(copy, "SHMRING1abcd", 12);
        fuzz_segment_install(copy, 12, 1, true);
        emit("bad-tiny", 0, ME, 1, ALL, script, sizeof script, 0, "ECORRUPT ECORRUPT");
        finish();
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    spsc_corpus();
    mpmc_corpus();
    broken_corpus();
    printf("gen_corpus: %u files, %zu bytes in %s\n", written, written_bytes, out_dir);
    return 0;
}
