"""Torture: senders and receivers SIGKILLed at random moments (issue 13).

Each test runs TRIALS trials (20; SHMRING_TORTURE_TRIALS=200 for a long
run). A trial makes a fresh ring, starts the children (fork where the OS
has it, spawn on Windows, where os.kill is TerminateProcess: as abrupt),
kills one of them at a moment drawn from a seeded random.Random, lets the
survivors finish and then checks every message. Messages carry sender id,
sequence number, a payload whose length and bytes follow from those, and a
blake2b digest (tests/torture_children.py), so a lost, duplicated,
reordered, damaged or invented message is told apart from a genuine one.

"Committed" for a sender: a message whose send() returned. Each sender
writes down how many of its sends returned, after each returns, in a
shared counter (R); the ring may hold one more, sent but not yet written
down, and nothing else: a killed sender's messages that arrive must be
exactly 0..R-1, or 0..R.

What is checked, per scenario:

- SPSC, sender killed (the parent receives): every message arrives intact,
  once, in order; they are exactly 0..R-1 or 0..R; recv() raises Closed
  within 1 s of the kill; the dead sender's end cannot be opened again
  (Closed: an end is closed for good); the segment is gone once the
  receiver closes.
- SPSC, receiver killed (the parent sends): send() raises Closed within
  1 s of the kill (a send that raised sent nothing); the receiver checked
  each message it got and wrote down how many (A); after the kill the
  segment, read as a crashed receiver left it, holds between tail and head
  exactly the committed messages it had not consumed, intact and in order:
  k..S-1, where S counts the parent's sends that returned and k (the
  number consumed) is A or A + 1 (the one it had taken but not yet written
  down). So nothing committed was lost or duplicated before the receiver
  died. No new receiver can attach afterwards (Closed), and the segment is
  gone once the sender closes.
- MPMC (3 senders x 3 receivers, claim_timeout 20 ms; up to 1500 messages
  a sender, and after the kill each survivor sends four laps of the ring
  more, then closes), one sender killed: the survivors finish within 1 s of
  the kill; every surviving sender's messages arrive exactly once; the dead
  sender's are exactly 0..R-1 or 0..R (in a third of the trials it sends
  with send_many() batches and writes R down per batch: then 0..R-1 up to
  0..R+batch-1); no message twice; each receiver sees each sender's
  messages in order; at most one slot of the dead sender is skipped
  (recovered_writes <= 1) and no read is taken back.
- MPMC, one receiver killed: the survivors finish within 1 s; over what the
  survivors received and what the dead receiver had written down, every
  message is there exactly once except at most one (the one the dead
  receiver held: claimed mid-copy, taken back after claim_timeout, counted
  in recovered_reads, or taken but not yet written down); per-sender order
  holds in every receiver; no write is taken back.

"Finish" is measured from the moment os.kill returned to the last
survivor's own end (its Closed, or its last send and close), on the same
monotonic clock. The figures (trials, losses, duplicates, order errors,
held messages lost, finish time median and max) are printed at the end of
each test (pytest -s or -rP shows them) and appended as a JSON line to the
file named by SHMRING_TORTURE_STATS if set.

The kill moments come from random.Random(f"{SEED}:{scenario}:{trial}");
SEED is SHMRING_TORTURE_SEED or a fresh one, printed with any failure, so
a failing run's trials can be drawn again (the kill lands at the same point
of the stream, though not at the same instruction).
"""

from __future__ import annotations

import itertools
import json
import mmap
import multiprocessing
import os
import random
import secrets
import statistics
import time
from multiprocessing.connection import wait as wait_for_connections

import pytest

import shmring
from tests import helpers as h
from tests import mpmc_children as mpmc_kids
from tests import torture_children as kids
from tests.platform_support import QUICK_START, SIGKILL, WINDOWS, start_method_params

