"""One whole bench invocation: every contender's two-process steps, then the MPMC scaling
run, gathered into one results dict (what --json writes)."""

from __future__ import annotations

import sys
import time

from . import contenders, machine, report, runner, scaling
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
    started, wall = time.time(), time.perf_counter()
    with Progress(total, bar=bar) as progress:
        results = runner.run(plan, rows, progress)
        if with_scaling:
            results["mpmc_scaling"] = scaling.run(plan.scaling_runs, plan.scaling_messages, progress)
            results["mpmc_scaling"]["medians"] = report.scaling_medians(results["mpmc_scaling"])
    results.update({
        "machine": machine.describe(c.package for c in contenders.SHMRING + _peers()),
        "contenders": {c.name: {"group": c.group, "package": c.package, "how": c.how} for c in rows},
        "skipped": skipped,
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": time.perf_counter() - wall,
    })
    results["summary"] = report.summarize(results)
    return results


def _peers() -> list:
    from . import peers

    return peers.load()
