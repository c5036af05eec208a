"""Foreign segments (issue 13): a segment of a ring's name that another user
made, or that other users may use, or that is not a segment at all, is
refused with ForeignSegment, unless the opener says whom it trusts.

Another user's segment is made for real: a forked child becomes nobody
(uid/gid 65534) and creates a ring through shmring, which only root can do,
so those tests skip elsewhere (CI runs as root). Where only the mode varies,
a ring of ours is given another owner and mode with chown and chmod (root
again). Symbolic links and FIFOs in /dev/shm need no root. Windows: see
README (Platforms); the checks there are not exercised by this file.
"""

from __future__ import annotations

import os
import stat
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shmring
import shmring.transports.shm as shm
from shmring import cli
from shmring._core import ffi, lib
from tests import helpers as h

WINDOWS = sys.platform == "win32"
posix_only = pytest.mark.skipif(WINDOWS, reason="POSIX owners, groups and modes (Windows: the tests at the end)")
windows_only = pytest.mark.skipif(not WINDOWS, reason="Windows security descriptors")

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
LINUX = sys.platform.startswith("linux")
needs_root = pytest.mark.skipif(
    not ROOT, reason="needs root: only root can create a segment as another user (CI runs as root)")
needs_dev_shm = pytest.mark.skipif(not LINUX, reason="symbolic links and FIFOs in /dev/shm are Linux's")
NOBODY = h.NOBODY
CAPACITY = 4096
FORGED = b"forged by another user"


@pytest.fixture
def name():
    """A fresh ring name, removed after the test whatever it holds and whoever owns it."""
    name = h.unique_name()
    yield name
    h.remove_segment(name)


def create_ring(name: str, mode: int | None = None, **options) -> str:
    """Runs in the child (as nobody): a real ring holding FORGED, then chmod to `mode`."""
    with shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY, **options) as tx:
        tx.send(FORGED)
    if mode is not None:
        os.chmod(os.path.join(h.SHM_DIR, name), mode)
    return "made"


def create_as_nobody(name: str, mode: int | None = None) -> None:
    """Another user's ring, made by that user: a forked child become nobody."""
    got = h.as_user(NOBODY, NOBODY, create_ring, name, mode)
    assert got == repr("made"), f"the child could not make the ring: {got}"
    if LINUX:
        assert os.stat(os.path.join(h.SHM_DIR, name)).st_uid == NOBODY


def refused(name: str, **trust) -> shmring.ForeignSegment:
    with pytest.raises(shmring.ForeignSegment) as caught:
        shmring.open("shm://" + name, "r", **trust)
    return caught.value


def c_open(name: str, trust=ffi.NULL) -> int:
    """The C core's own answer, without the Python pre-check in open()."""
    out = ffi.new("shmring_ring **")
    rc = lib.shmring_open_trusting(name.encode(), lib.SHMRING_ROLE_RECEIVER, 0, trust, out)
    if rc == 0:
        lib.shmring_free(out[0])
    return rc


# ---- the error itself ------------------------------------------------------------------


def test_foreign_segment_is_a_channel_error_and_a_permission_error():
    assert issubclass(shmring.ForeignSegment, shmring.ChannelError)
    assert issubclass(shmring.ForeignSegment, PermissionError)
    assert "ForeignSegment" in shmring.__all__


# ---- another user's segment --------------------------------------------------------------


@posix_only
@needs_root
@pytest.mark.parametrize("mode", [0o600, 0o666])
def test_another_users_ring_is_refused_and_left_untouched(name, mode):
    create_as_nobody(name, mode)
    before = h.peek("shm://" + name, 0, f"<{h.HEADER_SIZE}s")
    e = refused(name)
    message = str(e)
    assert f"shm://{name}" in message
    assert "nobody (uid 65534)" in message and f"mode {mode:#o}" in message, message
    assert "not to you" in message
    assert "shmring.unlink" in message  # what to do
    if mode & 0o007:
        assert "every user" in message and "never opens that" in message
    else:
        assert "trust_owner='nobody'" in message
    # The C core refuses it by itself, and nothing was written to it.
    assert c_open(name) == lib.SHMRING_EFOREIGN
    assert h.peek("shm://" + name, 0, f"<{h.HEADER_SIZE}s") == before


