"""The cffi builders: compile csrc/ into two extension modules.

- ``shmring._core``: the whole C API. Like every cffi wrapper, each call
  releases the GIL, so a blocking call never stalls other Python threads.
- ``shmring._fastpath``: only the calls that never wait (timeout 0), which
  keep the GIL: releasing and re-taking it would cost more than the ring
  operation itself (about 50 ns of a 110 ns call, measured here). The hot
  paths try these first and fall back to ``_core`` to wait.

API (out-of-line) mode: cffi generates a C wrapper per function and the C
compiler checks every declaration below against csrc/shmring.h. Run by
setup.py through ``cffi_modules``; not imported at run time.
"""

import os
import sys
import sysconfig

from cffi import FFI

CSRC = "csrc"
HERE = os.path.join("src", "shmring")  # _fastpath.h

# The call structs of _calls.h: both modules pass them (each ffi needs its own cdef).
CALL_STRUCTS_CDEF = """
typedef struct shmring_recv_call {
    void *ring;
    char *buf;
    size_t cap;
    int64_t poll_ns;
    int64_t taken;
} shmring_recv_call;
typedef struct shmring_send_call {
    void *ring;
    int64_t outcome;
} shmring_send_call;
"""

CDEF = """
enum shmring_error {
    SHMRING_OK, SHMRING_EAGAIN, SHMRING_ETIMEDOUT, SHMRING_ECLOSED, SHMRING_EINTR,
    SHMRING_ETOOBIG, SHMRING_ENOBUFS, SHMRING_ECORRUPT, SHMRING_ENOENT, SHMRING_EEXIST,
    SHMRING_ENOTSHMRING, SHMRING_EVERSION, SHMRING_ENOTREADY, SHMRING_EINUSE,
    SHMRING_EINVAL, SHMRING_ESYS, SHMRING_EKIND, SHMRING_ENOSPACE, SHMRING_EENDCLOSED,
    SHMRING_EFOREIGN, SHMRING_ENOTSUP, ...
};
enum shmring_refusal {
    SHMRING_REFUSE_NOT_REGULAR, SHMRING_REFUSE_OWNER, SHMRING_REFUSE_GROUP, SHMRING_REFUSE_OTHERS,
    SHMRING_REFUSE_WAKE, ...
};
enum shmring_role_id { SHMRING_ROLE_SENDER, SHMRING_ROLE_RECEIVER, ... };
enum shmring_kind { SHMRING_KIND_SPSC, SHMRING_KIND_MPMC, ... };
#define SHMRING_NAME_MAX ...
#define SHMRING_MIN_CAPACITY ...
#define SHMRING_MAX_CAPACITY ...
#define SHMRING_MIN_SLOTS ...
#define SHMRING_MAX_SLOTS ...
#define SHMRING_MAX_SLOT_SIZE ...
#define SHMRING_MAX_MPMC_BYTES ...

typedef struct shmring_ring shmring_ring;
typedef struct shmring_origin {
    uint32_t pid;
    uint32_t holder;
    uint64_t start_time;
    uint32_t tag;
} shmring_origin;

const char *shmring_strerror(int code);
uint64_t shmring_spsc_max_message_size(uint64_t capacity);
int shmring_spsc_create(const char *name, uint64_t capacity);
int shmring_mpmc_create(const char *name, uint64_t slots, uint64_t slot_size);
int shmring_open(const char *name, int role, int kind, shmring_ring **out);
int shmring_export(shmring_ring *r, shmring_origin *origin);
int shmring_export_to(shmring_ring *r, const shmring_origin *origin, uint32_t pid);
int shmring_import(const char *name, int role, int kind, const shmring_origin *origin,
                   shmring_ring **out);

typedef struct shmring_trust {
    int64_t uid;
    int64_t gid;
} shmring_trust;
typedef struct shmring_perms {
    uint32_t mode;
    int64_t gid;
} shmring_perms;
typedef struct shmring_owner {
    uint32_t uid;
    uint32_t gid;
    uint32_t mode;
    uint32_t refused;
    char owner_sid[...];
    char other_sid[...];
    ...;
} shmring_owner;
int shmring_spsc_create_with(const char *name, uint64_t capacity, const shmring_perms *perms);
int shmring_mpmc_create_with(const char *name, uint64_t slots, uint64_t slot_size,
                             const shmring_perms *perms);
int shmring_open_trusting(const char *name, int role, int kind, const shmring_trust *trust,
                          shmring_ring **out);
int shmring_import_trusting(const char *name, int role, int kind, const shmring_origin *origin,
                            const shmring_trust *trust, shmring_ring **out);
int shmring_segment_owner(const char *name, const shmring_trust *trust, shmring_owner *out);
int shmring_adopt_after_fork(shmring_ring *r, const shmring_origin *origin);
int shmring_close(shmring_ring *r);
void shmring_free(shmring_ring *r);
int shmring_unlink(const char *name);
int shmring_spsc_create_sealed(uint64_t capacity, int *fd);
int shmring_mpmc_create_sealed(uint64_t slots, uint64_t slot_size, int *fd);
int shmring_open_fd(int fd, int role, int kind, shmring_ring **out);
int shmring_import_fd(int fd, int role, int kind, const shmring_origin *origin, shmring_ring **out);
int shmring_fd(const shmring_ring *r);

int shmring_spsc_send(shmring_ring *r, const char *data, size_t len, int64_t timeout_ns);
int64_t shmring_spsc_recv(shmring_ring *r, char *buf, size_t cap, int64_t timeout_ns);
int shmring_spsc_peek(shmring_ring *r, const void **data, size_t *len, int64_t timeout_ns);
int shmring_spsc_consume(shmring_ring *r);

int shmring_spsc_send_many(shmring_ring *r, const char *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent);
int shmring_mpmc_send_many(shmring_ring *r, const char *data, size_t size, const uint64_t *lens,
                           size_t n, int64_t timeout_ns, size_t *sent);
int64_t shmring_spsc_recv_many(shmring_ring *r, char *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns);
int64_t shmring_mpmc_recv_many(shmring_ring *r, char *buf, size_t cap, uint64_t *lens,
                               size_t max_n, int64_t timeout_ns);
int shmring_mpmc_send(shmring_ring *r, const char *data, size_t len, int64_t timeout_ns);
int64_t shmring_mpmc_recv(shmring_ring *r, char *buf, size_t cap, int64_t timeout_ns);
void shmring_set_claim_timeout(shmring_ring *r, int64_t ns);
int shmring_kind_of(const shmring_ring *r);
uint64_t shmring_needed(const shmring_ring *r);

typedef struct shmring_info {
    uint32_t kind;
    uint32_t creator_pid;
    uint64_t capacity;
    uint64_t max_message_size;
    uint64_t used_bytes;
    uint64_t created_unix_ns;
    uint32_t end_state[2];
    uint32_t live_holders[2];
    uint32_t creator_alive;
    uint64_t slot_stride;
    uint64_t recovered_writes;
    uint64_t recovered_reads;
    ...;
} shmring_info;
int shmring_inspect(const char *name, shmring_info *out);
int shmring_inspect_handle(shmring_ring *r, shmring_info *out);

uint64_t shmring_capacity(const shmring_ring *r);
uint64_t shmring_max_message_size(const shmring_ring *r);
void shmring_set_spin(shmring_ring *r, int64_t spin_ns);

int shmring_spsc_wait_send(shmring_send_call *c, const char *data, size_t len, int64_t timeout_ns);
int shmring_mpmc_wait_send(shmring_send_call *c, const char *data, size_t len, int64_t timeout_ns);
int64_t shmring_spsc_wait_recv(shmring_recv_call *c, char *buf, size_t cap, int64_t timeout_ns);
int64_t shmring_mpmc_wait_recv(shmring_recv_call *c, char *buf, size_t cap, int64_t timeout_ns);
int64_t shmring_spsc_wait_recv_many(shmring_recv_call *c, char *buf, size_t cap, uint64_t *lens,
                                    size_t max_n, int64_t timeout_ns);
int64_t shmring_mpmc_wait_recv_many(shmring_recv_call *c, char *buf, size_t cap, uint64_t *lens,
                                    size_t max_n, int64_t timeout_ns);
int shmring_spsc_consume_call(shmring_recv_call *c);

int shmring_pingpong_ping(shmring_ring *tx, shmring_ring *rx, const char *msg, size_t len,
                          int64_t *samples_ns, size_t n);
int shmring_pingpong_echo(shmring_ring *rx, shmring_ring *tx, char *buf, size_t cap, size_t n);
int shmring_pingpong_send_n(shmring_ring *tx, const char *msg, size_t len, size_t n);
int64_t shmring_pingpong_recv_n(shmring_ring *rx, char *buf, size_t cap, size_t n);
"""


