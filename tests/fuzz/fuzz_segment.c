/*
 * fuzz_segment.c - a libFuzzer target over everything in the C core that
 * reads a segment another process may have written.
 *
 * An input (see fuzz.h) is a control prefix, then segment bytes. The bytes
 * go into a buffer of exactly their size (segment_fuzz.c), and a script from
 * the prefix runs the public API on them, as one process or several in turn:
 * inspect, open and import of either end (check_header, the holder tables),
 * SPSC recv / peek / consume / recv_many and send / send_many over whatever
 * head, tail and records say, MPMC recv / recv_many / send over whatever the
 * slots say (claims, dead claimers' recovery), exports and hand-overs, closes
 * (dead peers, the last closer), and a hostile peer's writes between calls
 * and in the middle of them.
 * Every call is non-blocking. Besides what ASan and UBSan report, a result
 * the API does not promise (a length over the buffer, a peeked pointer
 * outside the ring, a mapping left behind) fails the run.
 *
 * Build and run: bash tools/fuzz.sh [SECONDS]; corpus: tests/fuzz/corpus/.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

typedef struct run {
    shmring_ring *h[2][2]; /* [role][slot] */
    shmring_origin origin; /* the last export's */
    bool have_origin;
    int origin_role;
    int64_t timeout;       /* 0 or SHMRING_POLL */
    int kind;              /* what opens ask for */
    const uint8_t *script;
    unsigned pos;
} run;

static volatile unsigned sink; /* bytes read through a peek go here */

static uint8_t next_byte(run *x) {
    return x->pos < FUZZ_SCRIPT_SIZE ? x->script[x->pos++] : 0;
}

/* The handle in `slot` of `role`, else the other slot's, else the other role's. */
static shmring_ring *handle(run *x, int role, unsigned slot) {
    slot &= 1;
    if (x->h[role][slot] != NULL)
        return x->h[role][slot];
    if (x->h[role][1 - slot] != NULL)
        return x->h[role][1 - slot];
    return x->h[1 - role][0] != NULL ? x->h[1 - role][0] : x->h[1 - role][1];
}

/* A message length (class 7: one byte too many) or a buffer size (class 7:
 * room for a batch of eight messages of the largest size). */
static size_t size_class(const shmring_ring *r, unsigned c, bool cap) {
    static const size_t fixed[] = {0, 1, 7, 8, 40, 100};
    uint64_t max = shmring_max_message_size(r);
    c &= 7;
    if (c < FUZZ_SIZE_MAX)
        return fixed[c];
    if (c == FUZZ_SIZE_MAX)
        return (size_t)max;
    return (size_t)(cap ? 8 * max : max + 1);
}

static void check_code(int64_t rc) {
    FUZZ_CHECK(rc <= 0 && rc >= SHMRING_EFOREIGN);
}

/* A receive's result: a length that fits, or an error with its facts. */
static void check_received(const shmring_ring *r, int64_t rc, size_t cap) {
    uint64_t max = shmring_max_message_size(r);
    if (rc >= 0) {
        FUZZ_CHECK((uint64_t)rc <= cap && (uint64_t)rc <= max);
        return;
    }
    check_code(rc);
    if (rc == SHMRING_ENOBUFS)
        FUZZ_CHECK(shmring_needed(r) > cap && shmring_needed(r) <= max);
}

static int64_t op_recv(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, SHMRING_ROLE_RECEIVER, arg >> 3);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    size_t cap = size_class(r, arg, true);
    unsigned char *buf = malloc(cap); /* exactly cap: ASan sees a write past it */
    int64_t rc = shmring_kind_of(r) == SHMRING_KIND_SPSC ? shmring_spsc_recv(r, buf, cap, x->timeout)
                                                         : shmring_mpmc_recv(r, buf, cap, x->timeout);
    check_received(r, rc, cap);
    free(buf);
    return rc;
}

static int64_t op_peek(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, SHMRING_ROLE_RECEIVER, arg >> 1);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    const void *data = NULL;
    size_t len = 0;
    int rc = shmring_spsc_peek(r, &data, &len, x->timeout);
    check_code(rc);
    if (rc != SHMRING_OK)
        return rc;
    const unsigned char *p = data;
    /* white-box: the record lies in this handle's data area */
    FUZZ_CHECK(p >= r->data && len <= r->max_message && len <= r->capacity &&
               (size_t)(p - r->data) <= r->capacity - len);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    sink += sum;
    if (arg & 1) {
        rc = shmring_spsc_consume(r);
        FUZZ_CHECK(rc == SHMRING_OK);
    }
    return (int64_t)len;
}

static int64_t op_recv_many(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, SHMRING_ROLE_RECEIVER, 0);
    uint8_t c = next_byte(x);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    size_t max_n = arg & 8 ? 0 : 1 + (arg & 7u);
    size_t cap = size_class(r, c, true);
    unsigned char *buf = malloc(cap);
    uint64_t *lens = malloc((max_n != 0 ? max_n : 1) * sizeof *lens);
    int64_t rc = shmring_kind_of(r) == SHMRING_KIND_SPSC
                     ? shmring_spsc_recv_many(r, buf, cap, lens, max_n, x->timeout)
                     : shmring_mpmc_recv_many(r, buf, cap, lens, max_n, x->timeout);
    if (rc > 0) {
        FUZZ_CHECK((size_t)rc <= max_n);
        uint64_t used = 0;
        for (int64_t i = 0; i < rc; i++) {
            FUZZ_CHECK(lens[i] <= shmring_max_message_size(r));
            used += lens[i];
        }
        FUZZ_CHECK(used <= cap);
    } else {
        FUZZ_CHECK(rc != 0);
        check_received(r, rc, cap);
        if (max_n == 0)
            FUZZ_CHECK(rc == SHMRING_EINVAL);
    }
    free(lens);
    free(buf);
    return rc;
}

static unsigned char *message(size_t len) {
    unsigned char *p = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + 1);
    return p;
}

static int64_t op_send(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, SHMRING_ROLE_SENDER, arg >> 3);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    size_t len = size_class(r, arg, false);
    unsigned char *data = message(len);
    int rc = shmring_kind_of(r) == SHMRING_KIND_SPSC ? shmring_spsc_send(r, data, len, x->timeout)
                                                     : shmring_mpmc_send(r, data, len, x->timeout);
    check_code(rc);
    if ((arg & 7) == FUZZ_SIZE_OVER)
        FUZZ_CHECK(rc != SHMRING_OK);
    free(data);
    return rc;
}

static int64_t op_send_many(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, SHMRING_ROLE_SENDER, 0);
    uint8_t classes = next_byte(x);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    size_t n = 1 + (arg & 7u), total = 0, sent = 0;
    uint64_t lens[8];
    for (size_t i = 0; i < n; i++) {
        lens[i] = size_class(r, (unsigned)(classes >> (i % 6)), false);
        total += (size_t)lens[i];
    }
    unsigned char *data = message(total);
    int rc = shmring_kind_of(r) == SHMRING_KIND_SPSC
                 ? shmring_spsc_send_many(r, data, total, lens, n, x->timeout, &sent)
                 : shmring_mpmc_send_many(r, data, total, lens, n, x->timeout, &sent);
    check_code(rc);
    FUZZ_CHECK(sent <= n && (rc != SHMRING_OK || sent == n));
    free(data);
    return rc;
}

static int free_slot(run *x, int role) {
    if (x->h[role][0] == NULL)
        return 0;
    return x->h[role][1] == NULL ? 1 : -1;
}

/* The holder entry `index` of `role` as an origin: what its process would
 * have exported (read from the segment; zeros where it has no header). */
static shmring_origin entry_origin(int role, uint32_t index) {
    size_t size;
    const unsigned char *base = fuzz_segment_base(&size);
    shmring_origin o = {0, index, 0, 0};
    size_t at = offsetof(shmring_header, ends) + (size_t)role * sizeof(shmring_end) +
                offsetof(shmring_end, holders) + (size_t)index * sizeof(shmring_holder);
    if (base != NULL && index < SHMRING_MAX_HOLDERS && at + sizeof(shmring_holder) <= size) {
        uint64_t pid_copies, start;
        memcpy(&pid_copies, base + at, sizeof pid_copies);
        memcpy(&start, base + at + sizeof pid_copies, sizeof start);
        o.pid = (uint32_t)(pid_copies >> 32);
        o.start_time = start;
        o.tag = (uint32_t)pid_copies & 0x7ffffffeu; /* an entry in transit: TRANSIT | tag */
    }
    return o;
}

