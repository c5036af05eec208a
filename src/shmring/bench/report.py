"""Turn raw runs into medians with their spread, tables, and the ratios worth quoting.

Every figure in a table is the median over the runs; the "range" columns
give the lowest and highest run, so a reader can tell a difference between
rows from the noise of the machine.
"""

from __future__ import annotations

import statistics

from .contenders import C_FLOOR, PIPES, SHM, SHM_PARKED
from .scaling import CONFIGS, SIZES
from .stats import spread
from .workloads import BATCH

NAME_WIDTH = 34


def summarize(results: dict) -> dict:
    """{contender: {metric: {"median", "min", "max"}}} over the runs that finished."""
    out = {}
    for name, runs in results["runs"].items():
        if not runs:
            continue
        numeric = [k for k, v in runs[0]["metrics"].items() if not isinstance(v, bool)]
        out[name] = {k: spread(r["metrics"][k] for r in runs) for k in numeric}
    return out


def size_label(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} B"


def _us(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def _unit(v: float) -> tuple[float, str]:
    return (1e6, " M") if v >= 1e6 else (1e3, " k") if v >= 1e3 else (1, "")


def _digits(scaled: float) -> int:
    return 2 if scaled < 10 else 1 if scaled < 100 else 0


def _rate(v: float) -> str:
    scale, unit = _unit(v)
    return f"{v / scale:.{_digits(v / scale)}f}{unit}"


def _rate_range(lo: float, hi: float, median: float) -> str:
    """Both ends in the median's unit and precision: "1.41-1.52 M"."""
    scale, unit = _unit(median)
    digits = _digits(median / scale)
    return f"{lo / scale:.{digits}f}-{hi / scale:.{digits}f}{unit}"


def _gb(v: float) -> str:
    return f"{v / 1e9:.2f}" if v >= 1e9 else f"{v / 1e9:.3f}"


def _table(title: str, columns: list[tuple[str, int]], rows: list[list[str]]) -> list[str]:
    head = f"{'':{NAME_WIDTH}}" + "".join(f" {name:>{width}}" for name, width in columns)
    lines = ["", title, head.rstrip(), "-" * len(head)]
    for name, *cells in rows:
        lines.append(f"{name:{NAME_WIDTH}}" + "".join(f" {c:>{w}}" for c, (_, w) in zip(cells, columns)))
    return lines


def _missing(name: str, key: str, results: dict) -> str:
    """What to print instead of figures a row does not have."""
    if name in results["errors"] and not results["runs"].get(name):
        return "failed"
    runs = results["runs"].get(name) or [{}]
    return "skipped" if key in runs[0].get("skipped_steps", {}) else "-"


def rtt_table(results: dict, summary: dict, size: int) -> list[str]:
    key = f"rtt_{size}"
    columns = [("p50", 8), ("range", 13), ("p90", 8), ("p99", 8), ("p99.9", 8), ("max", 8), ("CPU us/RTT", 11)]
    rows = []
    for name in results["runs"]:
        m = summary.get(name, {})
        if f"{key}_p50_us" not in m:
            rows.append([name, _missing(name, key, results)] + [""] * 6)
            continue
        p50 = m[f"{key}_p50_us"]
        rows.append([name, _us(p50["median"]), f"{_us(p50['min'])}-{_us(p50['max'])}",
                     *(_us(m[f"{key}_{p}_us"]["median"]) for p in ("p90", "p99", "p99.9", "max")),
                     _us(m[f"{key}_cpu_us"]["median"])])
    return _table(f"Round trip, {size_label(size)} each way (us; median of runs, range of p50 over runs)",
                  columns, rows)


def rate_table(results: dict, summary: dict, key: str, title: str, every_row: bool = True) -> list[str]:
    """One-way figures of one step; every_row=False leaves out the rows without that step."""
    columns = [("msg/s", 8), ("range", 13), ("GB/s", 6), ("CPU us/msg", 11)]
    rows = []
    for name in results["runs"]:
        m = summary.get(name, {})
        if f"{key}_msg_s" not in m:
            missing = _missing(name, key, results)
            if every_row or missing != "-":
                rows.append([name, missing, "", "", ""])
            continue
        rate = m[f"{key}_msg_s"]
        rows.append([name, _rate(rate["median"]), _rate_range(rate["min"], rate["max"], rate["median"]),
                     _gb(m[f"{key}_bytes_s"]["median"]), _us(m[f"{key}_cpu_us"]["median"])])
    return _table(title, columns, rows)


def header(results: dict) -> list[str]:
    mach, plan = results["machine"], results["plan"]
    took = f"; the whole run took {results['wall_seconds']:.0f} s" if "wall_seconds" in results else ""
    return [
        f"shmring bench: {mach['cpu']}, {mach['cpus']} CPUs, {mach['os']}, {mach['python']}",
        f"{plan['runs']} runs, contenders taking turns; two processes, {results['pinning']}{took}",
        f"each step: {plan['warmup_seconds']:g} s warm-up, then {plan['step_seconds']:g} s measured; "
        "every message's content checked; CPU = user+sys of both processes",
    ]


def footer(results: dict) -> list[str]:
    lines = [""]
    reasons = {}
    for runs in results["runs"].values():
        for key, reason in (runs[0].get("skipped_steps", {}) if runs else {}).items():
            reasons.setdefault(reason, set()).add(key)
    lines += [f"skipped: {', '.join(sorted(keys))}: {reason}" for reason, keys in reasons.items()]
    lines += [f"not run: {name}: {reason}" for name, reason in results.get("skipped", {}).items()]
    lines += [f"FAILED: {name}: {error}" for name, error in results["errors"].items()]
    return lines


def table(results: dict) -> str:
    summary = results.get("summary") or summarize(results)
    plan = results["plan"]
    lines = header(results)
    for size in plan["rtt_sizes"]:
        lines += rtt_table(results, summary, size)
    for size in plan["throughput_sizes"]:
        recv = "recv_into a reused buffer" if size >= plan["into_from"] else "recv"
        lines += rate_table(results, summary, f"throughput_{size}",
                            f"One way, {size_label(size)} messages: one send per message, {recv} where offered")
    lines += rate_table(results, summary, f"batches_{plan['batch_size']}",
                        f"One way, {size_label(plan['batch_size'])} messages, {BATCH} per send_many / recv_many",
                        every_row=False)
    lines += footer(results)
    lines += ["", *ratios(results, summary)]
    return "\n".join(lines)


def fastest_peer(results: dict, summary: dict) -> str | None:
    """The peer with the lowest median 64 B round trip (p50), if any has one."""
    rtt = {name: m["rtt_64_p50_us"]["median"] for name, m in summary.items()
           if "rtt_64_p50_us" in m and results["contenders"].get(name, {}).get("group") == "peer"}
    return min(rtt, key=rtt.get) if rtt else None


def ratios(results: dict, summary: dict) -> list[str]:
    """The comparisons the project's targets are stated in."""
    med = {name: {k: v["median"] for k, v in m.items()} for name, m in summary.items()}
    out, plan = [], results["plan"]
    shm, floor, parked = med.get(SHM), med.get(C_FLOOR), med.get(SHM_PARKED)
    rtt = "rtt_64_p50_us"
    if not shm or rtt not in shm:
        return out
    pipes = [med[p][rtt] for p in PIPES if rtt in med.get(p, {})]
    if pipes:
        out.append(f"shm 64 B RTT p50 is {min(pipes) / shm[rtt]:.1f}x lower than the faster pipe")
    if floor and rtt in floor:
        out.append(f"shm 64 B RTT p50 is {shm[rtt] / floor[rtt]:.1f}x the C floor")
    fastest = fastest_peer(results, summary)
    if fastest:
        out.append(f"shm 64 B RTT p50: {shm[rtt]:.2f} us; the fastest peer's, {fastest}: {med[fastest][rtt]:.2f} us")
    if parked and rtt in parked:
        out.append(f"parked (spin_us=0) shm 64 B RTT p50: {parked[rtt]:.1f} us, CPU {parked['rtt_64_cpu_us']:.1f} us"
                   f" per round trip; spinning: {shm[rtt]:.1f} us, CPU {shm['rtt_64_cpu_us']:.1f} us")
    one, many = shm.get("throughput_64_msg_s"), shm.get(f"batches_{plan['batch_size']}_msg_s")
    if one and many:
        out.append(f"shm 64 B throughput: {one / 1e6:.2f} M msg/s one per call, {many / 1e6:.2f} M msg/s "
                   f"{BATCH} per send_many/recv_many")
    big = shm.get(f"throughput_{1 << 20}_bytes_s")
    if big:
        out.append(f"shm 1 MiB throughput: {big / 1e9:.1f} GB/s (recv_into)")
    return out + head_to_head_lines(results.get("head_to_head"))


def head_to_head_lines(h2h: dict | None) -> list[str]:
    """shm against the fastest peer, interleaved: the medians of the rounds and of their ratios."""
    if not h2h:
        return []
    shm, peer = h2h["contenders"]  # the first is shm in the bench
    rtt, one = h2h["rtt"], h2h["one_per_call"]
    size = size_label(h2h["size"])

    def ratio(v):  # three significant digits, so 0.0021x does not print as 0.00x
        return f"{v:.3g}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:,.0f}"

    def middle(summary):
        low, high = summary["ratio_middle_half"]
        return f"middle half of rounds {ratio(low)}-{ratio(high)}"

    return [
        "",
        f"{shm} against {peer}, interleaved: {h2h['rounds']} rounds in one pair of processes, each "
        f"{h2h['rtt_block']} round trips and {h2h['msg_block']:,} one-way messages of {size} per contender",
        f"  round trip p50: {rtt['median'][shm]:.2f} us against {rtt['median'][peer]:.2f} us; "
        f"{shm}'s is {ratio(rtt['ratio_median'])}x {peer}'s ({middle(rtt)})",
        f"  one per call: {one['median'][shm] / 1e6:.2f} M against {one['median'][peer] / 1e6:.2f} M msg/s; "
        f"{shm} moves {ratio(one['ratio_median'])}x {peer}'s ({middle(one)})",
    ]


def scaling_medians(scaling: dict) -> dict:
    return {name: {key: statistics.median(runs) for key, runs in cells.items()}
            for name, cells in scaling["results"].items()}


def scaling_table(scaling: dict) -> str:
    med = scaling_medians(scaling)
    keys = [f"{p}x{c} {size} B" for p, c in CONFIGS for size in SIZES]
    head = f"{'MPMC: producers x consumers, M msg/s':40}" + "".join(f" | {k:>11}" for k in keys)
    lines = ["", f"{scaling['total_messages']:,} messages per measurement, every one checked; median of "
                 f"{scaling['runs']} run(s)", head, "-" * len(head)]
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