@posix_only
@needs_root
@pytest.mark.parametrize("who", [NOBODY, "by name"])
def test_trust_owner_accepts_that_users_private_ring(name, who):
    if who == "by name":
        import pwd

        who = pwd.getpwuid(NOBODY).pw_name
    create_as_nobody(name)
    with shmring.open("shm://" + name, "r", trust_owner=who) as rx:
        assert rx.recv(timeout=5) == FORGED


@posix_only
@needs_root
def test_trust_owner_does_not_extend_to_the_group_or_to_everyone(name):
    create_as_nobody(name, 0o660)
    e = refused(name, trust_owner=NOBODY)
    assert "lets group" in str(e) and "trust_group=" in str(e)
    h.remove_segment(name)
    create_as_nobody(name, 0o606)
    assert "every user" in str(refused(name, trust_owner=NOBODY, trust_group=NOBODY))


@posix_only
@needs_root
def test_trust_group_accepts_a_group_shared_ring_whoever_in_it_made_it(name):
    create_as_nobody(name, 0o660)
    assert "trust_group=" in str(refused(name))
    with shmring.open("shm://" + name, "r", trust_group=NOBODY) as rx:
        assert rx.recv(timeout=5) == FORGED


@posix_only
@needs_root
def test_world_bits_are_refused_whatever_is_trusted(name):
    create_as_nobody(name, 0o666)
    for trust in ({"trust_group": NOBODY}, {"trust_owner": NOBODY}, {"trust_owner": NOBODY, "trust_group": NOBODY}):
        assert "every user" in str(refused(name, **trust))
    assert c_open(name, ffi.new("shmring_trust *", {"uid": NOBODY, "gid": NOBODY})) == lib.SHMRING_EFOREIGN


@posix_only
@needs_root
def test_a_ring_created_for_a_group_is_opened_by_another_user_of_it(name):
    # The whole opt-in, both sides: root creates for group nogroup, nobody joins it.
    with shmring.open("shm://" + name, "r", create=True, capacity=CAPACITY, permissions=0o660, group=NOBODY) as rx:
        st_ = os.stat(os.path.join(h.SHM_DIR, name)) if LINUX else None
        if st_ is not None:
            assert stat.S_IMODE(st_.st_mode) == 0o660 and st_.st_gid == NOBODY

        def send_as_member(trust):
            with shmring.open("shm://" + name, "w", **trust) as tx:
                tx.send(b"from a member of the group")
            return "sent"

        refused_there = h.as_user(NOBODY, NOBODY, send_as_member, {})
        assert refused_there.startswith("ForeignSegment: ") and "root (uid 0)" in refused_there
        assert h.as_user(NOBODY, NOBODY, send_as_member, {"trust_group": NOBODY}) == repr("sent")
        assert rx.recv(timeout=5) == b"from a member of the group"


@posix_only
@needs_root
def test_a_user_that_may_not_even_read_a_ring_gets_foreign_segment_too(name):
    # EACCES at shm_open: the ring is root's 0600 one, the opener is nobody.
    with shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY):
        got = h.as_user(NOBODY, NOBODY, lambda: shmring.open("shm://" + name, "r"))
    if LINUX:
        assert got.startswith("ForeignSegment: ") and "root (uid 0)" in got, got
    else:  # no path to look at the name by: the plain PermissionError
        assert got.startswith("PermissionError") or got.startswith("ForeignSegment"), got


@posix_only
@needs_root
def test_inspect_and_ls_report_a_foreign_ring_instead_of_refusing_it(name, capsys):
    create_as_nobody(name, 0o666)
    info = shm.inspect(name)
    assert info["owner"] == {"uid": NOBODY, "user": info["owner"]["user"], "gid": NOBODY,
                             "group": info["owner"]["group"], "permissions": "0o666"}
    assert "every user" in info["foreign"] and info["kind"] == "spsc"
    assert shm.inspect(name)["sender"]["state"] == "closed"  # read, never written
    if LINUX:
        assert cli.main(["ls"]) == 0
        line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith(name))
        assert "FOREIGN" in line and "0o666" in line
        # rm --stale leaves it: whether it is stale is for its owner's header to say.
        assert name not in [s["name"] for s in shm.list_segments() if s["stale"] and not s["foreign"]]


