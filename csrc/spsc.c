/*
 * spsc.c - one sender, one receiver, variable-length messages.
 *
 * head and tail are monotonic 64-bit byte positions (they never wrap; the
 * offset in the ring is pos & mask). Only the sender writes head, only the
 * receiver writes tail, each with one release store per operation. Records
 * are 8-byte aligned {length, type} headers followed by the payload, and
 * always contiguous: a message that would straddle the end of the ring is
 * preceded by a padding record covering the rest of the ring, published in
 * the same head store.
 *
 * Everything read from the segment is checked before use: the other side
 * may be buggy or hostile, and must never make us read or write outside the
 * data area or loop for ever. A bad value returns SHMRING_ECORRUPT.
 */
#include "internal.h"

#include <string.h>

static inline uint64_t record_bytes(uint64_t len) {
    return (sizeof(shmring_record) + len + SHMRING_RECORD_ALIGN - 1) &
           ~(uint64_t)(SHMRING_RECORD_ALIGN - 1);
}

/* Bytes a record of `rec` bytes takes from `head`: itself, plus padding to
 * the end of the ring when it would not fit before the wrap. */
static inline uint64_t bytes_needed(const shmring_ring *r, uint64_t head, uint64_t rec) {
    uint64_t off = head & r->mask;
    return off + rec <= r->capacity ? rec : (r->capacity - off) + rec;
}

/* ---- sender ----------------------------------------------------------- */

/* Reload tail; 1 if `want` bytes are free after head, 0 if not yet. */
static int refresh_tail(shmring_ring *r, uint64_t head, uint64_t want) {
    /* acquire: pairs with the receiver's release store of tail, so it has
     * finished reading the bytes we are about to overwrite */
    uint64_t tail = atomic_load_explicit(&r->hdr->tail.pos, memory_order_acquire);
    if (tail > head || head - tail > r->capacity)
        return SHMRING_ECORRUPT;
    r->cached_peer = tail;
    return head + want - tail <= r->capacity;
}

static int ready_to_send(shmring_ring *r) {
    return refresh_tail(r, r->own_pos, r->want);
}

/*
 * The ring is full: wait until `need` bytes are free. A sender that resumes
 * as soon as one record's worth is free writes one message, finds the ring
 * full again and polls tail, stealing its line from the receiver on every
 * message. Waiting for an eighth of the ring instead lets both sides run in
 * bursts over lines the other is not touching. At the deadline, `need` is
 * enough.
 */
static int wait_for_space(shmring_ring *r, uint64_t head, uint64_t need, int64_t timeout_ns) {
    uint64_t burst = r->capacity / 8;
    r->want = need > burst ? need : burst;
    shmring_wait w = {
        .wp = &r->hdr->space_wait,
        .ready = ready_to_send,
        .wake_at = head + r->want > r->capacity ? head + r->want - r->capacity : 0, /* tail */
        .max_pauses = 64,
    };
    int rc = shmring_block_after_look(r, &w, timeout_ns); /* the caller found even `need` short */
    if (rc == SHMRING_ETIMEDOUT || rc == SHMRING_EAGAIN) {
        int fits = refresh_tail(r, head, need);
        if (fits != 0)
            return fits;
    }
    return rc;
}

static void write_message(shmring_ring *r, uint64_t head, const void *data, size_t len,
                          uint64_t padding) {
    uint64_t off = head & r->mask;
    if (padding != 0) {
        shmring_record pad = {(uint32_t)(padding - sizeof pad), SHMRING_RECORD_PADDING};
        memcpy(r->data + off, &pad, sizeof pad);
        off = 0;
    }
    shmring_record rec = {(uint32_t)len, SHMRING_RECORD_MESSAGE};
    memcpy(r->data + off, &rec, sizeof rec);
    if (len != 0)
        memcpy(r->data + off + sizeof rec, data, len);
}

int shmring_spsc_send(shmring_ring *r, const void *data, size_t len, int64_t timeout_ns) {
    int checked = shmring_check_send(r, SHMRING_KIND_SPSC, len);
    if (checked != SHMRING_OK)
        return checked;
    shmring_header *hdr = r->hdr;
    uint64_t head = shmring_own_index(r, &hdr->head.pos);
    if (head % SHMRING_RECORD_ALIGN != 0)
        return SHMRING_ECORRUPT;
    uint64_t rec = record_bytes(len);
    uint64_t need = bytes_needed(r, head, rec);
    /* Unsigned arithmetic: a stale or bogus cache reads as "too full". */
    if (head + need - r->cached_peer > r->capacity) {
        int rc = refresh_tail(r, head, need);
        if (rc == 0)
            rc = wait_for_space(r, head, need, timeout_ns);
        if (rc < 0)
            return rc;
    }
    write_message(r, head, data, len, need - rec);
    /* release: pairs with the receiver's acquire load of head; the record
     * (and any padding) is written before it becomes visible */
    atomic_store_explicit(&hdr->head.pos, head + need, memory_order_release);
    r->own_pos = head + need;
    shmring_notify(r, &hdr->data_wait, head + need);
    return SHMRING_OK;
}

