/*
 * segment_win32.c - named shared memory on Windows: a paging-file backed
 * section (CreateFileMappingW) in the session namespace, "Local\shmring-NAME".
 *
 * The whole section is committed at creation (SEC_COMMIT), so running out
 * of commit fails here with ENOSPACE, never later on first touch. Its
 * security descriptor grants access to the creating user's SID only: the
 * Windows counterpart of mode 0600.
 *
 * Lifetime. A section lives only while some process holds a handle to it;
 * there is no name to unlink. So the creator keeps one handle (and a view of
 * the header) in a process-wide list - the Windows stand-in for the POSIX
 * name - and drops it when asked to unlink, or when it sees that both ends
 * of the ring have closed (the point where POSIX unlinks the name), or when
 * the process exits. It looks at every segment call and, while it keeps any
 * handle, every SWEEP_PERIOD_MS on a thread-pool timer: the last end may
 * close in another process while this one makes no more calls. A ring another process created lives on while that
 * process or any end holds it.
 *
 * Waiting. Each end also opens two named semaphores, "...NAME.data" and
 * "...NAME.space", for the two waitpoints (wait_win32.c): WaitOnAddress only
 * works inside one process.
 */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include "internal.h"

#include <windows.h> /* first: sddl.h needs its macros */

#include <errno.h>
#include <sddl.h>
#include <stdlib.h>
#include <string.h>

static const wchar_t *const wake_suffix[2] = {L".data", L".space"};

/* Append `s` to out[0..cap) at *n, always NUL-terminated; false if cut. */
static bool append(wchar_t *out, size_t cap, size_t *n, const wchar_t *s) {
    for (; s != NULL && *s; s++) {
        if (*n + 1 >= cap)
            return false;
        out[(*n)++] = *s;
    }
    out[*n] = 0;
    return true;
}

/* L"Local\shmring-NAME" + suffix; names are ASCII (shmring_name_check). */
static void os_name(const char *name, const wchar_t *suffix, wchar_t *out, size_t cap) {
    wchar_t wide[SHMRING_NAME_MAX + 1];
    size_t i = 0, n = 0;
    for (; name[i] && i < SHMRING_NAME_MAX; i++)
        wide[i] = (wchar_t)(unsigned char)name[i];
    wide[i] = 0;
    append(out, cap, &n, L"Local\\shmring-");
    append(out, cap, &n, wide);
    append(out, cap, &n, suffix);
}

#define OS_NAME_CAP 64

static int error_from_win32(DWORD err) {
    switch (err) {
    case ERROR_FILE_NOT_FOUND: case ERROR_PATH_NOT_FOUND: return SHMRING_ENOENT;
    case ERROR_ALREADY_EXISTS: return SHMRING_EEXIST;
    case ERROR_COMMITMENT_LIMIT: case ERROR_NOT_ENOUGH_MEMORY: case ERROR_OUTOFMEMORY:
    case ERROR_DISK_FULL: case ERROR_NO_SYSTEM_RESOURCES:
        return SHMRING_ENOSPACE;
    case ERROR_ACCESS_DENIED: errno = EACCES; return SHMRING_ESYS;
    case ERROR_INVALID_HANDLE: errno = EBADF; return SHMRING_ESYS; /* a name taken by another kind of object */
    default: errno = EIO; return SHMRING_ESYS;
    }
}

/* A security descriptor: owner and sole grantee, the current user. The
 * caller frees it with LocalFree. */
static PSECURITY_DESCRIPTOR own_user_only(void) {
    HANDLE token;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return NULL;
    union { TOKEN_USER user; unsigned char bytes[256]; } info; /* a SID is at most 68 bytes */
    DWORD len = 0;
    BOOL ok = GetTokenInformation(token, TokenUser, &info, sizeof info, &len);
    CloseHandle(token);
    wchar_t *sid = NULL;
    if (!ok || !ConvertSidToStringSidW(info.user.User.Sid, &sid))
        return NULL;
    /* O: owner; D:P a protected DACL of one ACE: allow Generic All to the user */
    wchar_t sddl[256];
    size_t n = 0;
    bool fits = append(sddl, 256, &n, L"O:") && append(sddl, 256, &n, sid) &&
                append(sddl, 256, &n, L"D:P(A;;GA;;;") && append(sddl, 256, &n, sid) &&
                append(sddl, 256, &n, L")");
    LocalFree(sid);
    PSECURITY_DESCRIPTOR sd = NULL;
    if (!fits || !ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL))
        return NULL;
    return sd;
}

