"""Harness overhead of optbench: per iteration, recorder memory, start-up, per run, jobs.

Prints tables (no assertions) with the project's targets beside them:

``iteration``
    gradient descent at a fixed step through the runner
    (:func:`~optbench.run.runner.run_solver`, default logging: a trace row every
    iteration) against a hand-written loop doing the same steps,
    ``x = x - s*g; f, g = problem.value_and_grad(x)``, on the same problem object:
    logistic 10000x100, least squares 2000x200 and 2-D Rosenbrock. Both are timed in
    CPU time of this process (``time.process_time``; wall time beside), interleaved
    with the order alternating, so a change in machine load hits both alike. The
    overhead per iteration is the paired difference, in microseconds and in per cent
    of the hand loop: median and interquartile range over the repeats. Targets: at
    most 2 us; at most 1 % on logistic and 15 % on Rosenbrock. Beside it, the floor:
    the hand loop with the runner's bookkeeping written inline (a clock read around
    the step, counters, the gradient norm, the stopping comparisons, one packed trace
    row; :func:`bookkeeping_loop`), timed in the same repeats: what any Python loop
    doing that work costs, with no function call but the step's own.
``recorder``
    bytes per trace row held by the run's :class:`~optbench.run.result.TraceRecorder`
    after a 100,000-iteration run (target <= 80), the peak of the run's traced
    allocations per row while it ran (``tracemalloc``: the buffer doubling included),
    and what the same rows take as lists of Python numbers (the former recorder).
``startup``
    ``optbench --help`` and ``optbench list`` as whole processes (the console script of
    this interpreter): wall time and CPU time (user + system of the child), medians and
    interquartile range. Targets 0.1 s and 0.3 s.
``run``
    the fixed cost of a run: CPU time of
    :func:`~optbench.run.executor.execute_run` (spec to record: solver, runner, trace
    and summary row) for 1- and 10-iteration gd runs on ``rosenbrock_2d`` (target: at
    most 0.5 ms for 10 iterations), and of writing runs
    (``write_batch`` of a batch of :data:`BATCH_RUNS`, per run).
``jobs``
    sweeps of 16 work-dominated runs (:data:`SWEEPS`: one bound by memory bandwidth,
    one in the caches) with ``jobs=2`` against ``jobs=1`` in this process (workers
    start cold; pairs in alternating order, the median of their ratios) and in fresh
    interpreters, next to the ratio the machine itself gives for the same work done by
    hand in two warm processes.

BLAS is pinned to one thread (threadpoolctl) in this process and in the workers. The
first lines say which CPU (and SIMD level), BLAS and load the numbers were measured
with: on a shared machine the CPU-time ratios are the ones to read. Run from the
repository root::

    PYTHONPATH=. python benchmarks/overhead.py [--quick] [--sections iteration,recorder]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median, quantiles

import numpy as np
from machine import fresh_environment, machine_lines
from threadpoolctl import threadpool_limits

import optbench
from optbench.numerics import SHORT_VECTOR
from optbench.run.executor import cached_problem, execute_run, execute_spec
from optbench.run.result import TraceRecorder
from optbench.run.runner import StopCriteria, run_solver
from optbench.run.spec import ProblemSpec, RunSpec
from optbench.run.store import ResultStore

SECTIONS = ("iteration", "recorder", "startup", "run", "jobs")
#: Dense logistic regression 10000×100 from the catalog (its certified f* is stored, so
#: no process spends time certifying it).
LOGISTIC = "logistic_corr"
#: The sweeps of the ``jobs`` section: catalog instance → iterations of each of its 16
#: runs (about 0.7 s a run here). The logistic instance streams an 8 MB matrix per
#: product, so two processes share the memory bandwidth; ``least_squares_ill`` (2000×100,
#: 1.6 MB) stays in the caches, where two processes come near half the time.
SWEEPS = {LOGISTIC: 2000, "least_squares_ill": 8000}
SWEEP_SCRIPT = (
    "import sys, yaml; from optbench.run.experiment import run_experiment; "
    "run_experiment(yaml.safe_load(sys.argv[1]), out=sys.argv[2], jobs=int(sys.argv[3]), "
    "progress=False, plot=False)"
)
#: Per-iteration targets: microseconds above the hand loop, and per cent of it.
OVERHEAD_TARGET_US = 2.0
PERCENT_TARGETS = {"logistic": 1.0, "rosenbrock": 15.0}
RECORDER_TARGET_BYTES = 80
STARTUP_TARGETS = {"--help": 0.1, "list": 0.3}
#: CPU milliseconds of execute_run for a 10-iteration tiny run (a quarter of the
#: pipeline's 2 ms per run).
RUN_TARGET_MS = 0.5


def seconds(function: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def cpu_and_wall(function: Callable[[], object]) -> tuple[float, float]:
    """CPU time of this process and wall time of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return time.process_time() - cpu, time.perf_counter() - wall