/*
 * A batch: write every message that fits, publish them with one store of
 * head, and only then wait for room for the rest. data holds the messages
 * back to back; lens their sizes. *sent counts those published, also when
 * an error (a timeout, a closed receiver) stops the batch part-way.
 */
int shmring_spsc_send_many(shmring_ring *r, const void *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent) {
    *sent = 0;
    int rc = shmring_check_batch(r, SHMRING_KIND_SPSC, size, lens, n);
    if (rc != SHMRING_OK)
        return rc;
    shmring_header *hdr = r->hdr;
    int64_t deadline = shmring_deadline(timeout_ns);
    const unsigned char *p = data;
    size_t i = 0;
    while (i < n) {
        rc = shmring_check_send(r, SHMRING_KIND_SPSC, 0); /* the receiver may close meanwhile */
        if (rc != SHMRING_OK)
            return rc;
        uint64_t head = shmring_own_index(r, &hdr->head.pos), start = head, need = 0;
        if (head % SHMRING_RECORD_ALIGN != 0)
            return SHMRING_ECORRUPT;
        for (; i < n; i++) {
            uint64_t rec = record_bytes(lens[i]);
            need = bytes_needed(r, head, rec);
            if (head + need - r->cached_peer > r->capacity) {
                int fits = refresh_tail(r, head, need);
                if (fits < 0)
                    return fits;
                if (!fits)
                    break;
            }
            write_message(r, head, p, (size_t)lens[i], need - rec);
            head += need;
            p += lens[i];
        }
        if (head != start) {
            /* release: pairs with the receiver's acquire load of head */
            atomic_store_explicit(&hdr->head.pos, head, memory_order_release);
            r->own_pos = head;
            *sent = i;
            shmring_notify(r, &hdr->data_wait, head);
        }
        if (i < n) {
            rc = wait_for_space(r, head, need, shmring_time_left(deadline));
            if (rc < 0)
                return rc;
        }
    }
    return SHMRING_OK;
}

/* ---- receiver --------------------------------------------------------- */

typedef struct found_record {
    uint64_t payload; /* offset of the payload in the data area */
    uint64_t length;
    uint64_t consume; /* bytes from tail to the end of this record */
} found_record;

/* Reload head; bytes available after tail (0 if empty) or an error. */
static int64_t refresh_head(shmring_ring *r, uint64_t tail) {
    /* The next record is read as soon as head moves: fetch its lines now,
     * so that the two cache misses (head's line, then the record's) overlap
     * instead of following each other. Worth ~0.1 us a round trip here. */
    uint64_t off = tail & r->mask;
    shmring_prefetch(r->data + off);
    if (off + SHMRING_CACHE_LINE < r->capacity) /* a 64 B message spans two lines */
        shmring_prefetch(r->data + off + SHMRING_CACHE_LINE);
    /* acquire: pairs with the sender's release store of head; the records
     * up to it are fully written */
    uint64_t head = atomic_load_explicit(&r->hdr->head.pos, memory_order_acquire);
    if (head < tail || head - tail > r->capacity)
        return SHMRING_ECORRUPT;
    r->cached_peer = head;
    return (int64_t)(head - tail);
}

static int ready_to_recv(shmring_ring *r) {
    int64_t avail = refresh_head(r, r->own_pos);
    return avail < 0 ? (int)avail : avail > 0;
}

/* Locate the next message: 1 found, 0 empty, < 0 corrupt. */
static int next_record(shmring_ring *r, found_record *out) {
    uint64_t tail = shmring_own_index(r, &r->hdr->tail.pos);
    if (tail % SHMRING_RECORD_ALIGN != 0)
        return SHMRING_ECORRUPT;
    uint64_t avail = r->cached_peer - tail;
    if (avail == 0 || avail > r->capacity) {
        int64_t fresh = refresh_head(r, tail);
        if (fresh <= 0)
            return (int)fresh;
        avail = (uint64_t)fresh;
    }
    uint64_t off = tail & r->mask, skip = 0;
    shmring_record rec;
    /* Plain copies: the sender wrote the record before its release store of
     * head, which our acquire load saw, so an honest sender cannot race
     * with them. A hostile one can; we copy each header once, then check
     * the copy, never the shared bytes again. */
    memcpy(&rec, r->data + off, sizeof rec); /* off <= capacity - 8: tail is aligned */
    if (rec.type == SHMRING_RECORD_PADDING) {
        skip = r->capacity - off;
        if (rec.length != skip - sizeof rec || avail <= skip)
            return SHMRING_ECORRUPT;
        off = 0;
        memcpy(&rec, r->data, sizeof rec);
    }
    if (rec.type != SHMRING_RECORD_MESSAGE || rec.length > r->max_message)
        return SHMRING_ECORRUPT;
    uint64_t bytes = record_bytes(rec.length);
    if (off + bytes > r->capacity || skip + bytes > avail)
        return SHMRING_ECORRUPT;
    out->payload = off + sizeof rec;
    out->length = rec.length;
    out->consume = skip + bytes;
    return 1;
}

