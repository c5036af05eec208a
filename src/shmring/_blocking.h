/*
 * _blocking.h - the waiting calls of shmring._core (see _ffi_build.py): they
 * release the GIL and wait in C for one slice at a time. Like the calls of
 * _fastpath.h, each records its result in the endpoint's call struct, so a
 * KeyboardInterrupt raised as one returns cannot drop what it took or hide
 * what it sent (_calls.h says why).
 */
#include "shmring.h"
#include "_calls.h"

#define SHMRING_RING(c) ((shmring_ring *)((c)->ring))

static int shmring_spsc_wait_send(shmring_send_call *c, const char *data, size_t len, int64_t timeout_ns) {
    return (int)(c->outcome = shmring_spsc_send(SHMRING_RING(c), data, len, timeout_ns));
}
static int shmring_mpmc_wait_send(shmring_send_call *c, const char *data, size_t len, int64_t timeout_ns) {
    return (int)(c->outcome = shmring_mpmc_send(SHMRING_RING(c), data, len, timeout_ns));
}
static int64_t shmring_spsc_wait_recv(shmring_recv_call *c, char *buf, size_t cap, int64_t timeout_ns) {
    return c->taken = shmring_spsc_recv(SHMRING_RING(c), buf, cap, timeout_ns);
}
static int64_t shmring_mpmc_wait_recv(shmring_recv_call *c, char *buf, size_t cap, int64_t timeout_ns) {
    return c->taken = shmring_mpmc_recv(SHMRING_RING(c), buf, cap, timeout_ns);
}
static int64_t shmring_spsc_wait_recv_many(shmring_recv_call *c, char *buf, size_t cap, uint64_t *lens,
                                           size_t max_n, int64_t timeout_ns) {
    return c->taken = shmring_spsc_recv_many(SHMRING_RING(c), buf, cap, lens, max_n, timeout_ns);
}
static int64_t shmring_mpmc_wait_recv_many(shmring_recv_call *c, char *buf, size_t cap, uint64_t *lens,
                                           size_t max_n, int64_t timeout_ns) {
    return c->taken = shmring_mpmc_recv_many(SHMRING_RING(c), buf, cap, lens, max_n, timeout_ns);
}
/* The consume of a peeked SPSC record: taken is 0 once it is gone from the ring. */
static int shmring_spsc_consume_call(shmring_recv_call *c) {
    return (int)(c->taken = shmring_spsc_consume(SHMRING_RING(c)));
}