TRIALS = int(os.environ.get("SHMRING_TORTURE_TRIALS", "20"))
SEED = int(os.environ.get("SHMRING_TORTURE_SEED") or secrets.randbits(32))
CTX = QUICK_START
FINISH_LIMIT = 1.0  # seconds from the kill to the survivors' end
HANG = 10.0  # seconds after which a survivor that has not finished is a hang
CLAIM_TIMEOUT = 0.02
MPMC_SENDERS = MPMC_RECEIVERS = 3
PER_SENDER = 1500  # at most: after the kill the survivors send a few laps more, then stop
AFTER_KILL = 4  # laps of the ring
MAX_PROBLEMS = 3  # trials that fail before a test stops trying more

# Per trial: a fork start, some thousands of messages, a kill, a dead peer
# noticed in 50-100 ms. Spawn (Windows) starts each child in ~0.1-0.5 s.
TIMEOUT = int(60 + TRIALS * (2 if CTX.get_start_method() == "fork" else 8))

pytestmark = [pytest.mark.torture, pytest.mark.timeout(TIMEOUT)]


# ---- bookkeeping -------------------------------------------------------------------


class Tally:
    """The figures of one scenario over its trials, and what went wrong."""

    def __init__(self, scenario: str):
        self.scenario = scenario
        self.trials = 0
        self.kills = 0
        self.missed = 0  # trials drawn again: the victim ended before its kill moment
        self.committed = 0  # committed messages checked
        self.lost = 0  # committed messages missing (must stay 0)
        self.duplicates = 0
        self.order_errors = 0
        self.unreported = 0  # trials where the one sent-but-not-written-down message arrived (allowed)
        self.held_lost = 0  # MPMC receiver killed: the one message it held was lost (allowed)
        self.held_recovered = 0  # ...of which the slot was taken back after claim_timeout (recovered_reads)
        self.recovered_writes = 0  # MPMC sender killed mid-write: its slot skipped
        self.unconsumed = 0  # SPSC receiver killed: committed messages found in the ring after its death
        self.finish: list[float] = []
        self.problems: list[str] = []

    def problem(self, trial: int, what: str) -> None:
        self.problems.append(f"trial {trial}: {what}")

    def figures(self) -> dict:
        finish = sorted(self.finish)
        return {
            "scenario": self.scenario,
            "start_method": CTX.get_start_method(),
            "seed": SEED,
            "trials": self.trials,
            "kills": self.kills,
            "redrawn": self.missed,
            "committed_checked": self.committed,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "order_errors": self.order_errors,
            "unreported_arrived": self.unreported,
            "held_lost": self.held_lost,
            "held_recovered_by_claim_timeout": self.held_recovered,
            "recovered_writes": self.recovered_writes,
            "unconsumed_in_ring": self.unconsumed,
            "finish_median_ms": round(statistics.median(finish) * 1e3, 1) if finish else None,
            "finish_max_ms": round(finish[-1] * 1e3, 1) if finish else None,
            "problems": len(self.problems),
        }

    def report(self) -> None:
        figures = self.figures()
        print(f"\ntorture {self.scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
        path = os.environ.get("SHMRING_TORTURE_STATS")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(figures) + "\n")


MISSED = "missed"  # what a trial returns when its victim finished before the kill moment
REDRAWS = 4


def run_trials(scenario: str, trial) -> Tally:
    tally = Tally(scenario)
    for n in range(TRIALS):
        rng = random.Random(f"{SEED}:{scenario}:{n}")
        tally.trials += 1
        before = len(tally.problems)
        for attempt in range(1, REDRAWS + 2):  # a trial whose victim ended before its kill moment is drawn again
            try:
                if trial(n, rng, tally) is not MISSED:
                    break
            except Exception as e:
                tally.problem(n, f"{type(e).__name__}: {e}")
                break
            tally.missed += 1
            rng = random.Random(f"{SEED}:{scenario}:{n}:{attempt}")
        else:
            tally.problem(n, f"the victim ended before its kill moment in {REDRAWS + 1} draws: no kill")
        if len(tally.problems) > before and len(tally.problems) >= MAX_PROBLEMS:
            break
    tally.report()
    assert not tally.problems, (
        f"{scenario}: {len(tally.problems)} failing trial(s) of {tally.trials} "
        f"(seed {SEED}: rerun with SHMRING_TORTURE_SEED={SEED}):\n  " + "\n  ".join(tally.problems)
    )
    return tally


