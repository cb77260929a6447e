"""Pairing the runs of two results (a new one and a baseline) for a comparison.

:func:`load_summary` reads a summary from a results directory or takes a DataFrame;
:func:`match_runs` joins two summaries run by run: by ``run_id`` when both sides have
it (it hashes exactly the problem, its parameters, the solver, its parameters and the
seed), otherwise by ``(problem, solver_label, seed)``. Every run must match: a run on
one side only, a run listed twice or a missing key makes the two incomparable
(:class:`IncomparableError`, one line naming the runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeAlias

import pandas as pd

#: Runs listed by name in an :class:`IncomparableError` before "… and N more".
MAX_LISTED = 5
#: Columns that identify a run where there are no run ids.
KEY_COLUMNS = ("problem", "solver_label", "seed")

SummarySource: TypeAlias = str | os.PathLike | pd.DataFrame


class IncomparableError(ValueError):
    """The two results cannot be compared (missing, or runs that do not match)."""


def load_summary(source: SummarySource, role: str = "results") -> pd.DataFrame:
    """A summary table from a results directory (``summary.csv``) or a DataFrame.

    ``runs.csv``, when present, fills key columns the summary lacks.

    Raises
    ------
    IncomparableError
        The directory or its ``summary.csv`` does not exist.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    summary_path = path / "summary.csv"
    if not path.is_dir():
        raise IncomparableError(f"{role} {path}: no such results directory")
    if not summary_path.is_file():
        raise IncomparableError(f"{role} {path}: no summary.csv (not a results directory)")
    text_columns = {c: str for c in ("run_id", "problem", "solver_label", "status", "message")}
    summary = pd.read_csv(summary_path, dtype=text_columns)
    runs_path = path / "runs.csv"
    if runs_path.is_file() and "run_id" in summary:
        runs = pd.read_csv(runs_path, dtype={"run_id": str})
        extra = [c for c in ("solver_label", "seed") if c in runs and c not in summary]
        if extra:
            summary = summary.merge(runs[["run_id", *extra]], on="run_id", how="left")
    return summary


def _describe(rows: pd.DataFrame) -> list[str]:
    described = []
    for row in rows.itertuples(index=False):
        fields = row._asdict()
        name = f"{fields.get('solver_label', '?')} on {fields.get('problem', '?')}"
        if "seed" in fields:
            name += f" seed {fields['seed']}"
        if "run_id" in fields:
            name += f" (run {fields['run_id']})"
        described.append(name)
    return described


def _unmatched_message(only_new: pd.DataFrame, only_base: pd.DataFrame) -> str:
    parts = []
    for rows, where in ((only_new, "only in new"), (only_base, "only in baseline")):
        if len(rows):
            names = _describe(rows)
            listed = ", ".join(names[:MAX_LISTED])
            more = f", … and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            parts.append(f"{len(names)} {where}: {listed}{more}")
    return "unmatched runs: " + "; ".join(parts)


def match_runs(new: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Join the two summaries run by run (suffixes ``_new`` and ``_baseline``).

    Raises
    ------
    IncomparableError
        Missing key columns, duplicated runs, or runs on one side only.
    """
    if "run_id" in new and "run_id" in baseline:
        keys = ["run_id"]
    else:
        keys = list(KEY_COLUMNS)
        for side, frame in (("new", new), ("baseline", baseline)):
            missing = [k for k in keys if k not in frame]
            if missing:
                raise IncomparableError(f"{side}: cannot match runs, missing {missing}")
    for side, frame in (("new", new), ("baseline", baseline)):
        if frame.empty:
            raise IncomparableError(f"{side}: no runs")
        duplicated = frame[frame.duplicated(keys, keep=False)]
        if len(duplicated):
            names = ", ".join(_describe(duplicated)[:MAX_LISTED])
            raise IncomparableError(f"{side}: runs appear more than once: {names}")
    new_keys = new.set_index(keys).index
    base_keys = baseline.set_index(keys).index
    if not (new_keys.isin(base_keys).all() and base_keys.isin(new_keys).all()):
        only_new = new[~new_keys.isin(base_keys)]
        only_base = baseline[~base_keys.isin(new_keys)]
        raise IncomparableError(_unmatched_message(only_new, only_base))
    joined = new.merge(baseline, on=keys, how="left", suffixes=("_new", "_baseline"))
    for key in ("run_id", *KEY_COLUMNS):
        if key not in joined:
            source = next(
                (f"{key}_{s}" for s in ("new", "baseline") if f"{key}_{s}" in joined), None
            )
            joined[key] = joined[source] if source else ""
    return joined