def hand_loop(problem: optbench.Problem, step_size: float, iterations: int) -> None:
    """Gradient descent by hand: x ← x − α ∇f(x) with the fused value and gradient."""
    x = problem.x0.copy()
    _, g = problem.value_and_grad(x)
    for _ in range(iterations):
        x = x - step_size * g
        _, g = problem.value_and_grad(x)


def bookkeeping_loop(problem: optbench.Problem, step_size: float, iterations: int) -> None:
    """The hand loop plus, written inline, what the runner must do each iteration: the
    solver time read around the step, three counters and the cost, the gradient norm
    (``math.hypot`` of the entries up to ``SHORT_VECTOR`` of them, as ``norm2``, else
    one ``np.vdot``), the stopping comparisons and a packed trace row of the
    recorder's layout. No function call but the step's own: the floor of any
    Python loop that counts, times, checks and records an iteration."""
    recorder = TraceRecorder(problem.f_star)
    pack = recorder._pack  # noqa: SLF001 - the recorder's own row packer
    rows = np.empty(iterations + 1, recorder._rows.dtype)  # noqa: SLF001
    row_bytes = rows.dtype.itemsize
    vdot, sqrt, hypot, clock = np.vdot, math.sqrt, math.hypot, time.perf_counter
    short = problem.dim <= SHORT_VECTOR
    n_f = n_g = 0
    cost, solver_time, f_limit, max_iter = 0.0, 0.0, math.inf, iterations
    x = problem.x0.copy()
    f, g = problem.value_and_grad(x)
    iteration = 0
    while True:
        grad_norm = hypot(*g.tolist()) if short else sqrt(vdot(g, g))
        go_on = -math.inf < f <= f_limit and 0.0 < grad_norm < math.inf and iteration < max_iter
        pack(rows, iteration * row_bytes, iteration, solver_time, f, grad_norm, n_f, n_g,
             0, 0, 0, 0, 0, 0, cost, step_size)  # fmt: skip
        if not go_on:
            break
        started = clock()
        x = x - step_size * g
        f, g = problem.value_and_grad(x)
        n_f, n_g, cost = n_f + 1, n_g + 1, cost + 1.0
        solver_time += clock() - started
        iteration += 1


def harness(problem: optbench.Problem, step_size: float, iterations: int) -> None:
    """The same steps through the runner (gtol 0: no early stop; a row every iteration)."""
    solver = optbench.make_solver("gd", step_size=step_size)
    result = run_solver(problem, solver, StopCriteria(gtol=0.0, max_iter=iterations))
    if result.iters != iterations or len(result.recorder) != iterations + 1:
        raise RuntimeError(f"expected {iterations} iterations, got {result!r}")


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median [q1, q3]`` of ``values`` times ``scale``."""
    q1, _, q3 = quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return f"{median(values) * scale:.{digits}f} [{q1 * scale:.{digits}f}, {q3 * scale:.{digits}f}]"


def per_iteration(
    problem: optbench.Problem, step_size: float, iterations: int, repeats: int
) -> dict[str, list[float]]:
    """Per-iteration seconds of the hand loop and the runner, paired per repeat.

    Each repeat times both, in alternating order; returns the CPU and wall seconds
    per iteration of each side and the paired differences and ratios (CPU).
    """
    sides = {
        "loop": lambda: hand_loop(problem, step_size, iterations),
        "floor": lambda: bookkeeping_loop(problem, step_size, iterations),
        "runner": lambda: harness(problem, step_size, iterations),
    }
    samples: dict[str, list[float]] = {
        name: [] for side in sides for name in (side, f"{side}_wall")
    } | {"extra": [], "ratio": [], "floor_extra": []}
    harness(problem, step_size, 2)  # warm up: f*, imports, caches
    for repeat in range(repeats):
        order = list(sides) if repeat % 2 == 0 else list(sides)[::-1]
        for name in order:
            cpu, wall = cpu_and_wall(sides[name])
            samples[name].append(cpu / iterations)
            samples[f"{name}_wall"].append(wall / iterations)
        samples["extra"].append(samples["runner"][-1] - samples["loop"][-1])
        samples["ratio"].append(samples["runner"][-1] / samples["loop"][-1] - 1.0)
        samples["floor_extra"].append(samples["floor"][-1] - samples["loop"][-1])
    return samples


def iteration_section(quick: bool) -> list[tuple[str, ...]]:
    """Rows of the per-iteration table."""
    logistic = optbench.make_problem(LOGISTIC)
    least_squares = optbench.make_problem("least_squares", n_samples=2000, n_features=200)
    rosenbrock = optbench.make_problem("rosenbrock", dim=2)
    cases = [  # (label, target key, problem, step size, iterations)
        ("logistic 10000x100", "logistic", logistic, 1.0 / logistic.smoothness().L, 100),
        ("least squares 2000x200", "", least_squares, 1.0 / least_squares.smoothness().L, 1000),
        ("rosenbrock 2-D", "rosenbrock", rosenbrock, 1e-3, 20_000),
    ]
    repeats = 7 if quick else 21
    rows = []
    for label, key, problem, step_size, iterations in cases:
        s = per_iteration(problem, step_size, iterations, repeats)
        extra_us = median(s["extra"]) * 1e6
        percent = median(s["ratio"]) * 100
        target = f"<= {OVERHEAD_TARGET_US:g} us"
        verdicts = [verdict(extra_us, OVERHEAD_TARGET_US)]
        if key in PERCENT_TARGETS:
            target += f", <= {PERCENT_TARGETS[key]:g} %"
            verdicts.append(verdict(percent, PERCENT_TARGETS[key]))
        rows.append((
            label,
            f"{median(s['loop']) * 1e6:.1f}",
            f"{median(s['runner']) * 1e6:.1f}",
            spread(s["floor_extra"], 1e6),
            spread(s["extra"], 1e6),
            spread(s["ratio"], 100),
            f"{median(s['loop_wall']) * 1e6:.1f} / {median(s['runner_wall']) * 1e6:.1f}",
            target,
            "/".join(verdicts),
        ))  # fmt: skip
    header = ("problem", "loop us", "runner us", "floor us [IQR]", "overhead us [IQR]",
              "overhead % [IQR]", "wall us loop/runner", "target", "")  # fmt: skip
    return [header, *rows]


def recorder_section(iterations: int) -> list[tuple[str, ...]]:
    """Rows of the recorder-memory table: bytes per trace row of a long run."""
    problem = optbench.make_problem("rosenbrock", dim=2)
    solver = optbench.make_solver("gd", step_size=1e-3)
    stop = StopCriteria(gtol=0.0, max_iter=iterations)
    run_solver(problem, solver, StopCriteria(gtol=0.0, max_iter=2))  # warm up
    tracemalloc.start()
    result = run_solver(problem, solver, stop)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    as_lists = result.recorder.columns
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = len(result.recorder)
    del as_lists
    return [
        ("measurement", "bytes per row", "target", ""),
        (f"recorder after a {iterations:,}-iteration run ({rows:,} rows)",
         f"{result.recorder.nbytes / rows:.1f}", f"<= {RECORDER_TARGET_BYTES}",
         verdict(result.recorder.nbytes / rows, RECORDER_TARGET_BYTES)),
        ("peak traced allocations of the whole run", f"{peak / rows:.1f}", "", ""),
        ("the same rows as lists of Python numbers", f"{(after - before) / rows:.1f}", "", ""),
    ]  # fmt: skip


def optbench_command() -> list[str]:
    """The console script ``optbench`` of this interpreter, else ``python -c`` its main."""
    script = Path(sys.executable).with_name("optbench")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from optbench.cli import main; sys.exit(main())"]


def startup_times(command: list[str], repeats: int) -> tuple[list[float], list[float]] | None:
    """Wall and CPU seconds (user + system of the child) of ``command`` as a whole
    process, per repeat, after one warm-up run; None if it fails.

    The children may write bytecode caches (:func:`machine.fresh_environment`), so the
    warm-up compiles and the timed runs load ``.pyc`` files, as an installed package does.
    """
    environment = fresh_environment()
    walls, cpus = [], []
    for repeat in range(repeats + 1):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        completed = subprocess.run(command, env=environment, capture_output=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode != 0:
            return None
        if repeat:
            walls.append(wall)
            cpus.append(after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime)
    return walls, cpus


def startup_section(repeats: int) -> list[tuple[str, ...]]:
    """Rows of the start-up table: the two commands, and the interpreter alone and with
    numpy imported (what any command that lists problems cannot go below)."""
    rows = [("command", "wall s median [IQR]", "CPU s median [IQR]", "target", "")]
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "python -c 'import numpy'": ([sys.executable, "-c", "import numpy"], None),
        **{
            f"optbench {arguments}": ([*optbench_command(), *arguments.split()], target)
            for arguments, target in STARTUP_TARGETS.items()
        },
    }
    for label, (command, target) in commands.items():
        times = startup_times(command, repeats)
        target_text = "" if target is None else f"<= {target} s"
        if times is None:
            rows.append((label, "failed", "", target_text, "n/a"))
            continue
        walls, cpus = times
        rows.append((
            label,
            spread(walls, digits=3),
            spread(cpus, digits=3),
            target_text,
            "" if target is None
            else f"wall {verdict(median(walls), target)}, CPU {verdict(median(cpus), target)}",
        ))  # fmt: skip
    return rows


def tiny_spec(iterations: int, step_size: float = 1e-3) -> RunSpec:
    """A tiny run of the issue's 10,000-run experiment: gd on ``rosenbrock_2d``."""
    return RunSpec(
        ProblemSpec("rosenbrock_2d"), "gd", {"step_size": step_size}, 0,
        StopCriteria(max_iter=iterations), (1e-2, 1e-4, 1e-6, 1e-8),
    )  # fmt: skip


def cpu_per_call(function: Callable[[], object], calls: int, repeats: int) -> list[float]:
    """CPU seconds per call of ``function``, one figure per repeat of ``calls`` calls."""
    figures = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            function()
        figures.append((time.process_time() - start) / calls)
    return figures


#: Runs in the batch whose writing is measured (a task of tiny runs holds hundreds).
BATCH_RUNS = 100


def run_section(quick: bool) -> list[tuple[str, ...]]:
    """Rows of the per-run table: CPU time of ``execute_run`` (spec to RunRecord, the
    problem built once) for 1- and 10-iteration runs, and of writing runs in a batch."""
    calls, repeats = (100, 7) if quick else (300, 15)
    rows = [("measurement", "ms median [IQR]", "target", "")]
    for iterations, target in ((1, None), (10, RUN_TARGET_MS)):
        specs = [tiny_spec(iterations, 10 ** (-6 + 4 * k / calls)) for k in range(calls)]
        problem = cached_problem(specs[0].problem)
        execute_run(specs[0], problem)  # warm up
        cursor = iter(specs * repeats)
        figures = cpu_per_call(lambda: execute_run(next(cursor), problem), calls, repeats)  # noqa: B023
        rows.append((
            f"execute_run, gd {iterations}-iteration run on rosenbrock_2d",
            spread(figures, 1e3, 3),
            "" if target is None else f"<= {target} ms",
            "" if target is None else verdict(median(figures) * 1e3, target),
        ))  # fmt: skip
    record = execute_spec(tiny_spec(10))
    with tempfile.TemporaryDirectory() as directory:
        store = ResultStore(directory)
        store.create({"name": "overhead"}, [tiny_spec(10)])
        batch = [record] * BATCH_RUNS
        writes = cpu_per_call(lambda: store.write_batch(batch), calls // 25, repeats)
    writes = [seconds / BATCH_RUNS for seconds in writes]
    rows.append((f"write_batch of {BATCH_RUNS} runs, per run", spread(writes, 1e3, 3), "", ""))
    return rows


def sweep_config(problem: str, iterations: int) -> dict:
    """16 gd runs on ``problem``, each doing ``iterations`` steps (gtol 0)."""
    return {
        "name": "overhead_sweep",
        "problems": [problem],
        "solvers": [{"name": "gd", "params": {"step_size": {"logspace": [-2, 0, 16]}}}],
        "stop": {"gtol": 0.0, "max_iter": iterations},
        "targets": [1e-4],
    }


def sweep_in_process(problem: str, iterations: int, repeats: int) -> tuple[float, float, float]:
    """Median seconds of the sweep through :func:`run_experiment` in this process with
    jobs=1 and jobs=2 (workers cold: the joblib executor is shut down first), in pairs
    of alternating order, and the median of the pairs' ratios."""
    from joblib.externals.loky import get_reusable_executor

    from optbench.run.experiment import run_experiment

    config = sweep_config(problem, iterations)
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as directory:
        for repeat in range(repeats):
            for jobs in (1, 2) if repeat % 2 == 0 else (2, 1):
                get_reusable_executor().shutdown(wait=True)
                out = Path(directory) / f"jobs{jobs}_{repeat}"
                times[jobs].append(seconds(lambda: run_experiment(  # noqa: B023
                    config, out=out, jobs=jobs, progress=False, plot=False)))  # noqa: B023  # fmt: skip
    ratio = median(two / one for one, two in zip(times[1], times[2], strict=True))
    return median(times[1]), median(times[2]), ratio


def sweep_fresh_processes(problem: str, iterations: int, repeats: int) -> tuple[float, float]:
    """Median seconds of the sweep with jobs=1 and jobs=2, each in a fresh interpreter
    as one ``optbench run`` would: imports (about 1.5 s) and worker start-up included."""
    import yaml

    config = yaml.safe_dump(sweep_config(problem, iterations))
    environment = fresh_environment()
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


def _hand_loop_task(problem_name: str, iterations: int) -> float:
    """Worker: a sweep's work by hand (gd on ``problem_name``), BLAS pinned."""
    with threadpool_limits(1, "blas"):
        problem = optbench.make_problem(problem_name)
        return seconds(lambda: hand_loop(problem, 0.1, iterations))


def machine_parallel_ratio(problem: str, iterations: int, repeats: int) -> float:
    """Wall time of the sweep's work by hand in 2 warm processes over 1: what the
    machine allows under its current load (problem builds included, start-up not)."""
    from concurrent.futures import ProcessPoolExecutor

    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_hand_loop_task, [problem] * workers, [1] * workers))  # start
                start = time.perf_counter()
                list(pool.map(_hand_loop_task, [problem] * 16, [iterations] * 16))
                times[workers].append(time.perf_counter() - start)
    return median(times[2]) / median(times[1])


def jobs_section(quick: bool) -> list[tuple[str, ...]]:
    """Rows of the parallel-sweep table, one block of rows per sweep of :data:`SWEEPS`."""
    repeats = 1 if quick else 3
    rows: list[tuple[str, ...]] = [("measurement", "value", "target", "")]
    for problem, iterations in SWEEPS.items():
        serial, parallel, ratio = sweep_in_process(problem, iterations, repeats)
        fresh_serial, fresh_parallel = sweep_fresh_processes(problem, iterations, repeats)
        reference = machine_parallel_ratio(problem, iterations, repeats)
        rows += [
            (f"{problem}: sweep of 16 runs, jobs=1 (median of {repeats})", f"{serial:.2f} s",
             "", ""),
            (f"{problem}: sweep of 16 runs, jobs=2 (workers cold)", f"{parallel:.2f} s", "", ""),
            (f"{problem}: jobs=2 / jobs=1, one process (median of pairs)", f"{ratio:.2f}x",
             "<= 0.6x", verdict(ratio, 0.6)),
            (f"{problem}: jobs=2 / jobs=1, fresh processes",
             f"{fresh_parallel / fresh_serial:.2f}x ({fresh_parallel:.1f}/{fresh_serial:.1f} s)",
             "", ""),
            (f"{problem}: same work by hand, 2 processes / 1 (machine)", f"{reference:.2f}x",
             "", ""),
        ]  # fmt: skip
    return rows


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "ok" if value <= target else "MISSED"


def print_table(title: str, rows: list[tuple[str, ...]]) -> None:
    """``rows`` (the first is the header) as aligned columns under ``title``."""
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    print(f"\n{title}")
    for row in [rows[0], tuple("-" * w for w in widths), *rows[1:]]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all)",
    )
    args = parser.parse_args()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    with threadpool_limits(1, "blas"):
        print("optbench overhead: BLAS pinned to 1 thread; CPU time of this process unless said")
        for line in machine_lines():
            print(line)
        if "iteration" in sections:
            print_table(
                "per iteration: gd through run_solver vs the hand loop (CPU time; "
                "median [interquartile range] of paired repeats; floor: the hand loop with "
                "the runner's bookkeeping written inline, above the hand loop)",
                iteration_section(args.quick),
            )
        if "recorder" in sections:
            print_table("trace recorder memory", recorder_section(100_000))
        if "run" in sections:
            print_table("per run (CPU time)", run_section(args.quick))
    if "startup" in sections:
        print_table("start-up as whole processes", startup_section(5 if args.quick else 11))
    if "jobs" in sections:
        print_table("parallel sweep (wall time)", jobs_section(args.quick))
    print(f"\n{machine_lines()[-1]} (at the end)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
