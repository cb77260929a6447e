r"""Paired comparison of solvers over instances: Wilcoxon signed-rank with Holm correction.

For a target and a work measure, two solvers :math:`A, B` are compared on the instances
(``(problem, seed)`` pairs) of a hit table by the differences of log work,

.. math:: d_p = \log t_{p,A} - \log t_{p,B},

so that a factor of two counts the same on a small and on a large problem (the test is
on work *ratios*, scale-free across a suite). The Wilcoxon signed-rank test (Wilcoxon,
1945; Hollander, Wolfe & Chicken, *Nonparametric Statistical Methods*, 3rd ed., §3.1)
asks whether the :math:`d_p` are symmetric about 0; ``scipy.stats.wilcoxon`` gives the
p-value (exact for small samples without ties, the normal approximation otherwise).

Censoring
    A run that did not reach the target has :math:`t = \infty`. Where exactly one of
    the two failed, the other is better by more than any finite ratio: :math:`d_p` is
    set to :math:`\pm(\max_q |d_q| + 1)` over the finite :math:`d_q`, so such
    instances share the largest rank. Where both failed (or both needed no work),
    :math:`d_p = 0`: a tie, dropped as Wilcoxon's original zero method does. The
    ``compared`` column counts the instances left.
Multiplicity
    The p-values of all pairs are adjusted by Holm's step-down method (Holm, *A simple
    sequentially rejective multiple test procedure*, Scand. J. Stat. 6:65–70, 1979),
    which controls the family-wise error rate; a difference is *significant* when its
    adjusted p-value is below ``alpha`` (5 % by default).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from optbench.analysis.profiles import INSTANCE, WORK_METRICS, select_target, work_matrix

#: Columns of :func:`paired_wilcoxon`.
PAIR_COLUMNS = (
    "solver_a",
    "solver_b",
    "instances",
    "compared",
    "a_better",
    "b_better",
    "median_ratio",
    "p_value",
    "p_holm",
    "significant",
    "better",
)


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    r"""Holm-adjusted p-values, in the order given.

    With the :math:`m` p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,
    :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def censored_log_ratios(work_a: np.ndarray, work_b: np.ndarray) -> np.ndarray:
    """The differences :math:`d_p` of the module notes (``inf`` work = not reached)."""
    a = np.asarray(work_a, dtype=float)
    b = np.asarray(work_b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(a) - np.log(b)
    d[np.isnan(d)] = 0.0  # both failed, or both reached with no work: a tie
    finite = np.isfinite(d)
    beyond = (np.abs(d[finite]).max() if finite.any() else 0.0) + 1.0
    return np.where(finite, d, np.sign(d) * beyond)


def _signed_rank_test(d: np.ndarray) -> tuple[float, float, float]:
    """(R+, R-, p-value) of the signed-rank test on the nonzero ``d``."""
    from scipy import stats

    nonzero = d[d != 0.0]
    if nonzero.size == 0:
        return 0.0, 0.0, 1.0
    ranks = stats.rankdata(np.abs(nonzero))
    plus, minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    p_value = float(stats.wilcoxon(nonzero, zero_method="wilcox").pvalue)
    return plus, minus, p_value


def paired_wilcoxon(
    table: pd.DataFrame,
    metric: str = "cost",
    target: float | None = None,
    *,
    alpha: float = 0.05,
    solvers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Wilcoxon signed-rank tests of every pair of solvers, Holm-corrected.

    Parameters
    ----------
    table : DataFrame
        A hit table (:func:`~optbench.analysis.targets.fixed_target_table`).
    metric : {"iters", "cost", "time", "calls"}
        Work to the target.
    target : float, optional
        Which target (needed when the table has several).
    alpha : float
        Family-wise significance level.
    solvers : sequence of str, optional
        Test the pairs of these solvers only (default all): the pairs grow as the
        square of the solvers, and Holm's correction is over the pairs tested.

    Returns
    -------
    DataFrame
        One row per pair, columns :data:`PAIR_COLUMNS`: how many instances each solver
        needed less work on, the median work ratio A/B over instances both solved, the
        raw and Holm-adjusted p-values, whether the difference is significant and, if
        it is, the better solver (the one with the larger signed-rank sum in its favour).
    """
    if metric not in WORK_METRICS:
        raise ValueError(f"metric: must be one of {', '.join(WORK_METRICS)}, got {metric!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    rows = select_target(table, target)
    if solvers is not None:
        rows = rows[rows["solver_label"].isin(list(solvers))]
    matrix = work_matrix(rows, rows[metric], INSTANCE)
    records = []
    for a, b in itertools.combinations(sorted(matrix.columns, key=str), 2):
        work_a, work_b = matrix[a].to_numpy(float), matrix[b].to_numpy(float)
        d = censored_log_ratios(work_a, work_b)
        plus, minus, p_value = _signed_rank_test(d)
        both = np.isfinite(work_a) & np.isfinite(work_b) & (work_b > 0)
        ratio = float(np.median(work_a[both] / work_b[both])) if both.any() else np.nan
        records.append(
            {
                "solver_a": a,
                "solver_b": b,
                "instances": len(d),
                "compared": int(np.count_nonzero(d)),
                "a_better": int(np.count_nonzero(d < 0)),
                "b_better": int(np.count_nonzero(d > 0)),
                "median_ratio": ratio,
                "p_value": p_value,
                "_favours_a": minus > plus,
            }
        )
    frame = pd.DataFrame(records, columns=[*PAIR_COLUMNS[:8], "_favours_a"])
    frame["p_holm"] = holm_adjust(frame["p_value"].to_numpy(float))
    frame["significant"] = frame["p_holm"] < alpha
    winner = np.where(frame["_favours_a"].astype(bool), frame["solver_a"], frame["solver_b"])
    frame["better"] = np.where(frame["significant"], winner, "")
    return frame[list(PAIR_COLUMNS)]
