"""Memory and speed of optbench on a million-row sparse instance (a benchmark, not a test).

On ``logistic_sparse_large`` (CSR, 1e6 x 1e5, 1e7 non-zeros) prints, each as a
ratio to its target next to the raw numbers (no assertions):

(a) memory of a ``newton_cg`` run: peak resident memory during the solve minus the
    resident memory once the instance is built, over
    ``0.25 * csr_bytes + 20 * 8 * max(n, d)`` (target <= 1);
(b) building the instance: peak resident memory above the process's start (after
    imports), over ``3 * data_bytes`` (CSR arrays and labels; target <= 1);
(c) ``value_and_grad`` and ``hvp`` (at the point of the last value_and_grad, as
    Newton-CG calls it) in CSR matvecs ``X @ w`` (target <= 2.5 each, which holds only
    where numpy's float64 ``exp`` and ``log1p`` are vectorised: AVX-512), and each
    against its floor, the primitive operations it cannot avoid timed in the same
    process (``X @ w``, ``X.T @ r``, ``exp`` and ``log1p`` over the samples; see
    ``benchmarks/floors.py``), with the CPU's SIMD level beside them; and ``X.T @ r``,
    which scipy runs as a CSC matvec on the CSR arrays, against the memory a CSC copy
    would take;
(d) a full ``optbench.minimize(problem, "newton_cg", gtol=1e-6)``: iterations, oracle
    counts, time and peak memory;
(e) trace logging: the run of (d), and a 150-iteration gradient-descent run, each with
    ``log={"every": 1}`` and ``log={"geometric": 1.2}``: oracle counts, evaluations of
    the problem made outside the oracle (the runner re-evaluating f and g to log), rows.

Each phase runs in its own subprocess, so one phase's high-water mark cannot hide
another's. Peak memory is the kernel's ``VmHWM`` after resetting it at the start of the
phase (``/proc/self/clear_refs``, Linux), cross-checked by a psutil thread sampling the
resident set every 2 ms. BLAS is pinned to one thread (threadpoolctl and the
usual environment variables). The instance's f* is read first (certified once into the
on-disk cache if needed, in a phase of its own). Run the whole benchmark once or twice,
not in a loop: it builds the instance in each phase.

Run: ``PYTHONPATH=. python benchmarks/scale.py [--repeats 21] [--instance NAME]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import psutil
import threadpoolctl
from floors import FLOORS, floor_of, primitives
from machine import machine_lines, simd_line

RESULT_PREFIX = "RESULT "
SINGLE_THREAD_ENV = {
    name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
}
MEMORY_SHARE_OF_CSR, MEMORY_VECTORS = 0.25, 20
BUILD_FACTOR = 3.0
KERNEL_TARGET = 2.5


class PeakMeter:
    """Peak resident memory from ``start()`` to ``stop()``: VmHWM after a reset, and samples."""

    def __init__(self, interval: float = 2e-3) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self._stop = threading.Event()
        self._sampled = 0

    def start(self) -> int:
        """Reset the high-water mark, start sampling; return the resident bytes now."""
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.start_rss = self.process.memory_info().rss
        self._sampled = self.start_rss
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self.start_rss

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled = max(self._sampled, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def stop(self) -> dict[str, int | None]:
        """Peak bytes (the larger of VmHWM and the samples) and both sources."""
        self._stop.set()
        self._thread.join()
        hwm = _status_kib("VmHWM") * 1024 if self.hwm_reset else None
        return {
            "start": self.start_rss,
            "peak": max(hwm or 0, self._sampled),
            "hwm": hwm,
            "sampled": self._sampled,
        }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _load(instance: str) -> Any:
    import optbench

    return optbench.make_problem(instance)


def _csr_bytes(X: Any) -> int:
    return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)


def _count_problem_calls(problem: Any) -> dict[str, int]:
    """Count the problem's evaluations made outside an oracle call (runner monitoring).

    The problem's methods are wrapped (instance attributes) and the Oracle's methods
    flag the calls they forward; only unflagged calls are counted. This process only.
    """
    from optbench.problems.oracle import Oracle

    counts = dict.fromkeys(("value", "grad", "value_and_grad", "hvp"), 0)
    inside = threading.local()
    for name in counts:
        oracle_method = getattr(Oracle, name)

        def flagged(self: Any, *args: Any, _method: Callable = oracle_method) -> Any:
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return _method(self, *args)
            finally:
                inside.depth -= 1

        setattr(Oracle, name, flagged)
        method = getattr(problem, name)

        def counted(*args: Any, _method: Callable = method, _name: str = name) -> Any:
            if not getattr(inside, "depth", 0):
                counts[_name] += 1
            return _method(*args)

        setattr(problem, name, counted)
    return counts


# --------------------------------------------------------------------------- phases


def phase_certify(instance: str, repeats: int) -> dict[str, Any]:
    from optbench.problems.certify import cache_key
    from optbench.problems.fstar_cache import entry_path, read_entry

    problem = _load(instance)
    key = cache_key(problem)
    was_cached = read_entry(key) is not None
    started = perf_counter()
    f_star = problem.f_star
    return {
        "f_star": f_star,
        "was_cached": was_cached,
        "seconds": perf_counter() - started,
        "cache_file": str(entry_path(key)),
    }


def phase_build(instance: str, repeats: int) -> dict[str, Any]:
    from optbench.problems import list_problems

    list_problems()  # imports optbench and every family: the start excludes imports
    meter = PeakMeter()
    meter.start()
    started = perf_counter()
    problem = _load(instance)
    seconds = perf_counter() - started
    memory = meter.stop()
    csr = _csr_bytes(problem.X)
    return {
        "seconds": seconds,
        "memory": memory,
        "csr_bytes": csr,
        "data_bytes": csr + int(problem.y.nbytes),
        "shape": list(problem.X.shape),
        "nnz": int(problem.X.nnz),
        "index_dtype": str(problem.X.indices.dtype),
    }


#: The long run of (e): gradient descent with Armijo steps for a fixed number of iterations.
LONG_RUN = {"solver": "gd", "step_size": "armijo", "max_iter": 150, "gtol": 1e-12}


def _solve(instance: str, log: dict[str, Any], solver: str = "newton_cg", **options: Any) -> dict:
    """One run of ``solver`` with trace policy ``log``: counts, time, rows, peak memory."""
    import optbench

    problem = _load(instance)
    f_star = problem.f_star  # from the disk cache (warmed by the certify phase)
    calls = _count_problem_calls(problem)
    n, d = problem.X.shape
    options = {"gtol": 1e-6, **options}
    meter = PeakMeter()
    meter.start()
    result = optbench.minimize(problem, solver, log=log, **options)
    memory = meter.stop()
    return {
        "status": result.status,
        "message": result.message,
        "iters": result.iters,
        "counts": {k: getattr(result, k) for k in ("n_f", "n_g", "n_hvp", "n_hess", "cost")},
        "problem_calls": calls,
        "time": result.time,
        "grad_norm": result.grad_norm,
        "f_gap": result.f - f_star if f_star is not None else None,
        "trace_rows": len(result.trace),
        "memory": memory,
        "csr_bytes": _csr_bytes(problem.X),
        "max_dim": max(n, d),
    }


def paired_ratio(function: Callable[[], Any], base: Callable[[], Any], repeats: int) -> float:
    """Median of time(function) / time(base), each timed between two runs of base."""
    function(), base()
    ratios = []
    for _ in range(repeats):
        times = []
        for call in (base, function, base):
            started = perf_counter()
            call()
            times.append(perf_counter() - started)
        ratios.append(times[1] / min(times[0], times[2]))
    return statistics.median(ratios)


def phase_kernels(instance: str, repeats: int) -> dict[str, Any]:
    problem = _load(instance)
    X = problem.X
    rng = np.random.default_rng(0)
    x = rng.standard_normal(problem.dim) * (2.0 / np.sqrt(X.nnz / X.shape[0]))
    v = rng.standard_normal(problem.dim)
    r = rng.standard_normal(X.shape[0])
    transposed = X.T  # a CSC view of the same arrays
    matvec_seconds = []

    def matvec() -> None:
        started = perf_counter()
        X @ x
        matvec_seconds.append(perf_counter() - started)

    value_and_grad = paired_ratio(lambda: problem.value_and_grad(x), matvec, repeats)
    problem.value_and_grad(x)  # the memo Newton-CG relies on: HVPs at the last gradient's x
    hvp = paired_ratio(lambda: problem.hvp(x, v), matvec, repeats)
    back = paired_ratio(lambda: transposed @ r, matvec, repeats)
    calls = primitives(problem, x)  # in matvecs, each paired with X @ x like the kernels
    in_matvecs = {"forward": 1.0, "back": back}
    for name in ("exp", "log1p"):
        in_matvecs[name] = paired_ratio(calls[name], matvec, repeats)
    copy = transposed.tocsr()  # X.T as its own CSR arrays: the copy the kernels do not make
    back_on_copy = paired_ratio(lambda: copy @ r, matvec, repeats)
    n, d = X.shape
    return {
        "matvec_ms": 1e3 * statistics.median(matvec_seconds),
        "value_and_grad": value_and_grad,
        "hvp": hvp,
        "simd": simd_line(),
        "primitives": in_matvecs,
        "floors": {
            kernel: floor_of(kernel, "logistic", in_matvecs) for kernel in ("value_and_grad", "hvp")
        },  # fmt: skip
        "transposed": back,
        "transposed_copy": back_on_copy,
        "csc_copy_bytes": int(X.data.nbytes + X.indices.nbytes + (d + 1) * X.indptr.itemsize),
        "csr_bytes": _csr_bytes(X),
        "max_dim": max(n, d),
    }


PHASES = {
    "certify": phase_certify,
    "build": phase_build,
    "solve": lambda instance, repeats: _solve(instance, {"every": 1}),
    "geometric": lambda instance, repeats: _solve(instance, {"geometric": 1.2}),
    "long_every": lambda instance, repeats: _solve(instance, {"every": 1}, **LONG_RUN),
    "long_geometric": lambda instance, repeats: _solve(instance, {"geometric": 1.2}, **LONG_RUN),
    "kernels": phase_kernels,
}


# --------------------------------------------------------------------------- driver


def run_phase(phase: str, instance: str, repeats: int) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its result."""
    command = [sys.executable, __file__, "--phase", phase, "--instance", instance]
    command += ["--repeats", str(repeats)]
    environment = dict(os.environ, **SINGLE_THREAD_ENV)
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not lines:
        raise RuntimeError(f"phase {phase} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def mib(value: float) -> str:
    """Bytes as MiB."""
    return f"{value / 2**20:.1f} MiB"


def memory_line(memory: dict[str, Any]) -> str:
    """Peak above the start of the phase, with the two sources it is the larger of."""
    extras = {
        source: "n/a" if memory[source] is None else mib(memory[source] - memory["start"])
        for source in ("hwm", "sampled")
    }
    peak = mib(memory["peak"] - memory["start"])
    return f"{peak} (VmHWM {extras['hwm']}, sampled every 2 ms {extras['sampled']})"


def memory_budget(run: dict[str, Any]) -> float:
    """(a)'s budget: 0.25 x the CSR bytes + 20 vectors of length max(n, d)."""
    return MEMORY_SHARE_OF_CSR * run["csr_bytes"] + MEMORY_VECTORS * 8 * run["max_dim"]


def print_kernels(kernels: dict[str, Any], repeats: int) -> None:
    """Print part (c) from the kernels phase's result."""
    print(f"\n(c) medians of {repeats} paired timings; X @ w takes {kernels['matvec_ms']:.2f} ms")
    print(f"    numpy SIMD {kernels['simd']}; primitives in matvecs: " + ", ".join(
        f"{name} {ratio:.2f}" for name, ratio in kernels["primitives"].items()))  # fmt: skip
    for name in ("value_and_grad", "hvp"):
        ratio, floor = kernels[name], kernels["floors"][name]
        parts = " + ".join(FLOORS["logistic"][name])
        print(
            f"    {name:<15} {ratio:5.2f} matvecs;  ratio to target "
            f"{ratio / KERNEL_TARGET:.3f}  (target <= {KERNEL_TARGET} matvecs);  "
            f"{ratio / floor:.2f} x its floor ({parts} = {floor:.2f} matvecs)"
        )
    copy_share = kernels["csc_copy_bytes"] / memory_budget(kernels)
    print(
        f"    X.T @ r  {kernels['transposed']:5.2f} matvecs as scipy runs it (a CSC matvec on "
        f"the CSR arrays), {kernels['transposed_copy']:5.2f} on a CSR copy of X.T"
    )
    print(
        f"    that copy would hold {mib(kernels['csc_copy_bytes'])} = {copy_share:.2f} of the "
        "(a) budget for the whole run: not made"
    )


def report(instance: str, repeats: int) -> None:
    print(f"optbench scale benchmark on {instance}; BLAS pinned to 1 thread in every phase")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        for line in machine_lines():
            print(line)

    certified = run_phase("certify", instance, repeats)
    source = "read from the disk cache" if certified["was_cached"] else "certified now"
    print(f"\nf* = {certified['f_star']!r}, {source} in {certified['seconds']:.1f} s")
    print(f"    cache file {certified['cache_file']}")

    build = run_phase("build", instance, repeats)
    extra = build["memory"]["peak"] - build["memory"]["start"]
    n, d = build["shape"]
    data_bytes = build["data_bytes"]
    print(
        f"\n(b) build: {n} x {d}, nnz {build['nnz']}, {build['index_dtype']} indices, "
        f"{build['seconds']:.1f} s"
    )
    print(f"    CSR {mib(build['csr_bytes'])}; data = CSR + labels = {mib(data_bytes)}")
    print(f"    peak above the start (after imports) = {memory_line(build['memory'])}")
    print(
        f"    = {extra / data_bytes:.2f} x data;  ratio to 3 x data "
        f"{extra / (BUILD_FACTOR * data_bytes):.3f}  (target <= 1)"
    )

    kernels = run_phase("kernels", instance, repeats)
    print_kernels(kernels, repeats)

    every = run_phase("solve", instance, repeats)
    extra = every["memory"]["peak"] - every["memory"]["start"]
    budget = memory_budget(every)
    print("\n(a) memory of the newton_cg run of (d)")
    print(f"    peak during the solve - RSS once built = {memory_line(every['memory'])}")
    print(
        f"    budget 0.25 x CSR ({mib(every['csr_bytes'])}) + 20 x 8 x {every['max_dim']} "
        f"= {mib(budget)};  ratio {extra / budget:.3f}  (target <= 1)"
    )

    geometric = run_phase("geometric", instance, repeats)
    print(f"\n(d) newton_cg, gtol 1e-6: {every['status']} ({every['message']})")
    print(
        f"    iterations {every['iters']}, solver time {every['time']:.2f} s, grad norm "
        f"{every['grad_norm']:.2e}, f - f* {every['f_gap']:.2e}, peak memory above the "
        f"built instance {mib(extra)}"
    )
    print(f"    oracle counts {every['counts']}")

    print_logging("newton_cg of (d)", every, geometric)
    long_every = run_phase("long_every", instance, repeats)
    long_geometric = run_phase("long_geometric", instance, repeats)
    long_run = ", ".join(f"{key} {value}" for key, value in LONG_RUN.items())
    print_logging(f"a long run: {long_run}", long_every, long_geometric)


def print_logging(label: str, every: dict[str, Any], geometric: dict[str, Any]) -> None:
    """(e): counts, problem calls and rows of one run logged every=1 and geometric=1.2."""
    print(f"\n(e) trace logging, {label}: {every['status']} after {every['iters']} iterations")
    print(f"    {'':<34} {'every=1':>10} {'geometric=1.2':>15}")
    rows = [
        (f"oracle {key}", every["counts"][key], geometric["counts"][key])
        for key in ("n_f", "n_g", "n_hvp", "n_hess", "cost")
    ]
    rows += [
        (f"outside the oracle: {key}", every["problem_calls"][key], geometric["problem_calls"][key])
        for key in ("value_and_grad", "value", "grad", "hvp")
    ]
    rows += [("trace rows", every["trace_rows"], geometric["trace_rows"])]
    rows += [("solver time (s)", round(every["time"], 2), round(geometric["time"], 2))]
    for name, first, second in rows:
        print(f"    {name:<34} {first:>10g} {second:>15g}")
    same = every["counts"] == geometric["counts"]
    outside = sum(every["problem_calls"].values()) + sum(geometric["problem_calls"].values())
    print(
        f"    oracle counts equal: {same}; evaluations outside the oracle (the runner "
        f"re-evaluating for the trace): {outside}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="logistic_sparse_large")
    parser.add_argument("--repeats", type=int, default=21, help="paired timings per ratio")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase is None:
        report(args.instance, args.repeats)
        return 0
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        result = PHASES[args.phase](args.instance, args.repeats)
    print(RESULT_PREFIX + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
