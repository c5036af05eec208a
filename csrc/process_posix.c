/*
 * process_posix.c - process identity and liveness, and the clocks.
 *
 * A process is named by (pid, start time): a pid alone may be reused by an
 * unrelated process after the original died. A zombie (exited, not yet
 * reaped by its parent) counts as dead: it can never touch the ring again.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

int64_t shmring_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t shmring_unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t shmring_self_pid(void) { return (uint32_t)getpid(); }

/* Start time, or 0 when the process is gone or a zombie. */
static uint64_t start_time_of(uint32_t pid) {
#if defined(__linux__)
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ..." - comm may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return 0;
    char state = p[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    /* starttime is field 22; field 3 (state) is the first after ')'. */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return 0;
        p++;
    }
    unsigned long long ticks = strtoull(p, NULL, 10);
    return ticks + 1; /* never 0, even for a process started at boot */
#elif defined(__APPLE__)
    struct kinfo_proc info;
    size_t size = sizeof info;
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    memset(&info, 0, sizeof info);
    if (sysctl(mib, 4, &info, &size, NULL, 0) != 0 || size == 0)
        return 0;
    if (info.kp_proc.p_stat == SZOMB)
        return 0;
    struct timeval tv = info.kp_proc.p_starttime;
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec + 1;
#else
    /* No portable start time: existence only. */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        return 1;
    return 0;
#endif
}

static _Atomic uint32_t cached_pid;
static _Atomic uint64_t cached_start;

uint64_t shmring_self_start_time(void) {
    /* Re-read after fork: the child is a new process with a new start time. */
    uint32_t pid = shmring_self_pid();
    /* acquire: pairs with the release below, so the start time is the pid's */
    if (atomic_load_explicit(&cached_pid, memory_order_acquire) != pid) {
        uint64_t start = start_time_of(pid);
        atomic_store_explicit(&cached_start, start ? start : 1, memory_order_relaxed);
        /* release: publishes cached_start before the pid that names it */
        atomic_store_explicit(&cached_pid, pid, memory_order_release);
    }
    /* relaxed: ordered by the acquire load of cached_pid above (or our own store) */
    return atomic_load_explicit(&cached_start, memory_order_relaxed);
}

bool shmring_process_alive(uint32_t pid, uint64_t start_time) {
    if (pid == 0)
        return false;
    uint64_t now = start_time_of(pid);
    if (now == 0)
        return false;
    return start_time == 0 || now == start_time;
}

#endif /* !_WIN32 */
