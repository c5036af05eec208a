"""Run every contender through the same steps, several times, in one run.

Two real processes: this one (pinned to CPU 0) and a spawned child (pinned
to CPU 1) where the OS allows pinning. Each contender gets, for each
repetition, two fresh channels (one each way) and a fresh child. Contenders
take turns within each repetition, starting one further along each time,
so slow drifts of a shared machine touch them all alike.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from contextlib import contextmanager

from . import stats, workloads
from .guard import child_guard
from .plan import Plan
from .workloads import END, READY, Step

CHILD_CPU = 1


def steps_for(plan: Plan, contender, has_recv_into: bool = True) -> tuple[list[Step], dict]:
    """The steps a contender runs, and {step key: why not} for those it cannot."""
    steps, skipped = [], {}
    if contender.in_c:
        steps += [Step("rtt_c", size, count=min(plan.rtt_max_samples, 20_000), warmup_count=2_000)
                  for size in plan.rtt_sizes]
        steps += [Step("throughput_c", size, count=plan.c_count(size), warmup_count=plan.c_count(size) // 4)
                  for size in plan.throughput_sizes]
    else:
        timing = {"seconds": plan.step_seconds, "warmup_seconds": plan.warmup_seconds}
        steps += [Step("rtt", size, max_samples=plan.rtt_max_samples, **timing) for size in plan.rtt_sizes]
        steps += [Step("throughput", size, into=has_recv_into and size >= plan.into_from, **timing)
                  for size in plan.throughput_sizes]
        if contender.batches:
            steps.append(Step("batches", plan.batch_size, **timing))
    kept = []
    for step in steps:
        reason = contender.too_large(step.size)
        if reason:
            skipped[step.key] = reason
        else:
            kept.append(step)
    return kept, skipped


def figures(step: Step, result: dict) -> tuple[dict, str | None]:
    """The step's named figures, and its latency histogram (encoded) for RTT steps."""
    key, count = step.key, result["count"]
    cpu = result["cpu_parent_s"] + result["cpu_child_s"]
    out = {f"{key}_count": count, f"{key}_seconds": result["seconds"],
           f"{key}_cpu_parent_s": result["cpu_parent_s"], f"{key}_cpu_child_s": result["cpu_child_s"],
           f"{key}_cpu_us": cpu / count * 1e6}  # per message, or per round trip
    if "samples" not in result:
        out[f"{key}_msg_s"] = count / result["seconds"]
        out[f"{key}_bytes_s"] = count * step.size / result["seconds"]
        if step.kind == "throughput":
            out[f"{key}_recv_into"] = step.into
        return out, None
    hist = stats.histogram(result["samples"])
    out.update(stats.latency_metrics(hist, key))
    return out, stats.encode(hist)


def _limit_seconds(plan: Plan, steps) -> float:
    """Generous: a deep queue can take a while to drain after a step's sending time is up."""
    return 60 + 10 * len(steps) * (plan.step_seconds + plan.warmup_seconds)


def measure(contender, plan: Plan, on_step=lambda label: None) -> dict:
    """One repetition of every step for one contender."""
    ends = []  # closed at the end whatever happens (closing is idempotent)
    child = None
    try:
        (down_tx, up_rx), (down_rx, up_tx) = open_channels(contender, plan.max_size, ends)
        steps, skipped = steps_for(plan, contender, hasattr(up_rx, "recv_into"))
        for key in skipped:
            on_step(f"{key} skipped")
        child = multiprocessing.get_context("spawn").Process(
            target=workloads.child_main, args=(down_rx, up_tx, steps, CHILD_CPU), daemon=True)
        child.start()
        down_rx.close()  # the child holds its own copies
        up_tx.close()
        with child_guard(child, _limit_seconds(plan, steps), contender.name):
            expect_hello(up_rx, contender.name)
            metrics, histograms = _run_steps(steps, down_tx, up_rx, on_step)
        down_tx.send(END)  # goodbye (outside the guard: the child exits after it); it may close its ends now
    finally:
        close_and_reap(ends, child)
    return {"metrics": metrics, "histograms": histograms, "skipped_steps": skipped}


