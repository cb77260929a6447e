r"""Convergence regression checks: compare a new results directory with a baseline.

Runs are matched by ``run_id`` when both sides have it (it hashes exactly the
problem, its parameters, the solver, its parameters and the seed), otherwise by
``(problem, solver_label, seed)``. Every run must match: a run on one side only
makes the two incomparable (:class:`IncomparableError`); see
:mod:`optbench.analysis.run_matching`.

A matched run *regresses* when any of these holds:

``status``
    The baseline converged and the new run did not (converged → anything else), or
    the new run ended in ``error`` (an exception) where the baseline did not.
``iters_to_ε``, ``cost_to_ε``
    The baseline reached target ε and the new run did not, or needed more:
    :math:`n > b\,(1 + \mathrm{rtol})`. Iterations and oracle cost are deterministic
    counts, so the default tolerance is 0: any increase is a regression. Both are
    always checked (more cost at equal iterations means more oracle calls per
    iteration, e.g. a worse line search).
``iters``, ``cost``
    The same test on the totals of runs that converged on both sides: the work to
    reach the stopping test, itself a target.
``f_gap_final``, ``grad_norm_final``
    The final :math:`f - f^\star` (where f* is known) or :math:`\|\nabla f\|` got
    worse by more than a factor :data:`ACCURACY_FACTOR` (10) *and* is above
    :data:`ACCURACY_FLOOR` (1e-12): a change in the last digits of a converged run
    is rounding, an order of magnitude is not. A non-finite new value where the
    baseline was finite always regresses.
``time``, ``time_to_ε``
    Wall time is noisy: its ratio new / baseline is always shown, and fails only with
    ``metric="time"`` beyond ``rtol`` (default 25%).

``metric`` selects which tolerance ``rtol`` sets: ``"iters"`` and ``"cost"`` (the two
counts, both checked with ``rtol``, default 0), or ``"time"`` (then the counts are
checked exactly and time with ``rtol``, default 0.25).

Numerical stacks
----------------
Counts are exact only on one numerical stack (:mod:`optbench.stack`). When the two
results' stack fingerprints differ, the comparison says which fields differ and
judges with a cross-stack tolerance (:class:`StackRule`) measured by
``benchmarks/stack_spread.py`` (``docs/stack_spread.md``):

* iterations (in total and to each target) may grow by a factor ``1 + stack_rtol``
  (default :data:`STACK_RTOL`) plus :data:`STACK_ITERS_ATOL` iteration: a target or
  the stopping test crossed one iteration later;
* oracle work (``cost``, oracle calls), which inner loops make far more sensitive to
  rounding, by a factor ``(1 + stack_rtol) *`` :data:`STACK_WORK_FACTOR`;
* a status change that rounding explains is not a regression: converged → failed
  (a solver's own stop on precision loss), converged → max_iter or max_cost within
  the tolerance above; a target the baseline reached and a converged new run did not
  (its stopping test held first); the final accuracy of a run that converged (its
  stopping test is the accuracy verdict).

``exact=True`` judges every pair of stacks as one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.analysis.run_matching import (
    IncomparableError,
    SummarySource,
    load_summary,
    match_runs,
)
from optbench.analysis.tables import summary_targets, target_column
from optbench.stack import read_stack, stack_differences

#: Files that make a baseline (no traces, no plots).
SUMMARY_FILES = ("summary.csv", "runs.csv", "config.yaml", "environment.json")
COMPARE_METRICS = ("iters", "cost", "time")
DEFAULT_RTOL = {"iters": 0.0, "cost": 0.0, "time": 0.25}
#: Final accuracy regresses when more than this factor worse …
ACCURACY_FACTOR = 10.0
#: … and above this absolute level.
ACCURACY_FLOOR = 1e-12
#: Relative slack on counts for float noise in ``cost`` (far below one oracle call).
COUNT_SLACK = 1e-12
#: Cross-stack tolerance on iterations: a factor ``1 + STACK_RTOL`` …
STACK_RTOL = 0.25
#: … plus this many iterations.
STACK_ITERS_ATOL = 1.0
#: Oracle work may grow by ``(1 + stack_rtol) * STACK_WORK_FACTOR`` across stacks.
STACK_WORK_FACTOR = 2.0
#: Statuses a run may end in where a converged baseline did, on another stack, when
#: its iterations (or cost) stay within the cross-stack tolerance.
BUDGET_STATUSES = {"max_iter": "iters", "max_cost": "cost"}
_TARGET_COLUMN = re.compile(r"^(iters|cost|time)_to_")
REGRESSION_COLUMNS = [
    "run_id", "problem", "solver_label", "seed", "measure", "baseline", "new", "ratio",
    "time_ratio", "reason",
]  # fmt: skip


@dataclass(frozen=True)
class StackRule:
    """How counts are judged: with ``rtol`` on one stack, with a tolerance across stacks.

    Attributes
    ----------
    differences : tuple of str
        The fingerprint fields in which the two stacks differ
        (:func:`optbench.stack.stack_differences`); empty on one stack.
    rtol : float
        Relative tolerance on counts on one stack (0: any increase regresses).
    stack_rtol : float
        Relative tolerance on iterations across stacks (module docstring).
    exact : bool
        Judge as on one stack whatever the differences.
    """

    differences: tuple[str, ...] = ()
    rtol: float = 0.0
    stack_rtol: float = STACK_RTOL
    exact: bool = False

    @property
    def cross_stack(self) -> bool:
        """Whether counts are judged with the cross-stack tolerance."""
        return bool(self.differences) and not self.exact

    def allowed(self, measure: str, base: np.ndarray | float) -> np.ndarray:
        """The largest count of ``measure`` that does not regress from ``base``.

        ``measure`` is ``"iters"`` or ``iters_to_…`` (iterations), anything else
        (``cost``, ``cost_to_…``, ``n_f``, …) is oracle work.
        """
        base = np.asarray(base, dtype=float)
        same = base * (1 + self.rtol) + COUNT_SLACK * base
        if not self.cross_stack:
            return same
        if measure.split("_to_")[0] == "iters":
            across = base * (1 + self.stack_rtol) + STACK_ITERS_ATOL
        else:
            across = base * (1 + self.stack_rtol) * STACK_WORK_FACTOR
        return np.maximum(same, across)

    def status_regressed(
        self, base: np.ndarray, new: np.ndarray, counts: dict[str, tuple[np.ndarray, np.ndarray]]
    ) -> np.ndarray:
        """Which status changes are regressions.

        Parameters
        ----------
        base, new : array of str
            The statuses of matched runs.
        counts : dict
            ``{"iters": (base, new), "cost": (base, new)}`` totals of the same runs.
        """
        worse = ((base == "converged") & (new != "converged")) | (
            (base != "error") & (new == "error")
        )
        return worse & ~self.rounding_explains(base, new, counts)

    def rounding_explains(
        self, base: np.ndarray, new: np.ndarray, counts: dict[str, tuple[np.ndarray, np.ndarray]]
    ) -> np.ndarray:
        """Which changes from a converged ``base`` status rounding explains (none on one
        stack): to ``failed``, or to a budget status with the counts within tolerance."""
        explained = np.zeros(len(base), dtype=bool)
        if not self.cross_stack:
            return explained
        explained |= (base == "converged") & (new == "failed")
        for status, measure in BUDGET_STATUSES.items():
            base_count, new_count = counts.get(measure, (np.nan, np.nan))
            with np.errstate(invalid="ignore"):
                within = new_count <= self.allowed(measure, base_count)
            explained |= (base == "converged") & (new == status) & within
        return explained

    def headline(self) -> str:
        """The first line of a comparison: which stacks, and how counts are judged."""
        exactly = "counts judged exactly" + (f" (rtol {self.rtol:g})" if self.rtol else "")
        if not self.differences:
            return f"Same numerical stack: {exactly}."
        if self.exact:
            return f"Different numerical stacks ({'; '.join(self.differences)}): {exactly}."
        work = (1 + self.stack_rtol) * STACK_WORK_FACTOR
        return (
            f"Different numerical stacks ({'; '.join(self.differences)}): iterations may "
            f"grow by {self.stack_rtol:.0%} + {STACK_ITERS_ATOL:g}, oracle work up to "
            f"{work:g}x, status changes rounding explains are not counted (--exact to "
            "judge exactly)."
        )


def stack_rule(
    new: SummarySource,
    baseline: SummarySource,
    rtol: float = 0.0,
    exact: bool = False,
    stack_rtol: float | None = None,
) -> StackRule:
    """The :class:`StackRule` for two results.

    The stacks are read from each directory's ``environment.json``
    (:func:`optbench.stack.read_stack`; a directory without one has an unknown stack,
    which never matches). Summary tables given as DataFrames carry no stack and are
    judged as one stack; so is everything with ``exact=True``.
    """
    stack_rtol = STACK_RTOL if stack_rtol is None else float(stack_rtol)
    if not stack_rtol >= 0:
        raise ValueError(f"stack_rtol: must be >= 0, got {stack_rtol!r}")
    if isinstance(new, pd.DataFrame) or isinstance(baseline, pd.DataFrame):
        return StackRule((), rtol, stack_rtol)
    empty: dict[str, str] = {}
    new_stack, base_stack = read_stack(new) or empty, read_stack(baseline) or empty
    differences = tuple(stack_differences(new_stack, base_stack))
    return StackRule(differences, rtol, stack_rtol, exact)


@dataclass
class Comparison:
    """The outcome of :func:`compare_results`.

    Attributes
    ----------
    matched : DataFrame
        One row per matched run: keys, ``status_baseline``, ``status_new``,
        ``time_baseline``, ``time_new``, ``time_ratio``.
    regressions : DataFrame
        One row per (run, failing measure), columns :data:`REGRESSION_COLUMNS`.
    metric : str
        The metric the tolerance applies to.
    rtol : float
        The tolerance used.
    rule : StackRule
        Same stack or not, and how counts were judged.
    """

    matched: pd.DataFrame
    regressions: pd.DataFrame
    metric: str
    rtol: float
    rule: StackRule = StackRule()

    @property
    def exit_code(self) -> int:
        """0 when nothing regressed, 1 otherwise."""
        return 1 if len(self.regressions) else 0

    def table(self) -> str:
        """A headline and, when there are regressions, a markdown table of them."""
        n_runs = len(self.matched)
        ratios = self.matched["time_ratio"].to_numpy(dtype=float)
        ratios = ratios[np.isfinite(ratios)]
        timing = (
            f"time new/baseline: median {np.median(ratios):.2f}, "
            f"min {ratios.min():.2f}, max {ratios.max():.2f}"
            if ratios.size
            else "time new/baseline: n/a"
        )
        settings = f"metric {self.metric}, rtol {self.rtol:g}"
        headline = self.rule.headline()
        if not len(self.regressions):
            return f"{headline}\nNo regressions in {n_runs} runs ({settings}); {timing}."
        n_bad = self.regressions["run_id"].nunique()
        lines = [
            headline,
            f"{len(self.regressions)} regressions in {n_bad} of {n_runs} runs ({settings}); "
            f"{timing}.",
            "",
            "| problem | solver | seed | measure | baseline | new | ratio | time ratio | why |",
            "|---|---|---|---|---:|---:|---:|---:|---|",
        ]
        for row in self.regressions.itertuples(index=False):
            lines.append(
                f"| {row.problem} | {row.solver_label} | {row.seed} | {row.measure} | "
                f"{_fmt(row.baseline)} | {_fmt(row.new)} | {_fmt(row.ratio)} | "
                f"{_fmt(row.time_ratio)} | {_fmt(row.reason)} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: object) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _column(joined: pd.DataFrame, name: str, side: str) -> np.ndarray:
    column = f"{name}_{side}"
    if column not in joined:
        return np.full(len(joined), np.nan)
    return pd.to_numeric(joined[column], errors="coerce").to_numpy(dtype=float)


def _ratio(new: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, new / base, np.nan)


def _work_regressions(
    joined: pd.DataFrame, measure: str, rule: StackRule, only: np.ndarray | None = None
) -> list[pd.DataFrame]:
    """Rows where ``measure`` was reached in the baseline and is missing or larger now.

    Across stacks a target missed by a new run that converged is not a regression:
    its stopping test held first.
    """
    base, new = _column(joined, measure, "baseline"), _column(joined, measure, "new")
    lost = np.isfinite(base) & ~np.isfinite(new)
    if rule.cross_stack:
        lost &= _status(joined, "new") != "converged"
    with np.errstate(invalid="ignore"):
        grew = np.isfinite(base) & np.isfinite(new) & (new > rule.allowed(measure, base))
    if only is not None:
        lost, grew = lost & only, grew & only
    found = []
    if lost.any():
        found.append(_rows(joined, lost, measure, base, new, "target no longer reached"))
    if grew.any():
        if rule.cross_stack:
            reason = "grew beyond the cross-stack tolerance"
        else:
            reason = f"grew by more than {rule.rtol:.0%}" if rule.rtol else "grew"
        found.append(_rows(joined, grew, measure, base, new, reason))
    return found


def _status(joined: pd.DataFrame, side: str) -> np.ndarray:
    return joined[f"status_{side}"].astype(str).to_numpy()


def _rows(
    joined: pd.DataFrame,
    mask: np.ndarray,
    measure: str,
    base: np.ndarray,
    new: np.ndarray,
    reason: str | list[str],
) -> pd.DataFrame:
    base_values, new_values = base[mask], new[mask]
    numeric = base.dtype.kind == "f" and new.dtype.kind == "f"
    ratio = _ratio(new_values, base_values) if numeric else np.full(int(mask.sum()), np.nan)
    return pd.DataFrame(
        {
            "run_order": np.flatnonzero(mask),
            "run_id": joined["run_id"].to_numpy()[mask],
            "problem": joined["problem"].to_numpy()[mask],
            "solver_label": joined["solver_label"].to_numpy()[mask],
            "seed": joined["seed"].to_numpy()[mask],
            "measure": measure,
            "baseline": base_values,
            "new": new_values,
            "ratio": ratio,
            "time_ratio": joined["time_ratio"].to_numpy()[mask],
            "reason": np.asarray(reason, dtype=object)[mask]
            if isinstance(reason, list)
            else reason,
        }
    )


def _accuracy_regressions(
    joined: pd.DataFrame, measure: str, rule: StackRule
) -> list[pd.DataFrame]:
    base, new = _column(joined, measure, "baseline"), _column(joined, measure, "new")
    known = np.isfinite(base)
    if rule.cross_stack:  # a converged run's stopping test is its accuracy verdict
        known &= _status(joined, "new") != "converged"
    with np.errstate(invalid="ignore"):
        worse = known & (
            ~np.isfinite(new) | (new > np.maximum(ACCURACY_FACTOR * base, ACCURACY_FLOOR))
        )
    if not worse.any():
        return []
    reason = f"more than {ACCURACY_FACTOR:g}x worse and above {ACCURACY_FLOOR:g}"
    return [_rows(joined, worse, measure, base, new, reason)]


def _status_regressions(joined: pd.DataFrame, rule: StackRule) -> list[pd.DataFrame]:
    base, new = _status(joined, "baseline"), _status(joined, "new")
    counts = {
        name: (_column(joined, name, "baseline"), _column(joined, name, "new"))
        for name in BUDGET_STATUSES.values()
    }
    worse = rule.status_regressed(base, new, counts)
    if not worse.any():
        return []
    messages = (
        joined["message_new"].fillna("").astype(str).to_numpy()
        if "message_new" in joined
        else np.full(len(joined), "")
    )
    reasons = [
        f"{b} → {s}" + (f": {_shorten(m)}" if m else "")
        for b, s, m in zip(base, new, messages, strict=True)
    ]
    return [_rows(joined, worse, "status", base, new, reasons)]


def compare_results(
    new: SummarySource,
    baseline: SummarySource,
    metric: str = "iters",
    rtol: float | None = None,
    exact: bool = False,
    stack_rtol: float | None = None,
) -> Comparison:
    """Compare a new results directory (or summary) with a baseline, run by run.

    Parameters
    ----------
    new, baseline : path or DataFrame
        Results directories (``summary.csv`` is read with pandas) or summary tables.
    metric : {"iters", "cost", "time"}
        What ``rtol`` applies to (module docstring); ``"time"`` makes time fail.
    rtol : float, optional
        Relative tolerance; default 0 for ``iters`` and ``cost``, 0.25 for ``time``.
    exact : bool
        Judge counts as on one stack even when the stacks differ.
    stack_rtol : float, optional
        Cross-stack tolerance on iterations (default :data:`STACK_RTOL`; oracle work
        gets ``(1 + stack_rtol) *`` :data:`STACK_WORK_FACTOR`).

    Returns
    -------
    Comparison
        ``.regressions``, ``.table()``, ``.exit_code``.

    Raises
    ------
    IncomparableError
        A directory is missing or not a results directory; runs do not match one to
        one (they are listed); the baseline has targets the new results lack.
    ValueError
        An unknown ``metric``, a negative ``rtol`` or ``stack_rtol``.
    """
    if metric not in COMPARE_METRICS:
        raise ValueError(f"metric: must be one of {', '.join(COMPARE_METRICS)}, got {metric!r}")
    rtol = DEFAULT_RTOL[metric] if rtol is None else float(rtol)
    if not rtol >= 0:
        raise ValueError(f"rtol: must be >= 0, got {rtol!r}")
    new_summary = load_summary(new, "new")
    base_summary = load_summary(baseline, "baseline")
    base_targets = summary_targets(base_summary)
    lacking = [
        column
        for column in base_summary.columns
        if _TARGET_COLUMN.match(str(column)) and column not in new_summary
    ]
    if lacking:
        raise IncomparableError(f"new results lack the baseline's columns {', '.join(lacking)}")
    joined = match_runs(new_summary, base_summary)
    joined["time_ratio"] = _ratio(
        _column(joined, "time", "new"), _column(joined, "time", "baseline")
    )
    rule = stack_rule(new, baseline, rtol if metric != "time" else 0.0, exact, stack_rtol)
    found = _status_regressions(joined, rule)
    converged_both = (joined["status_baseline"].astype(str) == "converged").to_numpy() & (
        joined["status_new"].astype(str) == "converged"
    ).to_numpy()
    count_metrics = ("iters", "cost") if metric != "cost" else ("cost", "iters")
    for name in count_metrics:
        for target in base_targets:
            found += _work_regressions(joined, target_column(name, target), rule)
        found += _work_regressions(joined, name, rule, only=converged_both)
    for name in ("f_gap_final", "grad_norm_final"):
        found += _accuracy_regressions(joined, name, rule)
    if metric == "time":
        timing = StackRule((), rtol)
        for target in base_targets:
            found += _work_regressions(joined, target_column("time", target), timing)
        found += _work_regressions(joined, "time", timing)
    regressions = pd.DataFrame(columns=REGRESSION_COLUMNS)
    if found:  # grouped by run (in summary order), measures in the order checked
        regressions = pd.concat(found, ignore_index=True).sort_values("run_order", kind="stable")
        regressions = regressions[REGRESSION_COLUMNS].reset_index(drop=True)
    matched = joined[[*REGRESSION_COLUMNS[:4], "status_baseline", "status_new"]].assign(
        time_baseline=_column(joined, "time", "baseline"),
        time_new=_column(joined, "time", "new"),
        time_ratio=joined["time_ratio"],
    )
    return Comparison(matched=matched, regressions=regressions, metric=metric, rtol=rtol, rule=rule)


def update_baseline(new_dir: str | os.PathLike, baseline_dir: str | os.PathLike) -> list[Path]:
    """Make ``new_dir`` the baseline: copy its summary files (no traces, no plots).

    Copies those of :data:`SUMMARY_FILES` that ``new_dir`` has, each atomically
    (temporary file, then rename), and removes from ``baseline_dir`` any of them that
    ``new_dir`` lacks, so no stale file stays next to the new summary. Other files in
    ``baseline_dir`` are left alone.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    IncomparableError
        ``new_dir`` is not a results directory (no ``summary.csv``).
    """
    source, target = Path(new_dir), Path(baseline_dir)
    if not (source / "summary.csv").is_file():
        raise IncomparableError(f"new {source}: no summary.csv (not a results directory)")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SUMMARY_FILES:
        destination = target / name
        if (source / name).is_file():
            temporary = target / f".{name}.tmp"
            shutil.copyfile(source / name, temporary)
            temporary.replace(destination)
            written.append(destination)
        elif destination.exists():
            destination.unlink()
    return written
