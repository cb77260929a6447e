"""How much oracle counts move when only the numerical stack changes.

The data behind the cross-stack tolerance of ``optbench compare`` (see
``docs/stack_spread.md``). Two steps::

    # 1. once per stack: the golden pairs and the quick start, counts to a JSON file
    PYTHONPATH=. python benchmarks/stack_spread.py collect OUT.json [--blas-threads N]
    # 2. the spread of every metric per row over all the files
    PYTHONPATH=. python benchmarks/stack_spread.py table OUT*.json

Simulate another CPU by setting, in the shell command of step 1 only, numpy's
``NPY_DISABLE_CPU_FEATURES`` (e.g. ``X86_V4``) and OpenBLAS's ``OPENBLAS_CORETYPE``
(e.g. ``Sandybridge``); ``--blas-threads`` sets the BLAS threads of the runs. The
stack each file was made on is stored in it (:func:`optbench.stack.stack_fingerprint`).

The table lists every (row, metric) whose value is not the same on all stacks: its
value on the first stack, the smallest and largest, their ratio, on how many stacks it
differs from the first, and whether the largest is within the cross-stack tolerance of
``optbench compare`` from the smallest; then the largest ratio per metric.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

#: Quick-start summary columns compared (the counts and targets compare judges).
QUICKSTART_METRICS = ("status", "iters", "cost", "f_gap_final", "grad_norm_final")
#: Golden-file columns compared.
GOLDEN_METRICS = ("status", "iters", "n_f", "n_g", "n_hvp", "n_hess")


def collect(out: Path, blas_threads: int) -> None:
    """Compute the golden rows and run the quick start on this stack; write ``out``."""
    import golden_counts
    from threadpoolctl import threadpool_limits

    from optbench.run.environment import collect_environment
    from optbench.run.experiment import run_experiment

    with threadpool_limits(limits=blas_threads):
        golden = golden_counts.compute_rows()
    with tempfile.TemporaryDirectory() as directory:
        results = run_experiment(
            REPO / "configs" / "quickstart.yaml",
            out=Path(directory) / "quickstart",
            jobs=1,
            progress=False,
            plot=False,
            blas_threads=blas_threads,
        )
        summary = results.summary
    targets = [c for c in summary.columns if c.startswith(("iters_to_", "cost_to_"))]
    quickstart = {
        f"{record['problem']} {record['solver_label']} seed {record['seed']}": {
            name: _plain(record[name]) for name in (*QUICKSTART_METRICS, *targets)
        }
        for record in summary.to_dict("records")
    }
    data = {
        "stack": collect_environment(blas_threads)["stack"],
        "golden": {
            f"{row['problem']} {row['solver']}[{row['params']}]": {
                name: _plain(row[name]) for name in GOLDEN_METRICS
            }
            for row in golden
        },
        "quickstart": quickstart,
    }
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(golden)} golden rows, {len(quickstart)} quick-start runs")


def _plain(value: Any) -> Any:
    """Numbers as float (NaN as None), text as text."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if number != number else number


def _label(stack: dict[str, str]) -> str:
    kernels = {part.split(" (")[0].split()[-1] for part in stack["blas"].split("; ")}
    return f"simd={stack['numpy_simd']} blas={'/'.join(sorted(kernels))} t={stack['blas_threads']}"


def table(paths: list[Path]) -> None:
    """Print the spread of every metric that differs between the files.

    For counts, ``rule`` says whether the largest value is within the cross-stack
    tolerance of ``optbench compare`` from the smallest (``yes``/``NO``).
    """
    import numpy as np

    from optbench.analysis.compare import StackRule

    rule = StackRule(differences=("measured",))
    files = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    print("stacks:")
    for index, data in enumerate(files):
        print(f"  S{index}: {_label(data['stack'])}")
    worst: dict[str, float] = {}
    for section in ("golden", "quickstart"):
        print(f"\n{section}: (row, metric) pairs whose value is not the same on every stack\n")
        print("| row | metric | S0 | min | max | max/min | stacks ≠ S0 | rule |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        keys = files[0][section]
        differing = 0
        for key in keys:
            for metric in keys[key]:
                values = [data[section].get(key, {}).get(metric) for data in files]
                if len(set(map(str, values))) == 1:
                    continue
                differing += 1
                others = sum(str(v) != str(values[0]) for v in values)
                numbers = [v for v in values if isinstance(v, float)]
                if metric == "status" or len(numbers) != len(values):
                    shown = ", ".join(sorted({str(v) for v in values}))
                    print(f"| {key} | {metric} | {values[0]} | {shown} | | | {others} | |")
                    continue
                low, high = min(numbers), max(numbers)
                ratio = high / low if low > 0 else float("nan")
                name = f"{section}:{metric.split('_to_')[0]}"
                worst[name] = max(worst.get(name, 1.0), ratio)
                within = ""
                if metric.split("_to_")[0] in ("iters", "cost", "n_f", "n_g", "n_hvp", "n_hess"):
                    within = "yes" if high <= rule.allowed(metric, np.array(low)) else "NO"
                print(
                    f"| {key} | {metric} | {_short(values[0])} | {_short(low)} | {_short(high)} "
                    f"| {ratio:.3g} | {others} | {within} |"
                )
        print(f"\n{differing} (row, metric) pairs differ; {len(keys)} rows")
    print("\nlargest max/min per metric:")
    for name, ratio in sorted(worst.items()):
        print(f"  {name:28s} {ratio:.3f}")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "–" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/stack_spread.py")
    commands = parser.add_subparsers(dest="command", required=True)
    collect_parser = commands.add_parser("collect", help="counts on this stack to a JSON file")
    collect_parser.add_argument("out", type=Path)
    collect_parser.add_argument("--blas-threads", type=int, default=1)
    table_parser = commands.add_parser("table", help="spread over several JSON files")
    table_parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args.out, args.blas_threads)
    else:
        table(args.paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