# ---- our own segment with group or other bits -------------------------------------------------


def own_ring(name: str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """A ring of ours (sender closed, one message), then given `mode` (and `owner`)."""
    create_ring(name, mode)
    if owner is not None:
        os.chown(os.path.join(h.SHM_DIR, name), *owner)


def accepted(uid: int, gid: int, mode: int, trust_uid: int, trust_gid: int) -> bool:
    """The rule, as README states it."""
    if mode & 0o007:
        return False
    group_access = bool(mode & 0o070)
    group_trusted = group_access and gid == trust_gid
    if group_access and not group_trusted:
        return False
    return uid == os.geteuid() or uid == trust_uid or group_trusted


@posix_only
@pytest.mark.skipif(not LINUX, reason="chmod of a segment by path needs /dev/shm")
@settings(max_examples=40, deadline=None)
@given(mode=st.integers(0, 0o777).map(lambda m: m | 0o600))
def test_our_own_ring_with_any_group_or_other_bits_is_refused_by_default(mode):
    name = h.unique_name()
    try:
        own_ring(name, mode)
        if mode & 0o077:
            e = refused(name)
            assert f"mode {mode:#o}" in str(e)
            assert ("lets group" in str(e)) == bool(mode & 0o070)
            assert ("every user" in str(e)) == bool(mode & 0o007)
            assert c_open(name) == lib.SHMRING_EFOREIGN
        else:
            with shmring.open("shm://" + name, "r") as rx:
                assert rx.recv(timeout=5) == FORGED
    finally:
        h.remove_segment(name)


@posix_only
@needs_root
@pytest.mark.skipif(not LINUX, reason="chown of a segment by path needs /dev/shm")
@settings(max_examples=60, deadline=None)
@given(
    owner=st.sampled_from([0, NOBODY]),
    group=st.sampled_from([0, NOBODY]),
    mode=st.integers(0, 0o777),
    trust_uid=st.sampled_from([None, 0, NOBODY]),
    trust_gid=st.sampled_from([None, 0, NOBODY]),
)
def test_who_is_trusted_decides_exactly_which_rings_open(owner, group, mode, trust_uid, trust_gid):
    name = h.unique_name()
    trust = {k: v for k, v in (("trust_owner", trust_uid), ("trust_group", trust_gid)) if v is not None}
    try:
        own_ring(name, mode, (owner, group))
        expected = accepted(owner, group, mode, -1 if trust_uid is None else trust_uid,
                            -1 if trust_gid is None else trust_gid)
        c_trust = ffi.new("shmring_trust *", {"uid": -1 if trust_uid is None else trust_uid,
                                              "gid": -1 if trust_gid is None else trust_gid})
        assert (c_open(name, c_trust) == 0) == expected  # the C core's own check...
        h.remove_segment(name)
        own_ring(name, mode, (owner, group))  # (that open closed the receiver end for good)
        if expected:  # ...and open()'s
            with shmring.open("shm://" + name, "r", **trust) as rx:
                assert rx.recv(timeout=5) == FORGED
        else:
            refused(name, **trust)
    finally:
        h.remove_segment(name)


# ---- not a segment at all -------------------------------------------------------------------


@posix_only
@needs_dev_shm
def test_a_symbolic_link_is_refused_even_to_a_ring_of_ours(name):
    target = h.unique_name()
    try:
        with shmring.open("shm://" + target, "w", create=True, capacity=CAPACITY) as tx:
            os.symlink(os.path.join(h.SHM_DIR, target), os.path.join(h.SHM_DIR, name))
            e = refused(name)
            assert "symbolic link" in str(e) and "never opens that" in str(e)
            assert c_open(name) == lib.SHMRING_EFOREIGN
            with pytest.raises(shmring.ForeignSegment):
                shm.inspect(name)
            tx.send(b"the target is untouched")  # its receiver was never opened
            assert shm.inspect(target)["receiver"]["state"] == "new"
    finally:
        h.remove_segment(target)


@posix_only
@needs_dev_shm
def test_a_fifo_is_refused_without_blocking_and_ls_skips_it(name, capsys):
    try:
        os.mkfifo(os.path.join(h.SHM_DIR, name), 0o600)
    except OSError as e:
        pytest.skip(f"cannot make a FIFO in {h.SHM_DIR}: {e}")
    for direction in ("r", "w"):
        with pytest.raises(shmring.ForeignSegment, match="FIFO"):
            shmring.open("shm://" + name, direction)
    assert c_open(name) == lib.SHMRING_EFOREIGN  # the C core: fstat of what it opened
    with pytest.raises(shmring.ForeignSegment, match="FIFO"):
        shm.inspect(name)  # opens read-only: without O_NONBLOCK this would wait for a writer
    assert cli.main(["ls"]) == 0
    assert name not in capsys.readouterr().out


@posix_only
@needs_root
@needs_dev_shm
def test_a_link_planted_by_another_user_is_refused(name):
    target = h.unique_name()
    try:
        with shmring.open("shm://" + target, "w", create=True, capacity=CAPACITY):
            link = os.path.join(h.SHM_DIR, name)
            got = h.as_user(NOBODY, NOBODY, os.symlink, os.path.join(h.SHM_DIR, target), link)
            assert got == "None" and os.lstat(link).st_uid == NOBODY
            e = refused(name)
            assert "symbolic link" in str(e) and "nobody" in str(e)
    finally:
        h.remove_segment(target)


# ---- the options themselves ---------------------------------------------------------------------


@posix_only
@settings(max_examples=100, deadline=None)
@given(mode=st.integers(0, 0o777).filter(lambda m: m & 0o007))
def test_permissions_with_other_bits_are_a_value_error_that_says_why(mode):
    with pytest.raises(ValueError, match="every user"):
        shmring.open("shm://" + h.unique_name(), "w", create=True, permissions=mode)


@posix_only
@settings(max_examples=50, deadline=None)
@given(mode=st.integers(0, 0o7777).filter(lambda m: not m & 0o007 and m & ~0o070 != 0o600))
def test_permissions_must_keep_the_owners_read_and_write_and_nothing_else(mode):
    with pytest.raises(ValueError, match="0o600"):
        shmring.open("shm://" + h.unique_name(), "w", create=True, permissions=mode)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o660, 0o620])