class Children:
    """The children of one trial: whatever is still running at the end is killed."""

    def __init__(self):
        self.procs = []

    def start(self, target, *args):
        p = CTX.Process(target=target, args=args, daemon=True)
        p.start()
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.is_alive():
                os.kill(p.pid, SIGKILL)
        for p in self.procs:
            p.join(10)


def pipe():
    return CTX.Pipe(duplex=False)


def spin(seconds: float) -> None:
    """Busy-wait: moves the kill to a random point of what the victim is doing."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def kill(p) -> float:
    os.kill(p.pid, SIGKILL)
    killed_at = time.perf_counter()
    p.join(10)
    assert not p.is_alive(), f"pid {p.pid} still alive 10 s after SIGKILL"
    return killed_at


def started(conn) -> None:
    """Wait for a child to say it runs: from then on it holds its end itself.
    (Killed earlier, it would leave its copy counted under this process:
    test_a_child_killed_before_it_takes_over_its_end_lets_the_end_close.)"""
    assert conn.poll(HANG), f"the child did not start within {HANG} s"
    said = conn.recv()
    assert said == ("started",), f"the child said {said!r} instead of starting"


def child_said(conn) -> list:
    """Everything a child reported, without waiting."""
    said = []
    while True:
        try:  # Windows: poll() itself raises BrokenPipeError once the child is gone
            if not conn.poll(0):
                break
            said.append(conn.recv())
        except (EOFError, OSError):
            break
    return said


def child_errors(conn) -> list[str]:
    return [m[1] for m in child_said(conn) if m[0] == "error"]


def arrival_faults(seqs) -> tuple[int, int]:
    """(duplicates, order errors) in one sender's messages in the order one receiver got them."""
    duplicates = len(seqs) - len(set(seqs))
    order_errors = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    return duplicates, order_errors


