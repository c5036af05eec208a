"""The benchmark behind ``python -m shmring bench``: shmring's transports and other IPC
libraries side by side, in one run.

- plan.py: what is measured and for how long (full, --quick, and a tiny plan for tests)
- contenders.py: the rows: shmring's transports; peers/ holds one adapter per other library
- workloads.py: what parent and child do in each step, and the checks of every message
- runner.py: two pinned processes per row and run; guard.py stops waiting on a dead child
- stats.py: latency histograms (HdrHistogram) and the spread over runs
- scaling.py: the MPMC scaling run (P producers x C consumers)
- suite.py: one whole invocation into one results dict; machine.py: what it ran on
- report.py: the tables; plot.py: --plot; progress.py: the progress bar

Method and recorded results: benchmarks/README.md.
"""