static int64_t op_open(run *x, uint8_t arg) {
    int role = arg & 1, mode = arg >> 1, slot = free_slot(x, role);
    shmring_origin o = {0, 0, 0, 0};
    bool import = true;
    int kind = x->kind;
    switch (mode) {
    case FUZZ_OPEN_ANY:
        kind = 0;
        import = false;
        break;
    case FUZZ_OPEN_OTHER:
        kind = x->kind == SHMRING_KIND_SPSC ? SHMRING_KIND_MPMC : SHMRING_KIND_SPSC;
        import = false;
        break;
    case FUZZ_OPEN_TAKE:
    case FUZZ_OPEN_TAKE + 1:
        o = entry_origin(role, next_byte(x) % 64u);
        break;
    case FUZZ_OPEN_EXPORTED:
        if (x->have_origin && x->origin_role == role)
            o = x->origin;
        else
            import = false;
        break;
    case FUZZ_OPEN_FORGED: {
        uint32_t pid = next_byte(x);
        o = (shmring_origin){pid, next_byte(x), fuzz_start_time(pid), 1};
        break;
    }
    default:
        import = false;
        break;
    }
    if (slot < 0)
        return FUZZ_NO_HANDLE;
    shmring_ring *r = NULL;
    int rc = import ? shmring_import(FUZZ_NAME, role, kind, &o, &r) : shmring_open(FUZZ_NAME, role, kind, &r);
    check_code(rc);
    if (rc == SHMRING_OK) {
        FUZZ_CHECK(r != NULL && (kind == 0 || shmring_kind_of(r) == kind));
        x->h[role][slot] = r;
    }
    return rc;
}

static int64_t op_export(run *x, uint8_t arg) {
    int role = arg & 1, mode = (arg >> 1) & 3;
    uint8_t pid = mode >= FUZZ_EXPORT_FORK ? next_byte(x) : 0;
    int from = x->h[role][0] != NULL ? 0 : 1;
    shmring_ring *r = x->h[role][from];
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    int rc = shmring_export(r, &x->origin);
    check_code(rc);
    if (rc != SHMRING_OK)
        return rc;
    x->have_origin = true;
    x->origin_role = role;
    if (mode == FUZZ_EXPORT_ONLY)
        return rc;
    if (mode == FUZZ_EXPORT_FORK) {
        fuzz_os_set_self(pid); /* the child, with the parent's handle in its memory */
        rc = shmring_adopt_after_fork(r, &x->origin);
        check_code(rc);
        return rc;
    }
    if (mode == FUZZ_EXPORT_CHILD)
        fuzz_os_set_self(pid);
    shmring_ring *copy = NULL;
    rc = shmring_import(FUZZ_NAME, role, 0, &x->origin, &copy);
    check_code(rc);
    if (rc != SHMRING_OK)
        return rc;
    shmring_free(x->h[role][1 - from]); /* NULL: nothing */
    x->h[role][1 - from] = copy;
    if (mode == FUZZ_EXPORT_HANDOVER) { /* the exporter lets go of its copy */
        shmring_free(r);
        x->h[role][from] = NULL;
    }
    return rc;
}

static int64_t op_close(run *x, uint8_t arg) {
    int role = arg & 1, slot = (arg >> 1) & 1;
    shmring_ring *r = x->h[role][slot];
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    int rc = shmring_close(r);
    FUZZ_CHECK(rc == SHMRING_OK);
    if (arg & 4) {
        shmring_free(r);
        x->h[role][slot] = NULL;
    }
    return rc;
}

/* A write by another process: the u64 at poke_offset += poke_delta. */
static size_t poke_offset;
static int8_t poke_delta;

static void poke(void) {
    size_t size;
    unsigned char *base = fuzz_segment_base(&size);
    if (base == NULL || poke_offset + sizeof(uint64_t) > size)
        return;
    uint64_t v;
    memcpy(&v, base + poke_offset, sizeof v);
    v += (uint64_t)(int64_t)poke_delta;
    memcpy(base + poke_offset, &v, sizeof v);
}

static int64_t op_poke(run *x, uint8_t arg) {
    unsigned at = next_byte(x);
    at |= (unsigned)next_byte(x) << 8;
    poke_offset = (size_t)at * 8;
    poke_delta = (int8_t)next_byte(x);
    if (arg == 0)
        poke(); /* between our calls */
    else
        fuzz_os_defer(arg, poke); /* in the middle of one */
    return 0;
}

static int64_t op_inspect(void) {
    shmring_info info;
    int rc = shmring_inspect(FUZZ_NAME, &info);
    check_code(rc);
    if (rc == SHMRING_OK) {
        FUZZ_CHECK(info.kind == SHMRING_KIND_SPSC || info.kind == SHMRING_KIND_MPMC);
        FUZZ_CHECK(info.live_holders[0] <= SHMRING_MAX_HOLDERS && info.live_holders[1] <= SHMRING_MAX_HOLDERS);
        if (info.kind == SHMRING_KIND_SPSC)
            FUZZ_CHECK(info.used_bytes <= info.capacity);
        else
            FUZZ_CHECK(info.used_bytes <= info.capacity * info.max_message_size);
    }
    return rc;
}

