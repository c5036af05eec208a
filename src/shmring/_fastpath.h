/*
 * _fastpath.h - the C half of shmring._fastpath (see _ffi_build.py): calls
 * that never park, made with the GIL held.
 *
 * A cffi function of one argument is called without an argument tuple
 * (METH_O) and costs well under half of one of two or more: about 40 ns
 * against 120 ns here. recv is the call a round trip waits on, so its
 * arguments travel in one process-local struct, set up once per receiver.
 */
#include "shmring.h"
#include "internal.h" /* shmring_cpu_relax, shmring_now_ns */
#include "_calls.h"

/* Each call records its result in its struct as well as returning it
 * (_calls.h says why). */
static int shmring_spsc_try_send(shmring_send_call *c, const char *data, size_t len) {
    return (int)(c->outcome = shmring_spsc_send((shmring_ring *)c->ring, data, len, 0));
}
static int shmring_mpmc_try_send(shmring_send_call *c, const char *data, size_t len) {
    return (int)(c->outcome = shmring_mpmc_send((shmring_ring *)c->ring, data, len, 0));
}
static int64_t shmring_spsc_try_recv(shmring_recv_call *c, char *buf, size_t cap) {
    return c->taken = shmring_spsc_recv((shmring_ring *)c->ring, buf, cap, 0);
}
static int64_t shmring_mpmc_try_recv(shmring_recv_call *c, char *buf, size_t cap) {
    return c->taken = shmring_mpmc_recv((shmring_ring *)c->ring, buf, cap, 0);
}

typedef int64_t (*shmring_recv_fn)(shmring_ring *, void *, size_t, int64_t);

/* One try that also asks whether a silent peer died (timeout 0), then polls
 * for up to poll_ns: a reply due within microseconds costs this one call,
 * not a Python loop of them (each ~0.1 us, half of which the latency pays
 * on average). The polls use SHMRING_POLL, which skips that question. */
static int64_t poll_recv(shmring_recv_fn recv, shmring_recv_call *c) {
    shmring_ring *r = (shmring_ring *)c->ring;
    int64_t n = recv(r, c->buf, c->cap, 0);
    int64_t until = 0;
    for (unsigned i = 0; n == SHMRING_EAGAIN && c->poll_ns > 0; i++) {
        if (i % 16 == 0) { /* a clock read costs a few polls */
            int64_t now = shmring_now_ns();
            if (until == 0)
                until = shmring_later(now, c->poll_ns);
            if (now >= until)
                break;
        }
        shmring_cpu_relax();
        n = recv(r, c->buf, c->cap, SHMRING_POLL);
    }
    return c->taken = n;
}

static int64_t shmring_spsc_poll_recv(shmring_recv_call *c) {
    return poll_recv(shmring_spsc_recv, c);
}
static int64_t shmring_mpmc_poll_recv(shmring_recv_call *c) {
    return poll_recv(shmring_mpmc_recv, c);
}

/* The struct module format that cuts n messages of these sizes out of the
 * buffer they lie in back to back ("64s0s12s..."): struct then makes every
 * bytes object in one C call. Returns its length, or -1 if cap is short
 * (21 bytes a message always suffice). */
static int64_t shmring_struct_format(const uint64_t *lens, size_t n, char *out, size_t cap) {
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char digits[20];
        size_t k = 0;
        uint64_t v = lens[i];
        do {
            digits[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        if (cap - used < k + 1)
            return -1;
        while (k > 0)
            out[used++] = digits[--k];
        out[used++] = 's';
    }
    return (int64_t)used;
}
