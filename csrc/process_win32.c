/*
 * process_win32.c - process identity and liveness, and the clocks, on Windows.
 *
 * A process is named by (pid, creation time from GetProcessTimes): Windows
 * reuses pids quickly. A process that has exited counts as dead even while
 * some handle keeps its object (its zombie) around.
 */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include "internal.h"

#include <windows.h>

int64_t shmring_now_ns(void) {
    static _Atomic int64_t frequency; /* counts per second; fixed at boot */
    /* relaxed: every thread computes the same value; a race only repeats it */
    int64_t f = atomic_load_explicit(&frequency, memory_order_relaxed);
    if (f == 0) {
        LARGE_INTEGER q;
        QueryPerformanceFrequency(&q);
        f = q.QuadPart;
        atomic_store_explicit(&frequency, f, memory_order_relaxed);
    }
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    /* Split to avoid overflow of count * 1e9 (days of uptime at 10 MHz). */
    int64_t whole = c.QuadPart / f, part = c.QuadPart % f;
    return whole * 1000000000 + part * 1000000000 / f;
}

uint64_t shmring_unix_ns(void) {
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime; /* 100 ns since 1601 */
    const uint64_t unix_epoch = UINT64_C(116444736000000000);
    return t > unix_epoch ? (t - unix_epoch) * 100 : 0;
}

uint32_t shmring_self_pid(void) { return (uint32_t)GetCurrentProcessId(); }

/* Creation time in 100 ns units, + 1 so it is never 0; 0 if unknown. */
static uint64_t creation_time(HANDLE process) {
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(process, &created, &exited, &kernel, &user))
        return 0;
    return (((uint64_t)created.dwHighDateTime << 32) | created.dwLowDateTime) + 1;
}

uint64_t shmring_self_start_time(void) {
    static _Atomic uint64_t cached; /* no fork on Windows: one value per process */
    /* relaxed: every thread computes the same value; a race only repeats it */
    uint64_t t = atomic_load_explicit(&cached, memory_order_relaxed);
    if (t == 0) {
        t = creation_time(GetCurrentProcess());
        if (t == 0)
            t = 1;
        atomic_store_explicit(&cached, t, memory_order_relaxed);
    }
    return t;
}

bool shmring_process_alive(uint32_t pid, uint64_t start_time) {
    if (pid == 0)
        return false;
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, (DWORD)pid);
    if (h == NULL) /* another user's process exists but is closed to us: count it alive */
        return GetLastError() == ERROR_ACCESS_DENIED;
    bool alive = WaitForSingleObject(h, 0) == WAIT_TIMEOUT; /* signalled once it has exited */
    if (alive && start_time != 0) {
        uint64_t now = creation_time(h);
        alive = now == 0 || now == start_time; /* another process with a reused pid */
    }
    CloseHandle(h);
    return alive;
}

#endif /* _WIN32 */