static int64_t op_facts(run *x, uint8_t arg) {
    shmring_ring *r = handle(x, arg & 1, arg >> 1);
    if (r == NULL)
        return FUZZ_NO_HANDLE;
    int kind = shmring_kind_of(r);
    FUZZ_CHECK(kind == SHMRING_KIND_SPSC || kind == SHMRING_KIND_MPMC);
    FUZZ_CHECK(shmring_capacity(r) != 0 && strcmp(shmring_name(r), FUZZ_NAME) == 0);
    shmring_set_spin(r, arg & 2 ? 0 : -1);
    return (int64_t)(shmring_needed(r) % 1024);
}

static int64_t step(run *x, uint8_t byte) {
    uint8_t op = byte & 15, arg = byte >> 4;
    switch (op) {
    case FUZZ_OP_FACTS: return op_facts(x, arg);
    case FUZZ_OP_OPEN: return op_open(x, arg);
    case FUZZ_OP_RECV: return op_recv(x, arg);
    case FUZZ_OP_PEEK: return op_peek(x, arg);
    case FUZZ_OP_RECV_MANY: return op_recv_many(x, arg);
    case FUZZ_OP_SEND: return op_send(x, arg);
    case FUZZ_OP_SEND_MANY: return op_send_many(x, arg);
    case FUZZ_OP_EXPORT: return op_export(x, arg);
    case FUZZ_OP_CLOSE: return op_close(x, arg);
    case FUZZ_OP_SELF: fuzz_os_set_self(next_byte(x)); return 0;
    case FUZZ_OP_POKE: return op_poke(x, arg);
    case FUZZ_OP_CLAIM_TIMEOUT:
        for (int i = 0; i < 4; i++) {
            if (x->h[i / 2][i % 2] != NULL)
                shmring_set_claim_timeout(x->h[i / 2][i % 2], (int64_t)arg * 10000000);
        }
        return 0;
    case FUZZ_OP_INSPECT: return op_inspect();
    case FUZZ_OP_CLOCK: fuzz_os_advance_clock((int64_t)arg * 25000000); return 0;
    case FUZZ_OP_KILL: fuzz_os_set_alive(fuzz_os_alive() ^ (UINT32_C(1) << (next_byte(x) % 32))); return 0;
    default: { /* FUZZ_OP_CONSUME */
        shmring_ring *r = handle(x, SHMRING_ROLE_RECEIVER, arg);
        if (r == NULL)
            return FUZZ_NO_HANDLE;
        int rc = shmring_spsc_consume(r);
        check_code(rc);
        return rc;
    }
    }
}

void fuzz_run(const uint8_t *data, size_t size, fuzz_trace *trace) {
    uint8_t ctl[FUZZ_CTL_SIZE] = {0};
    size_t ctl_size = size < FUZZ_CTL_SIZE ? size : FUZZ_CTL_SIZE;
    memcpy(ctl, data, ctl_size);
    uint32_t alive;
    memcpy(&alive, ctl + FUZZ_CTL_ALIVE, sizeof alive);
    fuzz_os_reset(ctl[FUZZ_CTL_SELF], alive, (int64_t)ctl[FUZZ_CTL_CLOCK] * 1000000);

    size_t seg_size = size - ctl_size;
    unsigned char *seg = fuzz_page_alloc(seg_size);
    if (seg_size != 0)
        memcpy(seg, data + ctl_size, seg_size);
    uint8_t flags = ctl[FUZZ_CTL_FLAGS];
    fuzz_segment_install(seg, seg_size, flags & FUZZ_F_PAGE_GRANULE ? 4096 : 1, true);

    run x = {.script = ctl + FUZZ_CTL_SCRIPT,
             .timeout = flags & FUZZ_F_POLL ? SHMRING_POLL : 0,
             .kind = (flags & FUZZ_F_KIND) == 3 ? 0 : flags & FUZZ_F_KIND};
    if (trace != NULL)
        trace->n = 0;
    op_inspect(); /* what `shmring ls` does first */
    while (x.pos < FUZZ_SCRIPT_SIZE) {
        uint8_t byte = next_byte(&x);
        if (byte == 0)
            break;
        int64_t rc = step(&x, byte);
        if (trace != NULL) {
            trace->op[trace->n] = byte;
            trace->rc[trace->n++] = rc;
        }
    }
    int first = flags & FUZZ_F_CLOSE_RECEIVER_FIRST ? SHMRING_ROLE_RECEIVER : SHMRING_ROLE_SENDER;
    for (int i = 0; i < 4; i++) {
        int role = i < 2 ? first : 1 - first;
        shmring_free(x.h[role][i % 2]); /* closes it first */
    }
    fuzz_segment_remove(); /* checks every mapping was released */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_run(data, size, NULL);
    return 0;
}
