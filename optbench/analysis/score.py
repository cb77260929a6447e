r"""One score per solver: the normalised area under its performance profile.

With the Dolan–Moré ratios :math:`r_{p,s}` (:func:`~optbench.analysis.profiles.
performance_ratios`) and the profile :math:`\rho_s(\tau) = |\{p : r_{p,s} \le \tau\}|/|P|`,
the score of solver :math:`s` is

.. math::

    B_s = \frac{1}{\tau_{\max} - 1} \int_1^{\tau_{\max}} \rho_s(\tau)\, d\tau
        = \frac{1}{|P|} \sum_{p \in P}
          \operatorname{clip}\!\Big(\frac{\tau_{\max} - r_{p,s}}{\tau_{\max} - 1}, 0, 1\Big),

as AlgoPerf condenses a comparison (Dahl et al., *Benchmarking Neural Network Training
Algorithms*, 2023, §4.5, with :math:`\tau_{\max} = 4`): 1 means fastest on every
instance, 0 means never within a factor :math:`\tau_{\max}` of the fastest (or never
solved). The closed form on the right follows because :math:`\rho_s` is a step function.

Its interval resamples the instances with replacement (:mod:`optbench.bootstrap`);
each instance keeps its ratios, which are relative to the best solver *on that
instance*, so the interval reflects which problems the suite happens to contain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optbench.analysis.profiles import performance_ratios
from optbench.bootstrap import LEVEL, N_RESAMPLES, percentile_interval, resample_indices

#: AlgoPerf's :math:`\tau_{\max}`.
TAU_MAX = 4.0
#: Columns of :func:`profile_score`.
SCORE_COLUMNS = ("solver_label", "score", "score_low", "score_high", "solved", "instances")


def instance_scores(ratios: np.ndarray, tau_max: float = TAU_MAX) -> np.ndarray:
    r"""Each instance's share of the score: the clipped term of the module's sum."""
    if not tau_max > 1.0:
        raise ValueError(f"tau_max: must be > 1, got {tau_max!r}")
    with np.errstate(invalid="ignore"):
        share = (tau_max - np.asarray(ratios, dtype=float)) / (tau_max - 1.0)
    return np.clip(np.nan_to_num(share, nan=0.0, neginf=0.0), 0.0, 1.0)


def profile_score(
    table: pd.DataFrame,
    metric: str = "cost",
    target: float | None = None,
    *,
    tau_max: float = TAU_MAX,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
    solvers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score, bootstrap interval and solved fraction of every solver, best first.

    Parameters
    ----------
    table : DataFrame
        A hit table (:func:`~optbench.analysis.targets.fixed_target_table`).
    metric : {"iters", "cost", "time", "calls"}
        Work to the target.
    target : float, optional
        Which target (needed when the table has several).
    tau_max : float
        Upper end of the integral (> 1).
    n_resamples, level, seed
        Bootstrap resamples of the instances, confidence level and seed.
    solvers : sequence of str, optional
        Score only these solvers (default all). The ratios are still against every
        solver of ``table``: a solver's score does not depend on which are listed.

    Returns
    -------
    DataFrame
        Columns :data:`SCORE_COLUMNS`, sorted by score (then name).
    """
    ratios = performance_ratios(table, metric, target)
    if solvers is not None:
        listed = set(solvers)
        ratios = ratios[[label for label in ratios.columns if label in listed]]
    values = ratios.to_numpy(dtype=float)
    shares = instance_scores(values, tau_max)
    draws = resample_indices(shares.shape[0], n_resamples, seed)
    resampled = shares[draws].mean(axis=1)  # (n_resamples, solvers)
    rows = []
    for column, label in enumerate(ratios.columns):
        low, high = percentile_interval(resampled[:, column], level)
        rows.append(
            {
                "solver_label": label,
                "score": float(shares[:, column].mean()),
                "score_low": low,
                "score_high": high,
                "solved": float(np.isfinite(values[:, column]).mean()),
                "instances": shares.shape[0],
            }
        )
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    frame = frame.sort_values(["score", "solver_label"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


def point_scores(
    table: pd.DataFrame,
    metric: str = "cost",
    target: float | None = None,
    *,
    tau_max: float = TAU_MAX,
) -> pd.Series:
    """The score of every solver (no interval): a Series indexed by solver label."""
    ratios = performance_ratios(table, metric, target)
    shares = instance_scores(ratios.to_numpy(dtype=float), tau_max)
    return pd.Series(shares.mean(axis=0), index=ratios.columns, name="score")