/* The next record, waiting for one if the ring is empty. Messages sent
 * before the sender closed are still delivered; then SHMRING_ECLOSED. */
static int wait_record(shmring_ring *r, found_record *out, int64_t timeout_ns) {
    int checked = shmring_check_recv(r, SHMRING_KIND_SPSC);
    if (checked != SHMRING_OK)
        return checked;
    int rc = next_record(r, out);
    if (rc != 0)
        return rc < 0 ? rc : SHMRING_OK;
    uint64_t tail = r->own_pos; /* next_record() just read it, and head: that was the look */
    shmring_wait w = {
        .wp = &r->hdr->data_wait, .ready = ready_to_recv, .wake_at = tail + 1, .max_pauses = 8};
    rc = shmring_block_after_look(r, &w, timeout_ns);
    if (rc == SHMRING_OK || (rc == SHMRING_ECLOSED && !shmring_is_closed(r))) {
        /* After the acquire load of the peer's CLOSED state, one more look
         * sees everything it sent before closing. */
        int found = next_record(r, out);
        if (found != 0)
            return found < 0 ? found : SHMRING_OK;
    }
    return rc == SHMRING_OK ? SHMRING_ECORRUPT : rc; /* "ready" but nothing there */
}

static void release_record(shmring_ring *r, uint64_t consume) {
    uint64_t tail = r->own_pos + consume; /* next_record() just read own_pos */
    /* release: pairs with the sender's acquire load of tail; we are done
     * reading the record before the sender may overwrite it */
    atomic_store_explicit(&r->hdr->tail.pos, tail, memory_order_release);
    r->own_pos = tail;
    r->peeked = 0; /* whatever a peek found is gone now */
    shmring_notify(r, &r->hdr->space_wait, tail);
}

/* wait_record(), for a copy into a buffer of cap bytes: a larger message
 * stays queued (SHMRING_ENOBUFS), its size left in r->needed. */
static int wait_record_for(shmring_ring *r, found_record *out, size_t cap, int64_t timeout_ns) {
    int rc = wait_record(r, out, timeout_ns);
    if (rc == SHMRING_OK && out->length > cap) {
        r->needed = out->length;
        return SHMRING_ENOBUFS;
    }
    return rc;
}

int64_t shmring_spsc_recv(shmring_ring *r, void *buf, size_t cap, int64_t timeout_ns) {
    found_record rec;
    int rc = wait_record_for(r, &rec, cap, timeout_ns);
    if (rc != SHMRING_OK)
        return rc;
    if (rec.length != 0)
        memcpy(buf, r->data + rec.payload, rec.length);
    release_record(r, rec.consume);
    return (int64_t)rec.length;
}

int shmring_spsc_peek(shmring_ring *r, const void **data, size_t *len, int64_t timeout_ns) {
    found_record rec;
    int rc = wait_record(r, &rec, timeout_ns);
    if (rc != SHMRING_OK)
        return rc;
    *data = r->data + rec.payload;
    *len = (size_t)rec.length;
    r->peeked = rec.consume;
    return SHMRING_OK;
}

int shmring_spsc_consume(shmring_ring *r) {
    if (shmring_is_closed(r))
        return SHMRING_ECLOSED;
    if (r->role != SHMRING_ROLE_RECEIVER || r->peeked == 0)
        return SHMRING_EINVAL;
    release_record(r, r->peeked); /* which forgets the peek */
    return SHMRING_OK;
}

/*
 * A batch: wait for one message like shmring_spsc_recv(), then take every
 * message already there that fits in buf, copied back to back (sizes in
 * lens), and give their room back with one store of tail.
 */
int64_t shmring_spsc_recv_many(shmring_ring *r, void *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns) {
    if (max_n == 0)
        return SHMRING_EINVAL;
    found_record rec;
    int rc = wait_record_for(r, &rec, cap, timeout_ns);
    if (rc != SHMRING_OK)
        return rc;
    size_t n = 0, used = 0;
    do {
        if (rec.length != 0)
            memcpy((unsigned char *)buf + used, r->data + rec.payload, rec.length);
        lens[n++] = rec.length;
        used += rec.length;
        r->own_pos += rec.consume; /* published below, once for the whole batch */
    } while (n < max_n && next_record(r, &rec) > 0 && used + rec.length <= cap);
    /* release: pairs with the sender's acquire load of tail; we are done
     * reading every record of the batch */
    atomic_store_explicit(&r->hdr->tail.pos, r->own_pos, memory_order_release);
    shmring_notify(r, &r->hdr->space_wait, r->own_pos);
    return (int64_t)n;
}
