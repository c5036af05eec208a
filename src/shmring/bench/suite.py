"""One whole bench invocation: every contender's two-process steps, then the MPMC scaling
run, gathered into one results dict (what --json writes)."""

from __future__ import annotations

import sys
import time

from . import contenders, head_to_head, machine, report, runner, scaling
from .plan import Plan
from .progress import Progress


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def select(only=None) -> tuple[list, dict]:
    """The rows to run (those whose name contains one of ``only``, if given) and the skipped ones."""
    rows, skipped = contenders.everything()
    if only:
        rows = [r for r in rows if any(word.lower() in r.name.lower() for word in only)]
    return rows, skipped


def run(plan: Plan, *, only=None, with_scaling: bool = True, bar: bool = True) -> dict:
    rows, skipped = select(only)
    for name, reason in skipped.items():
        _say(f"skipped {name}: {reason}")
    if with_scaling:
        for name, reason in scaling.skipped().items():
            _say(f"skipped {name} in the MPMC scaling run: {reason}")
    total = runner.step_count(plan, rows) + (scaling.measurement_count(plan.scaling_runs) if with_scaling else 0)
    if _head_to_head_possible(rows):
        total += plan.head_to_head_rounds
    started, wall = time.time(), time.perf_counter()
    with Progress(total, bar=bar) as progress:
        results = runner.run(plan, rows, progress)
        results["contenders"] = {c.name: {"group": c.group, "package": c.package, "how": c.how} for c in rows}
        results["summary"] = report.summarize(results)  # medians of the runs, which nothing later changes
        _run_head_to_head(plan, rows, results, progress)
        if with_scaling:
            results["mpmc_scaling"] = scaling.run(plan.scaling_runs, plan.scaling_messages, progress)
            results["mpmc_scaling"]["medians"] = report.scaling_medians(results["mpmc_scaling"])
    results.update({
        "machine": machine.describe(c.package for c in contenders.SHMRING + _peers()),
        "skipped": skipped,
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": time.perf_counter() - wall,
    })
    return results


def _head_to_head_possible(rows: list) -> bool:
    return any(r.name == contenders.SHM for r in rows) and any(r.group == "peer" for r in rows)


def _run_head_to_head(plan: Plan, rows: list, results: dict, progress) -> None:
    """shm against the peer with the lowest 64 B round trip in the main run, interleaved."""
    if not _head_to_head_possible(rows):
        return
    by_name = {r.name: r for r in rows}
    fastest = report.fastest_peer(results, results["summary"])
    if contenders.SHM not in results["summary"] or fastest is None:  # shm or every peer failed
        progress.advance("head to head: skipped", plan.head_to_head_rounds)
        return
    shm, fastest = by_name[contenders.SHM], by_name[fastest]
    try:
        results["head_to_head"] = head_to_head.run(
            [shm, fastest], rounds=plan.head_to_head_rounds, warmup_rounds=plan.head_to_head_warmup_rounds,
            size=64, rtt_block=plan.head_to_head_rtt_block, msg_block=plan.head_to_head_msg_block,
            child_cpu=runner.CHILD_CPU, progress=progress)
    except Exception as e:  # like a failing row: the MPMC run and the tables still come
        results["errors"]["head to head"] = f"{type(e).__name__}: {e}"
        progress.note(f"head to head failed: {results['errors']['head to head']}")


def _peers() -> list:
    from . import peers

    return peers.load()
