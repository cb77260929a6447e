"""The numerical stack a result was computed on, and whether two results share it.

Oracle counts are deterministic on one *stack* (interpreter, numpy and scipy builds,
BLAS library and kernel, the SIMD code numpy dispatches to, the C math library,
threads) and may differ in the last bits elsewhere: a long conjugate-gradient run on
an ill-conditioned problem, or a line search that stops on rounding noise, then takes
a different number of steps. A regression check therefore has to know whether the two
sides ran on the same stack (exact counts are a fair test) or not (only differences
larger than rounding can explain are).

The *stack fingerprint* is a flat ``{field: text}`` dict derived from the environment
description written to ``environment.json`` (:data:`STACK_FIELDS`). It is stored there
under ``"stack"`` and, for the golden oracle counts, in a side file; older
``environment.json`` files without it are fingerprinted from what they do record
(fields they lack read ``"unknown"``, and an unknown field never matches).

This module is a leaf: it imports nothing from optbench, so the runner that writes a
fingerprint and the analysis that compares two of them share one definition.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Fingerprint fields, in the order they are reported.
STACK_FIELDS = (
    "python",
    "machine",
    "libc",
    "numpy",
    "scipy",
    "blas",
    "blas_threads",
    "numpy_simd",
    "cpu_flags",
)
#: Value of a field the environment description does not record.
UNKNOWN = "unknown"
#: CPU flags (``/proc/cpuinfo`` names; ``pni`` is SSE3) that select numerical kernels: the SSE/AVX
#: levels, fused multiply-add and the AVX-512 subsets numpy and OpenBLAS dispatch on.
#: Other flags (virtualisation, security mitigations, …) do not change results.
KERNEL_CPU_FLAGS = (
    "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "avx", "f16c", "fma", "avx2",
    "avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl", "avx512ifma",
    "avx512vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq",
    "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve", "sve2",
)  # fmt: skip


def kernel_cpu_flags() -> str:
    """The :data:`KERNEL_CPU_FLAGS` this CPU reports, space-separated, in that order.

    Read from ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on ARM); ``""`` where
    there is no such file.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return ""
    for line in cpuinfo.read_text(errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            present = set(value.split())
            return " ".join(flag for flag in KERNEL_CPU_FLAGS if flag in present)
    return ""


def numpy_simd() -> list[str]:
    """The SIMD extensions numpy dispatches to in this process (after any
    ``NPY_DISABLE_CPU_FEATURES``), as :func:`numpy.show_runtime` lists them."""
    import importlib

    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy < 2
        umath = importlib.import_module("numpy.core._multiarray_umath")
    return [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]


def stack_fingerprint(environment: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint of an ``environment.json`` description.

    Parameters
    ----------
    environment : mapping
        As written by ``optbench.run.environment.collect_environment``. A stored
        ``"stack"`` entry is returned as it is (completed with :data:`UNKNOWN`).

    Returns
    -------
    dict
        One text value per :data:`STACK_FIELDS` entry. ``blas`` lists every loaded
        BLAS library as ``"<api> <version> <kernel architecture> (<package>)"``;
        ``numpy_simd`` the dispatched extensions; ``blas_threads`` the limit the runs
        used (``"none"`` when unlimited).
    """
    stored = environment.get("stack")
    if isinstance(stored, Mapping):
        return {field: str(stored.get(field, UNKNOWN)) for field in STACK_FIELDS}
    python = environment.get("python") or {}
    platform = environment.get("platform") or {}
    packages = environment.get("packages") or {}
    simd = environment.get("numpy_simd")
    if simd is None:  # older files: numpy's build report, which lists what it found
        simd = ((environment.get("numpy_build") or {}).get("SIMD Extensions") or {}).get("found")
    threads = environment.get("blas_threads_for_runs", UNKNOWN)
    blas = [
        f"{library.get('internal_api')} {library.get('version')} "
        f"{library.get('architecture')} ({library.get('package')})"
        for library in environment.get("blas") or []
        if library.get("user_api") == "blas"
    ]
    values = {
        "python": " ".join(filter(None, [python.get("implementation"), python.get("version")])),
        "machine": platform.get("machine"),
        "libc": platform.get("libc"),
        "numpy": packages.get("numpy"),
        "scipy": packages.get("scipy"),
        "blas": "; ".join(sorted(blas)),
        "blas_threads": "none" if threads is None else threads,
        "numpy_simd": None if simd is None else " ".join(simd) or "baseline only",
        "cpu_flags": (environment.get("cpu") or {}).get("kernel_flags"),
    }
    return {
        field: UNKNOWN if values[field] in (None, "") else str(values[field])
        for field in STACK_FIELDS
    }


def stack_differences(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    """The fields in which two fingerprints differ (an :data:`UNKNOWN` never matches).

    Returns
    -------
    list of str
        ``"field: first-value ≠ second-value"``, in :data:`STACK_FIELDS` order; empty
        when the stacks are the same; ``["stack: not recorded for the first"]`` (or
        ``second``) when a side records none of the fields.
    """
    for side, name in ((first, "first"), (second, "second")):
        if all(side.get(field, UNKNOWN) == UNKNOWN for field in STACK_FIELDS):
            return [f"stack: not recorded for the {name}"]
    differences = []
    for field in STACK_FIELDS:
        a, b = first.get(field, UNKNOWN), second.get(field, UNKNOWN)
        if a != b or a == UNKNOWN:
            differences.append(f"{field}: {a} ≠ {b}")
    return differences


def read_stack(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The fingerprint stored in a results directory's ``environment.json``, or in a
    stack file (a JSON fingerprint); ``None`` when there is none to read."""
    path = Path(path)
    if path.is_dir():
        path = path / "environment.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, Mapping):
        return None
    return stack_fingerprint(data if path.name == "environment.json" else {"stack": data})
