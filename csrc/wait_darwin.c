/*
 * wait_darwin.c - park and wake on macOS: a shared address wait on the
 * waitpoint's word, so processes that map the segment at different
 * addresses meet on it (the kernel keys shared waits by the memory object
 * and offset, not by the virtual address).
 *
 * Three mechanisms, the best one found chosen once per process:
 *   1. os_sync_wait_on_address_with_timeout / os_sync_wake_by_address_any /
 *      _all with the SHARED flags: public API, macOS 14.4 and later.
 *   2. __ulock_wait / __ulock_wake with UL_COMPARE_AND_WAIT_SHARED: the
 *      private system calls under (1), libpthread and libc++, present since
 *      macOS 10.12; timeouts in whole microseconds.
 *   3. The naps of wait_poll.c, should neither be found.
 * Every symbol is looked up with dlsym(), so one binary, built with any SDK,
 * loads on every macOS and uses what that system has. All processes on one
 * machine find the same mechanism. If two did differ (see the override
 * below), wake-ups still arrive: a napper polls the word, and a sleeper
 * whose notifier naps sleeps out its slice (block.c parks in slices).
 *
 * SHMRING_MACOS_WAIT=ulock or =naps in the environment caps the choice at
 * that mechanism, so tests on a new macOS can run the older paths too.
 *
 * Neither can fence another process's CPU (no membarrier): every notifier
 * uses a real fence, as on other POSIX systems.
 */
#if defined(__APPLE__)
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* wait_poll.c: sleep in naps while *word == expected (as shmring_park()). */
int shmring_park_naps(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* From <os/os_sync_wait_on_address.h> and <os/clock.h> (macOS 14.4 SDK),
 * which older SDKs lack; named apart so the SDK's own names never clash. */
#define OSSYNC_WAIT_SHARED 0x00000001u      /* OS_SYNC_WAIT_ON_ADDRESS_SHARED */
#define OSSYNC_WAKE_SHARED 0x00000001u      /* OS_SYNC_WAKE_BY_ADDRESS_SHARED */
#define OSSYNC_CLOCK_MACH_ABSOLUTE 32u      /* OS_CLOCK_MACH_ABSOLUTE_TIME */
typedef int (*os_sync_wait_fn)(void *addr, uint64_t value, size_t size, uint32_t flags,
                               uint32_t clockid, uint64_t timeout_ns);
typedef int (*os_sync_wake_fn)(void *addr, size_t size, uint32_t flags);

/* From xnu's bsd/sys/ulock.h (private, not in any SDK). */
#define ULOCK_COMPARE_AND_WAIT_SHARED 3u    /* UL_COMPARE_AND_WAIT_SHARED */
#define ULOCK_WAKE_ALL 0x00000100u          /* ULF_WAKE_ALL */
#define ULOCK_NO_ERRNO 0x01000000u          /* ULF_NO_ERRNO: return -errno */
typedef int (*ulock_wait_fn)(uint32_t operation, void *addr, uint64_t value, uint32_t timeout_us);
typedef int (*ulock_wake_fn)(uint32_t operation, void *addr, uint64_t wake_value);

/* The kernel compares 4 bytes at the word's address with `expected`. */
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "a waitpoint word is 4 plain bytes");

enum { UNCHOSEN, BY_OS_SYNC, BY_ULOCK, BY_NAPS };

/* Which mechanism this process uses (UNCHOSEN until choose() has run), and
 * what it calls. The pointers are atomic only because racing first callers
 * may store them together (the same values); `chosen` publishes them. */
static _Atomic int chosen;
static _Atomic(os_sync_wait_fn) os_sync_wait;
static _Atomic(os_sync_wake_fn) os_sync_wake_any, os_sync_wake_all;
static _Atomic(ulock_wait_fn) ulock_wait;
static _Atomic(ulock_wake_fn) ulock_wake;

/* POSIX guarantees that dlsym's result converts to a function pointer. */
#define LOOK_UP(type, name) ((type)dlsym(RTLD_DEFAULT, name))

static int choose(void) {
    /* acquire: pairs with the release store below, so the pointers stored
     * before it are seen */
    int how = atomic_load_explicit(&chosen, memory_order_acquire);
    if (how != UNCHOSEN)
        return how;
    int best = BY_OS_SYNC;
    const char *cap = getenv("SHMRING_MACOS_WAIT");
    if (cap != NULL && strcmp(cap, "ulock") == 0)
        best = BY_ULOCK;
    else if (cap != NULL && strcmp(cap, "naps") == 0)
        best = BY_NAPS;

    how = BY_NAPS;
    if (best <= BY_OS_SYNC) {
        os_sync_wait_fn wait = LOOK_UP(os_sync_wait_fn, "os_sync_wait_on_address_with_timeout");
        os_sync_wake_fn any = LOOK_UP(os_sync_wake_fn, "os_sync_wake_by_address_any");
        os_sync_wake_fn all = LOOK_UP(os_sync_wake_fn, "os_sync_wake_by_address_all");
        if (wait != NULL && any != NULL && all != NULL) {
            /* relaxed, all three: published by the release store of `chosen` */
            atomic_store_explicit(&os_sync_wait, wait, memory_order_relaxed);
            atomic_store_explicit(&os_sync_wake_any, any, memory_order_relaxed);
            atomic_store_explicit(&os_sync_wake_all, all, memory_order_relaxed);
            how = BY_OS_SYNC;
        }
    }
    if (how == BY_NAPS && best <= BY_ULOCK) {
        ulock_wait_fn wait = LOOK_UP(ulock_wait_fn, "__ulock_wait");
        ulock_wake_fn wake = LOOK_UP(ulock_wake_fn, "__ulock_wake");
        if (wait != NULL && wake != NULL) {
            /* relaxed, both: published by the release store of `chosen` */
            atomic_store_explicit(&ulock_wait, wait, memory_order_relaxed);
            atomic_store_explicit(&ulock_wake, wake, memory_order_relaxed);
            how = BY_ULOCK;
        }
    }
    /* release: pairs with the acquire load above */
    atomic_store_explicit(&chosen, how, memory_order_release);
    return how;
}

