r"""Fixed-target measures: when did each run first reach each target?

For a run and a target level :math:`\varepsilon`, the *fixed-target* measures are the
first iteration, oracle cost and solver time at which the run's iterate passed the
convergence test. Two tests are used:

``absolute``
    :math:`f(x_k) - f^\star \le \varepsilon` with the problem's certified optimum
    :math:`f^\star` (the summary's ``*_to_*`` columns and the trace's ``f_gap``).
``relative``
    The test of Moré & Wild (2009, SIAM J. Optim. 20(1):172–191, eq. 2.2),

    .. math:: f(x_0) - f(x_k) \ge (1 - \tau)\,(f(x_0) - f_L),

    i.e. :math:`f(x_k) - f_L \le \tau\,(f(x_0) - f_L)`, with :math:`\tau = \varepsilon`.
    :math:`f_L = f^\star` where :math:`f^\star` is certified, otherwise the best value
    any run reached on that problem (over every solver, setting and seed of the
    results).

Where :math:`f^\star` is unknown (``f_gap`` is NaN for every run of a problem) the
absolute test is impossible, so the relative test with :math:`f_L` = best found is
used instead; every row says which (``test``) and where :math:`f_L` came from
(``f_star_source``: ``certified`` or ``best_found``), so a report can say so.

A run that never reaches a target is *censored*, not dropped: its row carries the
run's final iterations, cost, time and oracle calls with ``reached = False``.

Sources: the summary's ``{metric}_to_{eps}`` columns are computed by the runner
at every iteration, so they are preferred where they exist (absolute test, certified
problems). Otherwise the first *logged* trace row passing the test is used; with a
sparse (e.g. geometric) log this is an upper bound on the true first hit, never an
underestimate.

Problem instances are ``(problem, seed)`` pairs: seeds start from different points,
so each seed is a separate instance in the sense of Dolan & Moré (2002).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from optbench.analysis.frames import results_frames
from optbench.analysis.tables import family_key, summary_targets, target_column

#: The fixed-target metrics and their summary column prefix.
METRICS = ("iters", "cost", "time")
#: Oracle-call counters added up into ``calls`` (Moré & Wild's unit of work).
CALL_COLUMNS = ("n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J")
#: Columns of :func:`fixed_target_table`, in order.
HIT_COLUMNS = (
    "run_id",
    "problem",
    "seed",
    "optimizer",
    "solver_label",
    "family",
    "dim",
    "target",
    "test",
    "f_star_source",
    "source",
    "reached",
    "iters",
    "cost",
    "time",
    "calls",
)


def run_table(summary: pd.DataFrame | None, traces: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run with what the measures need.

    Columns ``run_id, problem, seed, optimizer, solver_label, family, dim, status,
    iters, cost, time, calls, f0, f_final, f_gap_final``. Without a summary they are
    read off the traces: ``solver_label`` is then the optimizer name and ``seed`` 0,
    so several runs of one optimizer on one problem cannot be told apart (an error).

    Parameters
    ----------
    summary : DataFrame or None
        A results ``summary.csv``.
    traces : DataFrame, optional
        A results ``traces.parquet`` (used when there is no summary, and for ``f0``
        when the summary has none).
    """
    if summary is None:
        if traces is None:
            raise ValueError("need a summary or traces")
        return _runs_from_traces(traces)
    runs = summary.copy()
    if "run_id" not in runs:
        runs["run_id"] = [f"run{i}" for i in range(len(runs))]
    runs["run_id"] = runs["run_id"].astype(str)
    if "seed" not in runs:
        runs["seed"] = 0
    if "optimizer" not in runs:
        raise ValueError("summary: missing column 'optimizer'")
    runs["family"] = family_key(runs)
    if "solver_label" not in runs:
        runs["solver_label"] = runs["family"]
    for column in ("dim", "f0", "f_final", "f_gap_final", "iters", "cost", "time"):
        if column not in runs:
            runs[column] = math.nan
    if "status" not in runs:
        runs["status"] = ""
    present = [c for c in CALL_COLUMNS if c in runs]
    runs["calls"] = _calls(runs) if present else math.nan
    if traces is not None and runs["f0"].isna().any():
        first = _first_rows(traces).set_index("run_id")["f"]
        runs["f0"] = runs["f0"].fillna(runs["run_id"].map(first))
    columns = [
        "run_id", "problem", "seed", "optimizer", "solver_label", "family", "dim", "status",
        "iters", "cost", "time", "calls", "f0", "f_final", "f_gap_final",
    ]  # fmt: skip
    return runs[columns].reset_index(drop=True)


def _calls(frame: pd.DataFrame) -> pd.Series:
    """Oracle calls per row: the sum of the :data:`CALL_COLUMNS` present (results written
    before ``n_r`` and ``n_J`` existed have neither: zero such calls)."""
    return frame[[c for c in CALL_COLUMNS if c in frame]].sum(axis=1)


