"""The cffi builder: compiles csrc/ into the extension module shmring._core.

API (out-of-line) mode: cffi generates a C wrapper per function and the C
compiler checks every declaration below against csrc/shmring.h. Run by
setup.py through ``cffi_modules``; not imported at run time.
"""

import os
import sys

from cffi import FFI

CSRC = "csrc"

CDEF = """
enum shmring_error {
    SHMRING_OK, SHMRING_EAGAIN, SHMRING_ETIMEDOUT, SHMRING_ECLOSED, SHMRING_EINTR,
    SHMRING_ETOOBIG, SHMRING_ENOBUFS, SHMRING_ECORRUPT, SHMRING_ENOENT, SHMRING_EEXIST,
    SHMRING_ENOTSHMRING, SHMRING_EVERSION, SHMRING_ENOTREADY, SHMRING_EINUSE,
    SHMRING_EINVAL, SHMRING_ESYS, SHMRING_EKIND, SHMRING_ENOSPACE, SHMRING_EENDCLOSED, ...
};
enum shmring_role_id { SHMRING_ROLE_SENDER, SHMRING_ROLE_RECEIVER, ... };
enum shmring_kind { SHMRING_KIND_SPSC, SHMRING_KIND_MPMC, ... };
#define SHMRING_NAME_MAX ...
#define SHMRING_MIN_CAPACITY ...
#define SHMRING_MAX_CAPACITY ...

typedef struct shmring_ring shmring_ring;
typedef struct shmring_origin {
    uint32_t pid;
    uint32_t holder;
    uint64_t start_time;
} shmring_origin;

const char *shmring_strerror(int code);
uint64_t shmring_spsc_max_message_size(uint64_t capacity);
int shmring_spsc_create(const char *name, uint64_t capacity);
int shmring_open(const char *name, int role, int kind, shmring_ring **out);
int shmring_export(shmring_ring *r, shmring_origin *origin);
int shmring_import(const char *name, int role, int kind, const shmring_origin *origin,
                   shmring_ring **out);
int shmring_adopt_after_fork(shmring_ring *r, const shmring_origin *origin);
int shmring_close(shmring_ring *r);
void shmring_free(shmring_ring *r);
int shmring_unlink(const char *name);

int shmring_spsc_send(shmring_ring *r, const char *data, size_t len, int64_t timeout_ns);
int64_t shmring_spsc_recv(shmring_ring *r, char *buf, size_t cap, int64_t timeout_ns);
int shmring_spsc_peek(shmring_ring *r, const void **data, size_t *len, int64_t timeout_ns);
int shmring_spsc_consume(shmring_ring *r);

uint64_t shmring_capacity(const shmring_ring *r);
uint64_t shmring_max_message_size(const shmring_ring *r);
void shmring_set_spin(shmring_ring *r, int64_t spin_ns);

int shmring_pingpong_ping(shmring_ring *tx, shmring_ring *rx, const char *msg, size_t len,
                          int64_t *samples_ns, size_t n);
int shmring_pingpong_echo(shmring_ring *rx, shmring_ring *tx, char *buf, size_t cap, size_t n);
int shmring_pingpong_send_n(shmring_ring *tx, const char *msg, size_t len, size_t n);
int64_t shmring_pingpong_recv_n(shmring_ring *rx, char *buf, size_t cap, size_t n);
"""


def _sources():
    names = sorted(f for f in os.listdir(CSRC) if f.endswith(".c"))
    return [os.path.join(CSRC, f) for f in names]


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "shmring._core",
    '#include "shmring.h"\n#include "pingpong.h"\n',
    sources=_sources(),
    include_dirs=[CSRC],
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra"],
    libraries=["rt"] if sys.platform.startswith("linux") else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