/* ---- the handles a creator keeps ----------------------------------------- */

typedef struct kept {
    struct kept *next;
    char name[SHMRING_NAME_MAX + 1];
    HANDLE map;
    shmring_header *hdr; /* a view of the header page, to see when both ends closed */
} kept;

enum { SWEEP_PERIOD_MS = 100 };

static SRWLOCK kept_lock = SRWLOCK_INIT;
static kept *kept_list;
static HANDLE sweep_timer; /* set while kept_list is not empty; guarded by kept_lock */

static void kept_free(kept *k) {
    UnmapViewOfFile(k->hdr);
    CloseHandle(k->map);
    free(k);
}

/* Drop the kept handles of rings whose ends have both closed, and of `name`
 * (NULL: none); true if `name` was kept. Called with the lock held. */
static bool kept_sweep(const char *name) {
    bool found = false;
    for (kept **p = &kept_list; *p != NULL;) {
        kept *k = *p;
        bool named = name != NULL && strcmp(k->name, name) == 0;
        /* relaxed: a hint read from another process's writes; acting on a
         * wrong value only drops our handle early (the ends keep theirs) */
        bool done = atomic_load_explicit(&k->hdr->control.closed_ends, memory_order_relaxed) >= 2;
        if (named || done) {
            found |= named;
            *p = k->next;
            kept_free(k);
        } else {
            p = &k->next;
        }
    }
    return found;
}

static void sweep(const char *name) {
    AcquireSRWLockExclusive(&kept_lock);
    kept_sweep(name);
    ReleaseSRWLockExclusive(&kept_lock);
}

/* The timer's callback: sweep; once nothing is kept, stop the timer (a
 * non-blocking delete, the only kind allowed inside its own callback). */
static VOID CALLBACK sweep_tick(PVOID unused, BOOLEAN fired) {
    (void)unused;
    (void)fired;
    AcquireSRWLockExclusive(&kept_lock);
    kept_sweep(NULL);
    if (kept_list == NULL && sweep_timer != NULL) {
        DeleteTimerQueueTimer(NULL, sweep_timer, NULL);
        sweep_timer = NULL;
    }
    ReleaseSRWLockExclusive(&kept_lock);
}

/* Called with the lock held, after adding to kept_list. Without a timer the
 * handle is still dropped at the next segment call or at exit. */
static void start_sweep_timer(void) {
    if (sweep_timer == NULL &&
        !CreateTimerQueueTimer(&sweep_timer, NULL, sweep_tick, NULL, SWEEP_PERIOD_MS, SWEEP_PERIOD_MS,
                               WT_EXECUTEDEFAULT))
        sweep_timer = NULL;
}

static int keep(const char *name, HANDLE map) {
    kept *k = calloc(1, sizeof *k);
    if (k == NULL)
        return SHMRING_ENOSPACE;
    k->hdr = MapViewOfFile(map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, SHMRING_HEADER_SIZE);
    if (k->hdr == NULL) {
        DWORD err = GetLastError();
        free(k);
        return error_from_win32(err);
    }
    memcpy(k->name, name, strlen(name) + 1);
    k->map = map;
    AcquireSRWLockExclusive(&kept_lock);
    kept_sweep(NULL);
    k->next = kept_list;
    kept_list = k;
    start_sweep_timer();
    ReleaseSRWLockExclusive(&kept_lock);
    return SHMRING_OK;
}

/* ---- the segment API --------------------------------------------------- */

static int map_view(HANDLE map, shmring_segment *seg) {
    void *p = MapViewOfFile(map, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0);
    if (p == NULL)
        return error_from_win32(GetLastError());
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(p, &mbi, sizeof mbi) == 0) {
        DWORD err = GetLastError();
        UnmapViewOfFile(p);
        return error_from_win32(err);
    }
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    memset(seg, 0, sizeof *seg);
    seg->base = p;
    seg->size = mbi.RegionSize; /* the section's size rounded up to pages */
    seg->size_granule = si.dwPageSize;
    return SHMRING_OK;
}