def _first_rows(traces: pd.DataFrame) -> pd.DataFrame:
    ordered = traces.sort_values(["run_id", "iter"], kind="stable")
    return ordered.groupby("run_id", sort=False).head(1)


def _runs_from_traces(traces: pd.DataFrame) -> pd.DataFrame:
    ordered = traces.sort_values(["run_id", "iter"], kind="stable")
    first = ordered.groupby("run_id", sort=False).head(1).set_index("run_id")
    last = ordered.groupby("run_id", sort=False).tail(1).set_index("run_id")
    runs = pd.DataFrame(
        {
            "run_id": last.index.astype(str),
            "problem": last["problem"].to_numpy(),
            "seed": 0,
            "optimizer": last["optimizer"].to_numpy(),
            "solver_label": last["optimizer"].to_numpy(),
            "family": last["optimizer"].to_numpy(),
            "dim": math.nan,
            "status": "",
            "iters": last["iter"].to_numpy(),
            "cost": last["cost"].to_numpy(),
            "time": last["time"].to_numpy(),
            "calls": _calls(last).to_numpy(),
            "f0": first.loc[last.index, "f"].to_numpy(),
            "f_final": last["f"].to_numpy(),
            "f_gap_final": last["f_gap"].to_numpy(),
        }
    )
    clashes = runs.groupby(["problem", "solver_label"]).size()
    if (clashes > 1).any():
        problem, label = clashes[clashes > 1].index[0]
        raise ValueError(
            f"traces hold several runs of {label} on {problem}: pass the summary to tell "
            "seeds and settings apart"
        )
    return runs


