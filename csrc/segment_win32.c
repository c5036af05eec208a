/*
 * segment_win32.c - named shared memory on Windows: a paging-file backed
 * section (CreateFileMappingW) in the session namespace, "Local\shmring-NAME".
 *
 * The whole section is committed at creation (SEC_COMMIT), so running out
 * of commit fails here with ENOSPACE, never later on first touch. Its
 * security descriptor grants access to the creating user's SID only: the
 * Windows counterpart of mode 0600.
 *
 * Foreign objects. Anyone in the session can create a section (or a
 * semaphore) of a ring's name first. An end opens the section and its
 * semaphores only after GetSecurityInfo on the very handles says: the owner
 * is this user (the token's user SID, or its default owner, which is
 * BUILTIN\Administrators for an elevated administrator), and the DACL
 * (present) allows access to no SID but this user's, the token's default
 * owner's and logon session's, LocalSystem's and BUILTIN\Administrators'
 * (these two can take any object anyway, as root can on POSIX; Windows puts
 * them into default DACLs). Deny entries restrict, so they pass; an allow
 * entry of any other kind, or for any other SID (Everyone, Authenticated
 * Users, another user), refuses the object: SHMRING_EFOREIGN. Sharing a
 * ring with other users is not supported on Windows yet.
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
#include <aclapi.h> /* GetSecurityInfo */
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

/* Who this process is, as the checks of foreign objects need it. */
typedef struct self_sids {
    union { TOKEN_USER user; unsigned char bytes[256]; } user;   /* a SID is at most 68 bytes */
    union { TOKEN_OWNER owner; unsigned char bytes[256]; } owner; /* what new objects are owned by */
    PSID logon; /* the logon session's SID, inside `groups`; NULL if none */
    TOKEN_GROUPS *groups;
} self_sids;

static void self_sids_free(self_sids *me) {
    free(me->groups);
    me->groups = NULL;
}

static bool self_sids_get(self_sids *me) {
    memset(me, 0, sizeof *me);
    HANDLE token;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return false;
    DWORD len = 0;
    bool ok = GetTokenInformation(token, TokenUser, &me->user, sizeof me->user, &len) &&
              GetTokenInformation(token, TokenOwner, &me->owner, sizeof me->owner, &len);
    /* The logon SID: a token group marked SE_GROUP_LOGON_ID (there may be none). */
    len = 0;
    if (ok && !GetTokenInformation(token, TokenGroups, NULL, 0, &len) &&
        GetLastError() == ERROR_INSUFFICIENT_BUFFER && len > 0 && (me->groups = malloc(len)) != NULL) {
        if (GetTokenInformation(token, TokenGroups, me->groups, len, &len)) {
            for (DWORD i = 0; i < me->groups->GroupCount; i++)
                if ((me->groups->Groups[i].Attributes & SE_GROUP_LOGON_ID) == SE_GROUP_LOGON_ID)
                    me->logon = me->groups->Groups[i].Sid;
        }
    }
    CloseHandle(token);
    if (!ok)
        self_sids_free(me);
    return ok;
}

static bool is_owner_sid(const self_sids *me, PSID sid) {
    return EqualSid(sid, me->user.user.User.Sid) || EqualSid(sid, me->owner.owner.Owner);
}

/* May the DACL of one of our objects grant `sid` access? */
static bool is_accepted_grantee(const self_sids *me, PSID sid) {
    return is_owner_sid(me, sid) || (me->logon != NULL && EqualSid(sid, me->logon)) ||
           IsWellKnownSid(sid, WinLocalSystemSid) || IsWellKnownSid(sid, WinBuiltinAdministratorsSid);
}

static void sid_string(PSID sid, char out[SHMRING_SID_MAX]) {
    char *str = NULL;
    out[0] = 0;
    if (sid != NULL && ConvertSidToStringSidA(sid, &str)) {
        size_t n = strlen(str);
        if (n >= SHMRING_SID_MAX)
            n = SHMRING_SID_MAX - 1;
        memcpy(out, str, n);
        out[n] = 0;
        LocalFree(str);
    }
}

/* Why the object `h` (opened with READ_CONTROL) is refused: shmring_refusal
 * bits, 0 if it is this user's own. Fills owner and other SIDs into `out`
 * (NULL: not wanted). Fails closed: a security descriptor it cannot read is
 * refused. */