def open_channels(contender, max_size: int, ends: list) -> tuple[tuple, tuple]:
    """Two fresh channels of a contender, down (parent -> child) and up, added to
    ``ends`` as they are made; the parent's ends are opened first, and the child's
    join them. Returns the parent's (down sender, up receiver) and the child's
    (down receiver, up sender)."""
    down_tx, down_rx = contender.make_pair(max_size)
    ends += [down_tx, down_rx]
    up_tx, up_rx = contender.make_pair(max_size)
    ends += [up_tx, up_rx]
    workloads.open_end(down_tx, create=True)
    workloads.open_end(up_rx, create=True)
    return (down_tx, up_rx), (down_rx, up_tx)


def expect_hello(up_rx, what: str) -> None:
    """The child's first message says its ends are open."""
    if up_rx.recv() != READY:
        raise RuntimeError(f"{what}: the child's first message was not {READY!r}")


def close_and_reap(ends: list, child) -> None:
    """Close every end (closing is idempotent), then wait for the child: 10 s, then kill it."""
    for end in ends:
        end.close()
    if child is not None:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()


def _run_steps(steps, down_tx, up_rx, on_step) -> tuple[dict, dict]:
    """The parent's side of every step, after the child's hello."""
    metrics, histograms = {}, {}
    for step in steps:
        result = workloads.PARENT_STEPS[step.kind](down_tx, up_rx, step)
        step_figures, hist = figures(step, result)
        metrics.update(step_figures)
        if hist:
            histograms[step.key] = hist
        on_step(step.key)
    return metrics, histograms


def _turn(contenders: list, repetition: int) -> list:
    shift = repetition % len(contenders) if contenders else 0
    return contenders[shift:] + contenders[:shift]


def pinning() -> str | None:
    """Pin this process to CPU 0; None, or why it could not."""
    if not hasattr(os, "sched_setaffinity"):
        return f"{sys.platform} has no sched_setaffinity"
    if (os.cpu_count() or 1) < 2:
        return "only one CPU"
    return None if workloads.pin_to_cpu(0) else "sched_setaffinity was refused"


@contextmanager
def pinned_to_cpu0():
    """This process on CPU 0 inside the block (yields None, or why not), then on
    the CPUs it had, so that the MPMC run and the caller get every CPU back."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        yield pinning()
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def run(plan: Plan, contenders: list, progress=None) -> dict:
    """Every contender, plan.runs times: the raw figures of every run, and what failed."""
    runs = {c.name: [] for c in contenders}
    errors = {}
    started = time.perf_counter()
    with pinned_to_cpu0() as not_pinned:
        for repetition in range(plan.runs):
            for contender in _turn(contenders, repetition):
                label = f"run {repetition + 1}/{plan.runs} {contender.name}"
                units = sum(map(len, steps_for(plan, contender)))
                if contender.name in errors:  # failed once: its later runs would fail too
                    _advance(progress, f"{label}: failed before", units)
                    continue
                done = []

                def on_step(step, label=label, done=done):
                    done.append(step)
                    _advance(progress, f"{label}: {step}")

                try:
                    runs[contender.name].append(measure(contender, plan, on_step))
                except Exception as e:  # one failing contender must not cost the others' figures
                    errors[contender.name] = f"{type(e).__name__}: {e}"
                    _advance(progress, f"{label}: failed", units - len(done))
                    if progress:
                        progress.note(f"{contender.name} failed: {errors[contender.name]}")
    return {
        "pinned": not_pinned is None,
        "pinning": f"parent on CPU 0, child on CPU {CHILD_CPU}" if not_pinned is None else f"not pinned: {not_pinned}",
        "plan": plan.as_dict(),
        "runs": runs,
        "errors": errors,
        "two_process_seconds": time.perf_counter() - started,
    }


def _advance(progress, description: str, units: int = 1) -> None:
    if progress and units > 0:
        progress.advance(description, units)


def step_count(plan: Plan, contenders: list) -> int:
    """Progress units for the whole two-process part."""
    return plan.runs * sum(sum(map(len, steps_for(plan, c))) for c in contenders)