def _sources():
    names = sorted(f for f in os.listdir(CSRC) if f.endswith(".c"))
    return [os.path.join(CSRC, f) for f in names]


# Handles are `void *` here: they are made by _core's ffi, whose struct
# types this module's ffi does not share.
FASTPATH_CDEF = CALL_STRUCTS_CDEF + """
int shmring_spsc_try_send(shmring_send_call *c, const char *data, size_t len);
int shmring_mpmc_try_send(shmring_send_call *c, const char *data, size_t len);
int64_t shmring_spsc_try_recv(shmring_recv_call *c, char *buf, size_t cap);
int64_t shmring_mpmc_try_recv(shmring_recv_call *c, char *buf, size_t cap);
int64_t shmring_spsc_poll_recv(shmring_recv_call *c);
int64_t shmring_mpmc_poll_recv(shmring_recv_call *c);
int64_t shmring_struct_format(const uint64_t *lens, size_t n, char *out, size_t cap);
"""

# cffi wraps each call in Py_BEGIN/END_ALLOW_THREADS; emptying them keeps the
# GIL. Should a cffi release stop using these macros, the GIL is released
# again: slower, never wrong. Only functions that cannot block belong here.
FASTPATH_SOURCE = """
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
#include "_fastpath.h"
"""


# ---- compiler and linker flags ----------------------------------------------
# setuptools builds with the compiler CPython was built with: MSVC on Windows
# (unless this is a MinGW Python, MSYS2's), gcc or clang elsewhere.
#
# - Release modules carry no debug info (-g0 after CPython's own -g; it was
#   about 70% of each module) and, on Linux, no symbol table (-s). Set
#   SHMRING_BUILD_DEBUG=1 to keep both, for a debugger or a sanitizer build.
# - -fvisibility=hidden: the C core is linked into both modules; only
#   PyInit_<module> (marked visible by CPython's PyMODINIT_FUNC) is exported,
#   so neither module's shmring_* functions can interpose on the other's.
# - MSVC: C11 atomics need Visual Studio 2022 17.5 or later and
#   /experimental:c11atomics, on x64 and ARM64 alike. A release build makes no
#   debug info and exports only PyInit_*, as usual on Windows.
# - Libraries: librt holds shm_open on glibc before 2.34 (an empty stub from
#   2.34 on and on musl, so linking it is always right on Linux); the Windows
#   layer's security descriptors (the creating user's SID) come from advapi32.
# The build host's RUNPATH, which some CPython builds (pyenv's) put in every
# extension's link line, is taken off in setup.py's build_ext.

