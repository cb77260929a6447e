r"""Expected running time (ERT) with censoring, and its bootstrap interval.

For one problem, one solver and one target, let the :math:`n` runs (one per seed) spend
work :math:`w_1, \dots, w_n`, where :math:`w_i` is the work to the first hit of the target
for a run that reached it and the run's whole work for one that did not (a *censored*
run). With :math:`n_s` runs that reached the target,

.. math:: \mathrm{ERT} = \frac{\sum_{i=1}^n w_i}{n_s},

the expected work to reach the target if unsuccessful runs were restarted
independently (Price, 1997; Auger & Hansen, *Performance evaluation of an advanced
local search evolutionary algorithm*, CEC 2005; COCO's ``aRT``). No success gives
:math:`\infty`. The success rate is :math:`n_s / n`.

The interval resamples the :math:`n` runs with replacement and recomputes ERT
(:mod:`optbench.bootstrap`, percentile interval); a resample without a success
has ERT :math:`\infty`, so the upper bound is :math:`\infty` whenever successes are rare.
With few seeds the interval is coarse (with one run it is the point itself): the
``runs`` column says how many runs it rests on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optbench.analysis.targets import METRICS
from optbench.bootstrap import LEVEL, N_RESAMPLES, percentile_interval, resample_indices

#: A (problem, solver, target) group of runs over seeds.
GROUP = ["problem", "solver_label", "target"]


def expected_running_time(work: np.ndarray, reached: np.ndarray) -> float:
    """ERT of runs with work ``work`` (to the hit, or in total when not reached)."""
    work = np.asarray(work, dtype=float)
    successes = int(np.count_nonzero(reached))
    return float(work.sum() / successes) if successes else np.inf


def bootstrap_ert(
    work: np.ndarray,
    reached: np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ERT over resamples of the runs (see the module notes)."""
    work = np.asarray(work, dtype=float)
    hits = np.asarray(reached, dtype=bool).astype(float)
    draws = resample_indices(work.size, n_resamples, seed)
    totals = work[draws].sum(axis=1)
    successes = hits[draws].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(successes > 0, totals / successes, np.inf)
    return percentile_interval(values, level)


def ert_table(
    hits: pd.DataFrame,
    metrics: Sequence[str] = METRICS,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> pd.DataFrame:
    """ERT, its interval and the success rate per (problem, solver, target).

    Parameters
    ----------
    hits : DataFrame
        A hit table (:func:`~optbench.analysis.targets.fixed_target_table`): one row per
        (run, target), censored rows carrying the run's whole work.
    metrics : sequence of {"iters", "cost", "time", "calls"}
        Work measures.
    n_resamples, level, seed
        Bootstrap resamples, confidence level and seed (the same seed for every
        group, so a table is reproducible).

    Returns
    -------
    DataFrame
        One row per group, columns ``problem, solver_label, target, runs, successes,
        success_rate`` and for each metric ``ert_<m>, ert_<m>_low, ert_<m>_high``.
    """
    rows = []
    for key, group in hits.groupby(GROUP, sort=True):
        reached = group["reached"].to_numpy(dtype=bool)
        row: dict[str, object] = dict(zip(GROUP, key, strict=True))
        successes = int(reached.sum())
        row.update(runs=len(group), successes=successes, success_rate=successes / len(group))
        for metric in metrics:
            work = group[metric].to_numpy(dtype=float)
            if np.isnan(work).any():
                raise ValueError(f"ert: {metric}: a run has no value of this work measure")
            low, high = bootstrap_ert(
                work, reached, n_resamples=n_resamples, level=level, seed=seed
            )
            row.update(
                {
                    f"ert_{metric}": expected_running_time(work, reached),
                    f"ert_{metric}_low": low,
                    f"ert_{metric}_high": high,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)
