/*
 * pingpong.h - benchmark loops that run entirely in C over the public API,
 * so `python -m shmring bench` can show the floor the Python binding sits on.
 */
#ifndef SHMRING_PINGPONG_H
#define SHMRING_PINGPONG_H

#include "shmring.h"

/* Send `len` bytes of msg on tx and wait for the echo on rx, n times;
 * samples_ns[i] receives each round trip. 0 or an error code. */
int shmring_pingpong_ping(shmring_ring *tx, shmring_ring *rx, const void *msg, size_t len,
                          int64_t *samples_ns, size_t n);

/* Receive n messages on rx and send each back on tx. */
int shmring_pingpong_echo(shmring_ring *rx, shmring_ring *tx, void *buf, size_t cap, size_t n);

/* Send n copies of msg. */
int shmring_pingpong_send_n(shmring_ring *tx, const void *msg, size_t len, size_t n);

/* Receive n messages; nanoseconds from the first to the last, or an error. */
int64_t shmring_pingpong_recv_n(shmring_ring *rx, void *buf, size_t cap, size_t n);

#endif
