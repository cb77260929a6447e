"""What the figures of ``optbench run`` cost, against its runs and against the run count.

Prints tables (no assertions) with the targets beside them:

``quickstart``
    CPU time of the runs of ``configs/quickstart.yaml`` (``jobs=1``, no figures, in this
    process's children) against the CPU time of its figures at ``--plots summary``
    (the default) and ``--plots all``: computing the figure data once, then drawing
    every file of ``plots/`` in ``--figure-format`` and keeping each SVG for
    ``report.html`` (the default, SVG: one drawing per figure, the file's text kept;
    PNG or PDF: the file, then the same figure drawn again as SVG). Each step runs in
    a fresh interpreter that has already imported what ``optbench run`` imports before
    that step, so the figures pay for importing matplotlib as they do in a run. Target: the default
    figures cost less than the runs.
``scale``
    Sweeps of tiny runs (``rosenbrock_2d``, gd, n step sizes, ``max_iter: 10``), run
    once with ``--plots none``; then the figures of each level timed alone, as above,
    in milliseconds per run. Targets: linear in the runs, well under 1 ms per run at
    10,000 runs.

CPU time (``time.process_time`` of the step; BLAS pinned to one thread) is the number
to read on a shared machine; the load average is printed. Medians over ``--repeats``.
Run from the repository root::

    PYTHONPATH=. python benchmarks/figures.py [--repeats 3] [--runs 1000,10000]
        [--figure-format png]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import REPO, fresh_environment

from optbench.analysis.plot_kinds import DEFAULT_FIGURE_FORMAT
from optbench.analysis.style import FORMATS

RUNS_STEP = """
import json, sys, time
from threadpoolctl import threadpool_limits
threadpool_limits(1)
from optbench.run.experiment import run_experiment
from optbench.run.config import load_config
config = load_config(sys.argv[1])
start = time.process_time()
run_experiment(config, out=sys.argv[2], jobs=1, progress=False, plot="none", force=True)
print(json.dumps({"runs": time.process_time() - start}))
"""

FIGURES_STEP = """
import json, sys, time
from threadpoolctl import threadpool_limits
threadpool_limits(1)
import pandas
from optbench.analysis.plot_kinds import compute_figures, render_figures
from optbench.run.results import load
start = time.process_time()
results = load(sys.argv[1])
figure_set = compute_figures(results, level=sys.argv[2], strict=False)
data = time.process_time()
paths = render_figures(figure_set, sys.argv[3], sys.argv[4], svg=True)
end = time.process_time()
print(json.dumps({"data": data - start, "draw": end - data, "total": end - start,
                  "figures": len(paths)}))
"""


def _step(code: str, *args: str) -> dict[str, float]:
    env = fresh_environment(OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def _figures(
    results: Path, level: str, repeats: int, scratch: Path, fmt: str
) -> list[dict[str, float]]:
    return [
        _step(FIGURES_STEP, str(results), level, str(scratch / f"plots_{level}_{i}"), fmt)
        for i in range(repeats)
    ]


def quickstart(repeats: int, scratch: Path, fmt: str) -> None:
    """Runs of the quick start against its figures, per level."""
    out = scratch / "quickstart"
    config = str(REPO / "configs" / "quickstart.yaml")
    runs = [_step(RUNS_STEP, config, str(out)) for _ in range(repeats)]
    print(f"quickstart: runs (jobs 1, no figures) {_median(runs, 'runs'):.2f} s CPU")
    print(f"{'--plots':>8} {'figures':>8} {'data s':>7} {'draw s':>7} {'total s':>8} "
          f"{'/ runs':>7}")  # fmt: skip
    for level in ("summary", "all"):
        found = _figures(out, level, repeats, scratch, fmt)
        total = _median(found, "total")
        print(
            f"{level:>8} {int(found[0]['figures']):>8} {_median(found, 'data'):>7.2f} "
            f"{_median(found, 'draw'):>7.2f} {total:>8.2f} "
            f"{total / _median(runs, 'runs'):>7.2f}"
        )
    print("target: the default (summary) figures cost less than the runs (/ runs < 1)")


def scale(counts: list[int], repeats: int, scratch: Path, fmt: str) -> None:
    """Figures of tiny sweeps of growing size, per run."""
    print(f"{'runs':>7} {'--plots':>8} {'figures':>8} {'data s':>7} {'draw s':>7} "
          f"{'total s':>8} {'ms/run':>7}")  # fmt: skip
    for count in counts:
        config = scratch / f"tiny{count}.yaml"
        config.write_text(
            f"name: tiny{count}\nproblems: [rosenbrock_2d]\n"
            f"solvers:\n  - {{name: gd, params: {{step_size: {{logspace: [-6, -2, {count}]}}}}}}\n"
            "stop: {max_iter: 10}\nseeds: [0]\njobs: 2\n"
        )
        out = scratch / f"tiny{count}"
        env = fresh_environment(OPENBLAS_NUM_THREADS="1")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "optbench.cli",
                "run",
                str(config),
                "--out",
                str(out),
                "--plots",
                "none",
                "--quiet",
            ],  # fmt: skip
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for level in ("summary", "all"):
            found = _figures(out, level, repeats, scratch, fmt)
            total = _median(found, "total")
            print(
                f"{count:>7} {level:>8} {int(found[0]['figures']):>8} "
                f"{_median(found, 'data'):>7.2f} {_median(found, 'draw'):>7.2f} "
                f"{total:>8.2f} {1000 * total / count:>7.3f}"
            )
    print("targets: linear in the runs; well under 1 ms per run at 10,000 runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", default="1000,10000", help="sweep sizes of the scale table")
    parser.add_argument("--sections", default="quickstart,scale")
    parser.add_argument(
        "--figure-format",
        default=DEFAULT_FIGURE_FORMAT,
        choices=FORMATS,
        help=f"file format of the figures (default {DEFAULT_FIGURE_FORMAT}, as optbench run)",
    )
    args = parser.parse_args()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs, BLAS 1 thread, CPU time, median of {args.repeats}, "
          f"figures as {args.figure_format}")  # fmt: skip
    sections = args.sections.split(",")
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        if "quickstart" in sections:
            quickstart(args.repeats, scratch, args.figure_format)
        if "scale" in sections:
            counts = [int(n) for n in args.runs.split(",")]
            scale(counts, args.repeats, scratch, args.figure_format)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
