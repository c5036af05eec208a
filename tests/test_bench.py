"""The bench machinery on a tiny plan: the JSON's shape, the table, the plot, a dying child.

A few hundred messages per step and one run: these tests check that the
figures are produced and reported, never what they are (performance is not
asserted in tests).
"""

import json
import os
import time

import pytest

pytest.importorskip("hdrh", reason="the bench needs hdrhistogram (the bench and test extras)")

from hdrh.histogram import HdrHistogram  # noqa: E402

from shmring.bench import head_to_head, plot, report, runner, scaling, suite  # noqa: E402
from shmring.bench.contenders import Contender  # noqa: E402
from shmring.bench.peers import mp_pipe  # noqa: E402
from shmring.bench.plan import Plan  # noqa: E402

ROWS = ["shm", "multiprocessing.Pipe"]  # a shmring transport and a peer's adapter (stdlib, always there)


@pytest.fixture(scope="module")
def results():
    return suite.run(Plan.tiny(), only=ROWS, with_scaling=False, bar=False)


def test_every_row_ran_once_with_every_step(results):
    assert results["errors"] == {}
    plan = results["plan"]
    for name in ("shm", "shm, parked (spin_us=0)", "multiprocessing.Pipe"):
        (run,) = results["runs"][name]
        metrics = run["metrics"]
        for size in plan["rtt_sizes"]:
            for figure in ("p50", "p90", "p99", "p99.9", "max"):
                assert metrics[f"rtt_{size}_{figure}_us"] > 0
            assert metrics[f"rtt_{size}_cpu_us"] >= 0
            hist = HdrHistogram.decode(run["histograms"][f"rtt_{size}"])
            assert hist.get_total_count() == metrics[f"rtt_{size}_count"]
        for size in plan["throughput_sizes"]:
            assert metrics[f"throughput_{size}_msg_s"] > 0
            assert metrics[f"throughput_{size}_bytes_s"] == pytest.approx(metrics[f"throughput_{size}_msg_s"] * size)
            assert metrics[f"throughput_{size}_cpu_us"] >= 0
    assert "batches_64_msg_s" in results["runs"]["shm"][0]["metrics"]
    assert "batches_64_msg_s" not in results["runs"]["multiprocessing.Pipe"][0]["metrics"]


def test_json_holds_the_machine_the_summary_and_round_trips(results):
    back = json.loads(json.dumps(results))
    machine = back["machine"]
    assert {"cpu", "cpus", "kernel", "python", "packages"} <= machine.keys()
    assert machine["packages"]["shmring"]
    assert back["contenders"]["multiprocessing.Pipe"]["group"] == "peer"
    p50 = back["summary"]["shm"]["rtt_64_p50_us"]
    assert p50["min"] <= p50["median"] <= p50["max"]
    assert isinstance(back["pinned"], bool) and back["pinning"]


def test_table_renders_every_row_and_size(results):
    text = report.table(results)
    for name in results["runs"]:
        assert name in text
    assert "Round trip, 64 B" in text and "One way, 4 KiB messages" in text
    assert "256 per send_many" in text


def test_shm_meets_the_fastest_peer_head_to_head_in_one_pair_of_processes(results):
    h2h = results["head_to_head"]
    assert h2h["contenders"] == ["shm", "multiprocessing.Pipe"]  # the only peer here, so the fastest
    rounds = results["plan"]["head_to_head_rounds"]
    for name in h2h["contenders"]:
        assert len(h2h["rtt_us"][name]) == rounds and min(h2h["rtt_us"][name]) > 0
        assert len(h2h["msg_s"][name]) == rounds and min(h2h["msg_s"][name]) > 0
    for what in ("rtt", "one_per_call"):
        low, high = h2h[what]["ratio_middle_half"]
        assert 0 < low <= high
    text = report.table(results)
    assert "shm against multiprocessing.Pipe, interleaved" in text and "one per call:" in text


def test_head_to_head_lines_keep_three_digits_of_a_ratio_far_below_one():
    far_apart = {"median": {"shm": 0.8, "Pipe": 380.0}, "ratio_median": 0.00211, "ratio_middle_half": [0.00208, 0.00217]}
    one = {"median": {"shm": 3e6, "Pipe": 5e3}, "ratio_median": 571.4, "ratio_middle_half": [539.0, 972.0]}
    h2h = {"contenders": ["shm", "Pipe"], "rtt": far_apart, "one_per_call": one, "size": 64,
           "rounds": 30, "rtt_block": 400, "msg_block": 10_000}
    text = "\n".join(report.head_to_head_lines(h2h))
    assert "0.00211x Pipe's (middle half of rounds 0.00208-0.00217)" in text
    assert "shm moves 571x Pipe's (middle half of rounds 539-972)" in text


def test_a_row_that_cannot_exist_on_this_os_is_skipped_with_its_reason():
    posix_only = Contender("posix only", mp_pipe.make_pair, not_here="POSIX only: no os.writev here")
    assert posix_only.unavailable() == "POSIX only: no os.writev here"


class SpoilsEveryTenth(mp_pipe.Sender):
    """A sender that changes the first byte of every tenth message it sends."""

    def __init__(self, conn):
        super().__init__(conn)
        self.sent = 0

        def send(data):
            self.sent += 1
            conn.send_bytes(data if self.sent % 10 else b"!" + bytes(data)[1:])

        self.send = send

    def __reduce__(self):
        return (SpoilsEveryTenth, (self._conn,))


def _spoiling_pair(max_size):
    tx, rx = mp_pipe.make_pair(max_size)
    return SpoilsEveryTenth(tx._conn), rx


def test_head_to_head_fails_loudly_when_a_message_arrives_changed():
    spoiling = Contender("spoils every tenth", _spoiling_pair)
    with pytest.raises(RuntimeError, match="intact"):
        head_to_head.run([spoiling, mp_pipe.PEER], rounds=1, warmup_rounds=0, size=64,
                         rtt_block=4, msg_block=100, child_cpu=1)


def test_plot_is_written(results, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    plot.save(results, results["summary"], str(path))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_step_over_a_rows_message_limit_is_skipped_with_its_reason():
    small = Contender("small", mp_pipe.make_pair, max_size=100, max_size_reason="over 100 B")
    steps, skipped = runner.steps_for(Plan.tiny(), small)
    assert [s.key for s in steps] == ["rtt_64", "throughput_64"]
    assert skipped == {"throughput_4096": "over 100 B"}


def test_mpmc_scaling_runs_every_queue_and_renders():
    out = scaling.run(runs=1, total=400)
    assert "shm mpmc" in out["results"]
    for cells in out["results"].values():
        assert all(len(rates) == 1 and rates[0] > 0 for rates in cells.values())
    out["medians"] = report.scaling_medians(out)
    assert "2x2 64 B" in report.scaling_table(out)


class DiesOnOpen:
    """An end whose child-side open() kills the child; the parent's copy polls for ever,
    as a polling peer's receiver would once its peer is gone."""

    def open(self, create):
        if not create:
            os._exit(3)

    def recv(self):
        while True:
            time.sleep(0.001)

    def send(self, data):
        pass

    def close(self):
        pass


def test_a_child_that_dies_fails_its_row_quickly_and_the_others_still_run():
    dying = Contender("dies", lambda max_size: (DiesOnOpen(), DiesOnOpen()))
    started = time.perf_counter()
    out = runner.run(Plan.tiny(), [dying, mp_pipe.PEER])
    assert time.perf_counter() - started < 30
    assert "exited (code 3)" in out["errors"]["dies"]
    assert out["runs"]["dies"] == []
    assert len(out["runs"]["multiprocessing.Pipe"]) == 1