static int open_wake_objects(const char *name, shmring_segment *seg) {
    PSECURITY_DESCRIPTOR sd = own_user_only();
    if (sd == NULL)
        return error_from_win32(GetLastError());
    SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
    int rc = SHMRING_OK;
    for (int i = 0; i < 2 && rc == SHMRING_OK; i++) {
        wchar_t path[OS_NAME_CAP];
        os_name(name, wake_suffix[i], path, OS_NAME_CAP);
        /* Create or open: whichever end comes first makes it; it lives as
         * long as any end of the ring holds it. */
        seg->wake[i] = CreateSemaphoreW(&sa, 0, (LONG)SHMRING_WAKE_MAX_POSTS, path);
        if (seg->wake[i] == NULL)
            rc = error_from_win32(GetLastError());
    }
    LocalFree(sd);
    return rc;
}

/* Read every page once: the first lap of the ring then takes no soft fault
 * per 4 KiB in the middle of traffic (POSIX: MAP_POPULATE). */
static void touch_pages(const shmring_segment *seg) {
    volatile const unsigned char *p = seg->base;
    for (size_t off = 0; off < seg->size; off += seg->size_granule)
        (void)p[off];
}

int shmring_segment_create(const char *name, size_t size, shmring_segment *seg) {
    PSECURITY_DESCRIPTOR sd = own_user_only();
    if (sd == NULL)
        return error_from_win32(GetLastError());
    SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
    wchar_t path[OS_NAME_CAP];
    os_name(name, NULL, path, OS_NAME_CAP);
    uint64_t size64 = size;
    HANDLE map = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE | SEC_COMMIT,
                                    (DWORD)(size64 >> 32), (DWORD)size64, path);
    DWORD err = GetLastError();
    LocalFree(sd);
    if (map == NULL)
        return error_from_win32(err);
    if (err == ERROR_ALREADY_EXISTS) { /* we got a handle to someone else's section */
        CloseHandle(map);
        return SHMRING_EEXIST;
    }
    int rc = map_view(map, seg);
    if (rc == SHMRING_OK) {
        rc = keep(name, map); /* the keeper owns `map` from here on */
        if (rc != SHMRING_OK)
            shmring_segment_detach(seg);
    }
    if (rc != SHMRING_OK)
        CloseHandle(map);
    return rc;
}

int shmring_segment_attach(const char *name, bool populate, shmring_segment *seg) {
    wchar_t path[OS_NAME_CAP];
    os_name(name, NULL, path, OS_NAME_CAP);
    HANDLE map = OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE, FALSE, path);
    if (map == NULL)
        return error_from_win32(GetLastError());
    int rc = map_view(map, seg);
    CloseHandle(map); /* the view keeps the section alive */
    if (rc != SHMRING_OK)
        return rc;
    if (populate) { /* an end: it will wait and wake */
        rc = open_wake_objects(name, seg);
        if (rc != SHMRING_OK) {
            shmring_segment_detach(seg);
            return rc;
        }
        touch_pages(seg);
    }
    return SHMRING_OK;
}

void shmring_segment_detach(shmring_segment *seg) {
    for (int i = 0; i < 2; i++) {
        if (seg->wake[i] != NULL)
            CloseHandle(seg->wake[i]);
        seg->wake[i] = NULL;
    }
    if (seg->base != NULL)
        UnmapViewOfFile(seg->base);
    seg->base = NULL;
    seg->size = 0;
    sweep(NULL); /* a handle we just closed may have been the last end */
}

int shmring_segment_unlink(const char *name) {
    AcquireSRWLockExclusive(&kept_lock);
    bool was_kept = kept_sweep(name);
    ReleaseSRWLockExclusive(&kept_lock);
    if (was_kept)
        return SHMRING_OK;
    /* Not ours to drop: report whether it still exists elsewhere. */
    wchar_t path[OS_NAME_CAP];
    os_name(name, NULL, path, OS_NAME_CAP);
    HANDLE map = OpenFileMappingW(FILE_MAP_READ, FALSE, path);
    if (map == NULL)
        return error_from_win32(GetLastError());
    CloseHandle(map);
    return SHMRING_OK;
}

#endif /* _WIN32 */