def reference_values(runs: pd.DataFrame, traces: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per problem: whether f* is certified and the reference value :math:`f_L`.

    Returns a frame indexed by problem with columns ``f_star_source``
    (``certified`` when any run of the problem has a finite ``f - f*``, else
    ``best_found``) and ``f_ref``: :math:`f^\\star` when certified, else the least
    finite value of f reached by any run (final values and logged iterates).
    """
    values = [runs[["problem", "f_final"]].rename(columns={"f_final": "f"})]
    gaps = [runs[["problem", "f_final", "f_gap_final"]].set_axis(["problem", "f", "f_gap"], axis=1)]
    if traces is not None and len(traces):
        values.append(traces[["problem", "f"]])
        gaps.append(traces[["problem", "f", "f_gap"]])
    value = pd.concat(values, ignore_index=True)
    value = value[np.isfinite(value["f"].astype(float))]
    gap = pd.concat(gaps, ignore_index=True)
    gap = gap[np.isfinite(gap["f_gap"].astype(float)) & np.isfinite(gap["f"].astype(float))]
    f_star = (gap["f"] - gap["f_gap"]).groupby(gap["problem"]).median()
    best = value.groupby("problem")["f"].min()
    problems = pd.Index(pd.unique(runs["problem"]), name="problem")
    certified = problems.isin(f_star.index)
    return pd.DataFrame(
        {
            "f_star_source": np.where(certified, "certified", "best_found"),
            "f_ref": np.where(
                certified, f_star.reindex(problems).to_numpy(), best.reindex(problems).to_numpy()
            ),
        },
        index=problems,
    )


def results_hit_table(
    results: Any, targets: Sequence[float] | None = None, *, test: str = "absolute"
) -> pd.DataFrame:
    """:func:`fixed_target_table` of ``results`` (its summary and traces, if any),
    computed once per results object and targets (a ``Results`` or frames keep it:
    the report's sections and the figures share it; read-only)."""
    frames = results_frames(results)
    traces = frames.traces if frames.traces is not None and len(frames.traces) else None
    levels = None if targets is None else tuple(sorted({float(t) for t in targets}))
    key = ("fixed_target_table", levels, test)
    return frames.derived(
        key, lambda: fixed_target_table(frames.summary, traces, targets, test=test)
    )


def fixed_target_table(
    summary: pd.DataFrame | None,
    traces: pd.DataFrame | None = None,
    targets: Sequence[float] | None = None,
    *,
    test: str = "absolute",
) -> pd.DataFrame:
    r"""First iteration, cost, time and oracle calls at which each run reached each target.

    Parameters
    ----------
    summary : DataFrame or None
        A results summary (one row per run). ``None`` reads the runs off ``traces``.
    traces : DataFrame, optional
        A results trace table; needed where the summary has no ``*_to_*`` column for
        a target, where f* is unknown, and for ``test="relative"``.
    targets : sequence of float, optional
        Levels :math:`\varepsilon` (absolute) or :math:`\tau` (relative). Default: the
        targets of the summary's ``*_to_*`` columns.
    test : {"absolute", "relative"}
        ``absolute``: :math:`f - f^\star \le \varepsilon`, falling back to the
        relative test with :math:`f_L` = best found where f* is unknown.
        ``relative``: Moré & Wild's test for every problem (as data profiles use it).

    Returns
    -------
    DataFrame
        One row per (run, target), columns :data:`HIT_COLUMNS`. ``reached`` says
        whether the test held; censored rows (``reached == False``) carry the run's
        final ``iters, cost, time, calls``. ``calls`` = n_f + n_g + n_hvp + n_hess + n_r + n_J
        (NaN at a hit taken from the summary unless that iteration was logged).

    Raises
    ------
    ValueError
        No targets, an unknown ``test``, or a measure that needs traces without them.
    """
    if test not in ("absolute", "relative"):
        raise ValueError(f"test: must be 'absolute' or 'relative', got {test!r}")
    runs = run_table(summary, traces)
    if targets is None:
        targets = summary_targets(summary) if summary is not None else []
    targets = sorted({float(t) for t in targets}, reverse=True)
    if not targets:
        raise ValueError("no targets: pass targets= or a summary with *_to_* columns")
    references = reference_values(runs, traces)
    runs = runs.join(references, on="problem")
    ordered = None
    if traces is not None:
        ordered = traces.assign(run_id=traces["run_id"].astype(str))
        ordered = ordered.sort_values(["run_id", "iter"], kind="stable")
    frames = [_hits_for_target(runs, ordered, summary, target, test) for target in targets]
    table = pd.concat(frames, ignore_index=True)
    return table[list(HIT_COLUMNS)]


def _hits_for_target(
    runs: pd.DataFrame,
    traces: pd.DataFrame | None,
    summary: pd.DataFrame | None,
    target: float,
    test: str,
) -> pd.DataFrame:
    """Rows of :func:`fixed_target_table` for one target."""
    rows = runs.copy()
    rows["target"] = target
    absolute = (rows["f_star_source"] == "certified") & (test == "absolute")
    rows["test"] = np.where(absolute, "absolute", "relative")
    for metric in (*METRICS, "calls"):
        rows[f"hit_{metric}"] = math.nan
    rows["source"] = "trace"
    columns = [target_column(metric, target) for metric in METRICS]
    from_summary = absolute.copy()
    if summary is not None and all(c in summary for c in columns):
        by_run = summary.assign(run_id=summary["run_id"].astype(str)).set_index("run_id")
        for metric, column in zip(METRICS, columns, strict=True):
            values = rows["run_id"].map(by_run[column]).astype(float)
            rows.loc[from_summary, f"hit_{metric}"] = values[from_summary]
        rows.loc[from_summary, "source"] = "summary"
    else:
        from_summary[:] = False
    needs_trace = ~from_summary
    if needs_trace.any():
        if traces is None:
            problems = sorted(set(rows.loc[needs_trace, "problem"]))
            raise ValueError(
                f"target {target:g}: no summary column {columns[0]!r} (or f* unknown) for "
                f"{', '.join(problems)}; pass traces"
            )
        _trace_hits(rows, traces, needs_trace)
    if traces is not None and from_summary.any():
        calls = traces.assign(calls=_calls(traces))
        calls = calls.set_index(["run_id", "iter"])["calls"]
        calls = calls[~calls.index.duplicated()]
        keys = pd.MultiIndex.from_arrays(
            [rows["run_id"], rows["hit_iters"].fillna(-1).astype(int)], names=["run_id", "iter"]
        )
        found = calls.reindex(keys).to_numpy()
        rows.loc[from_summary, "hit_calls"] = found[from_summary.to_numpy()]
    rows["reached"] = rows["hit_iters"].notna()
    for metric in (*METRICS, "calls"):
        rows[metric] = rows[f"hit_{metric}"].where(rows["reached"], rows[metric])
    return rows


def _trace_hits(rows: pd.DataFrame, traces: pd.DataFrame, mask: pd.Series) -> None:
    """Fill ``hit_*`` of the rows in ``mask`` from the first logged row passing the test.

    ``traces`` is sorted by run and iteration, so the first passing row of a run is
    its first logged hit.
    """
    selected = rows.loc[mask].set_index("run_id")
    relative_scale = (selected["f0"] - selected["f_ref"]).clip(lower=0.0)
    is_absolute = selected["test"] == "absolute"
    threshold = selected["target"] * relative_scale.where(~is_absolute, 1.0)
    relevant = traces[traces["run_id"].isin(selected.index)]
    ids = relevant["run_id"]
    gap = np.where(
        ids.map(is_absolute).to_numpy(dtype=bool),
        relevant["f_gap"].to_numpy(dtype=float),
        relevant["f"].to_numpy(dtype=float) - ids.map(selected["f_ref"]).to_numpy(dtype=float),
    )
    passed = relevant[gap <= ids.map(threshold).to_numpy(dtype=float)]
    first = passed.groupby("run_id", sort=False).head(1).set_index("run_id")
    first = first.assign(calls=_calls(first))
    run_ids = rows.loc[mask, "run_id"]
    for metric, column in (
        ("iters", "iter"),
        ("cost", "cost"),
        ("time", "time"),
        ("calls", "calls"),
    ):
        rows.loc[mask, f"hit_{metric}"] = run_ids.map(first[column]).to_numpy(dtype=float)
