/*
 * mpmc_stress.c - producer and consumer threads hammer one small MPMC ring
 * through the public API. Every message carries (producer, sequence,
 * checksum); the program checks that each arrives exactly once, intact, and
 * that every consumer sees each producer's messages in order. Then the
 * producers close and every consumer must get SHMRING_ECLOSED after the
 * ring drains. Built with -fsanitize=thread by tests/test_c_core.py.
 *
 * usage: mpmc_stress NAME PRODUCERS CONSUMERS MESSAGES_PER_PRODUCER SLOTS SLOT_SIZE
 */
#include "shmring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct message {
    uint32_t producer;
    uint32_t length;
    uint64_t seq;
    uint64_t checksum;
} message;

static const char *name;
static unsigned producers, consumers;
static unsigned long per_producer;
static size_t slot_size;
static _Atomic unsigned char *seen; /* [producer * per_producer + seq] */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

static size_t length_of(uint32_t producer, uint64_t seq) {
    return sizeof(message) + (size_t)(mix(seq * 131 + producer) % (slot_size - sizeof(message) + 1));
}

static void fill(unsigned char *buf, uint32_t producer, uint64_t seq) {
    message m = {producer, (uint32_t)length_of(producer, seq), seq, 0};
    for (size_t i = sizeof m; i < m.length; i++)
        buf[i] = (unsigned char)(seq + i * 3 + producer);
    m.checksum = mix(seq ^ ((uint64_t)producer << 40) ^ m.length);
    memcpy(buf, &m, sizeof m);
}

static int intact(const unsigned char *buf, size_t len, message *m) {
    if (len < sizeof *m)
        return 0;
    memcpy(m, buf, sizeof *m);
    if (m->producer >= producers || m->seq >= per_producer || m->length != len ||
        len != length_of(m->producer, m->seq) ||
        m->checksum != mix(m->seq ^ ((uint64_t)m->producer << 40) ^ m->length))
        return 0;
    for (size_t i = sizeof *m; i < len; i++)
        if (buf[i] != (unsigned char)(m->seq + i * 3 + m->producer))
            return 0;
    return 1;
}

static shmring_ring *open_end(int role) {
    shmring_ring *r;
    int rc = shmring_open(name, role, SHMRING_KIND_MPMC, &r);
    if (rc != SHMRING_OK) {
        fprintf(stderr, "open: %s\n", shmring_strerror(rc));
        exit(1);
    }
    return r;
}

static void *produce(void *arg) {
    uint32_t producer = (uint32_t)(uintptr_t)arg;
    shmring_ring *tx = open_end(SHMRING_ROLE_SENDER);
    unsigned char *buf = malloc(slot_size);
    for (uint64_t seq = 0; seq < per_producer; seq++) {
        fill(buf, producer, seq);
        int rc;
        if (seq % 4 == 0) {
            while ((rc = shmring_mpmc_send(tx, buf, length_of(producer, seq), 0)) == SHMRING_EAGAIN)
                ;
        } else {
            rc = shmring_mpmc_send(tx, buf, length_of(producer, seq), -1);
        }
        if (rc != SHMRING_OK) {
            fprintf(stderr, "send: %s\n", shmring_strerror(rc));
            exit(1);
        }
    }
    free(buf);
    shmring_free(tx);
    return NULL;
}

static void *consume(void *arg) {
    shmring_ring *rx = arg;
    unsigned char *buf = malloc(slot_size);
    int64_t *last = malloc(producers * sizeof *last);
    for (unsigned p = 0; p < producers; p++)
        last[p] = -1;
    for (;;) {
        int64_t got = shmring_mpmc_recv(rx, buf, slot_size, -1);
        if (got == SHMRING_ECLOSED)
            break;
        message m;
        if (got < 0 || !intact(buf, (size_t)got, &m)) {
            fprintf(stderr, "recv: %s\n", got < 0 ? shmring_strerror((int)got) : "damaged message");
            exit(1);
        }
        if ((int64_t)m.seq <= last[m.producer]) {
            fprintf(stderr, "producer %u: seq %llu after %lld\n", m.producer,
                    (unsigned long long)m.seq, (long long)last[m.producer]);
            exit(1);
        }
        last[m.producer] = (int64_t)m.seq;
        /* relaxed: counted; read after join */
        atomic_fetch_add_explicit(&seen[m.producer * per_producer + m.seq], 1, memory_order_relaxed);
    }
    free(last);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s NAME PRODUCERS CONSUMERS MESSAGES SLOTS SLOT_SIZE\n", argv[0]);
        return 2;
    }
    name = argv[1];
    producers = (unsigned)atoi(argv[2]);
    consumers = (unsigned)atoi(argv[3]);
    per_producer = strtoul(argv[4], NULL, 10);
    uint64_t slots = strtoull(argv[5], NULL, 10);
    slot_size = (size_t)strtoull(argv[6], NULL, 10);
    if (slot_size < sizeof(message) || shmring_mpmc_create(name, slots, slot_size) != SHMRING_OK) {
        fprintf(stderr, "cannot create the ring\n");
        return 1;
    }
    seen = calloc(producers * per_producer, 1);
    /* Receivers open before any sender can close, so none misses the end. */
    shmring_ring **rx = malloc(consumers * sizeof *rx);
    for (unsigned c = 0; c < consumers; c++)
        rx[c] = open_end(SHMRING_ROLE_RECEIVER);
    /* Hold the sender end open until every producer thread has opened its own. */
    shmring_ring *keeper = open_end(SHMRING_ROLE_SENDER);
    pthread_t *threads = malloc((producers + consumers) * sizeof *threads);
    for (unsigned c = 0; c < consumers; c++)
        pthread_create(&threads[producers + c], NULL, consume, rx[c]);
    for (unsigned p = 0; p < producers; p++)
        pthread_create(&threads[p], NULL, produce, (void *)(uintptr_t)p);
    for (unsigned p = 0; p < producers; p++)
        pthread_join(threads[p], NULL);
    shmring_free(keeper);
    for (unsigned c = 0; c < consumers; c++)
        pthread_join(threads[producers + c], NULL);
    unsigned long missing = 0, duplicated = 0;
    for (unsigned long i = 0; i < producers * per_producer; i++) {
        missing += seen[i] == 0;
        duplicated += seen[i] > 1;
    }
    for (unsigned c = consumers; c-- > 0;)
        shmring_free(rx[c]); /* the first opened last (it may own a shared mapping) */
    free(rx);
    free(threads);
    free((void *)seen);
    if (missing || duplicated) {
        fprintf(stderr, "%lu missing, %lu duplicated\n", missing, duplicated);
        return 1;
    }
    printf("ok: %u producers x %lu messages, %u consumers, %llu slots of %zu bytes\n", producers,
           per_producer, consumers, (unsigned long long)slots, slot_size);
    return 0;
}
