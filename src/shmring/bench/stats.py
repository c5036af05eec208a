"""Latency histograms (HdrHistogram) and the spread of figures over runs.

A round-trip step yields up to a few hundred thousand samples in
nanoseconds; they go into an HdrHistogram with 3 significant digits (every
value within 0.1% of the one recorded, whatever its magnitude), from which
the percentiles come. The histogram itself, encoded in the standard
compressed base64 form, goes into the JSON, so any other percentile can be
read back later (``HdrHistogram.decode``).
"""

from __future__ import annotations

import statistics
from collections import Counter

from hdrh.histogram import HdrHistogram

PERCENTILES = (50, 90, 99, 99.9)
_LOWEST_NS, _HIGHEST_NS, _DIGITS = 1, 60_000_000_000, 3  # 1 ns to a minute, 0.1% resolution


def histogram(samples_ns) -> HdrHistogram:
    hist = HdrHistogram(_LOWEST_NS, _HIGHEST_NS, _DIGITS)
    # Recording is pure Python: one call per distinct value, not per sample,
    # keeps a 200,000-sample step to a few milliseconds.
    for value, count in Counter(samples_ns).items():
        hist.record_value(min(max(value, _LOWEST_NS), _HIGHEST_NS), count)
    return hist


def latency_metrics(hist: HdrHistogram, prefix: str) -> dict:
    """{prefix_p50_us: ..., prefix_p99.9_us: ..., prefix_max_us: ..., prefix_mean_us: ...}."""
    out = {f"{prefix}_p{q:g}_us": hist.get_value_at_percentile(q) / 1000 for q in PERCENTILES}
    out[f"{prefix}_max_us"] = hist.get_max_value() / 1000
    out[f"{prefix}_mean_us"] = hist.get_mean_value() / 1000
    return out


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def spread(values) -> dict:
    """Median and range of one figure over the runs."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
