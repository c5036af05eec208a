"""The benchmark behind ``python -m shmring bench``: every transport side by side.

runner.py runs the measurements (two processes, several repetitions),
workloads.py holds what each side does, report.py turns the raw figures into
medians, a table and ratios. Method and recorded results: benchmarks/README.md.
"""