def test_permissions_are_set_exactly_whatever_the_umask(name, mode):
    old = os.umask(0o077)
    try:
        with shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY, permissions=mode):
            owner = shm._owner(name)
            assert stat.S_IMODE(owner.mode) == mode
            assert shm.inspect(name)["owner"]["permissions"] == f"{mode:#o}"
            assert (shm.inspect(name)["foreign"] is None) == (mode == 0o600)
    finally:
        os.umask(old)


@posix_only
@pytest.mark.parametrize("options, error", [
    ({"permissions": 0o660}, TypeError),  # create=False
    ({"group": 0}, TypeError),
    ({"trust_owner": True}, TypeError),
    ({"trust_group": 1.5}, TypeError),
    ({"trust_owner": -1}, ValueError),
    ({"trust_group": 2**32 - 1}, ValueError),
    ({"trust_owner": "no-such-user-shmring"}, ValueError),
    ({"trust_group": "no-such-group-shmring"}, ValueError),
])
def test_bad_sharing_options_say_what_to_pass(name, options, error):
    with pytest.raises(error):
        shmring.open("shm://" + name, "r", **options)


@posix_only
def test_a_creator_does_not_take_trust_options_and_pair_takes_none(name):
    with pytest.raises(TypeError, match="create=False"):
        shmring.open("shm://" + name, "w", create=True, trust_group=0)
    with pytest.raises(TypeError):
        shmring.pair("shm", trust_owner=0)
    with pytest.raises(TypeError):
        shmring.pair("shm", permissions=0o660)


@posix_only
def test_the_creator_of_a_group_shared_ring_opens_its_own_end(name):
    with shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY, permissions=0o660) as tx:
        with shmring.open("shm://" + name, "r", trust_group=os.getegid()) as rx:
            tx.send(b"shared")
            assert rx.recv(timeout=5) == b"shared"


@posix_only
@pytest.mark.skipif(ROOT, reason="root may give a segment any group")
def test_a_group_one_is_not_a_member_of_is_refused_at_create(name):
    strangers = [g for g in (NOBODY, 0) if g != os.getegid() and g not in os.getgroups()]
    if not strangers:
        pytest.skip("this user is in every group tried")
    with pytest.raises(ValueError, match="not a member"):
        shmring.open("shm://" + name, "w", create=True, permissions=0o660, group=strangers[0])