def spsc_shape(rng: random.Random) -> tuple[int, int]:
    """A ring capacity and the largest payload for a trial: from tiny rings that
    wrap every few messages to messages larger than recv's 64 KiB scratch
    (copied straight out of the ring)."""
    capacity = rng.choice([1 << 10, 1 << 12, 1 << 16, 1 << 19])
    largest = min(capacity // 2 - 8 - kids.OVERHEAD, kids.MAX_PAYLOAD)
    return capacity, rng.choice([0, 16, largest // 8, largest])


def messages_before_kill(rng: random.Random, max_payload: int) -> int:
    """How far into the stream to kill: at once, within the first ring, or laps later."""
    budget = max(8, min(3000, (4 << 20) // (max_payload // 2 + kids.OVERHEAD)))
    return rng.choice([0, rng.randrange(1, 9), rng.randrange(budget + 1)])


def kill_delay(rng: random.Random) -> float:
    return rng.choice([0.0, rng.uniform(0, 50e-6), rng.uniform(0, 500e-6), rng.uniform(0, 5e-3)])


# ---- SPSC ----------------------------------------------------------------------------


def read_spsc_ring(address) -> tuple[list[bytes], int, int]:
    """The messages a ring holds between tail and head, read from the segment
    (docs/FORMAT.md) as a crashed receiver left it; and (tail, head)."""
    header = segment_bytes(address, 0, h.HEADER_SIZE)
    capacity = int.from_bytes(header[h.CAPACITY_OFFSET:h.CAPACITY_OFFSET + 8], "little")
    head = int.from_bytes(header[h.HEAD_OFFSET:h.HEAD_OFFSET + 8], "little")
    tail = int.from_bytes(header[h.TAIL_OFFSET:h.TAIL_OFFSET + 8], "little")
    assert tail <= head <= tail + capacity, f"tail {tail}, head {head}, capacity {capacity}"
    data = segment_bytes(address, h.HEADER_SIZE, capacity)
    found, pos = [], tail
    while pos < head:
        off = pos & (capacity - 1)
        length = int.from_bytes(data[off:off + 4], "little")
        kind = int.from_bytes(data[off + 4:off + 8], "little")
        if kind == h.RECORD_PADDING:
            assert off + 8 + length == capacity, f"padding at {off} of {length} bytes does not end the ring"
            pos += 8 + length
            continue
        assert kind == h.RECORD_MESSAGE, f"record type {kind:#x} at position {pos}"
        assert off + 8 + length <= capacity, f"record of {length} bytes at {off} straddles the end"
        found.append(bytes(data[off + 8:off + 8 + length]))
        pos += (8 + length + 7) & ~7
    assert pos == head, f"records end at {pos}, head is {head}"
    return found, tail, head


def segment_bytes(address, offset: int, size: int) -> bytes:
    """Bytes of a live segment, read without shmring: through a view of the
    section on Windows, else a read-only map of the POSIX object (shm_open:
    macOS shows segments in no directory)."""
    if not isinstance(address, str):  # a sealed pair() ring: its endpoint, whose descriptor /proc shows
        with open(h.segment_path(address), "rb") as f, mmap.mmap(f.fileno(), offset + size, mmap.MAP_SHARED,
                                                                 mmap.PROT_READ) as m:
            return m[offset:offset + size]
    name = address.removeprefix("shm://")
    if WINDOWS:
        from tests.platform_support import section_access

        return section_access(name, offset, None, size)
    import _posixshmem  # CPython's shm_open, on every POSIX build with shared memory

    fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600)
    try:
        with mmap.mmap(fd, offset + size, mmap.MAP_SHARED, mmap.PROT_READ) as m:
            return m[offset:offset + size]
    finally:
        os.close(fd)


def check_new_end_refused(address, direction: str) -> str | None:
    """None if opening that end of the ring now raises Closed (closed for good), else what happened."""
    if not isinstance(address, str):
        return None  # a sealed pair() ring has no name to open an end by
    try:
        end = shmring.open(address, direction)
    except shmring.Closed:
        return None
    except Exception as e:
        return f"opening a new {'receiver' if direction == 'r' else 'sender'}: {type(e).__name__}: {e} (expected Closed)"
    end.close()
    return f"a new {'receiver' if direction == 'r' else 'sender'} attached to a ring whose peer was killed"


def spsc_sender_killed(n: int, rng: random.Random, tally: Tally) -> None:
    capacity, max_payload = spsc_shape(rng)
    tx, rx = shmring.pair("shm", capacity=capacity, spin_us=rng.choice([0, 50]))
    address = h.ring_ref(rx)
    progress = CTX.RawValue("Q", 0)
    report, report_w = pipe()
    before_kill, delay = messages_before_kill(rng, max_payload), kill_delay(rng)
    seqs: list[int] = []
    with rx, Children() as children:
        child = children.start(kids.spsc_send_until_killed, tx, [rx], max_payload, progress, report_w)
        tx.close()
        report_w.close()
        started(report)
        for _ in range(before_kill):
            seqs.append(kids.check(rx.recv(timeout=HANG), max_payload)[1])
        spin(delay)
        killed_at = kill(child)
        tally.kills += 1
        try:
            while True:
                seqs.append(kids.check(rx.recv(timeout=HANG), max_payload)[1])
        except shmring.Closed:
            finish = time.perf_counter() - killed_at
        except shmring.Timeout:
            tally.problem(n, f"recv() neither got a message nor Closed within {HANG} s of the sender's kill")
            return
        try:
            rx.recv(timeout=0)
            tally.problem(n, "recv() after Closed returned a message")
        except shmring.Closed:
            pass  # and stays so
        refused = check_new_end_refused(address, "w")
    committed = progress.value  # the child is dead: final
    errors = child_errors(report)
    tally.finish.append(finish)
    tally.committed += committed
    duplicates, order_errors = arrival_faults(seqs)
    tally.duplicates += duplicates
    tally.order_errors += order_errors
    received = set(seqs)
    lost = sum(1 for s in range(committed) if s not in received)
    tally.lost += lost
    if len(seqs) == committed + 1 and seqs[-1] == committed:
        tally.unreported += 1
    where = f"(capacity {capacity}, payload <= {max_payload}, killed after {before_kill} received + {delay * 1e6:.0f} us)"
    if errors:
        tally.problem(n, f"the sender reported {errors} {where}")
    if seqs != list(range(len(seqs))) or len(seqs) not in (committed, committed + 1):
        tally.problem(n, f"received {len(seqs)} messages {summarise(seqs)}, {committed} committed: "
                         f"{lost} lost, {duplicates} duplicated, {order_errors} out of order {where}")
    if finish >= FINISH_LIMIT:
        tally.problem(n, f"Closed came {finish:.3f} s after the kill {where}")
    if refused:
        tally.problem(n, refused)
    if isinstance(address, str) and not h.segment_gone(address):  # sealed rings: test_shm_api
        tally.problem(n, f"{address} still exists after the receiver closed")


def spsc_receiver_killed(n: int, rng: random.Random, tally: Tally) -> None:
    capacity, max_payload = spsc_shape(rng)
    tx, rx = shmring.pair("shm", capacity=capacity, spin_us=rng.choice([0, 50]))
    address = h.ring_ref(tx)
    acked = CTX.RawValue("Q", 0)
    report, report_w = pipe()
    before_kill, delay = messages_before_kill(rng, max_payload), kill_delay(rng)
    sent = 0
    where = f"(capacity {capacity}, payload <= {max_payload}, killed after {before_kill} sent + {delay * 1e6:.0f} us)"
    with tx, Children() as children:
        child = children.start(kids.spsc_receive_until_killed, rx, [tx], max_payload, acked, report_w)
        rx.close()
        report_w.close()
        started(report)
        for _ in range(before_kill):
            tx.send(kids.message(0, sent, max_payload), timeout=HANG)
            sent += 1
        spin(delay)
        killed_at = kill(child)
        tally.kills += 1
        try:
            while True:
                tx.send(kids.message(0, sent, max_payload), timeout=HANG)
                sent += 1
        except shmring.Closed as e:
            finish = time.perf_counter() - killed_at
            if getattr(e, "sent", 0):
                tally.problem(n, f"send() raised Closed yet says it sent the message {where}")
                sent += 1
        except shmring.Timeout:
            tally.problem(n, f"send() was still blocked {HANG} s after the receiver's kill {where}")
            return
        try:
            tx.send(b"", timeout=0)
            tally.problem(n, "send() after Closed went through")
        except shmring.Closed:
            pass  # and stays so
        left, tail, head = read_spsc_ring(address)
        refused = check_new_end_refused(address, "r")
    consumed_acked = acked.value
    errors = child_errors(report)
    tally.finish.append(finish)
    tally.committed += sent
    left_seqs = [kids.check(m, max_payload) for m in left]
    consumed = sent - len(left)
    tally.unconsumed += len(left)
    if consumed == consumed_acked + 1:
        tally.unreported += 1
    if errors:
        tally.problem(n, f"the receiver reported {errors} {where}")
    if left_seqs != [(0, s) for s in range(consumed, sent)]:
        tally.problem(n, f"after {sent} sends the ring holds {summarise([s for _, s in left_seqs])}, "
                         f"expected messages {consumed}..{sent - 1} {where}")
    elif consumed > consumed_acked + 1:
        tally.lost += consumed - consumed_acked - 1
        tally.problem(n, f"the receiver consumed {consumed} messages but got only {consumed_acked} "
                         f"(tail {tail}, head {head}): {consumed - consumed_acked - 1} lost {where}")
    elif consumed < consumed_acked:
        tally.duplicates += consumed_acked - consumed
        tally.problem(n, f"the receiver got {consumed_acked} messages but the ring holds {len(left)} "
                         f"of {sent} from message {consumed} (duplicates) {where}")
    if finish >= FINISH_LIMIT:
        tally.problem(n, f"send() raised Closed {finish:.3f} s after the kill {where}")
    if refused:
        tally.problem(n, refused)
    if isinstance(address, str) and not h.segment_gone(address):  # sealed rings: test_shm_api
        tally.problem(n, f"{address} still exists after the sender closed")


def summarise(seqs) -> str:
    if len(seqs) <= 12:
        return repr(list(seqs))
    return f"[{', '.join(map(str, seqs[:6]))}, ..., {', '.join(map(str, seqs[-6:]))}]"


@pytest.mark.timeout(TIMEOUT)
def test_spsc_sender_killed_at_random_moments_loses_nothing_it_committed():
    run_trials("spsc-sender-killed", spsc_sender_killed)


@pytest.mark.timeout(TIMEOUT)
def test_spsc_receiver_killed_at_random_moments_leaves_every_unconsumed_message_in_the_ring():
    run_trials("spsc-receiver-killed", spsc_receiver_killed)


# ---- MPMC ----------------------------------------------------------------------------


def mpmc_trial(n: int, rng: random.Random, tally: Tally, victim_role: str) -> None:
    slots = rng.choice([2, 4, 16, 64])
    slot_size = rng.choice([kids.OVERHEAD, 64, 256])
    max_payload = slot_size - kids.OVERHEAD
    tx, rx = shmring.pair("shm", mode="mpmc", slots=slots, slot_size=slot_size,
                          claim_timeout=CLAIM_TIMEOUT, spin_us=rng.choice([0, 20]))
    address = h.ring_ref(rx)
    victim = rng.randrange(MPMC_SENDERS if victim_role == "sender" else MPMC_RECEIVERS)
    # A receiver's share is PER_SENDER on average: its milestone stays well below.
    milestone = rng.randrange(1, PER_SENDER * 9 // 10 if victim_role == "sender" else PER_SENDER // 4)
    delay = kill_delay(rng)
    # The victim sender sends one by one (the brief's "committed": one more may be
    # in the ring) or, in a third of the trials, in send_many() batches.
    batch = rng.choice([0, 0, rng.randrange(2, 33)]) if victim_role == "sender" else 0
    where = (f"({victim_role} {victim} killed after {milestone} messages + {delay * 1e6:.0f} us; "
             f"{slots} slots of {slot_size} bytes{f'; batches of {batch}' if batch else ''})")
    total = MPMC_SENDERS * PER_SENDER
    progress = [CTX.RawValue("Q", 0) for _ in range(MPMC_SENDERS)]
    limits = [CTX.RawValue("Q", PER_SENDER) for _ in range(MPMC_SENDERS)]
    seen = [CTX.RawArray("Q", total) for _ in range(MPMC_RECEIVERS)]
    counts = [CTX.RawValue("Q", 0) for _ in range(MPMC_RECEIVERS)]
    # Only the victim's milestone matters; the others' is past anything they reach.
    never = total + 1
    with rx, Children() as children:
        receivers, senders = [], []
        for r in range(MPMC_RECEIVERS):
            conn, conn_w = pipe()
            mark = milestone if victim_role == "receiver" and r == victim else never
            children.start(kids.mpmc_receive, rx, [tx], MPMC_SENDERS, max_payload, seen[r], counts[r], mark,
                           kids.Milestone(conn_w), conn_w)
            conn_w.close()
            receivers.append(conn)
        for conn in receivers:
            started(conn)  # all in place before any message, so each takes a share (spawn starts slowly)
        for s in range(MPMC_SENDERS):
            conn, conn_w = pipe()
            mark = milestone if victim_role == "sender" and s == victim else never
            children.start(kids.mpmc_send, tx, [rx], s, PER_SENDER, max_payload, progress[s], limits[s], mark,
                           kids.Milestone(conn_w), conn_w, mark != never, batch if mark != never else 0)
            conn_w.close()
            senders.append(conn)
        tx.close()  # the children hold their copies; rx stays open here to read the stats at the end
        procs = children.procs[:MPMC_RECEIVERS], children.procs[MPMC_RECEIVERS:]
        victim_proc = (procs[1] if victim_role == "sender" else procs[0])[victim]
        victim_conn = (senders if victim_role == "sender" else receivers)[victim]
        survivors = [c for c in receivers + senders if c is not victim_conn]
        if not victim_conn.poll(HANG * 3):
            tally.problem(n, f"the victim never reached its milestone {where}")
            return
        said = victim_conn.recv()
        if said[0] == "done" and victim_role == "receiver":
            return MISSED  # the others took the messages it was to reach its milestone with
        if said[0] != "milestone":
            tally.problem(n, f"the victim said {said!r} before its milestone {where}")
            return
        spin(delay)
        killed_at = kill(victim_proc)
        tally.kills += 1
        # The survivors send AFTER_KILL more each (laps of the ring: a slot the
        # dead receiver held is needed again, and taken back), then close: what
        # they do after the kill is recovery, not a backlog of traffic.
        for p, limit in zip(progress, limits):
            limit.value = min(PER_SENDER, p.value + AFTER_KILL * slots + 50)
        ends, faults = [], []
        waiting = list(survivors)
        deadline = killed_at + HANG
        while waiting and time.perf_counter() < deadline:
            for conn in wait_for_connections(waiting, timeout=max(0, deadline - time.perf_counter())):
                waiting.remove(conn)
                try:
                    said = conn.recv()
                except EOFError:
                    faults.append("a survivor exited without reporting")
                    continue
                if said[0] == "done":
                    ends.append(said[1])
                else:
                    faults.append(said[1])
        if waiting:
            tally.problem(n, f"{len(waiting)} survivor(s) still running {HANG} s after the kill {where}")
            return
        if faults:
            tally.problem(n, f"survivors reported {faults} {where}")
            return
        stats = rx.stats()
        for p in children.procs:
            p.join(10)
    finish = max(ends) - killed_at
    tally.finish.append(finish)
    if finish >= FINISH_LIMIT:
        tally.problem(n, f"the survivors finished {finish:.3f} s after the kill {where}")
    if isinstance(address, str) and not h.segment_gone(address):  # sealed rings: test_shm_api
        tally.problem(n, f"{address} still exists after every end closed")

    records = [[(v >> 32, v & 0xFFFFFFFF) for v in seen[r][:counts[r].value]] for r in range(MPMC_RECEIVERS)]
    got: dict[int, list[int]] = {s: [] for s in range(MPMC_SENDERS)}
    for r, record in enumerate(records):
        for s in range(MPMC_SENDERS):
            in_order = [seq for sender, seq in record if sender == s]
            _, order_errors = arrival_faults(in_order)
            tally.order_errors += order_errors
            if order_errors:
                tally.problem(n, f"receiver {r} got sender {s}'s messages out of order {where}")
            got[s] += in_order
    for s, seqs in got.items():
        duplicates = len(seqs) - len(set(seqs))
        tally.duplicates += duplicates
        if duplicates:
            tally.problem(n, f"sender {s}: {duplicates} message(s) received twice {where}")
    sent = [p.value for p in progress]  # every sender has ended: final
    if victim_role == "sender":
        committed = sent[victim]
        tally.committed += sum(sent)
        tally.recovered_writes += stats["recovered_writes"]
        in_flight = batch or 1  # sent, perhaps, but not yet written down
        for s, seqs in got.items():
            expected = sent[s]
            distinct = set(seqs)
            lost = sum(1 for seq in range(expected) if seq not in distinct)
            tally.lost += lost
            most = expected if s != victim else min(committed + in_flight, PER_SENDER)
            if sorted(distinct) != list(range(len(distinct))) or not expected <= len(distinct) <= most:
                tally.problem(n, f"sender {s} ({'killed, ' if s == victim else ''}{expected} committed): "
                                 f"received {len(distinct)} distinct {summarise(sorted(distinct))}, "
                                 f"{lost} committed lost {where}")
        tally.unreported += len(set(got[victim])) > committed
        if stats["recovered_writes"] > 1:
            tally.problem(n, f"stats {stats}: more claims taken back than the dead sender could hold {where}")
        if stats["recovered_reads"]:
            tally.problem(n, f"stats {stats}: a read was taken back, but no receiver died {where}")
    else:
        tally.committed += sum(sent)
        distinct = {(s, seq) for s, seqs in got.items() for seq in seqs}
        if any(seq >= sent[s] for s, seq in distinct):
            tally.problem(n, f"messages past what the senders sent ({sent}) arrived {where}")
        missing = sorted({(s, seq) for s in range(MPMC_SENDERS) for seq in range(sent[s])} - distinct)
        if len(missing) > 1 or stats["recovered_reads"] > len(missing):
            tally.lost += len(missing)
            tally.problem(n, f"{len(missing)} message(s) lost {missing[:5]}, stats {stats}: "
                             f"a dead receiver may cost only the one it held {where}")
        elif missing:
            tally.held_lost += 1
            tally.held_recovered += stats["recovered_reads"]
        if stats["recovered_writes"]:
            tally.problem(n, f"stats {stats}: a write was taken back, but no sender died {where}")


@pytest.mark.timeout(TIMEOUT)
def test_mpmc_sender_killed_at_random_moments_loses_at_most_its_unpublished_message():
    run_trials("mpmc-sender-killed", lambda n, rng, tally: mpmc_trial(n, rng, tally, "sender"))


@pytest.mark.timeout(TIMEOUT)
def test_mpmc_receiver_killed_at_random_moments_loses_at_most_the_message_it_held():
    run_trials("mpmc-receiver-killed", lambda n, rng, tally: mpmc_trial(n, rng, tally, "receiver"))


# ---- found by these tests ----------------------------------------------------------

# An endpoint copy handed to a child (fork, or pickled for spawn) is counted
# "in transit" from the moment it is exported until the child takes it over
# (ends.c). It used to be counted under the parent: a child SIGKILLed before
# taking it over (fork: before its at-fork hook ran; spawn: before it
# unpickled its arguments) left the end open for as long as the parent lived,
# once the parent had closed its own copy. Now the parent hands the copy in
# transit to the child as soon as it knows the child's pid (fork: at once;
# spawn and forkserver: at its next pickle of the end or its close), so the
# child's death closes the end.


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", start_method_params())
@pytest.mark.parametrize("killed", ["sender", "receiver"])
def test_a_child_killed_before_it_takes_over_its_end_lets_the_end_close(method, killed):
    ctx = multiprocessing.get_context(method)
    tx, rx = shmring.pair("shm", capacity=4096)
    address = h.ring_ref(tx)
    theirs, mine = (tx, rx) if killed == "sender" else (rx, tx)
    try:
        child = ctx.Process(target=kids.hold_until_killed, args=(theirs,), daemon=True)
        child.start()
        os.kill(child.pid, SIGKILL)  # at once: before it has taken over its copy
        child.join(10)
        theirs.close()
        began = time.perf_counter()
        with pytest.raises(shmring.Closed):
            if killed == "sender":
                rx.recv(timeout=1.5)
            else:
                h.fill(tx)  # Closed at the first send, or once the ring is full
                tx.send(b"x" * 100, timeout=1.5)
        assert time.perf_counter() - began < FINISH_LIMIT
        mine.close()
        if isinstance(address, str):  # a sealed pair() ring has no name (test_shm_api checks its memory)
            assert h.segment_gone(address), "both ends closed (one by death), yet the segment is still there"
    finally:
        mine.close()
        if isinstance(address, str):
            shmring.unlink(address)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", start_method_params())
def test_a_copy_in_transit_is_never_mistaken_for_another(method):
    """Holder entries are reused: the first child's copy in transit, taken
    over, frees its entry, which the second export takes. Handing the first
    copy to its child at close must leave the second one alone."""
    ctx = multiprocessing.get_context(method)
    tx, rx = shmring.pair("shm", mode="mpmc", slots=8, slot_size=128)
    with tx:
        ready = ctx.Event()
        first = ctx.Process(target=mpmc_kids.hold_then_die, args=(rx, ready), daemon=True)
        first.start()
        assert ready.wait(30)  # it took its copy over: the entry in transit is free again
        second = ctx.Process(target=kids.hold_until_killed, args=(rx,), daemon=True)
        second.start()
        os.kill(second.pid, SIGKILL)  # before it takes over its copy
        second.join(10)
        rx.close()  # hands both copies in transit to their children: only the second's is still there
        tx.send(b"the first child still holds the receiving end", timeout=5)
        os.kill(first.pid, SIGKILL)
        first.join(10)
        began = time.perf_counter()
        with pytest.raises(shmring.Closed):
            h.fill(tx)
            tx.send(b"x", timeout=1.5)
        assert time.perf_counter() - began < FINISH_LIMIT
