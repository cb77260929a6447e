"""Harness overhead of optbench: runner vs a hand-written loop, fixed costs, start-up, jobs.

Prints one table (no assertions; targets of the project):

- per-iteration time of ``optbench.minimize`` with ``gd`` at a fixed step on logistic
  10000×100 against a hand-written numpy loop doing the same fused value-and-gradient
  steps on the same problem object; the difference as a percentage of one
  ``value_and_grad`` (target ≤ 5 %);
- per-iteration time on 2-D Rosenbrock (target ≤ 30 µs);
- fixed cost per run: a 1-iteration ``minimize`` (target ≤ 5 ms), and what
  ``optbench run`` adds per run (record building and the atomic per-run files);
- ``optbench --help`` and ``optbench list`` start-up time in a fresh interpreter
  (target ≤ 0.3 s);
- a sweep of 16 work-dominated runs with ``jobs=2`` against ``jobs=1`` (target ≤ 0.6×)
  through :func:`~optbench.run.experiment.run_experiment` in this process (workers
  start cold) and, for reference, in fresh interpreters (which also pay about 1.5 s of
  imports each), next to the ratio the machine itself gives for the same work done by
  hand in two warm processes (on a shared machine the second core may be busy).

BLAS is pinned to one thread (threadpoolctl) in this process and in the workers.
Times are medians over repeats, interleaved so that drifts in machine load hit both
sides alike. Run from the repository root::

    PYTHONPATH=. python benchmarks/overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import numpy as np
from threadpoolctl import threadpool_limits

import optbench
from optbench.run.executor import execute_spec
from optbench.run.runner import StopCriteria
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.run.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
#: Iterations of each of the 16 runs of the sweep.
SWEEP_ITERATIONS = 2000
#: Dense logistic regression 10000×100 from the catalog (its certified f* is stored, so
#: no process spends time certifying it).
LOGISTIC = "logistic_corr"
SWEEP_SCRIPT = (
    "import sys, yaml; from optbench.run.experiment import run_experiment; "
    "run_experiment(yaml.safe_load(sys.argv[1]), out=sys.argv[2], jobs=int(sys.argv[3]), "
    "progress=False, plot=False)"
)


def seconds(function: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def hand_loop(problem: optbench.Problem, step_size: float, iterations: int) -> None:
    """Gradient descent by hand: x ← x − α ∇f(x) with the fused value and gradient."""
    x = problem.x0.copy()
    _, g = problem.value_and_grad(x)
    for _ in range(iterations):
        x = x - step_size * g
        _, g = problem.value_and_grad(x)


def harness(problem: optbench.Problem, step_size: float, iterations: int) -> None:
    """The same steps through ``optbench.minimize`` (gtol 0: no early stop)."""
    result = optbench.minimize(problem, "gd", step_size=step_size, max_iter=iterations, gtol=0.0)
    if result.iters != iterations:
        raise RuntimeError(f"expected {iterations} iterations, got {result!r}")


def value_and_grad_block(problem: optbench.Problem, calls: int) -> None:
    """``calls`` fused value-and-gradient evaluations at ``x0``."""
    x = problem.x0
    for _ in range(calls):
        problem.value_and_grad(x)


def per_iteration(
    problem: optbench.Problem, step_size: float, iterations: int, repeats: int
) -> dict[str, float]:
    """Per-iteration seconds of one value_and_grad, the hand loop and the harness.

    Each repeat times the three back to back, so the overhead ratio
    ``(harness - loop) / value_and_grad`` is formed from measurements taken under the
    same machine load; medians over repeats are returned (``overhead`` included).
    """
    samples: dict[str, list[float]] = {"vag": [], "loop": [], "harness": [], "overhead": []}
    for _ in range(repeats):
        vag = seconds(lambda: value_and_grad_block(problem, iterations)) / iterations
        loop = seconds(lambda: hand_loop(problem, step_size, iterations)) / iterations
        harnessed = seconds(lambda: harness(problem, step_size, iterations)) / iterations
        for name, value in zip(
            samples, (vag, loop, harnessed, (harnessed - loop) / vag), strict=True
        ):
            samples[name].append(value)
    return {name: median(values) for name, values in samples.items()}


def fixed_cost_per_run(problem: optbench.Problem, runs: int) -> float:
    return median(
        seconds(lambda: optbench.minimize(problem, "gd", step_size=1e-3, max_iter=1))
        for _ in range(runs)
    )


def store_cost_per_run(runs: int) -> tuple[float, float]:
    """Median seconds of building a run's record, and of writing its per-run files."""
    spec = RunSpec(
        ProblemSpec("rosenbrock", {"dim": 2}),
        "gd",
        {"step_size": 1e-3},
        0,
        StopCriteria(max_iter=1),
        (1e-2, 1e-4, 1e-6, 1e-8),
    )
    record = execute_spec(spec)
    build = median(seconds(lambda: execute_spec(spec)) for _ in range(runs))
    with tempfile.TemporaryDirectory() as directory:
        store = ResultStore(directory)
        store.create({"name": "overhead"}, [spec])
        write = median(seconds(lambda: store.write_record(record)) for _ in range(runs))
    return build, write


