/*
 * shared_mapping.c - lets ThreadSanitizer see the ring that spsc_stress.c's
 * two threads share.
 *
 * Every shmring_open() maps the segment anew, so the sender and the receiver
 * touch the same bytes at different virtual addresses. TSan tracks addresses,
 * not physical memory: it cannot relate the two, and a missing
 * release/acquire on the ring would go unreported. tests/test_c_core.py
 * compiles spsc_stress.c with -Dshmring_open=stress_open; this opens as
 * usual, then points the second handle of a ring at the first one's mapping
 * (white-box: it knows struct shmring_ring from internal.h).
 */
#include "internal.h"

static shmring_ring *first;

int stress_open(const char *name, int role, int kind, shmring_ring **out);

int stress_open(const char *name, int role, int kind, shmring_ring **out) {
    int rc = shmring_open(name, role, kind, out);
    if (rc != SHMRING_OK)
        return rc;
    if (first == NULL) {
        first = *out;
        return rc;
    }
    shmring_ring *r = *out;
    shmring_segment_detach(&r->seg); /* leaves seg.base NULL: shmring_free() unmaps nothing */
    r->hdr = first->hdr;
    r->data = first->data;
    return rc;
}
