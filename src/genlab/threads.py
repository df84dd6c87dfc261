"""How many CPU threads torch uses: one per physical core this process may run on.

A process may be pinned to fewer CPUs than the machine has (``taskset``, a container's
cpuset, a batch scheduler), and two hyper-threads of one core share its arithmetic
units: more torch threads than physical cores only add contention, which on a busy
machine makes a step 10-70x slower. :func:`default_threads` honours ``OMP_NUM_THREADS``
and otherwise counts the distinct physical cores among the CPUs in
``os.sched_getaffinity`` (from Linux's ``/sys/devices/system/cpu/cpuN/topology``;
elsewhere, the allowed CPUs).
:func:`use_threads` sets torch's intra-op threads, never above the allowed CPUs, and
:func:`limit_native_threads` holds the BLAS and OpenMP pools of numpy, scipy and
scikit-learn to the same number (they size themselves by the machine, not by torch: two
``genlab report --jobs 2`` workers with one torch thread each ran six threads on two
cores while a study fitted its scikit-learn probes, and ran 1.5-2x slower).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "allowed_cpus",
    "choose_threads",
    "default_threads",
    "limit_native_threads",
    "physical_cores",
    "use_threads",
]

_SYS_CPU = Path("/sys/devices/system/cpu")
_chosen: int | None = None  # the process's choice (``--threads``), which 0 stands for


def allowed_cpus() -> set[int]:
    """The CPU numbers this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int], sys_cpu: Path = _SYS_CPU) -> int:
    """Distinct physical cores (package, core id) among ``cpus``; ``len(cpus)`` where
    the topology cannot be read."""
    cores = set()
    for cpu in cpus:
        topo = sys_cpu / f"cpu{cpu}" / "topology"
        try:
            package = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def default_threads() -> int:
    """The process's choice (:func:`choose_threads`), else ``OMP_NUM_THREADS`` when it is
    set to a positive integer (the usual way to pin a job), else one thread per physical
    core among the CPUs this process may use."""
    if _chosen:
        return _chosen
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return physical_cores(allowed_cpus())


def choose_threads(requested: int = 0) -> int:
    """:func:`use_threads`, and make the result what 0 means from now on in this process
    (so a study's runs, which ask for 0, keep the command's ``--threads``)."""
    global _chosen
    _chosen = use_threads(requested)
    return _chosen


def use_threads(requested: int = 0) -> int:
    """Set torch's intra-op threads to ``requested`` (0: :func:`default_threads`), at most
    the number of allowed CPUs (a larger request is lowered, with one line on stderr);
    returns the number set."""
    import torch

    if requested < 0:
        raise ValueError(f"threads must be at least 0 (0: one per physical core), got {requested}")
    limit = len(allowed_cpus())
    threads = requested or default_threads()
    if threads > limit:
        print(
            f"genlab: {threads} threads asked for, but this process may use {limit} CPUs: "
            f"using {limit}",
            file=sys.stderr,
        )
        threads = limit
    torch.set_num_threads(threads)
    limit_native_threads()
    return threads


def limit_native_threads() -> None:
    """Hold every BLAS and OpenMP pool loaded in this process (numpy's and scipy's
    OpenBLAS, scikit-learn's OpenMP) to torch's thread count. A library loaded later
    keeps its own size: call this again after importing it (genlab.metrics.probe and
    the t-SNE map do, before they fit)."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=torch.get_num_threads())