static uint32_t object_refusal(HANDLE h, const self_sids *me, shmring_owner *out) {
    PSID owner = NULL;
    PACL dacl = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                        &owner, NULL, &dacl, NULL, &sd) != ERROR_SUCCESS)
        return SHMRING_REFUSE_OWNER | SHMRING_REFUSE_OTHERS;
    uint32_t why = 0;
    if (owner == NULL || !is_owner_sid(me, owner))
        why |= SHMRING_REFUSE_OWNER;
    if (out != NULL)
        sid_string(owner, out->owner_sid);
    if (dacl == NULL) {
        why |= SHMRING_REFUSE_OTHERS; /* no DACL: everyone has full access */
        if (out != NULL)
            memcpy(out->other_sid, "S-1-1-0", sizeof "S-1-1-0"); /* Everyone */
    }
    for (DWORD i = 0; dacl != NULL && i < dacl->AceCount; i++) {
        ACE_HEADER *ace = NULL;
        if (!GetAce(dacl, i, (void **)&ace)) {
            why |= SHMRING_REFUSE_OTHERS;
            break;
        }
        PSID grantee = NULL;
        switch (ace->AceType) {
        case ACCESS_DENIED_ACE_TYPE: case ACCESS_DENIED_OBJECT_ACE_TYPE:
        case ACCESS_DENIED_CALLBACK_ACE_TYPE: case ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE:
            continue; /* takes access away */
        case ACCESS_ALLOWED_ACE_TYPE: case ACCESS_ALLOWED_CALLBACK_ACE_TYPE:
            /* both: header, mask, then the SID */
            grantee = (PSID)&((ACCESS_ALLOWED_ACE *)ace)->SidStart;
            if (((ACCESS_ALLOWED_ACE *)ace)->Mask == 0 || is_accepted_grantee(me, grantee))
                continue;
            break;
        default:
            break; /* a grant of a kind we do not read: refused */
        }
        if ((why & SHMRING_REFUSE_OTHERS) == 0 && out != NULL)
            sid_string(grantee, out->other_sid);
        why |= SHMRING_REFUSE_OTHERS;
    }
    LocalFree(sd);
    return why;
}

/* A security descriptor: owner and sole grantee, the current user. The
 * caller frees it with LocalFree. */
