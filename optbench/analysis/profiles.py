r"""Performance profiles, data profiles, runtime ECDFs and tuned envelopes.

All measures start from a *hit table* (:func:`optbench.analysis.targets.fixed_target_table`):
one row per (run, target) with ``reached`` and the iterations, cost, time and oracle
calls at the first hit (censored at the run's budget when not reached).

Problem instances
    A problem instance is a ``(problem, seed)`` pair. Seeds start from different
    points, so each is an instance in its own right, as Dolan & Moré (2002) treat every
    instance as a problem; taking the median over seeds would hide failures on some
    starts and is not done.
Failures
    A run that did not reach the target (any status) has :math:`t_{p,s} = \infty`, and
    so does a solver with no run on an instance. An instance no solver solved stays in
    the denominator: every curve then tops out below 1, which is the honest reading.

Sources: Dolan & Moré, *Benchmarking optimization software with performance
profiles*, Math. Program. 91:201–213 (2002); Moré & Wild, *Benchmarking
derivative-free optimization algorithms*, SIAM J. Optim. 20(1):172–191 (2009);
Hansen et al., *COCO: a platform for comparing continuous optimizers in a black-box
setting*, Optim. Methods Softw. 36(1):114–144 (2021), for runtime ECDFs over
(problem, target) pairs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from optbench.analysis.targets import fixed_target_table
from optbench.bootstrap import LEVEL, percentile_interval, resample_indices

INSTANCE = ["problem", "seed"]
#: Work measures a profile can use; ``calls`` = n_f + n_g + n_hvp + n_hess + n_r + n_J.
WORK_METRICS = ("iters", "cost", "time", "calls")
#: Data-profile units: (dim + 1) oracle calls (Moré & Wild) or one gradient-equivalent.
DATA_PROFILE_UNITS = ("dim+1", "cost")
#: Counts of sample gradients and HVPs (minibatches): ``calls`` leaves them out.
SAMPLE_COUNTS = ("n_sample_g", "n_sample_hvp")
#: Suffix of the virtual solver made by :func:`tuned_envelope`.
TUNED_SUFFIX = " (tuned)"


def default_data_unit(summary: pd.DataFrame) -> str:
    """The data-profile unit used unless one is asked for: Moré & Wild's ``"dim+1"``,
    or ``"cost"`` when any run took sample gradients or sample HVPs (a stochastic
    solver's work, one data pass of which costs one gradient, is not in ``calls``)."""
    present = [c for c in SAMPLE_COUNTS if c in summary]
    if present and (summary[present].fillna(0).to_numpy(dtype=float) > 0).any():
        return "cost"
    return "dim+1"


def as_hit_table(
    data: pd.DataFrame,
    targets: Sequence[float] | None = None,
    *,
    traces: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A hit table from a hit table (returned, restricted to ``targets``) or a summary."""
    if "reached" not in data:
        return fixed_target_table(data, traces, targets)
    if targets is None:
        return data
    wanted = np.asarray(sorted(set(map(float, targets))), dtype=float)
    keep = np.isclose(
        data["target"].to_numpy(dtype=float)[:, None], wanted, rtol=1e-9, atol=0.0
    ).any(1)
    missing = [t for t in wanted if not np.isclose(data["target"], t, rtol=1e-9, atol=0.0).any()]
    if missing:
        raise ValueError(f"targets not in the table: {', '.join(f'{t:g}' for t in missing)}")
    return data[keep]


def select_target(table: pd.DataFrame, target: float | None) -> pd.DataFrame:
    """The rows of one target; ``target=None`` is allowed when the table has only one."""
    available = sorted(pd.unique(table["target"]), reverse=True)
    if target is None:
        if len(available) != 1:
            listed = ", ".join(f"{t:g}" for t in available)
            raise ValueError(f"several targets in the table ({listed}): pass target=")
        return table
    rows = table[np.isclose(table["target"], float(target), rtol=1e-9, atol=0.0)]
    if rows.empty:
        listed = ", ".join(f"{t:g}" for t in available)
        raise ValueError(f"target {target:g} not in the table (have {listed})")
    return rows


def work_matrix(rows: pd.DataFrame, work: pd.Series, keys: list[str]) -> pd.DataFrame:
    """Instances × solvers matrix of work to the target, ``inf`` where not reached.

    Parameters
    ----------
    rows : DataFrame
        Hit-table rows with the ``keys`` columns, ``solver_label`` and ``reached``.
    work : Series
        The work measure of each row (aligned with ``rows``).
    keys : list of str
        Columns identifying an instance (e.g. ``["problem", "seed"]``).
    """
    duplicated = rows.duplicated([*keys, "solver_label"])
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        where = ", ".join(f"{k}={first[k]}" for k in keys)
        raise ValueError(f"several runs of {first['solver_label']} at {where}")
    reached = rows["reached"].to_numpy(dtype=bool)
    values = work.to_numpy(dtype=float)
    if np.isnan(values[reached]).any():
        raise ValueError("a reached target has no value of the work measure")
    t = np.where(reached, values, np.inf)
    frame = rows[[*keys, "solver_label"]].assign(t=t)
    matrix = frame.pivot(index=keys, columns="solver_label", values="t")
    return matrix.fillna(np.inf)


def performance_ratios(
    table: pd.DataFrame, metric: str = "cost", target: float | None = None
) -> pd.DataFrame:
    r"""Dolan–Moré ratios :math:`r_{p,s} = t_{p,s} / \min_{s'} t_{p,s'}` per instance.

    Ties at the minimum all get :math:`r = 1`. Failures get :math:`r = \infty`. An
    instance whose least work is 0 (the target already held at the start point)
    gives :math:`r = 1` to every solver that reached it.

    Parameters
    ----------
    table : DataFrame
        A hit table (:func:`~optbench.analysis.targets.fixed_target_table`).
    metric : {"iters", "cost", "time", "calls"}
        The work :math:`t_{p,s}` to the target.
    target : float, optional
        Which target (needed when the table has several).

    Returns
    -------
    DataFrame
        Index ``(problem, seed)``, one column per ``solver_label``.
    """
    if metric not in WORK_METRICS:
        raise ValueError(f"metric: must be one of {', '.join(WORK_METRICS)}, got {metric!r}")
    rows = select_target(table, target)
    times = work_matrix(rows, rows[metric], INSTANCE)
    best = times.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = times.div(best, axis=0)
    trivial = (best == 0).to_numpy()
    ratios.iloc[trivial] = np.where(np.isfinite(times.iloc[trivial]), 1.0, np.inf)
    return ratios.fillna(np.inf)


def _unit_weights(units: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """How often each row is drawn in each bootstrap resample of its ``units``.

    Rows sharing a unit (the targets of one instance) are drawn together. Returns an
    array of shape ``(n_resamples, rows)``.
    """
    _, inverse = np.unique(units, return_inverse=True)
    n_units = int(inverse.max()) + 1
    draws = resample_indices(n_units, n_resamples, seed)
    offsets = (draws + np.arange(n_resamples)[:, None] * n_units).ravel()
    counts = np.bincount(offsets, minlength=n_resamples * n_units)
    return counts.reshape(n_resamples, n_units)[:, inverse].astype(float)


def _fraction_band(
    values: np.ndarray, grid: np.ndarray, weights: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile band of the fraction of rows with finite value ≤ each grid point.

    The fraction only changes at the column's own finite values, so it is resampled
    there (``weights``: :func:`_unit_weights`) and held in between; the quantiles of
    every such value are taken in one call (as :func:`percentile_interval`).
    """
    finite = np.isfinite(values)
    order = np.argsort(values[finite], kind="stable")
    ordered = values[finite][order]
    low, high = np.zeros(grid.size), np.zeros(grid.size)
    if ordered.size == 0:
        return low, high
    cumulative = np.cumsum(weights[:, finite][:, order], axis=1)
    cumulative /= weights.sum(axis=1, keepdims=True)
    distinct = np.unique(ordered)
    at = cumulative[:, np.searchsorted(ordered, distinct, side="right") - 1]
    percentile_interval(at[:, 0], level)  # checks the level
    alpha = 1.0 - level
    bounds = np.quantile(at, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0, method="inverted_cdf").T
    position = np.searchsorted(distinct, grid, side="right") - 1
    inside = position >= 0
    low[inside] = bounds[position[inside], 0]
    high[inside] = bounds[position[inside], 1]
    return low, high


def _own_steps(values: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's step points: ``start``, the least finite value of the whole matrix
    above it (so that every curve starts at the left edge of a log axis), the column's
    distinct finite values above ``start``, and one end point shared by all (as
    :func:`_step_grid`); with the count of the column's finite values ≤ each point.
    Returns ``(column, point, count)``, column by column, points increasing."""
    columns = values.shape[1]
    finite = np.isfinite(values)
    column = np.broadcast_to(np.arange(columns), values.shape)[finite]
    value = values[finite]
    order = np.lexsort((value, column))
    column, value = column[order], value[order]
    seen = np.bincount(column, minlength=columns)
    begins = np.cumsum(seen) - seen
    count = np.arange(value.size) - np.repeat(begins, seen) + 1  # finite values <= value
    last = np.r_[(column[1:] != column[:-1]) | (value[1:] != value[:-1]), True]
    above = value > start
    shared = [np.full(columns, start)]
    held = [np.bincount(column[~above], minlength=columns)]
    if above.any():
        first = float(value[above].min())
        shared.append(np.full(columns, first))
        held.append(held[0] + np.bincount(column[above & (value <= first)], minlength=columns))
    top = max(start, float(value.max())) if value.size else start
    end = top * 2.0 if top > 0 else 1.0
    own = last & above
    points = np.concatenate([*shared, value[own], np.full(columns, end)])
    owner = np.concatenate(
        [np.tile(np.arange(columns), len(shared)), column[own], np.arange(columns)]
    )
    counts = np.concatenate([*held, count[own], seen])
    order = np.lexsort((points, owner))
    owner, points, counts = owner[order], points[order], counts[order]
    fresh = np.r_[True, (owner[1:] != owner[:-1]) | (points[1:] != points[:-1])]
    return owner[fresh], points[fresh], counts[fresh]


def _fractions(
    matrix: pd.DataFrame,
    grid: np.ndarray | None,
    name: str,
    *,
    start: float = 0.0,
    units: np.ndarray | None = None,
    n_resamples: int = 0,
    level: float = LEVEL,
    seed: int = 0,
    banded: Collection[str] | None = None,
) -> pd.DataFrame:
    """Long frame ``solver_label, <name>, fraction``: share of rows with finite value ≤ grid.

    ``grid=None``: each solver at its own step points only (:func:`_own_steps`), so
    the frame has as many rows as the matrix has finite values (plus three per
    solver), not solvers × grid points.

    With ``n_resamples > 0``, also ``low`` and ``high``: the percentile bootstrap band of
    each fraction (:mod:`optbench.bootstrap`), resampling ``units`` (one per
    row by default) with replacement, the same draws for every solver; computed for
    the solvers in ``banded`` only (default all; NaN for the others).
    """
    values = matrix.to_numpy(dtype=float)
    total, columns = values.shape
    if grid is None:
        owner, points, counts = _own_steps(values, start)
    else:
        ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=0)
        finite = np.isfinite(values).sum(axis=0)  # failures never count, even at inf
        found = [
            np.minimum(np.searchsorted(ordered[:, k], grid, side="right"), finite[k])
            for k in range(columns)
        ]
        counts = np.concatenate(found) if found else np.zeros(0, dtype=int)
        owner = np.repeat(np.arange(columns), grid.size)
        points = np.tile(grid, columns)
    labels = np.asarray(matrix.columns, dtype=object)
    frame = pd.DataFrame(
        {"solver_label": labels[owner], name: points, "fraction": counts / max(total, 1)}
    )
    if n_resamples and total:
        keys = np.arange(total) if units is None else np.asarray(units)
        weights = _unit_weights(keys, n_resamples, seed)
        low, high = np.full(points.size, np.nan), np.full(points.size, np.nan)
        bounds = np.searchsorted(owner, np.arange(columns + 1))
        for k, label in enumerate(labels):
            if banded is None or label in banded:
                part = slice(bounds[k], bounds[k + 1])
                low[part], high[part] = _fraction_band(values[:, k], points[part], weights, level)
        frame["low"], frame["high"] = low, high
    return frame


def _step_grid(values: np.ndarray, start: float, given: Sequence[float] | None) -> np.ndarray:
    """The points where a step curve changes, from ``start``, plus one point beyond."""
    if given is not None:
        return np.asarray(sorted(float(v) for v in given), dtype=float)
    finite = values[np.isfinite(values)]
    points = np.unique(np.concatenate([[start], finite[finite >= start]]))
    return np.append(points, points[-1] * 2.0 if points[-1] > 0 else 1.0)


def performance_profile(
    table: pd.DataFrame,
    metric: str = "cost",
    taus: Sequence[float] | None = None,
    *,
    target: float | None = None,
    n_resamples: int = 0,
    level: float = LEVEL,
    seed: int = 0,
    own_steps: bool = False,
    banded: Collection[str] | None = None,
) -> pd.DataFrame:
    r"""Performance profile :math:`\rho_s(\tau) = |\{p : r_{p,s} \le \tau\}| / |P|`.

    Dolan & Moré (2002), eq. (1)–(2). :math:`P` is the set of ``(problem, seed)``
    instances in the table, including those no solver solved.

    Parameters
    ----------
    table : DataFrame
        A hit table.
    metric : {"iters", "cost", "time", "calls"}
        Work to the target.
    taus : sequence of float, optional
        Where to evaluate :math:`\rho_s`. Default: every distinct finite ratio and 1
        (where the step curve changes) plus twice the largest.
    target : float, optional
        Which target (needed when the table has several).
    n_resamples, level, seed
        With ``n_resamples > 0``: a percentile bootstrap band at ``level`` over the
        instances (``n_resamples`` seeded resamples, :mod:`optbench.bootstrap`).
        The ratios stay those of the full table: the band says how the profile
        depends on which instances the suite holds.
    own_steps : bool
        Without ``taus``: each solver's curve at its own step points only (1, the
        least ratio above 1, its finite ratios, the shared end point) rather than
        every solver at every solver's points; the same step functions in rows
        linear in the table.
    banded : collection of str, optional
        The solvers whose band is computed (default all; NaN for the others).

    Returns
    -------
    DataFrame
        Columns ``solver_label, tau, fraction`` (and ``low, high`` with a band).
    """
    ratios = performance_ratios(table, metric, target)
    grid = None if own_steps and taus is None else _step_grid(ratios.to_numpy().ravel(), 1.0, taus)
    return _fractions(
        ratios,
        grid,
        "tau",
        start=1.0,
        n_resamples=n_resamples,
        level=level,
        seed=seed,
        banded=banded,
    )


def data_profile(
    data: pd.DataFrame,
    tau: float = 1e-3,
    unit: str = "dim+1",
    kappas: Sequence[float] | None = None,
    *,
    summary: pd.DataFrame | None = None,
    n_resamples: int = 0,
    level: float = LEVEL,
    seed: int = 0,
    own_steps: bool = False,
    banded: Collection[str] | None = None,
) -> pd.DataFrame:
    r"""Data profile :math:`d_s(\kappa)`: share of instances solved within κ units of work.

    Moré & Wild (2009), eq. (2.7):
    :math:`d_s(\kappa) = |\{p : t_{p,s} / u_p \le \kappa\}| / |P|`, an instance being
    solved when :math:`f(x_0) - f(x) \ge (1 - \tau)(f(x_0) - f_L)` (eq. 2.2). Here
    :math:`f_L = f^\star` where certified, else the best value any run reached.

    Parameters
    ----------
    data : DataFrame
        Traces (then ``summary`` gives labels, seeds and ``dim``) or a hit table for
        target ``tau`` (e.g. ``fixed_target_table(summary, traces, [tau],
        test="relative")``).
    tau : float
        Moré & Wild's tolerance τ.
    unit : {"dim+1", "cost"}
        ``"dim+1"``: :math:`u_p = n_p + 1` oracle calls, a call being any of
        :math:`f, \nabla f, \nabla^2 f\,v, \nabla^2 f, r, J` (``n_f + n_g + n_hvp + n_hess +
        n_r + n_J``;
        a fused value-and-gradient counts two), Moré & Wild's simplex-gradient unit.
        ``"cost"``: one gradient-equivalent of oracle cost.
    kappas : sequence of float, optional
        Budgets κ. Default: where the step curve changes, plus one point beyond.
    summary : DataFrame, optional
        The results summary, when ``data`` are traces.
    n_resamples, level, seed, own_steps, banded
        A bootstrap band over the instances and the step points, as in
        :func:`performance_profile`.

    Returns
    -------
    DataFrame
        Columns ``solver_label, kappa, fraction`` (and ``low, high`` with a band).

    Notes
    -----
    From a sparse (geometric) trace the first logged hit is used, so the work is an
    upper bound and the curve a lower bound of the exact one.
    """
    if unit not in DATA_PROFILE_UNITS:
        raise ValueError(f"unit: must be one of {', '.join(DATA_PROFILE_UNITS)}, got {unit!r}")
    relative = "reached" not in data
    table = fixed_target_table(summary, data, [tau], test="relative") if relative else data
    rows = select_target(table, tau)
    if unit == "dim+1":
        if rows["dim"].isna().any():
            raise ValueError("unit 'dim+1' needs the problem dimension: pass the summary")
        work = rows["calls"] / (rows["dim"] + 1.0)
    else:
        work = rows["cost"]
    matrix = work_matrix(rows, work, INSTANCE)
    grid = (
        None if own_steps and kappas is None else _step_grid(matrix.to_numpy().ravel(), 0.0, kappas)
    )
    return _fractions(
        matrix, grid, "kappa", n_resamples=n_resamples, level=level, seed=seed, banded=banded
    )


def runtime_ecdf(
    table: pd.DataFrame,
    metric: str = "cost",
    budgets: Sequence[float] | None = None,
    *,
    n_resamples: int = 0,
    level: float = LEVEL,
    seed: int = 0,
    own_steps: bool = False,
    banded: Collection[str] | None = None,
) -> pd.DataFrame:
    """Runtime ECDF over all (instance, target) pairs, in the manner of COCO.

    For each solver, the fraction of ``(problem, seed, target)`` pairs whose target
    was reached within each budget of work (Hansen et al., COCO, "runtime
    distributions"). Pairs never reached count in the denominator, so one curve
    summarizes a whole suite at every accuracy; plot it against log10 of the budget.

    Parameters
    ----------
    table : DataFrame
        A hit table with one or more targets.
    metric : {"iters", "cost", "time", "calls"}
        The work measure.
    budgets : sequence of float, optional
        Default: every distinct finite work value plus one point beyond.
    n_resamples, level, seed
        With ``n_resamples > 0``: a percentile bootstrap band that resamples the
        ``(problem, seed)`` instances, each with all its targets.
    own_steps, banded
        Step points and bands, as in :func:`performance_profile`.

    Returns
    -------
    DataFrame
        Columns ``solver_label, budget, fraction`` (and ``low, high`` with a band).
    """
    if metric not in WORK_METRICS:
        raise ValueError(f"metric: must be one of {', '.join(WORK_METRICS)}, got {metric!r}")
    matrix = work_matrix(table, table[metric], [*INSTANCE, "target"])
    grid = (
        None
        if own_steps and budgets is None
        else _step_grid(matrix.to_numpy().ravel(), 0.0, budgets)
    )
    instances = matrix.index.droplevel("target").to_flat_index()
    return _fractions(
        matrix,
        grid,
        "budget",
        units=pd.factorize(instances)[0],
        n_resamples=n_resamples,
        level=level,
        seed=seed,
        banded=banded,
    )


def swept_families(table: pd.DataFrame) -> list[str]:
    """Families with more than one setting (``solver_label``) in the table."""
    settings = table.groupby("family")["solver_label"].nunique()
    return sorted(settings[settings > 1].index)


def tuned_envelope(
    data: pd.DataFrame,
    targets: Sequence[float] | None = None,
    *,
    traces: pd.DataFrame | None = None,
    metric: str = "cost",
) -> pd.DataFrame:
    """One "tuned" virtual solver per swept family: its best setting per problem and target.

    For each problem, target and swept family the setting is chosen that reached the
    target on the most seeds, then had the least median ``metric`` over those seeds
    (ties: the first label in sort order). The same setting is used on every seed of
    the problem: tuning is per problem, never per start point. The virtual solver's
    rows are that setting's rows, relabelled ``"<family> (tuned)"``, so adding it to
    a profile leaves the other solvers' ratios unchanged.

    Parameters
    ----------
    data : DataFrame
        A hit table, or a summary (then ``fixed_target_table(data, traces, targets)``).
    targets : sequence of float, optional
        Targets to keep (default: all).
    traces : DataFrame, optional
        Traces, when ``data`` is a summary without ``*_to_*`` columns.
    metric : {"iters", "cost", "time", "calls"}
        What "least work" means.

    Returns
    -------
    DataFrame
        Hit-table rows plus ``tuned_setting`` (the chosen ``solver_label``).
    """
    if metric not in WORK_METRICS:
        raise ValueError(f"metric: must be one of {', '.join(WORK_METRICS)}, got {metric!r}")
    table = as_hit_table(data, targets, traces=traces)
    table = table[table["family"].isin(swept_families(table))]
    if table.empty:
        return table.assign(tuned_setting=pd.Series(dtype=object))
    keys = ["problem", "target", "family"]
    score = (
        table.assign(
            work=table[metric].where(table["reached"]),
            failed=~table["reached"].astype(bool),
        )
        .groupby([*keys, "solver_label"])
        .agg(failures=("failed", "sum"), work=("work", "median"))
        .reset_index()
        .assign(work=lambda s: s["work"].fillna(np.inf))
        .sort_values([*keys, "failures", "work", "solver_label"], kind="stable")
    )
    chosen = score.groupby(keys, sort=False).head(1)[[*keys, "solver_label"]]
    rows = table.merge(chosen, on=[*keys, "solver_label"])
    return rows.assign(
        tuned_setting=rows["solver_label"], solver_label=rows["family"] + TUNED_SUFFIX
    ).reset_index(drop=True)


def sweep_success_fraction(
    data: pd.DataFrame,
    targets: Sequence[float] | None = None,
    *,
    traces: pd.DataFrame | None = None,
    per_problem: bool = False,
) -> pd.DataFrame:
    """Fraction of the settings of each swept family that reach each target.

    Counted over runs: for one seed this is the share of sweep settings that reached
    the target; over several seeds, the share of (setting, seed) runs. A robust
    family keeps a high fraction down to small targets; a fragile one (a step size
    that must be tuned) drops early.

    Parameters
    ----------
    data : DataFrame
        A hit table or a summary.
    targets : sequence of float, optional
        Targets to keep (default: all).
    traces : DataFrame, optional
        Traces, when ``data`` is a summary without ``*_to_*`` columns.
    per_problem : bool
        One row per problem too (default: pooled over all problems).

    Returns
    -------
    DataFrame
        Columns ``[problem,] family, target, n_settings, n_runs, fraction``.
    """
    table = as_hit_table(data, targets, traces=traces)
    table = table[table["family"].isin(swept_families(table))]
    keys = (["problem"] if per_problem else []) + ["family", "target"]
    result = (
        table.groupby(keys)
        .agg(
            n_settings=("solver_label", "nunique"),
            n_runs=("reached", "size"),
            fraction=("reached", "mean"),
        )
        .reset_index()
    )
    return result.sort_values(keys, ascending=[True] * (len(keys) - 1) + [False]).reset_index(
        drop=True
    )
