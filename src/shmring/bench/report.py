"""Turn raw runs into medians, a table and the ratios worth quoting."""

from __future__ import annotations

import statistics

from .runner import C_FLOOR, PIPES, RTT_SIZES, THROUGHPUT_SIZES
from .scaling import CONFIGS, SIZES


def medians(results: dict) -> dict:
    """{transport: {metric: median over runs}}."""
    out = {}
    for name, runs in results["runs"].items():
        metrics = runs[0].keys() if runs else ()
        out[name] = {m: statistics.median(r[m] for r in runs) for m in metrics}
    return out


BATCH_COLUMN = "64 B, 256 per call"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} B"


def _rate(size: int, m: dict) -> str:
    if size >= 1 << 20:
        return f"{m[f'throughput_{size}_bytes_s'] / 1e9:6.2f} GB/s"
    if size >= 1 << 10:
        return f"{m[f'throughput_{size}_msg_s'] / 1e6:5.2f} M/s {m[f'throughput_{size}_bytes_s'] / 1e9:5.2f} GB/s"
    return f"{m[f'throughput_{size}_msg_s'] / 1e6:6.2f} M msg/s"


def table(results: dict) -> str:
    med = medians(results)
    mach = results["machine"]
    runs = results["plan"]["runs"]
    lines = [
        f"shmring bench: {mach['cpu']}, {mach['cpus']} CPUs, {mach['os']}, {mach['python']}",
        f"median of {runs} runs; two processes"
        + (", pinned to CPUs 0 and 1" if results["pinned"] else ", not pinned (the OS does not allow it)"),
        "",
    ]
    head = f"{'transport':32}"
    for size in RTT_SIZES:
        head += f" | RTT {_size(size):>6} p50/p99/p99.9 us"
    for size in THROUGHPUT_SIZES:
        head += f" | {_size(size) + ' one-way':>22}"
    head += f" | {BATCH_COLUMN:>18}"
    lines += [head, "-" * len(head)]
    for name, m in med.items():
        row = f"{name:32}"
        for size in RTT_SIZES:
            row += " | {:>9.2f} {:>7.2f} {:>7.2f}    ".format(
                m[f"rtt_{size}_p50_us"], m[f"rtt_{size}_p99_us"], m[f"rtt_{size}_p99.9_us"])
        for size in THROUGHPUT_SIZES:
            row += f" | {_rate(size, m):>22}"
        batch = m.get("batches_64_msg_s")
        row += f" | {'-' if batch is None else f'{batch / 1e6:6.2f} M msg/s':>18}"
        lines.append(row)
    lines += ["", *ratios(med)]
    return "\n".join(lines)


def ratios(med: dict) -> list[str]:
    """The comparisons the project's targets are stated in."""
    out = []
    shm, floor = med.get("shm"), med.get(C_FLOOR)
    pipes = [med[p] for p in PIPES if p in med]
    if shm and pipes:
        pipe_rtt = min(p["rtt_64_p50_us"] for p in pipes)
        out.append(f"shm 64 B RTT p50 is {pipe_rtt / shm['rtt_64_p50_us']:.1f}x lower than the faster pipe")
    if shm and floor:
        out.append(f"shm 64 B RTT p50 is {shm['rtt_64_p50_us'] / floor['rtt_64_p50_us']:.1f}x the C floor")
    if shm:
        out.append(f"shm 64 B throughput: {shm['throughput_64_msg_s'] / 1e6:.2f} M msg/s (one message per call), "
                   f"{shm['batches_64_msg_s'] / 1e6:.2f} M msg/s (send_many/recv_many, 256 per call)")
        big = 1 << 20
        out.append(f"shm 1 MiB throughput: {shm[f'throughput_{big}_bytes_s'] / 1e9:.1f} GB/s (recv_into)")
    return out


def scaling_medians(scaling: dict) -> dict:
    return {name: {key: statistics.median(runs) for key, runs in cells.items()}
            for name, cells in scaling["results"].items()}


def scaling_table(scaling: dict) -> str:
    med = scaling_medians(scaling)
    keys = [f"{p}x{c} {size} B" for p, c in CONFIGS for size in SIZES]
    head = f"{'MPMC: producers x consumers, M msg/s':40}" + "".join(f" | {k:>11}" for k in keys)
    lines = ["", f"{scaling['total_messages']:,} messages per measurement; median of runs", head, "-" * len(head)]
    for name, cells in med.items():
        lines.append(f"{name:40}" + "".join(f" | {cells[k] / 1e6:>11.2f}" for k in keys))
    for name, reason in scaling["skipped"].items():
        lines.append(f"{name:40} | skipped: {reason}")
    shm = med.get("shm mpmc")
    for peer in ("multiprocessing.Queue", "faster-fifo"):
        if shm and peer in med:
            ratio = shm["2x2 64 B"] / med[peer]["2x2 64 B"]
            lines.append(f"shm mpmc 2x2 at 64 B: {ratio:.1f}x the msg/s of {peer}")
    return "\n".join(lines)
