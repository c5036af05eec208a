/*
 * shmring.h - the public C API of shmring: message rings over named shared
 * memory, usable from C as it is (no Python headers anywhere in csrc/).
 *
 * A ring lives in a named segment. shmring_create() makes and initialises
 * one; shmring_open() opens one end of it (sender or receiver) in this
 * process and returns a handle. Every call returns 0 (or a length) on success
 * and a negative SHMRING_E* code on failure; shmring_strerror() names it.
 *
 * Copies of an end: an end may be held by several processes (a parent that
 * hands it to a child, say). shmring_export() counts a new copy before it
 * travels; shmring_import() in the receiving process takes it over. An end
 * closes when its last copy closes or every process holding one has died.
 *
 * Threads: one handle may be closed from another thread while a call on it
 * is blocked; the blocked call then returns SHMRING_ECLOSED. The memory of a
 * handle stays valid until shmring_free(). Otherwise a handle is used by one
 * thread at a time (it is one side of a single-producer single-consumer ring).
 *
 * Timeouts are in nanoseconds: 0 never blocks, negative waits for ever.
 * SHMRING_POLL never blocks either and skips asking the OS whether a silent
 * peer died (a clock read per call): for tight polling loops, which should
 * make a call with timeout 0 now and then.
 * Blocking calls return SHMRING_EINTR when a signal interrupts them, so a
 * caller can run its handlers (Python's Ctrl-C) and call again.
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum shmring_error {
    SHMRING_OK = 0,
    SHMRING_EAGAIN = -1,      /* timeout 0 and the call would block */
    SHMRING_ETIMEDOUT = -2,   /* the timeout passed */
    SHMRING_ECLOSED = -3,     /* the peer end closed or died (after draining), or this handle is closed */
    SHMRING_EINTR = -4,       /* a signal arrived; call again */
    SHMRING_ETOOBIG = -5,     /* message larger than the ring's max_message_size */
    SHMRING_ENOBUFS = -6,     /* receive buffer smaller than the next message; nothing consumed */
    SHMRING_ECORRUPT = -7,    /* a value in the segment is impossible: a buggy or hostile peer */
    SHMRING_ENOENT = -8,      /* no segment of that name */
    SHMRING_EEXIST = -9,      /* a segment of that name already exists */
    SHMRING_ENOTSHMRING = -10,/* the segment is not a shmring segment */
    SHMRING_EVERSION = -11,   /* made by an incompatible layout version */
    SHMRING_ENOTREADY = -12,  /* exists, but its creator has not finished initialising it */
    SHMRING_EINUSE = -13,     /* that end is already held by a live process */
    SHMRING_EINVAL = -14,     /* bad argument (name, capacity, role, kind) */
    SHMRING_ESYS = -15,       /* an OS call failed: see errno */
    SHMRING_EKIND = -16,      /* the segment holds another kind of ring */
    SHMRING_ENOSPACE = -17,   /* no room for the segment (e.g. /dev/shm full) */
    SHMRING_EENDCLOSED = -18, /* that end was already closed for good */
    SHMRING_EFOREIGN = -19,   /* the segment is not one this user may trust (see shmring_trust) */
    SHMRING_ENOTSUP = -20,    /* not available on this OS (or not allowed here, e.g. by seccomp) */
};

enum shmring_role_id { SHMRING_ROLE_SENDER = 0, SHMRING_ROLE_RECEIVER = 1 };

enum shmring_kind { SHMRING_KIND_SPSC = 1, SHMRING_KIND_MPMC = 2 };

#define SHMRING_POLL INT64_MIN

/* Longest accepted name, without the leading '/' (macOS allows 31 with it). */
#define SHMRING_NAME_MAX 30

#define SHMRING_MIN_CAPACITY (UINT64_C(1) << 10)
#define SHMRING_MAX_CAPACITY (UINT64_C(1) << 32)
#define SHMRING_MIN_SLOTS UINT64_C(2)
#define SHMRING_MAX_SLOTS (UINT64_C(1) << 24)
#define SHMRING_MAX_SLOT_SIZE (UINT64_C(1) << 26)
#define SHMRING_MAX_MPMC_BYTES (UINT64_C(1) << 36)

typedef struct shmring_ring shmring_ring;

