"""Command line: ``python -m shmring bench | ls | rm | info``."""

from __future__ import annotations

import argparse
import json
import sys

from .channel import ChannelError


def _bench(args) -> int:
    try:
        from .bench import plan, plot, report, suite
    except ImportError as e:  # hdrhistogram, the latency histograms, comes with the bench extra
        print(f"the benchmark needs its extra dependencies (missing: {e.name}): pip install 'shmring[bench]'",
              file=sys.stderr)
        return 2
    if args.plot:
        plot.check_available()
    chosen = plan.Plan.quick() if args.quick else plan.Plan()
    if args.runs:
        chosen.runs = args.runs
    print(f"shmring bench: {chosen.runs} runs of every transport and peer"
          + (" (quick)" if args.quick else "; this takes about 5 minutes"), file=sys.stderr)
    results = suite.run(chosen, only=args.only, with_scaling=not args.no_scaling)
    print(report.table(results))
    if "mpmc_scaling" in results:
        print(report.scaling_table(results["mpmc_scaling"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"every raw figure written to {args.json}", file=sys.stderr)
    if args.plot:
        plot.save(results, results["summary"], args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 1 if results["errors"] else 0


def _ls(args) -> int:
    from .transports import shm

    segments = shm.list_segments()
    if not segments:
        print(f"no shmring segments in {shm.SHM_DIR}")
        return 0
    print(f"{'name':32} {'kind':5} {'capacity':>10} {'used':>10} {'sender':>12} {'receiver':>12}  creator")
    for s in segments:
        ends = [f"{s[e]['state']}/{s[e]['live_holders']}" for e in ("sender", "receiver")]
        creator = f"{s['creator_pid']} ({'alive' if s['creator_alive'] else 'dead'})"
        stale = "  STALE" if s["stale"] else ""
        owner = s["owner"] or {}
        foreign = (f"  FOREIGN (user {owner.get('user', '?')}, group {owner.get('group', '?')}, "
                   f"mode {owner.get('permissions', '?')})" if s["foreign"] else "")
        print(f"{s['name']:32} {s['kind']:5} {s['capacity']:>10} {s['used_bytes']:>10} "
              f"{ends[0]:>12} {ends[1]:>12}  {creator}{stale}{foreign}")
    print("ends: state/live holders; STALE: no live process can use it (remove with: rm --stale)")
    if any(s["foreign"] for s in segments):
        print("FOREIGN: another user's, or open to other users: open() refuses it (shmring info NAME says why)")
    return 0


def _rm(args) -> int:
    from .transports import shm

    names = list(args.names)
    if args.stale:
        # Not foreign ones: their headers, which say who is alive, are another user's to write.
        names += [s["name"] for s in shm.list_segments() if s["stale"] and not s["foreign"]]
    if not names:
        print("nothing to remove (name segments, or pass --stale)", file=sys.stderr)
        return 1
    if sys.platform == "win32":
        return _rm_windows(shm, names)
    for name in names:
        shm.unlink(name.removeprefix("shm://"))
        print(f"removed {name}")
    return 0


def _rm_windows(shm, names) -> int:
    """Windows has no name to unlink: a section lives exactly while a process
    holds a handle to it, so rm can only say who keeps it."""
    for name in names:
        info = shm.inspect(name.removeprefix("shm://"))  # NotFound (exit 2) if no process holds it
        holders = info["sender"]["live_holders"] + info["receiver"]["live_holders"]
        print(f"{name}: cannot be removed on Windows; it goes away by itself when the last process holding it "
              f"closes it or exits ({holders} live end holder(s), creator pid {info['creator_pid']} "
              f"{'alive' if info['creator_alive'] else 'gone'})", file=sys.stderr)
    return 1


def _info(args) -> int:
    from .transports import shm

    print(json.dumps(shm.inspect(args.name.removeprefix("shm://")), indent=2))
    return 0


DESCRIPTION = (
    "shmring: compare the transports (bench), and list (ls), remove (rm) or "
    "inspect (info) the shared-memory rings on this machine."
)


def main(argv: list[str] | None = None, prog: str = "shmring") -> int:
    """The ``shmring`` console script; ``python -m shmring`` passes its own prog."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="compare every transport and other IPC libraries: latency, throughput, CPU")
    bench.add_argument("--quick", action="store_true", help="shorter steps, 2 runs: finishes in under a minute")
    bench.add_argument("--runs", type=int, default=0, help="repetitions (default 3); medians and ranges are shown")
    bench.add_argument("--json", metavar="FILE", help="also write every raw figure and the machine to FILE")
    bench.add_argument("--plot", metavar="FILE.png", help="also plot latency and throughput by message size")
    bench.add_argument("--only", metavar="WORD", action="append",
                       help="run only the rows whose name contains WORD (repeatable)")
    bench.add_argument("--no-scaling", action="store_true", help="leave out the MPMC scaling run")
    bench.set_defaults(func=_bench)
    ls = sub.add_parser("ls", help="list shmring segments in /dev/shm, with their ends and whether they are stale")
    ls.set_defaults(func=_ls)
    rm = sub.add_parser("rm", help="remove segments by name, or every stale one")
    rm.add_argument("names", nargs="*", metavar="NAME")
    rm.add_argument("--stale", action="store_true", help="remove every segment no live process can use")
    rm.set_defaults(func=_rm)
    info = sub.add_parser("info", help="show one segment's header")
    info.add_argument("name", metavar="NAME")
    info.set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ChannelError, ValueError, OSError) as e:  # a name that is wrong or gone: say so, no traceback
        print(f"{parser.prog} {args.command}: {e}", file=sys.stderr)
        return 2