static PSECURITY_DESCRIPTOR own_user_only(void) {
    self_sids me;
    if (!self_sids_get(&me))
        return NULL;
    wchar_t *sid = NULL;
    BOOL ok = ConvertSidToStringSidW(me.user.user.User.Sid, &sid);
    self_sids_free(&me);
    if (!ok)
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

static int map_view(HANDLE map, DWORD access, shmring_segment *seg) {
    void *p = MapViewOfFile(map, access, 0, 0, 0);
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

static int open_wake_objects(const char *name, const self_sids *me, shmring_segment *seg) {
    PSECURITY_DESCRIPTOR sd = own_user_only();
    if (sd == NULL)
        return error_from_win32(GetLastError());
    SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
    int rc = SHMRING_OK;
    for (int i = 0; i < 2 && rc == SHMRING_OK; i++) {
        wchar_t path[OS_NAME_CAP];
        os_name(name, wake_suffix[i], path, OS_NAME_CAP);
        /* Create or open: whichever end comes first makes it; it lives as
         * long as any end of the ring holds it. One that someone else made
         * first must pass the same checks as the section (SEMAPHORE_ALL_ACCESS,
         * which CreateSemaphoreW asks for, includes READ_CONTROL). */
        seg->wake[i] = CreateSemaphoreW(&sa, 0, (LONG)SHMRING_WAKE_MAX_POSTS, path);
        if (seg->wake[i] == NULL)
            rc = error_from_win32(GetLastError());
        else if (GetLastError() == ERROR_ALREADY_EXISTS && object_refusal(seg->wake[i], me, NULL) != 0)
            rc = SHMRING_EFOREIGN;
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

/* Sharing with other users is not supported on Windows yet: a perms or a
 * trust that names anyone is EINVAL. */
static bool shares(const shmring_perms *perms, const shmring_trust *trust) {
    return (perms != NULL && (perms->mode != 0600 || perms->gid != -1)) ||
           (trust != NULL && (trust->uid != -1 || trust->gid != -1));
}

int shmring_segment_create(const char *name, size_t size, const shmring_perms *perms,
                           shmring_segment *seg) {
    if (shares(perms, NULL))
        return SHMRING_EINVAL;
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
    int rc = map_view(map, FILE_MAP_READ | FILE_MAP_WRITE, seg);
    if (rc == SHMRING_OK) {
        rc = keep(name, map); /* the keeper owns `map` from here on */
        if (rc != SHMRING_OK)
            shmring_segment_detach(seg);
    }
    if (rc != SHMRING_OK)
        CloseHandle(map);
    return rc;
}

int shmring_segment_attach(const char *name, bool end, const shmring_trust *trust,
                           shmring_segment *seg) {
    if (shares(NULL, trust))
        return SHMRING_EINVAL;
    wchar_t path[OS_NAME_CAP];
    os_name(name, NULL, path, OS_NAME_CAP);
    if (!end) { /* a look at the header, whoever owns it: read-only */
        HANDLE map = OpenFileMappingW(FILE_MAP_READ, FALSE, path);
        if (map == NULL)
            return error_from_win32(GetLastError());
        int rc = map_view(map, FILE_MAP_READ, seg);
        CloseHandle(map); /* the view keeps the section alive */
        return rc;
    }
    self_sids me;
    if (!self_sids_get(&me))
        return error_from_win32(GetLastError());
    HANDLE map = OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE | READ_CONTROL, FALSE, path);
    int rc = map == NULL ? error_from_win32(GetLastError())
             : object_refusal(map, &me, NULL) != 0 ? SHMRING_EFOREIGN /* checked before it is mapped */
                                                   : map_view(map, FILE_MAP_READ | FILE_MAP_WRITE, seg);
    if (map != NULL)
        CloseHandle(map); /* the view keeps the section alive */
    if (rc == SHMRING_OK) { /* an end: it will wait and wake */
        rc = open_wake_objects(name, &me, seg);
        if (rc != SHMRING_OK)
            shmring_segment_detach(seg);
        else
            touch_pages(seg);
    }
    self_sids_free(&me);
    return rc;
}

int shmring_segment_owner(const char *name, const shmring_trust *trust, shmring_owner *out) {
    if (shmring_name_check(name) != SHMRING_OK)
        return SHMRING_EINVAL;
    if (shares(NULL, trust))
        return SHMRING_EINVAL;
    memset(out, 0, sizeof *out);
    self_sids me;
    if (!self_sids_get(&me))
        return error_from_win32(GetLastError());
    wchar_t path[OS_NAME_CAP];
    os_name(name, NULL, path, OS_NAME_CAP);
    int rc = SHMRING_OK;
    HANDLE map = OpenFileMappingW(READ_CONTROL, FALSE, path);
    if (map == NULL) {
        rc = error_from_win32(GetLastError());
    } else {
        out->refused = object_refusal(map, &me, out);
        CloseHandle(map);
        for (int i = 0; i < 2; i++) { /* the semaphores, where they exist */
            os_name(name, wake_suffix[i], path, OS_NAME_CAP);
            HANDLE wake = OpenSemaphoreW(READ_CONTROL, FALSE, path);
            if (wake == NULL && GetLastError() != ERROR_FILE_NOT_FOUND)
                out->refused |= SHMRING_REFUSE_WAKE; /* there, and not ours to read */
            if (wake != NULL) {
                if (object_refusal(wake, &me, NULL) != 0)
                    out->refused |= SHMRING_REFUSE_WAKE;
                CloseHandle(wake);
            }
        }
    }
    self_sids_free(&me);
    return rc;
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

/* A section cannot shrink, so named segments need no seals here (shmring.h). */
int shmring_segment_create_sealed(size_t size, shmring_segment *seg, int *fd) {
    (void)size;
    (void)seg;
    (void)fd;
    return SHMRING_ENOTSUP;
}

int shmring_segment_attach_fd(int fd, shmring_segment *seg) {
    (void)fd;
    (void)seg;
    return SHMRING_ENOTSUP;
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