@posix_only
def test_the_c_api_refuses_bad_trust_and_perms(name):
    for uid, gid in ((-2, -1), (-1, 2**32 - 1), (2**32, -1)):
        assert c_open(name, ffi.new("shmring_trust *", {"uid": uid, "gid": gid})) == lib.SHMRING_EINVAL
    for mode in (0o666, 0o700, 0o644, 0o400):
        perms = ffi.new("shmring_perms *", {"mode": mode, "gid": -1})
        assert lib.shmring_spsc_create_with(name.encode(), CAPACITY, perms) == lib.SHMRING_EINVAL
    assert not h.segment_exists(name)
    assert ffi.string(lib.shmring_strerror(lib.SHMRING_EFOREIGN)).decode().startswith("the segment is another user's")


# ---- Windows: the section's and its semaphores' owner and DACL -----------------------------------
# Wine runs everything as one user: no object here can be another user's. What can
# be shown is a DACL that grants access to Everyone (S-1-1-0), on the section or on
# one of the ring's named semaphores, made by this user as a squatter would.

EVERYONE = "(A;;GA;;;WD)"


def ring_bytes() -> bytes:
    """The whole segment of a real ring (its receiver never opened): to forge copies of."""
    name = h.unique_name()
    with shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY) as tx:
        tx.send(FORGED)
        return h.section_access(name, 0, None, h.HEADER_SIZE + CAPACITY)


@windows_only
def test_windows_a_section_open_to_everyone_is_refused(name):
    from tests.platform_support import ForgedSection

    content = ring_bytes()
    forged = ForgedSection(name, content, extra_aces=EVERYONE)
    try:
        with pytest.raises(shmring.ForeignSegment, match="S-1-1-0") as caught:
            shmring.open("shm://" + name, "r")
        assert "not supported on Windows yet" in str(caught.value)
        assert c_open(name) == lib.SHMRING_EFOREIGN
        assert "S-1-1-0" in shm.inspect(name)["foreign"]  # described, not refused
    finally:
        forged.close()
    copy = h.unique_name()
    forged = ForgedSection(copy, content)  # the same bytes, this user's alone: a ring that opens
    try:
        with shmring.open("shm://" + copy, "r") as rx:
            assert rx.recv(timeout=5) == FORGED
    finally:
        forged.close()


@windows_only
def test_windows_a_squatted_semaphore_refuses_the_ring(name):
    from tests.platform_support import ForgedSemaphore

    squatter = ForgedSemaphore(name + ".data", extra_aces=EVERYONE)
    try:
        with pytest.raises(shmring.ForeignSegment, match="semaphores"):
            shmring.open("shm://" + name, "w", create=True, capacity=CAPACITY)
    finally:
        squatter.close()
    assert h.segment_gone("shm://" + name)  # create=True dropped the section it made


@windows_only
@pytest.mark.parametrize("options", [{"permissions": 0o660}, {"group": 0}])
def test_windows_sharing_at_create_is_not_supported_yet(name, options):
    with pytest.raises(ValueError, match="not supported on Windows yet"):
        shmring.open("shm://" + name, "w", create=True, **options)


@windows_only
@pytest.mark.parametrize("options", [{"trust_owner": 0}, {"trust_group": "Users"}])
def test_windows_trusting_others_is_not_supported_yet(name, options):
    with pytest.raises(ValueError, match="not supported on Windows yet"):
        shmring.open("shm://" + name, "r", **options)


def _receive_one(rx, results) -> None:
    with rx:
        results.put(rx.recv(timeout=10))


@posix_only
@needs_root
def test_an_endpoint_of_a_trusted_ring_pickles_with_its_trust(name):
    """A spawned child opens the ring again from the pickle: with the trust the parent's end was given."""
    import multiprocessing as mp

    create_as_nobody(name)
    rx = shmring.open("shm://" + name, "r", trust_owner=NOBODY)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_receive_one, args=(rx, results))
    child.start()
    rx.close()
    assert results.get(timeout=10) == FORGED  # without its trust the child could not open the ring
    child.join(10)
    assert child.exitcode == 0
