"""--plot FILE.png: latency percentiles and throughput by message size, one line per contender.

Log scales on both axes: the contenders span three orders of magnitude. The
shmring rows are solid lines, the peers dashed.
"""

from __future__ import annotations

from .report import size_label

INSTALL_HINT = "--plot needs matplotlib: pip install 'shmring[bench]' (or pip install matplotlib)"

# (metric name pattern, y-axis label, scale applied to the median, sizes from the plan)
PANELS = (
    ("rtt_{}_p50_us", "round trip p50 (us)", 1, "rtt_sizes"),
    ("rtt_{}_p99_us", "round trip p99 (us)", 1, "rtt_sizes"),
    ("rtt_{}_p99.9_us", "round trip p99.9 (us)", 1, "rtt_sizes"),
    ("throughput_{}_msg_s", "one way, M messages/s", 1e-6, "throughput_sizes"),
    ("throughput_{}_bytes_s", "one way, GB/s", 1e-9, "throughput_sizes"),
    ("throughput_{}_cpu_us", "one way, CPU us per message (both processes)", 1, "throughput_sizes"),
)


def check_available() -> None:
    """Fail before a run of minutes, not after it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(INSTALL_HINT) from None


def _median(summary: dict, name: str, metric: str):
    figure = summary.get(name, {}).get(metric)
    return figure["median"] if figure else None


def _panel(ax, results: dict, summary: dict, panel, colors) -> None:
    metric, label, scale, sizes_key = panel
    sizes = results["plan"][sizes_key]
    for i, name in enumerate(n for n in results["runs"] if n in summary):
        points = [(s, v * scale) for s in sizes if (v := _median(summary, name, metric.format(s))) is not None]
        if points:
            group = results["contenders"][name]["group"]
            ax.plot(*zip(*points), marker="o", markersize=3, label=name, color=colors(i % 20),
                    linestyle="-" if group == "shmring" else "--")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [size_label(s) for s in sizes])
    ax.set_xlabel("message size")
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.3)


def save(results: dict, summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(19, 10))
    colors = plt.get_cmap("tab20")
    for ax, panel in zip(axes.flat, PANELS):
        _panel(ax, results, summary, panel, colors)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=9)
    mach, runs = results["machine"], results["plan"]["runs"]
    fig.suptitle(f"shmring bench: {mach['cpu']}, {mach['cpus']} CPUs, {mach['os']}, {mach['python']}; "
                 f"each point the median of {runs} runs; solid: shmring, dashed: peers", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.83, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)
