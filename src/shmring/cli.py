"""Command line: ``python -m shmring bench``."""

from __future__ import annotations

import argparse
import json
import sys


def _bench(args) -> int:
    from .bench import report, runner

    plan = runner.Plan.quick() if args.quick else runner.Plan()
    if args.runs:
        plan.runs = args.runs
    print(f"shmring bench: {plan.runs} runs of every transport"
          + (" (quick)" if args.quick else "") + "; this takes a few minutes" * (not args.quick),
          file=sys.stderr)
    results = runner.run(plan, progress=lambda line: print(line, file=sys.stderr))
    print(report.table(results))
    if args.json:
        results["medians"] = report.medians(results)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"raw figures written to {args.json}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shmring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="compare every transport: round-trip latency and throughput")
    bench.add_argument("--quick", action="store_true", help="fewer messages: finishes in well under a minute")
    bench.add_argument("--runs", type=int, default=0, help="repetitions (default 3); medians are reported")
    bench.add_argument("--json", metavar="FILE", help="also write every raw figure and the machine to FILE")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)
