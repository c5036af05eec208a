/*
 * _calls.h - what the Python binding passes to its C calls, and what those
 * calls leave behind when Python loses their return value.
 *
 * Why: CPython runs signal handlers right after a C function returns, before
 * the caller stores the result. A KeyboardInterrupt raised there would drop
 * a message the C call had already taken out of the ring (or hide that a
 * send went out). So every call through these structs also stores its result
 * in the struct, which belongs to one endpoint of this process; the binding's
 * `except BaseException` reads it back there (see transports/shm.py).
 * Process-local memory: nothing here is shared with the other side.
 */
#ifndef SHMRING_CALLS_H
#define SHMRING_CALLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct shmring_recv_call {
    void *ring;      /* shmring_ring * (as void *: the two cffi modules do not share struct types) */
    char *buf;       /* the receiver's scratch buffer */
    size_t cap;
    int64_t poll_ns; /* how long shmring_*_poll_recv() polls; 0: not at all */
    int64_t taken;   /* the last call's result: >= 0 a message (bytes, or messages for recv_many) was taken */
} shmring_recv_call;

typedef struct shmring_send_call {
    void *ring;
    int64_t outcome; /* the last call's result: 0 the message (or batch) was sent */
} shmring_send_call;

#endif