def startup_time(arguments: list[str], repeats: int) -> float | None:
    """Median wall time of ``optbench ARGUMENTS`` in a fresh interpreter; None if it fails."""
    command = [sys.executable, "-c", "import sys; from optbench.cli import main; sys.exit(main())"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        completed = subprocess.run(
            [*command, *arguments], env=environment, capture_output=True, check=False
        )
        times.append(time.perf_counter() - start)
        if completed.returncode != 0:
            return None
    return median(times)


def sweep_config(iterations: int) -> dict:
    """16 gd runs on the logistic instance, each doing ``iterations`` steps (gtol 0)."""
    return {
        "name": "overhead_sweep",
        "problems": [LOGISTIC],
        "solvers": [{"name": "gd", "params": {"step_size": {"logspace": [-2, 0, 16]}}}],
        "stop": {"gtol": 0.0, "max_iter": iterations},
        "targets": [1e-4],
    }


def sweep_in_process(iterations: int) -> tuple[float, float]:
    """Seconds of the sweep through :func:`run_experiment` in this process, jobs=1
    then jobs=2 (the first joblib call here: workers start cold)."""
    from optbench.run.experiment import run_experiment

    config = sweep_config(iterations)
    times = []
    with tempfile.TemporaryDirectory() as directory:
        for jobs in (1, 2):
            out = Path(directory) / f"jobs{jobs}"
            times.append(seconds(lambda: run_experiment(config, out=out, jobs=jobs,  # noqa: B023
                                                        progress=False, plot=False)))  # fmt: skip
    return times[0], times[1]


def sweep_fresh_processes(iterations: int, repeats: int) -> tuple[float, float]:
    """Median seconds of the sweep with jobs=1 and jobs=2, each in a fresh interpreter
    as one ``optbench run`` would: imports (about 1.5 s) and worker start-up included."""
    import yaml

    config = yaml.safe_dump(sweep_config(iterations))
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as directory:
        for repeat in range(repeats):
            for jobs in (1, 2):
                out = Path(directory) / f"jobs{jobs}_{repeat}"
                command = [sys.executable, "-c", SWEEP_SCRIPT, config, str(out), str(jobs)]
                start = time.perf_counter()
                subprocess.run(command, env=environment, check=True)
                times[jobs].append(time.perf_counter() - start)
    return median(times[1]), median(times[2])


def _hand_loop_task(iterations: int) -> float:
    """Worker: the sweep's work by hand (gd on the logistic instance), BLAS pinned."""
    with threadpool_limits(1, "blas"):
        problem = optbench.make_problem(LOGISTIC)
        return seconds(lambda: hand_loop(problem, 0.1, iterations))


def machine_parallel_ratio(iterations: int, repeats: int) -> float:
    """Wall time of the sweep's work by hand in 2 warm processes over 1: what the
    machine allows under its current load (problem builds included, start-up not)."""
    from concurrent.futures import ProcessPoolExecutor

    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_hand_loop_task, [1] * workers))  # start and import
                start = time.perf_counter()
                list(pool.map(_hand_loop_task, [iterations] * 16))
                times[workers].append(time.perf_counter() - start)
    return median(times[2]) / median(times[1])


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7

    logistic = optbench.make_problem(LOGISTIC)
    smoothness = logistic.smoothness()
    step_size = 1.0 / smoothness.L if smoothness.L else 0.1
    rosenbrock = optbench.make_problem("rosenbrock", dim=2)
    harness(logistic, step_size, 2)  # warm up: f* certificate, imports, caches
    with threadpool_limits(1, "blas"):
        logistic_times = per_iteration(logistic, step_size, 100, 5 * repeats)
        rosenbrock_times = per_iteration(rosenbrock, 1e-3, 10_000, repeats)
        fixed = fixed_cost_per_run(rosenbrock, 300)
        record_build, record_write = store_cost_per_run(200)
    help_time = startup_time(["--help"], repeats)
    list_time = startup_time(["list"], repeats)
    serial, parallel = sweep_in_process(SWEEP_ITERATIONS)
    fresh_serial, fresh_parallel = sweep_fresh_processes(SWEEP_ITERATIONS, 1 if args.quick else 2)
    reference = machine_parallel_ratio(SWEEP_ITERATIONS, 1 if args.quick else 2)

    overhead = logistic_times["overhead"]
    rows = [
        (f"{LOGISTIC} (10000x100): one value_and_grad", f"{logistic_times['vag'] * 1e3:.3f} ms",
         "", ""),
        ("logistic: hand loop per iteration", f"{logistic_times['loop'] * 1e3:.3f} ms", "", ""),
        ("logistic: minimize(gd) per iteration", f"{logistic_times['harness'] * 1e3:.3f} ms",
         "", ""),
        ("logistic: harness overhead / value_and_grad", f"{overhead:.1%}", "<= 5%",
         verdict(overhead, 0.05)),
        ("rosenbrock 2-D: one value_and_grad", f"{rosenbrock_times['vag'] * 1e6:.1f} us", "", ""),
        ("rosenbrock 2-D: hand loop per iteration", f"{rosenbrock_times['loop'] * 1e6:.1f} us",
         "", ""),
        ("rosenbrock 2-D: minimize(gd) per iteration",
         f"{rosenbrock_times['harness'] * 1e6:.1f} us", "<= 30 us",
         verdict(rosenbrock_times["harness"], 30e-6)),
        ("fixed cost per run (1-iteration minimize)", f"{fixed * 1e3:.2f} ms", "<= 5 ms",
         verdict(fixed, 5e-3)),
        ("optbench run: record per run (execute_spec)", f"{record_build * 1e3:.2f} ms", "", ""),
        ("optbench run: per-run files (write_record)", f"{record_write * 1e3:.2f} ms", "", ""),
        ("optbench --help start-up",
         "n/a" if help_time is None else f"{help_time:.3f} s", "<= 0.3 s",
         verdict(help_time, 0.3)),
        ("optbench list start-up",
         "n/a" if list_time is None else f"{list_time:.3f} s", "<= 0.3 s",
         verdict(list_time, 0.3)),
        ("sweep of 16 runs, jobs=1", f"{serial:.2f} s", "", ""),
        ("sweep of 16 runs, jobs=2 (workers cold)", f"{parallel:.2f} s", "", ""),
        ("sweep: jobs=2 / jobs=1, one process", f"{parallel / serial:.2f}x", "<= 0.6x",
         verdict(parallel / serial, 0.6)),
        ("sweep: jobs=2 / jobs=1, fresh processes",
         f"{fresh_parallel / fresh_serial:.2f}x ({fresh_parallel:.1f}/{fresh_serial:.1f} s)",
         "", ""),
        ("same work by hand, 2 processes / 1 (machine)", f"{reference:.2f}x", "", ""),
    ]  # fmt: skip
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    header = ("measurement", "value", "target", "")
    print(f"optbench overhead (BLAS pinned to 1 thread; medians of {repeats} repeats; "
          f"{os.cpu_count()} CPUs)")  # fmt: skip
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