MSVC = sys.platform == "win32" and not sysconfig.get_platform().startswith("mingw")
DEBUG = os.environ.get("SHMRING_BUILD_DEBUG") == "1"


def compile_args() -> list:
    if MSVC:
        return ["/std:c11", "/experimental:c11atomics", "/O2", "/W3"] + (["/Zi"] if DEBUG else [])
    args = ["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"]
    return args + (["-g"] if DEBUG else ["-g0"])


def link_args() -> list:
    if MSVC:
        return ["/DEBUG"] if DEBUG else []
    if DEBUG:
        return []
    if sys.platform == "darwin":
        return ["-Wl,-S", "-Wl,-x"]  # ld64: no debug symbols, no local symbols
    return ["-s"]  # GNU ld, lld (Linux, MinGW): no symbol table, no debug info


def libraries() -> list:
    if sys.platform.startswith("linux"):
        return ["rt"]
    if sys.platform == "win32":
        return ["advapi32"]
    return []


def _builder(module, cdef, source):
    builder = FFI()
    builder.cdef(cdef)
    builder.set_source(
        module,
        source,
        sources=_sources(),
        include_dirs=[CSRC, HERE],
        extra_compile_args=compile_args(),
        extra_link_args=link_args(),
        libraries=libraries(),
    )
    return builder


ffibuilder = _builder("shmring._core", CALL_STRUCTS_CDEF + CDEF, '#include "shmring.h"\n#include "pingpong.h"\n#include "_blocking.h"\n')
fastpath_builder = _builder("shmring._fastpath", FASTPATH_CDEF, FASTPATH_SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
    fastpath_builder.compile(verbose=True)
