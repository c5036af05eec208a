"""The machine and the software a run was measured on, for the JSON and the table's header."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from .. import __version__

# Libraries the bench itself uses, reported beside the peers' versions.
TOOLS = ("cffi", "hdrhistogram", "rich", "matplotlib")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(peer_packages) -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    packages = {"shmring": __version__}
    packages.update({name: version_of(name) for name in sorted({p for p in peer_packages if p})})
    packages.update({name: version_of(name) for name in TOOLS})
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "kernel": f"{platform.release()} {platform.version()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": packages,
    }
