"""What the benchmarks print about the machine they ran on (a helper of the scripts here).

Kernel timings depend on the CPU's SIMD level (numpy's float64 ``exp`` and ``log1p``
are vectorised only with AVX-512), on the BLAS library, its kernel and its threads, and
on what else the machine is doing; every benchmark prints these lines beside its
numbers so that a ratio is never quoted without the machine it holds on. The fresh
processes a benchmark times get their environment here too (:func:`fresh_environment`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import threadpoolctl

from optbench.stack import numpy_simd

#: The repository (``benchmarks/..``): fresh processes import optbench from here.
REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine()


def simd_line() -> str:
    """The SIMD extensions numpy dispatches to here, e.g. ``X86_V3 X86_V4 AVX512_ICL``."""
    return " ".join(numpy_simd()) or "baseline only"


def blas_line() -> str:
    """Each BLAS library loaded: API, version, kernel (architecture) and threads."""
    parts = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')}), "
        f"threads={info.get('num_threads')}"
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return f"{'; '.join(parts) or 'none found'}; OPENBLAS_CORETYPE={coretype}"


def load_line() -> str:
    """The load averages over 1, 5 and 15 minutes and the number of CPUs."""
    try:
        loads = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        loads = "unknown"
    return f"load average {loads} on {os.cpu_count()} CPUs"


def machine_lines() -> list[str]:
    """The lines a benchmark prints first: CPU and SIMD level, BLAS, versions, load."""
    import scipy

    return [
        f"CPU: {cpu_model()}; numpy SIMD: {simd_line()}",
        f"BLAS: {blas_line()}",
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}",
        load_line(),
    ]


def fresh_environment(**extra: str) -> dict[str, str]:
    """The environment of a fresh interpreter a benchmark times: this one's, with the
    repository on ``PYTHONPATH`` and ``extra`` set, and without
    ``PYTHONDONTWRITEBYTECODE``, so that the children write bytecode caches and load
    them from then on, as an installed package does (else every child would compile
    each module changed since its cache was written)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment
