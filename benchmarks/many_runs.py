"""Many tiny runs end to end: where the fixed cost per run goes, and whether it grows.

The experiment is the tiny one of the project's target: ``rosenbrock_2d``, ``gd`` at N
step sizes (``logspace [-6, -2, N]``), ``max_iter: 10``, one seed; N = 1,000 and
10,000 (and 100,000 with ``--large``). For each N it prints

``end to end``
    ``optbench run CONFIG`` in a fresh process, as a user runs it: default figures,
    report.html and report.md, the short summary (wall time, and CPU time of the
    command with its worker processes: user + system of its reaped children). The
    target is 60 s for N = 10,000 on 2 cores.
``steps``
    the same pipeline in this process, one step at a time: config expansion
    (``load_config``), the runs (``execute``: records kept in memory), writing them
    (``ResultStore.create`` and ``write_batch``, batches of the size the executor
    hands over), ``finalize`` (the merged tables), the summary ``optbench run``
    prints (``run_summary``), the report text (``write_reports`` without figures) and
    the default figures (``Results.plot``). CPU time of this process (the runs' worker
    processes are not in it with ``--jobs`` > 1: read the wall time there) and wall time.
    Imports and the start of the worker processes are paid once before the first size
    (a config of 10 runs expanded and run), so that the sizes compare like with like;
    the end-to-end times include them.

then, per step, the milliseconds per run and the ratio of the times at 10,000 and
1,000 runs, wall and CPU (linear is about 10; more means a step grows faster than the
number of runs; on a shared machine the CPU ratio is the one to read, except for the
runs with ``--jobs`` > 1, whose work is in other processes). Last, ``compare``:
``optbench run`` end to end with ``jobs: 1`` and with ``--jobs``, alternated
``--repeats`` times (default 3) at each size up to 10,000, the medians and their ratio
(target at most 1: more jobs never slower on tiny runs).
The first lines say which CPU (and its SIMD level), BLAS and load the numbers were
measured with. BLAS is pinned to one thread. Run from the repository root::

    PYTHONPATH=. python benchmarks/many_runs.py [--large] [--jobs 2] [--skip figures,e2e]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from machine import fresh_environment, machine_lines
from threadpoolctl import threadpool_limits

SIZES = (1_000, 10_000)
LARGE = 100_000
#: Seconds allowed for the experiment of 10,000 tiny runs end to end (2 cores).
TARGET_SECONDS = 60.0
#: Fixed cost per run allowed, all in.
TARGET_MS_PER_RUN = 2.0
STEPS = ("config", "runs", "writes", "finalize", "summary", "report", "figures")
PARTS = ("e2e", "steps", "compare", *STEPS)


def tiny_config(runs: int, jobs: int) -> dict[str, Any]:
    """The tiny experiment of ``runs`` runs."""
    return {
        "name": f"tiny{runs}",
        "problems": ["rosenbrock_2d"],
        "solvers": [{"name": "gd", "params": {"step_size": {"logspace": [-6, -2, runs]}}}],
        "stop": {"max_iter": 10},
        "seeds": [0],
        "jobs": jobs,
    }


def end_to_end(config: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds (children: the command and its workers) of ``optbench run``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    environment = fresh_environment(OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, "-m", "optbench.cli", "run", str(config), "--out", str(out)]
    completed = subprocess.run(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"optbench run failed ({completed.returncode}): {completed.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compare_jobs(sizes: list[int], jobs: int, repeats: int, directory: Path) -> list[list[str]]:
    """Rows of the jobs comparison: ``optbench run`` end to end with ``jobs: 1`` and with
    ``jobs``, alternated ``repeats`` times per size; median wall seconds and their ratio
    (target: at most 1, ``jobs`` at least as fast as one job on tiny runs)."""
    rows = [["runs", "jobs 1: wall s", f"jobs {jobs}: wall s", "median ratio", "target", ""]]
    for runs in sizes:
        walls: dict[int, list[float]] = {1: [], jobs: []}
        for repeat in range(repeats):
            for n_jobs in (1, jobs) if repeat % 2 == 0 else (jobs, 1):
                config = directory / f"compare{runs}_{n_jobs}.yaml"
                config.write_text(yaml.safe_dump(tiny_config(runs, n_jobs), sort_keys=False))
                out = directory / f"compare{runs}_{n_jobs}_{repeat}"
                walls[n_jobs].append(end_to_end(config, out)[0])
        ratio = statistics.median(walls[jobs]) / statistics.median(walls[1])
        rows.append([
            f"{runs:,}",
            " ".join(f"{wall:.2f}" for wall in walls[1]),
            " ".join(f"{wall:.2f}" for wall in walls[jobs]),
            f"{ratio:.2f}",
            "<= 1",
            "ok" if ratio <= 1 else "MISSED",
        ])  # fmt: skip
    return rows


def timed(function: Callable[[], Any]) -> tuple[Any, float, float]:
    """``function()``, its wall seconds and the CPU seconds of this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def steps(runs: int, jobs: int, out: Path, skip: set[str]) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds of each step of the pipeline, in this process."""
    from optbench.analysis.report import write_reports
    from optbench.analysis.run_summary import run_summary
    from optbench.run.config import load_config
    from optbench.run.executor import execute
    from optbench.run.results import load
    from optbench.run.store import ResultStore

    times: dict[str, tuple[float, float]] = {}
    config, *times["config"] = timed(lambda: load_config(tiny_config(runs, jobs)))
    specs = list(config.runs)
    batches: list[list[Any]] = []
    _, *times["runs"] = timed(lambda: execute(specs, batches.append, jobs=jobs, progress=False))
    store = ResultStore(out)

    def write() -> None:
        store.create(config.model_dump(mode="json"), specs)
        for batch in batches:
            store.write_batch(batch)

    _, *times["writes"] = timed(write)
    _, *times["finalize"] = timed(store.finalize)
    results = load(out)
    reports: list[Path] = []
    if "report" not in skip:
        reports, *times["report"] = timed(lambda: write_reports(results, figures=False))
    if "summary" not in skip:
        _, *times["summary"] = timed(
            lambda: run_summary(results, reports[0] if reports else out / "report.html")
        )
    if "figures" not in skip:
        _, *times["figures"] = timed(results.plot)
    return {name: (wall, cpu) for name, (wall, cpu) in times.items()}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if k else cell.ljust(w)
            for k, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [rows[0], ["-" * w for w in widths], *rows[1:]]
    ]
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help=f"also {LARGE:,} runs")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--skip",
        default="",
        help=f"comma-separated parts to leave out, of {', '.join(PARTS)} "
        "(e2e: the fresh processes; steps: the in-process steps)",
    )
    parser.add_argument("--sizes", default="", help="comma-separated run counts instead")
    parser.add_argument(
        "--repeats", type=int, default=3, help="end-to-end runs per jobs value in compare"
    )
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    unknown = sorted(skip - set(PARTS))
    if unknown:
        parser.error(f"--skip: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    sizes = [int(n) for n in args.sizes.split(",") if n] or [
        *SIZES,
        *([LARGE] if args.large else []),
    ]

    print(f"optbench many runs: tiny rosenbrock_2d gd runs, max_iter 10, jobs {args.jobs}")
    print("BLAS pinned to 1 thread (OPENBLAS_NUM_THREADS=1 in fresh processes, threadpoolctl here)")
    threadpool_limits(1, "blas")  # for the whole process, the machine lines included
    for line in machine_lines():
        print(line)
    if "steps" not in skip:  # imports, registries and worker processes, once
        from optbench.run.config import load_config
        from optbench.run.executor import execute

        execute(load_config(tiny_config(10, args.jobs)).runs, lambda records: None, jobs=args.jobs,
                progress=False)  # fmt: skip
    e2e: dict[int, tuple[float, float]] = {}
    step_times: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for runs in sizes:
            config = Path(directory) / f"tiny{runs}.yaml"
            config.write_text(yaml.safe_dump(tiny_config(runs, args.jobs), sort_keys=False))
            if "e2e" not in skip:
                e2e[runs] = end_to_end(config, Path(directory) / f"e2e{runs}")
                wall, cpu = e2e[runs]
                print(f"\nend to end, {runs:,} runs: {wall:.1f} s wall, {cpu:.1f} s CPU", end="")
                if runs == 10_000:
                    print(f" (target {TARGET_SECONDS:.0f} s)", end="")
                print(f"; {wall / runs * 1e3:.2f} ms a run (target {TARGET_MS_PER_RUN} ms)")
            if "steps" not in skip:
                step_times[runs] = steps(runs, args.jobs, Path(directory) / f"steps{runs}", skip)
                total = sum(wall for wall, _ in step_times[runs].values())
                print(f"steps in one process, {runs:,} runs: {total:.1f} s wall in all")

    if step_times:
        header = [
            "step",
            *(f"{n:,}: wall s (CPU s)" for n in sizes),
            *(f"ms/run at {n:,}" for n in sizes),
        ]
        if 1_000 in step_times and 10_000 in step_times:
            header.append("10k/1k wall (CPU)")
        rows = [header]
        for step in STEPS:
            if not all(step in step_times[n] for n in step_times):
                continue
            row = [step]
            row += [f"{step_times[n][step][0]:.2f} ({step_times[n][step][1]:.2f})" for n in sizes]
            row += [f"{step_times[n][step][0] / n * 1e3:.3f}" for n in sizes]
            if len(header) > len(row):
                wall, cpu = (
                    step_times[10_000][step][k] / max(step_times[1_000][step][k], 1e-9)
                    for k in (0, 1)
                )
                row.append(f"{wall:.1f} ({cpu:.1f})")
            rows.append(row)
        print(f"\nsteps in one process (jobs {args.jobs}; CPU: this process only)")
        print(table(rows))
    if len(e2e) > 1 and 1_000 in e2e and 10_000 in e2e:
        ratio = e2e[10_000][0] / e2e[1_000][0]
        print(f"\nend to end 10k/1k: {ratio:.1f} (linear: about 10, less with fixed start-up)")
    if 10_000 in e2e:
        wall = e2e[10_000][0]
        verdict = "ok" if wall <= TARGET_SECONDS else "MISSED"
        print(f"10,000 runs end to end: {wall:.1f} s, target {TARGET_SECONDS:.0f} s: {verdict}")
    if "compare" not in skip and args.jobs != 1:
        with tempfile.TemporaryDirectory() as directory:
            rows = compare_jobs([n for n in sizes if n <= 10_000], args.jobs, args.repeats,
                                Path(directory))  # fmt: skip
        print(f"\njobs {args.jobs} against jobs 1, end to end, alternated ({args.repeats} each)")
        print(table(rows))
    print(f"\n{machine_lines()[-1]} (at the end)")


if __name__ == "__main__":
    main()