/* Where a copy of an end came from: filled by export, consumed by import. */
typedef struct shmring_origin {
    uint32_t pid;        /* the exporting process */
    uint32_t holder;     /* the holder entry that counts the copy in transit */
    uint64_t start_time; /* the exporter's */
    uint32_t tag;        /* this export's, among the exporter's */
} shmring_origin;

const char *shmring_strerror(int code);

/* Largest payload a ring of `capacity` bytes carries: capacity/2 - 8. */
uint64_t shmring_spsc_max_message_size(uint64_t capacity);

/* Create and initialise an SPSC segment; capacity is a power of two within
 * [SHMRING_MIN_CAPACITY, SHMRING_MAX_CAPACITY]. Both ends start unopened.
 * The segment is accessible to this user only (mode 0600). */
int shmring_spsc_create(const char *name, uint64_t capacity);

/* Create and initialise an MPMC segment: `slots` (a power of two within
 * [SHMRING_MIN_SLOTS, SHMRING_MAX_SLOTS]) of up to `slot_size` bytes each. */
int shmring_mpmc_create(const char *name, uint64_t slots, uint64_t slot_size);

/* Whom a creator lets use a new segment besides its own user (POSIX). */
typedef struct shmring_perms {
    /* Permission bits: 0600 plus any group bits (0640, 0660); "other" bits
     * are EINVAL: a segment every user can write can carry forged messages.
     * Set exactly (fchmod), whatever the umask, except on macOS, where a
     * shm object takes no fchmod and the umask applies. */
    uint32_t mode;
    /* The segment's group; -1: the creator's effective group (as the OS
     * does). Another group must be one the caller is a member of. */
    int64_t gid;
} shmring_perms;

/* The same, with `perms` (NULL: mode 0600, the creator's group). Openers of
 * another user must still trust it (shmring_trust). */
int shmring_spsc_create_with(const char *name, uint64_t capacity, const shmring_perms *perms);
int shmring_mpmc_create_with(const char *name, uint64_t slots, uint64_t slot_size,
                             const shmring_perms *perms);

/* Open `role` of the ring `name` (of `kind`, or 0 for either) in this
 * process. SPSC: fails with EINUSE if a live process holds that end; MPMC:
 * joins the other senders or receivers. EENDCLOSED if it was closed.
 * EFOREIGN if the segment is not this user's own (shmring_open_trusting). */
int shmring_open(const char *name, int role, int kind, shmring_ring **out);

/*
 * Foreign segments. Anyone on a machine can create a segment of any free
 * name, so opening by name checks whose it is first, on the very object it
 * maps (POSIX: fstat of the descriptor, opened with O_NOFOLLOW on Linux).
 * By default an end opens only a segment that is
 *   - a regular shared-memory object (not a symbolic link, FIFO, ...),
 *   - owned by this process's effective user, and
 *   - accessible to nobody else: mode & 077 == 0 (Windows: the owner SID is
 *     this user's, and the DACL grants access to no SID but this user's,
 *     LocalSystem's and BUILTIN\Administrators', who can take any object
 *     anyway, as root can on POSIX).
 * Otherwise it fails with SHMRING_EFOREIGN and maps nothing; a foreign
 * segment is never written to. Sharing a ring between users is a choice
 * made on both sides: the creator grants a group access (shmring_perms),
 * and the openers say whom they trust (shmring_trust). A segment that
 * grants any access to every user ("other" bits) is refused whatever the
 * trust. Windows supports no sharing yet: a trust or perms naming anyone
 * else is EINVAL there.
 */
typedef struct shmring_trust {
    /* Also accept segments owned by this user id (that grant no group
     * access, unless their group is trusted too); -1: nobody else. */
    int64_t uid;
    /* Also accept segments whose group is this group id and whose mode
     * grants it access, whoever owns them (on POSIX only root can give a
     * file a group its owner is not a member of); -1: no group. */
    int64_t gid;
} shmring_trust;

/* shmring_open, accepting also what `trust` (NULL: nothing more) names. */
int shmring_open_trusting(const char *name, int role, int kind, const shmring_trust *trust,
                          shmring_ring **out);

/* Why an open refuses a segment: bits of shmring_owner.refused. */
enum shmring_refusal {
    SHMRING_REFUSE_NOT_REGULAR = 1, /* a symbolic link, FIFO, directory...: not a segment */
    SHMRING_REFUSE_OWNER = 2,       /* owned by another user, not trusted */
    SHMRING_REFUSE_GROUP = 4,       /* grants access to a group that is not trusted */
    SHMRING_REFUSE_OTHERS = 8,      /* grants access to every user (Windows: to another SID) */
    SHMRING_REFUSE_WAKE = 16,       /* Windows: one of the ring's named semaphores is foreign */
};

