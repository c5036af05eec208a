/*
 * win_wait_stress.c - two Windows processes stress the Windows wait path:
 * the named semaphore per waitpoint (segment_win32.c, wait_win32.c), the
 * waiter-count handshake that gates each post (block.c), the 50 ms park
 * slices and the QueryPerformanceCounter deadlines (process_win32.c).
 *
 * Run with no arguments it is the parent. It creates two SPSC rings named
 * after its pid - "stream", 4 KiB, small enough that both sides park all the
 * time, and "ctl", 1 KiB, for the checks around it - opens their receivers,
 * and starts a copy of itself (CreateProcessW, "child BASE") that opens
 * their senders. Then:
 *   1. the child fills ctl and checks that a send with a 100 ms timeout on
 *      the full ring returns ETIMEDOUT after 100 ms (parent busy elsewhere);
 *   2. the child sends MESSAGES messages on stream whose length and bytes
 *      depend on the sequence number; the parent checks every byte and the
 *      count. Each side pauses now and then (Sleep, SwitchToThread: traffic
 *      shaping, not synchronisation), so the receiver finds the ring empty
 *      and the sender finds it full thousands of times, and each parks on
 *      the semaphore hundreds of times;
 *   3. the child closes stream: the parent must see ECLOSED right after the
 *      last message, never before;
 *   4. the child sends its counts on ctl (blocking until the parent drains
 *      the fill), the parent checks that a receive with a 100 ms timeout on
 *      the now empty ring returns ETIMEDOUT after 100 ms while the child
 *      lives, then lets the child exit *without* closing ctl: the parent
 *      must see ECLOSED (a dead peer, found through process_win32.c).
 * Every wait is timed from outside the library. A wait that lasts most of a
 * slice (SLOW_WAIT_NS) while the peer was only pausing for a few ms is a
 * wake-up that never came and was covered up by the slice: too many of
 * those fail the test, so it proves wake-ups arrive, not merely that the
 * slices hide their loss.
 *
 * What it cannot show: wine runs these binaries against its own Win32 (its
 * semaphores live in wineserver) on Linux's scheduler, so this says nothing
 * about Windows's scheduling, timer resolution or priority boosts; it shows
 * the protocol is right, not how fast it is on Windows.
 *
 * Exit status: 0 all good (one summary line on stdout), 1 a check failed,
 * 2 bad usage, 3 the watchdog fired. Windows only.
 */
#ifndef _WIN32
#error "win_wait_stress.c tests the Windows wait path; build it with mingw-w64 or MSVC (tools/wine/run_tests.sh)"
#endif

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "shmring.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MESSAGES = 200000,
    STREAM_CAPACITY = 4096,       /* messages up to 2040 bytes: a few fit */
    CTL_CAPACITY = 1024,
    FILL_LEN = 100,               /* ctl's fill messages; the report has another size */
    PAUSE_ONE_IN = 512,           /* how often each side pauses (on average) */
    TIMEOUT_MS = 100,             /* the timed calls' timeout */
    TIMEOUT_SLACK_MS = 500,       /* how late a timed call may return (wine, loaded CI) */
    DEATH_SEEN_MS = 3000,         /* a dead sender is seen within liveness period + slices */
    CHILD_EXIT_MS = 10000,
    WATCHDOG_MS = 120000,         /* the whole run; then exit 3 */
};

#define STEP_TIMEOUT_NS INT64_C(10000000000) /* one blocking call: longer is a stall */
#define SLEPT_NS INT64_C(500000)   /* a wait this long is past the 50 us spin: it parked */
#define SLOW_WAIT_NS INT64_C(40000000) /* most of a 50 ms slice: no wake-up came */
#define MAX_SLOW_WAITS 20          /* scheduling hiccups allowed, per side */
#define REPORT_MAGIC UINT64_C(0x7773747265737321)

/* What a side counts about its waits. `blocked`: calls that found the ring
 * empty (receiver) or full (sender) and had to wait; `slept`: those that
 * waited past the spin, so parked on the semaphore (or were preempted). */
typedef struct waits {
    uint64_t blocked, slept, slow;
    int64_t longest_ns;
} waits;

