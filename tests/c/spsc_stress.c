/*
 * spsc_stress.c - two threads hammer one small SPSC ring through the public
 * API: random sizes from 0 to max_message_size, thousands of wrap-arounds,
 * blocking, non-blocking and peek/consume receives, then a close that must
 * deliver every message sent before it. Built with -fsanitize=thread by
 * tests/test_c_core.py so a missing release/acquire is reported, not hoped away.
 *
 * usage: spsc_stress NAME MESSAGES CAPACITY
 */
#include "shmring.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t max_len;
static unsigned long messages;

/* xorshift: both threads derive the same sizes from the sequence number */
static uint64_t mix(uint64_t x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static size_t size_of(unsigned long seq) {
    uint64_t m = mix(seq + 1);
    if (m % 16 == 0)
        return max_len;
    if (m % 16 == 1)
        return 0;
    return (size_t)(m >> 8) % (max_len + 1);
}

static void fill(unsigned char *buf, unsigned long seq, size_t len) {
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seq * 131 + i * 7);
}

static int check(const unsigned char *buf, unsigned long seq, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (unsigned char)(seq * 131 + i * 7))
            return 0;
    return 1;
}

static void *producer(void *arg) {
    shmring_ring *tx = arg;
    unsigned char *buf = malloc(max_len + 1);
    for (unsigned long seq = 0; seq < messages; seq++) {
        size_t len = size_of(seq);
        fill(buf, seq, len);
        int rc;
        if (seq % 3 == 0) {
            while ((rc = shmring_spsc_send(tx, buf, len, 0)) == SHMRING_EAGAIN)
                ;
        } else {
            rc = shmring_spsc_send(tx, buf, len, -1);
        }
        if (rc != SHMRING_OK) {
            fprintf(stderr, "send %lu: %s\n", seq, shmring_strerror(rc));
            exit(1);
        }
    }
    free(buf);
    shmring_close(tx);
    return NULL;
}

static int receive_one(shmring_ring *rx, unsigned long seq, unsigned char *buf) {
    size_t len;
    if (seq % 4 == 1) {
        const void *data;
        int rc = shmring_spsc_peek(rx, &data, &len, -1);
        if (rc != SHMRING_OK)
            return rc;
        memcpy(buf, data, len);
        shmring_spsc_consume(rx);
    } else {
        int64_t got;
        if (seq % 4 == 2) {
            while ((got = shmring_spsc_recv(rx, buf, max_len, 0)) == SHMRING_EAGAIN)
                ;
        } else {
            got = shmring_spsc_recv(rx, buf, max_len, -1);
        }
        if (got < 0)
            return (int)got;
        len = (size_t)got;
    }
    if (len != size_of(seq) || !check(buf, seq, len)) {
        fprintf(stderr, "message %lu: wrong size or content\n", seq);
        exit(1);
    }
    return SHMRING_OK;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s NAME MESSAGES CAPACITY\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    messages = strtoul(argv[2], NULL, 10);
    uint64_t capacity = strtoull(argv[3], NULL, 10);
    max_len = (size_t)shmring_spsc_max_message_size(capacity);
    shmring_ring *tx, *rx;
    int rc = shmring_spsc_create(name, capacity);
    if (rc == SHMRING_OK)
        rc = shmring_open(name, SHMRING_ROLE_SENDER, SHMRING_KIND_SPSC, &tx);
    if (rc == SHMRING_OK)
        rc = shmring_open(name, SHMRING_ROLE_RECEIVER, SHMRING_KIND_SPSC, &rx);
    if (rc != SHMRING_OK) {
        fprintf(stderr, "setup: %s\n", shmring_strerror(rc));
        shmring_unlink(name);
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, producer, tx);
    unsigned char *buf = malloc(max_len + 1);
    for (unsigned long seq = 0; seq < messages; seq++) {
        rc = receive_one(rx, seq, buf);
        if (rc != SHMRING_OK) {
            fprintf(stderr, "recv %lu: %s\n", seq, shmring_strerror(rc));
            return 1;
        }
    }
    /* Every message arrived; now the sender's close must show as ECLOSED. */
    int64_t last = shmring_spsc_recv(rx, buf, max_len, -1);
    pthread_join(thread, NULL);
    if (last != SHMRING_ECLOSED) {
        fprintf(stderr, "after the last message: %s, expected closed\n",
                shmring_strerror((int)last));
        return 1;
    }
    shmring_free(rx);
    shmring_free(tx);
    free(buf);
    printf("ok: %lu messages, capacity %llu, max %zu\n", messages, (unsigned long long)capacity,
           max_len);
    return 0;
}