/* __ulock_wait counts whole microseconds and takes 0 as "for ever": round
 * up, so a bounded wait never becomes 0, and cap at what 32 bits hold
 * (~71 minutes; a capped wait returns early, which callers allow for). */
static uint32_t micros(int64_t timeout_ns) {
    int64_t us = timeout_ns / 1000 + (timeout_ns % 1000 != 0);
    return us > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

int shmring_park(shmring_segment *seg, shmring_waitpoint *wp, uint32_t expected, int64_t timeout_ns) {
    (void)seg;
    _Atomic uint32_t *word = &wp->seq;
    if (timeout_ns <= 0)
        return SHMRING_OK;
    /* Both wait calls check *word == expected atomically with going to
     * sleep, so a bump of the word before we sleep is never lost. */
    int err;
    switch (choose()) {
    case BY_OS_SYNC: {
        /* relaxed: ordered by choose()'s acquire load */
        os_sync_wait_fn wait = atomic_load_explicit(&os_sync_wait, memory_order_relaxed);
        if (wait((void *)word, expected, sizeof *word, OSSYNC_WAIT_SHARED, OSSYNC_CLOCK_MACH_ABSOLUTE,
                 (uint64_t)timeout_ns) >= 0)
            return SHMRING_OK; /* woken, or the value differed */
        err = errno;
        break;
    }
    case BY_ULOCK: {
        /* relaxed: ordered by choose()'s acquire load */
        ulock_wait_fn wait = atomic_load_explicit(&ulock_wait, memory_order_relaxed);
        int rc = wait(ULOCK_COMPARE_AND_WAIT_SHARED | ULOCK_NO_ERRNO, (void *)word, expected,
                      micros(timeout_ns));
        if (rc >= 0)
            return SHMRING_OK; /* woken, or the value differed */
        err = -rc;
        break;
    }
    default:
        return shmring_park_naps(word, expected, timeout_ns);
    }
    if (err == EINTR) /* a signal (os_sync also reports some spurious wake-ups so) */
        return SHMRING_EINTR;
    if (err == ETIMEDOUT)
        return SHMRING_OK;
    /* Anything else (EFAULT while the page is faulted in, ENOMEM): nap out
     * this park rather than return at once, which would have block.c call
     * the failing wait again and again. */
    return shmring_park_naps(word, expected, timeout_ns);
}

static void wake(_Atomic uint32_t *word, bool all) {
    switch (choose()) {
    case BY_OS_SYNC: {
        /* relaxed: ordered by choose()'s acquire load */
        os_sync_wake_fn fn =
            atomic_load_explicit(all ? &os_sync_wake_all : &os_sync_wake_any, memory_order_relaxed);
        /* -1 with ENOENT: nobody waits; with EINTR: ask again */
        while (fn((void *)word, sizeof *word, OSSYNC_WAKE_SHARED) == -1 && errno == EINTR) {
        }
        break;
    }
    case BY_ULOCK: {
        /* relaxed: ordered by choose()'s acquire load */
        ulock_wake_fn fn = atomic_load_explicit(&ulock_wake, memory_order_relaxed);
        uint32_t op = ULOCK_COMPARE_AND_WAIT_SHARED | ULOCK_NO_ERRNO | (all ? ULOCK_WAKE_ALL : 0u);
        /* -ENOENT: nobody waits; -EINTR: ask again, as libpthread does */
        while (fn(op, (void *)word, 0) == -EINTR) {
        }
        break;
    }
    default: /* nappers poll the word */
        break;
    }
}

void shmring_wake_all(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    wake(&wp->seq, true);
}

void shmring_wake_one(shmring_segment *seg, shmring_waitpoint *wp) {
    (void)seg;
    wake(&wp->seq, false);
}

/* No way to fence other processes on macOS: every notifier uses a real fence. */
bool shmring_light_fence_ready(void) { return false; }

int shmring_heavy_fence(void) {
    /* seq_cst: pairs with the notifier's fence in shmring_notify() */
    atomic_thread_fence(memory_order_seq_cst);
    return SHMRING_OK;
}

#endif /* __APPLE__ */