/* The child's counts, sent on ctl at the end. */
typedef struct report {
    uint64_t magic;
    uint64_t fills;        /* FILL_LEN messages sent on ctl before the stream */
    int64_t send_timeout_ns;
    waits sender;
} report;
_Static_assert(sizeof(report) != FILL_LEN, "the parent tells the report from fill by its size");

/* The child's process handle, for the watchdog and fail() to terminate it.
 * A plain pointer in an atomic: set once by main, read by the watchdog. */
static _Atomic(HANDLE) child_process;
static const char *who = "parent, receiver";

/* ---- failing ------------------------------------------------------------ */

static void kill_child(void) {
    /* acquire: pairs with the release store after CreateProcessW */
    HANDLE h = atomic_load_explicit(&child_process, memory_order_acquire);
    if (h != NULL)
        TerminateProcess(h, 1);
}

static _Noreturn void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "win_wait_stress (%s): FAIL: ", who);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    kill_child();
    exit(1);
}

static void check_rc(int rc, const char *what) {
    if (rc != SHMRING_OK)
        fail("%s: %s", what, shmring_strerror(rc));
}

/* A thread that ends a hung run: whatever blocks, the process exits. */
static DWORD WINAPI watchdog(LPVOID unused) {
    (void)unused;
    Sleep(WATCHDOG_MS);
    fprintf(stderr, "win_wait_stress (%s): FAIL: watchdog: not done after %d s\n", who,
            WATCHDOG_MS / 1000);
    kill_child();
    ExitProcess(3);
    return 0;
}

static void start_watchdog(void) {
    HANDLE t = CreateThread(NULL, 0, watchdog, NULL, 0, NULL);
    if (t == NULL)
        fail("CreateThread (watchdog): error %lu", GetLastError());
    CloseHandle(t);
}

/* ---- the clock: QueryPerformanceCounter, as the library's own ----------- */

static int64_t now_ns(void) {
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return c.QuadPart / f.QuadPart * 1000000000 + c.QuadPart % f.QuadPart * 1000000000 / f.QuadPart;
}

static double ms(int64_t ns) { return (double)ns / 1e6; }

/* A timed call must not end before its timeout (our interval contains the
 * library's; 1 ms covers the rounding of two clock readings) nor much after. */
static void check_timeout_took(int64_t took, const char *what) {
    int64_t early = (int64_t)(TIMEOUT_MS - 1) * 1000000, late = (int64_t)(TIMEOUT_MS + TIMEOUT_SLACK_MS) * 1000000;
    if (took < early || took > late)
        fail("%s with a %d ms timeout returned after %.1f ms", what, TIMEOUT_MS, ms(took));
}

/* ---- the traffic: everything derives from the sequence number ------------ */

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Mostly small messages (many per lap), some large (one or two fill the ring). */
static size_t length_of(uint64_t seq, size_t max_len) {
    uint64_t m = mix(seq);
    switch (m % 16) {
    case 0: return max_len;
    case 1: return 0;
    case 2: case 3: case 4: return (size_t)(m >> 8) % (max_len + 1);
    default: return (size_t)(m >> 8) % 128;
    }
}

/* Bytes of message `seq`: 8 at a time from its own hash stream, so a
 * message shifted, truncated or swapped with another does not match. */
static void fill(unsigned char *buf, uint64_t seq, size_t len) {
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = mix(seq * UINT64_C(0x100000001b3) + i);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(buf + i, &w, n);
    }
}

/* Traffic shaping: now and then a side stops for a while so the other one
 * finds the ring empty (or full) and parks. `salt` keeps the two sides'
 * pauses apart. Sleep(1) (>= 1 ms) is long enough to park; SwitchToThread
 * often ends within the spin, which exercises the spin/park boundary. */
static void maybe_pause(uint64_t seq, uint64_t salt) {
    uint64_t m = mix(seq ^ salt);
    if (m % PAUSE_ONE_IN == 0)
        Sleep(1);
    else if (m % PAUSE_ONE_IN == 1)
        SwitchToThread();
}

/* ---- waits, timed from outside ----------------------------------------- */

/* Fails at once when slow waits pile up: lost wake-ups would otherwise
 * only make the run take ~50 ms per wait until the watchdog fires. */
static void count_wait(waits *w, int64_t took) {
    w->blocked++;
    w->slept += took >= SLEPT_NS;
    w->slow += took >= SLOW_WAIT_NS;
    if (took > w->longest_ns)
        w->longest_ns = took;
    if (w->slow > MAX_SLOW_WAITS)
        fail("%" PRIu64 " waits of %.0f ms or more (longest %.1f ms) in %" PRIu64
             ": wake-ups lost, covered up by the park slices",
             w->slow, ms(SLOW_WAIT_NS), ms(w->longest_ns), w->blocked);
}

/* Send: try without blocking first, so we know whether this call waited. */
static int send_counted(shmring_ring *tx, const void *data, size_t len, waits *w) {
    int rc = shmring_spsc_send(tx, data, len, 0);
    if (rc != SHMRING_EAGAIN)
        return rc;
    int64_t t0 = now_ns();
    rc = shmring_spsc_send(tx, data, len, STEP_TIMEOUT_NS);
    count_wait(w, now_ns() - t0);
    return rc;
}

/* Receive message `seq` (recv into buf, or every fourth by peek), set *at
 * to its bytes; *peeked says shmring_spsc_consume() is due. */
static int64_t take(shmring_ring *rx, uint64_t seq, unsigned char *buf, size_t cap, int64_t timeout,
                    const unsigned char **at, int *peeked) {
    *peeked = seq % 4 == 1;
    if (!*peeked) {
        *at = buf;
        return shmring_spsc_recv(rx, buf, cap, timeout);
    }
    const void *data = NULL;
    size_t len = 0;
    int rc = shmring_spsc_peek(rx, &data, &len, timeout);
    *at = data;
    return rc == SHMRING_OK ? (int64_t)len : rc;
}

static int64_t take_counted(shmring_ring *rx, uint64_t seq, unsigned char *buf, size_t cap, waits *w,
                            const unsigned char **at, int *peeked) {
    int64_t got = take(rx, seq, buf, cap, 0, at, peeked);
    if (got != SHMRING_EAGAIN)
        return got;
    int64_t t0 = now_ns();
    got = take(rx, seq, buf, cap, STEP_TIMEOUT_NS, at, peeked);
    /* The first message waits for the child to start and do step 1: not a
     * wait on the sender, so not counted. */
    if (seq > 0)
        count_wait(w, now_ns() - t0);
    return got;
}

/* ---- names ----------------------------------------------------------------- */

typedef struct names {
    char stream[SHMRING_NAME_MAX + 1], ctl[SHMRING_NAME_MAX + 1];
    wchar_t go[64]; /* an event: "you may exit now", parent to child */
} names;

static void make_names(const char *base, names *n) {
    snprintf(n->stream, sizeof n->stream, "%s-stream", base);
    snprintf(n->ctl, sizeof n->ctl, "%s-ctl", base);
    char go[64];
    snprintf(go, sizeof go, "Local\\shmring-test-%s-go", base);
    MultiByteToWideChar(CP_ACP, 0, go, -1, n->go, 64);
}

static shmring_ring *open_end(const char *name, int role) {
    shmring_ring *r;
    check_rc(shmring_open(name, role, SHMRING_KIND_SPSC, &r), name);
    return r;
}

/* ---- the child: the sender --------------------------------------------------- */

/* Step 1: fill ctl without blocking, then a timed send must time out. */
static void fill_and_time_out(shmring_ring *ctl, report *rep) {
    unsigned char buf[FILL_LEN];
    int rc;
    for (;;) {
        fill(buf, rep->fills, FILL_LEN);
        rc = shmring_spsc_send(ctl, buf, FILL_LEN, 0);
        if (rc != SHMRING_OK)
            break;
        rep->fills++;
    }
    if (rc != SHMRING_EAGAIN || rep->fills == 0)
        fail("filling ctl: %s after %" PRIu64 " messages", shmring_strerror(rc), rep->fills);
    int64_t t0 = now_ns();
    rc = shmring_spsc_send(ctl, buf, FILL_LEN, (int64_t)TIMEOUT_MS * 1000000);
    rep->send_timeout_ns = now_ns() - t0;
    if (rc != SHMRING_ETIMEDOUT)
        fail("timed send on a full ring: %s, expected a timeout", shmring_strerror(rc));
    check_timeout_took(rep->send_timeout_ns, "send on a full ring");
}

