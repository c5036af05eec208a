/*
 * pingpong.c - the C floor for the benchmark: the same ring calls Python
 * makes, without Python in the loop.
 */
#include "pingpong.h"
#include "internal.h"

#include <string.h>

int shmring_pingpong_ping(shmring_ring *tx, shmring_ring *rx, const void *msg, size_t len,
                          int64_t *samples_ns, size_t n) {
    const size_t checked = 64; /* bytes of each reply compared: the floor is a reference, not a contender */
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = shmring_now_ns();
        int rc = shmring_spsc_send(tx, msg, len, -1);
        if (rc != SHMRING_OK)
            return rc;
        const void *data;
        size_t got;
        rc = shmring_spsc_peek(rx, &data, &got, -1);
        if (rc != SHMRING_OK)
            return rc;
        if (got != len || (len > 0 && memcmp(data, msg, len < checked ? len : checked)))
            return SHMRING_ECORRUPT;
        rc = shmring_spsc_consume(rx);
        if (rc != SHMRING_OK)
            return rc;
        samples_ns[i] = shmring_now_ns() - t0;
    }
    return SHMRING_OK;
}

int shmring_pingpong_echo(shmring_ring *rx, shmring_ring *tx, void *buf, size_t cap, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int64_t got = shmring_spsc_recv(rx, buf, cap, -1);
        if (got < 0)
            return (int)got;
        int rc = shmring_spsc_send(tx, buf, (size_t)got, -1);
        if (rc != SHMRING_OK)
            return rc;
    }
    return SHMRING_OK;
}

int shmring_pingpong_send_n(shmring_ring *tx, const void *msg, size_t len, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = shmring_spsc_send(tx, msg, len, -1);
        if (rc != SHMRING_OK)
            return rc;
    }
    return SHMRING_OK;
}

int64_t shmring_pingpong_recv_n(shmring_ring *rx, void *buf, size_t cap, size_t n) {
    int64_t start = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t got = shmring_spsc_recv(rx, buf, cap, -1);
        if (got < 0)
            return got;
        if (i == 0)
            start = shmring_now_ns();
    }
    return shmring_now_ns() - start;
}