#define SHMRING_SID_MAX 192 /* a SID as a string, "S-1-5-21-...", with its NUL */

/* Who owns a segment and who else may use it. */
typedef struct shmring_owner {
    uint32_t uid;   /* POSIX: the owner's user id */
    uint32_t gid;   /* POSIX: the segment's group id */
    uint32_t mode;  /* POSIX: st_mode, file type and permission bits (S_IFREG | 0600 for ours) */
    uint32_t refused; /* shmring_refusal bits: why an open with the given trust refuses it; 0 if not */
    char owner_sid[SHMRING_SID_MAX]; /* Windows: the owner; POSIX: "" */
    char other_sid[SHMRING_SID_MAX]; /* Windows: a SID besides the owner's the DACL grants access to, or "" */
} shmring_owner;

/* Describe the segment `name` (what an open with `trust` would say of it,
 * in out->refused) without mapping it: for messages and `shmring ls`. It
 * looks at the name again, so a racing change can make it disagree with
 * the open that failed. POSIX: ENOENT if there is no such name; on Linux a
 * symbolic link or an object this user may not open is described too (by
 * lstat of /dev/shm/NAME, where glibc and musl keep them). */
int shmring_segment_owner(const char *name, const shmring_trust *trust, shmring_owner *out);

/* Count one more copy of this handle's end, in transit: held by this
 * process until shmring_import() in the receiving process takes it over. */
int shmring_export(shmring_ring *r, shmring_origin *origin);

/* In the exporting process, once it knows which process will import the
 * copy (a child it started): count the copy in transit under process `pid`
 * instead, so that the child's death before it imports closes the end as
 * any holder's death does. A copy already taken over stays as it is. */
int shmring_export_to(shmring_ring *r, const shmring_origin *origin, uint32_t pid);

/* Open the end a copy was exported from, taking over that copy. The
 * segment is checked as shmring_open checks it (by name, again). */
int shmring_import(const char *name, int role, int kind, const shmring_origin *origin,
                   shmring_ring **out);
int shmring_import_trusting(const char *name, int role, int kind, const shmring_origin *origin,
                            const shmring_trust *trust, shmring_ring **out);

/* In a child after fork(): the handle was copied with the process; make the
 * copy this process's own (the parent must have exported it before forking). */
int shmring_adopt_after_fork(shmring_ring *r, const shmring_origin *origin);

/* Drop this copy. The last copy of an end closes it and wakes the peer; when
 * both ends are closed, the name is unlinked. Idempotent. */
int shmring_close(shmring_ring *r);

/* Release the handle's memory and mapping. Call after close, once no other
 * thread can be inside a call on it. */
void shmring_free(shmring_ring *r);

/* Remove a segment's name (the memory goes when the last mapping does). */
int shmring_unlink(const char *name);

/*
 * Rings with no name (Linux). A named segment can be shrunk by any process
 * of its owner (ftruncate), and touching a page past the new end kills the
 * process with SIGBUS. These rings live in a memfd sealed against shrinking
 * and growing before the ring is written (F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_SEAL): no process, the creator included, can resize them. They
 * are handed on as descriptors (fork, SCM_RIGHTS, a spawned child's
 * inherited descriptors) instead of names, and the memory goes when the
 * last descriptor and mapping do. Elsewhere these calls return ENOTSUP
 * (macOS sizes a shm object once and for all; a Windows section cannot
 * shrink, so named segments there are safe as they are).
 */
/* Create one; *fd is the creator's descriptor of it (close-on-exec), to
 * open ends on and then close. */
int shmring_spsc_create_sealed(uint64_t capacity, int *fd);
int shmring_mpmc_create_sealed(uint64_t slots, uint64_t slot_size, int *fd);
/* As shmring_open and shmring_import, on the descriptor of a sealed ring;
 * EFOREIGN unless it is sealed and this user's alone. The handle keeps a
 * duplicate: `fd` stays the caller's. */
int shmring_open_fd(int fd, int role, int kind, shmring_ring **out);
int shmring_import_fd(int fd, int role, int kind, const shmring_origin *origin, shmring_ring **out);
/* The descriptor a handle of a sealed ring keeps (for handing it on: dup
 * it, never close it), or -1 for a named ring. */
int shmring_fd(const shmring_ring *r);

/* Send one message: 0 or an error. */
int shmring_spsc_send(shmring_ring *r, const void *data, size_t len, int64_t timeout_ns);

/* Receive one message into buf: its length (>= 0) or an error. With
 * SHMRING_ENOBUFS the message stays; shmring_spsc_peek() shows its size. */
int64_t shmring_spsc_recv(shmring_ring *r, void *buf, size_t cap, int64_t timeout_ns);

/* Point at the next message in place, without consuming it; then call
 * shmring_spsc_consume(). The bytes stay valid until then. */
int shmring_spsc_peek(shmring_ring *r, const void **data, size_t *len, int64_t timeout_ns);
int shmring_spsc_consume(shmring_ring *r);

/* What `shmring ls` shows of a segment, read without opening an end. */
typedef struct shmring_info {
    uint32_t kind;
    uint32_t creator_pid;
    uint64_t capacity;
    uint64_t max_message_size;
    uint64_t used_bytes;       /* SPSC: head - tail when read; MPMC: at most this */
    uint64_t created_unix_ns;
    uint32_t end_state[2];     /* by role: 0 new, 1 open, 2 closed */
    uint32_t live_holders[2];  /* processes alive and holding copies of each end */
    uint32_t creator_alive;
    uint64_t slot_stride;      /* MPMC */
    uint64_t recovered_writes; /* MPMC: dead senders' claims skipped */
    uint64_t recovered_reads;  /* MPMC: dead receivers' claims freed (messages lost) */
} shmring_info;

/* Validate the segment `name` and describe it. A foreign segment is
 * described too (shmring_segment_owner says whose it is): inspect reads a
 * private copy of its header (POSIX: pread) and never writes to it, so a
 * hostile owner can neither crash it (by shrinking the object under a
 * mapping) nor change what it checked. Not a regular object: EFOREIGN. */
int shmring_inspect(const char *name, shmring_info *out);
/* The same, of the ring a handle is on (named or not): through its own
 * mapping, as the calls on it read it. */
int shmring_inspect_handle(shmring_ring *r, shmring_info *out);

/* Batches: `data` holds n messages back to back (`size` bytes in all),
 * `lens` their sizes. SPSC publishes all that fit with one store of head,
 * then waits for room for the rest; *sent says how many went, also when an
 * error stops it. Sizes that do not add up to `size` (EINVAL) or a message
 * over max_message_size (ETOOBIG) fail the batch before anything is sent. */
int shmring_spsc_send_many(shmring_ring *r, const void *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent);
int shmring_mpmc_send_many(shmring_ring *r, const void *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent);

/* Wait for one message, then take up to max_n of those already there that
 * fit in buf, back to back (sizes in lens): their number, or an error
 * (ENOBUFS if the first does not fit; shmring_needed() says its size;
 * EINVAL if max_n is 0). */
int64_t shmring_spsc_recv_many(shmring_ring *r, void *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns);
int64_t shmring_mpmc_recv_many(shmring_ring *r, void *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns);

/* MPMC: one message into a free slot, or out of a full one. Every message
 * goes to exactly one receiver; a receiver's buffer smaller than the next
 * message gives ENOBUFS (shmring_needed() says its size) and leaves it. */
int shmring_mpmc_send(shmring_ring *r, const void *data, size_t len, int64_t timeout_ns);
int64_t shmring_mpmc_recv(shmring_ring *r, void *buf, size_t cap, int64_t timeout_ns);

/* MPMC: how long a slot claimed by another process may stay claimed
 * before we ask whether that process died (default 100 ms). */
void shmring_set_claim_timeout(shmring_ring *r, int64_t ns);

/* Facts about an open handle. */
int shmring_kind_of(const shmring_ring *r);
uint64_t shmring_needed(const shmring_ring *r);
uint64_t shmring_capacity(const shmring_ring *r);
uint64_t shmring_max_message_size(const shmring_ring *r);
const char *shmring_name(const shmring_ring *r);

/* Spin this long (ns) before parking in a blocking call; default 50 us. */
void shmring_set_spin(shmring_ring *r, int64_t spin_ns);

#ifdef __cplusplus
}
#endif
#endif /* SHMRING_H */