/* Step 2: the stream, then close it (step 3). */
static void send_stream(shmring_ring *tx, waits *w) {
    size_t max_len = (size_t)shmring_max_message_size(tx);
    unsigned char *buf = malloc(max_len);
    if (buf == NULL)
        fail("out of memory");
    for (uint64_t seq = 0; seq < MESSAGES; seq++) {
        size_t len = length_of(seq, max_len);
        fill(buf, seq, len);
        int rc = send_counted(tx, buf, len, w);
        if (rc != SHMRING_OK)
            fail("send %" PRIu64 ": %s", seq, shmring_strerror(rc));
        maybe_pause(seq, UINT64_C(0x5e4de5));
    }
    free(buf);
    check_rc(shmring_close(tx), "close stream");
    shmring_free(tx);
}

static int child_main(const char *base) {
    who = "child, sender";
    start_watchdog();
    names n;
    make_names(base, &n);
    HANDLE go = OpenEventW(SYNCHRONIZE, FALSE, n.go);
    if (go == NULL)
        fail("OpenEventW: error %lu", GetLastError());
    shmring_ring *ctl = open_end(n.ctl, SHMRING_ROLE_SENDER);
    shmring_ring *tx = open_end(n.stream, SHMRING_ROLE_SENDER);
    report rep = {.magic = REPORT_MAGIC};
    fill_and_time_out(ctl, &rep);
    send_stream(tx, &rep.sender);
    /* Step 4: blocks until the parent drains the fill. */
    int rc = shmring_spsc_send(ctl, &rep, sizeof rep, STEP_TIMEOUT_NS);
    if (rc != SHMRING_OK)
        fail("send the report: %s", shmring_strerror(rc));
    if (WaitForSingleObject(go, CHILD_EXIT_MS) != WAIT_OBJECT_0)
        fail("the parent never said go");
    /* Exit with ctl still open: the parent must find its sender dead. */
    return 0;
}

/* ---- the parent: the receiver ----------------------------------------------- */

/* What became of the child, for a failure message: a ring that ends early
 * usually means the child failed (its own message is printed above). */
static const char *child_state(void) {
    static char text[64];
    /* acquire: pairs with the release store after CreateProcessW */
    HANDLE h = atomic_load_explicit(&child_process, memory_order_acquire);
    DWORD code;
    if (h == NULL || WaitForSingleObject(h, 2000) != WAIT_OBJECT_0 || !GetExitCodeProcess(h, &code))
        return "is still running";
    snprintf(text, sizeof text, "exited with %lu", (unsigned long)code);
    return text;
}

static void check_message(uint64_t seq, const unsigned char *got, int64_t len, unsigned char *want,
                          size_t max_len) {
    size_t n = length_of(seq, max_len);
    if (len != (int64_t)n)
        fail("message %" PRIu64 ": %" PRId64 " bytes, expected %" PRIu64, seq, len, (uint64_t)n);
    fill(want, seq, n);
    if (memcmp(got, want, n) != 0) {
        size_t i = 0;
        while (got[i] == want[i])
            i++;
        fail("message %" PRIu64 " (%" PRIu64 " bytes): byte %" PRIu64 " is %u, expected %u", seq, (uint64_t)n,
             (uint64_t)i, (unsigned)got[i], (unsigned)want[i]);
    }
}

