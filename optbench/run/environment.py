"""What a benchmark ran on: versions, CPU, BLAS and threads, git revision.

:func:`collect_environment` returns a JSON-serialisable dict that the store writes
to ``environment.json`` so timings can be interpreted (and compared) later.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

#: Packages whose versions are recorded.
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "joblib", "threadpoolctl", "matplotlib")
#: Environment variables recorded: anything starting with one of these prefixes.
THREAD_VARIABLE_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "BLIS_", "VECLIB_")
#: Seconds allowed for each external command (git, sysctl).
COMMAND_TIMEOUT = 2.0


def collect_environment(blas_threads: int | None = 1) -> dict[str, Any]:
    """Describe this machine and software for ``environment.json``.

    Parameters
    ----------
    blas_threads : int or None
        The BLAS thread limit used for the runs (``None``: not limited).

    Returns
    -------
    dict
        ``started`` (ISO 8601, UTC), ``python``, ``packages`` (versions, optbench
        included), ``platform``, ``cpu`` (model, logical count, count available to
        this process), ``blas`` (each loaded BLAS/OpenMP library as reported by
        :func:`threadpoolctl.threadpool_info` with the package that ships it and its
        default thread count), ``blas_threads_for_runs``, ``numpy_build`` and
        ``scipy_build`` (their ``show_config(mode="dicts")``), ``thread_variables``
        (OPENBLAS_*, OMP_*, MKL_*, … environment variables), ``numpy_simd`` (the
        SIMD extensions numpy dispatches to), ``stack`` (the fingerprint of all this
        that decides rounding, :func:`optbench.stack.stack_fingerprint`) and ``git``
        (revision and dirty flag of the optbench checkout; absent outside a git
        checkout).
    """
    import numpy as np
    import scipy
    import scipy.linalg  # noqa: F401 - loads scipy's own BLAS so threadpoolctl sees it
    from threadpoolctl import threadpool_info

    import optbench
    from optbench.stack import kernel_cpu_flags, numpy_simd, stack_fingerprint

    environment: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": {"optbench": optbench.__version__, **_package_versions()},
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "hostname": platform.node(),
            "libc": " ".join(filter(None, platform.libc_ver())),
        },
        "cpu": {**_cpu(), "kernel_flags": kernel_cpu_flags()},
        "blas": [_describe_library(info) for info in threadpool_info()],
        "blas_threads_for_runs": blas_threads,
        "numpy_build": _show_config(np),
        "scipy_build": _show_config(scipy),
        "numpy_simd": numpy_simd(),
        "thread_variables": {
            name: value
            for name, value in sorted(os.environ.items())
            if name.startswith(THREAD_VARIABLE_PREFIXES)
        },
    }
    environment["stack"] = stack_fingerprint(environment)
    git = git_revision(Path(optbench.__file__).resolve().parent)
    if git is not None:
        environment["git"] = git
    return environment


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu() -> dict[str, Any]:
    cpu: dict[str, Any] = {"model": _cpu_model(), "count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        cpu["available"] = len(os.sched_getaffinity(0))
    return cpu


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    if sys.platform == "darwin":
        model = _run(["sysctl", "-n", "machdep.cpu.brand_string"], Path.cwd())
        if model:
            return model
    return platform.processor() or platform.machine()


def _describe_library(info: dict[str, Any]) -> dict[str, Any]:
    """A threadpoolctl entry plus ``package``: which package ships the library."""
    parts = Path(info.get("filepath", "")).parts
    package = next(
        (
            part.split(".")[0]
            for part in reversed(parts)
            if part.endswith((".libs", ".dylibs")) or part in ("numpy", "scipy")
        ),
        None,
    )
    return {**info, "package": package}


def _show_config(module: Any) -> dict[str, Any] | None:
    try:
        return module.show_config(mode="dicts")
    except Exception:  # noqa: BLE001 - older versions have no mode="dicts"
        return None


def git_revision(directory: Path) -> dict[str, Any] | None:
    """``{"revision": sha, "dirty": bool}`` of the checkout holding ``directory``.

    ``dirty`` is true when files under ``directory`` differ from the commit
    (untracked files included). ``None`` outside a git checkout, without git, or
    when git does not answer within :data:`COMMAND_TIMEOUT` seconds.
    """
    revision = _run(["git", "rev-parse", "HEAD"], directory)
    if revision is None:
        return None
    status = _run(["git", "status", "--porcelain", "--", "."], directory)
    return {"revision": revision, "dirty": None if status is None else bool(status)}


def _run(command: list[str], directory: Path) -> str | None:
    """stdout of ``command`` run in ``directory``, or ``None`` when it fails."""
    try:
        completed = subprocess.run(
            command,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None