/* Steps 2 and 3: every message intact and in order, then ECLOSED. */
static uint64_t receive_stream(shmring_ring *rx, waits *w) {
    size_t max_len = (size_t)shmring_max_message_size(rx);
    unsigned char *buf = malloc(max_len), *want = malloc(max_len);
    if (buf == NULL || want == NULL)
        fail("out of memory");
    uint64_t bytes = 0;
    for (uint64_t seq = 0; seq < MESSAGES; seq++) {
        const unsigned char *at;
        int peeked;
        int64_t got = take_counted(rx, seq, buf, max_len, w, &at, &peeked);
        if (got < 0)
            fail("receive %" PRIu64 " of %d: %s (the child %s)", seq, MESSAGES, shmring_strerror((int)got),
                 child_state());
        check_message(seq, at, got, want, max_len);
        if (peeked)
            check_rc(shmring_spsc_consume(rx), "consume");
        bytes += (uint64_t)got;
        maybe_pause(seq, UINT64_C(0x2ece17e2));
    }
    int64_t last = shmring_spsc_recv(rx, buf, max_len, STEP_TIMEOUT_NS);
    if (last != SHMRING_ECLOSED)
        fail("after the last message: %s, expected closed",
             last >= 0 ? "one more message" : shmring_strerror((int)last));
    free(buf);
    free(want);
    return bytes;
}

/* Step 4, first half: the fill in order, then the child's report. */
static report drain_ctl(shmring_ring *ctl) {
    unsigned char buf[CTL_CAPACITY], want[FILL_LEN];
    report rep;
    for (uint64_t k = 0;; k++) {
        int64_t got = shmring_spsc_recv(ctl, buf, sizeof buf, STEP_TIMEOUT_NS);
        if (got == (int64_t)sizeof rep) {
            memcpy(&rep, buf, sizeof rep);
            if (rep.magic != REPORT_MAGIC || rep.fills != k)
                fail("ctl: a bad report after %" PRIu64 " fill messages", k);
            return rep;
        }
        if (got != FILL_LEN)
            fail("ctl message %" PRIu64 ": %s (the child %s)", k,
                 got < 0 ? shmring_strerror((int)got) : "wrong size", child_state());
        fill(want, k, FILL_LEN);
        if (memcmp(buf, want, FILL_LEN) != 0)
            fail("ctl message %" PRIu64 ": wrong content", k);
    }
}

/* Step 4, second half: a timed receive on the empty ring while the child
 * lives, then its exit without closing must read as closed. */
static void time_out_then_see_death(shmring_ring *ctl, HANDLE go, int64_t *timed, int64_t *death) {
    unsigned char buf[CTL_CAPACITY];
    int64_t t0 = now_ns();
    int64_t got = shmring_spsc_recv(ctl, buf, sizeof buf, (int64_t)TIMEOUT_MS * 1000000);
    *timed = now_ns() - t0;
    if (got != SHMRING_ETIMEDOUT)
        fail("timed receive on an empty ring: %s, expected a timeout",
             got >= 0 ? "a message" : shmring_strerror((int)got));
    check_timeout_took(*timed, "receive on an empty ring");
    if (!SetEvent(go))
        fail("SetEvent: error %lu", GetLastError());
    t0 = now_ns();
    got = shmring_spsc_recv(ctl, buf, sizeof buf, (int64_t)DEATH_SEEN_MS * 1000000);
    *death = now_ns() - t0;
    if (got != SHMRING_ECLOSED)
        fail("after the child exited: %s, expected closed",
             got >= 0 ? "a message" : shmring_strerror((int)got));
}

/* Our standard handles, inheritable, for the child's error messages. */
static HANDLE inheritable(DWORD which) {
    HANDLE h = GetStdHandle(which), dup = NULL;
    if (h == NULL || h == INVALID_HANDLE_VALUE ||
        !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0, TRUE, DUPLICATE_SAME_ACCESS))
        return NULL;
    return dup;
}

static void spawn_child(const char *base, PROCESS_INFORMATION *pi) {
    wchar_t exe[MAX_PATH], cmd[MAX_PATH + 64], wbase[SHMRING_NAME_MAX + 1];
    DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
    if (n == 0 || n >= MAX_PATH)
        fail("GetModuleFileNameW: error %lu", GetLastError());
    MultiByteToWideChar(CP_ACP, 0, base, -1, wbase, SHMRING_NAME_MAX + 1);
    cmd[0] = 0;
    wcscat(cmd, L"\"");
    wcscat(cmd, exe);
    wcscat(cmd, L"\" child ");
    wcscat(cmd, wbase);
    STARTUPINFOW si = {.cb = sizeof si};
    si.hStdOutput = inheritable(STD_OUTPUT_HANDLE);
    si.hStdError = inheritable(STD_ERROR_HANDLE);
    BOOL inherit = si.hStdOutput != NULL && si.hStdError != NULL;
    if (inherit)
        si.dwFlags = STARTF_USESTDHANDLES;
    if (!CreateProcessW(exe, cmd, NULL, NULL, inherit, 0, NULL, NULL, &si, pi))
        fail("CreateProcessW: error %lu", GetLastError());
    /* release: pairs with kill_child()'s acquire (the watchdog's thread) */
    atomic_store_explicit(&child_process, pi->hProcess, memory_order_release);
    CloseHandle(pi->hThread);
    if (si.hStdOutput != NULL)
        CloseHandle(si.hStdOutput);
    if (si.hStdError != NULL)
        CloseHandle(si.hStdError);
}

static void wait_child(HANDLE process) {
    if (WaitForSingleObject(process, CHILD_EXIT_MS) != WAIT_OBJECT_0)
        fail("the child did not exit within %d s", CHILD_EXIT_MS / 1000);
    DWORD code;
    if (!GetExitCodeProcess(process, &code))
        fail("GetExitCodeProcess: error %lu", GetLastError());
    if (code != 0)
        fail("the child exited with %lu", code);
}

static void check_parked(const waits *w, const char *side) {
    if (w->slept == 0)
        fail("the %s never parked: the traffic did not exercise the wait path", side);
}

static int parent_main(void) {
    start_watchdog();
    int64_t start = now_ns();
    char base[SHMRING_NAME_MAX + 1];
    snprintf(base, sizeof base, "wws-%lu", (unsigned long)GetCurrentProcessId());
    names n;
    make_names(base, &n);
    HANDLE go = CreateEventW(NULL, TRUE, FALSE, n.go);
    if (go == NULL)
        fail("CreateEventW: error %lu", GetLastError());
    check_rc(shmring_spsc_create(n.stream, STREAM_CAPACITY), "create stream");
    check_rc(shmring_spsc_create(n.ctl, CTL_CAPACITY), "create ctl");
    shmring_ring *rx = open_end(n.stream, SHMRING_ROLE_RECEIVER);
    shmring_ring *ctl = open_end(n.ctl, SHMRING_ROLE_RECEIVER);

    PROCESS_INFORMATION pi;
    spawn_child(base, &pi);
    waits receiver = {0};
    uint64_t bytes = receive_stream(rx, &receiver);
    report rep = drain_ctl(ctl);
    int64_t timed, death;
    time_out_then_see_death(ctl, go, &timed, &death);
    wait_child(pi.hProcess);
    check_parked(&receiver, "receiver");
    check_parked(&rep.sender, "sender");
    shmring_free(rx);
    shmring_free(ctl);
    CloseHandle(go);

    printf("ok: %d messages, %" PRIu64 " bytes, capacity %d; receiver waited %" PRIu64 " (parked %" PRIu64
           ", longest %.1f ms), sender waited %" PRIu64 " (parked %" PRIu64 ", longest %.1f ms); "
           "timeouts recv %.1f ms send %.1f ms; dead sender seen in %.1f ms; %.2f s\n",
           MESSAGES, bytes, STREAM_CAPACITY, receiver.blocked, receiver.slept, ms(receiver.longest_ns),
           rep.sender.blocked, rep.sender.slept, ms(rep.sender.longest_ns), ms(timed),
           ms(rep.send_timeout_ns), ms(death), (double)(now_ns() - start) / 1e9);
    fflush(stdout);
    /* release: nothing reads it now; only so a late watchdog kills nothing */
    atomic_store_explicit(&child_process, NULL, memory_order_release);
    CloseHandle(pi.hProcess);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 1)
        return parent_main();
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child_main(argv[2]);
    fprintf(stderr, "usage: %s   (the parent; it starts its own child)\n", argv[0]);
    return 2;
}
