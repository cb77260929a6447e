r"""Percentile bootstrap: seeded resampling and percentile intervals.

A statistic :math:`T` computed from :math:`n` independent units (runs over seeds,
instances of a suite) is recomputed on ``n_resamples`` samples of :math:`n` units drawn
with replacement; the interval at level :math:`1 - \alpha` is the pair of the
:math:`\alpha/2` and :math:`1 - \alpha/2` quantiles of those values (the *percentile*
interval of Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, §13.3).
COCO bootstraps its average runtimes the same way, with 1,000 samples by default
(Hansen et al., *COCO*, Optim. Methods Softw. 36(1), 2021).

Every draw comes from ``numpy.random.default_rng(seed)``, so the same seed gives the
same interval on every machine.
"""

from __future__ import annotations

import numpy as np

from optbench.scalars import check_integer

#: Resamples drawn by default (COCO's default).
N_RESAMPLES = 1000
#: Default confidence level of an interval.
LEVEL = 0.95


def resample_indices(n_units: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of ``n_resamples`` bootstrap samples of ``n_units`` units.

    Returns
    -------
    ndarray of int, shape (n_resamples, n_units)
        Row ``b`` lists the units (with repeats) of sample ``b``.
    """
    check_integer("n_resamples", n_resamples, ge=1)
    check_integer("n_units", n_units, ge=1)
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_units, size=(n_resamples, n_units))


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    r"""The :math:`(1 \mp \text{level})/2` quantiles of bootstrap ``values``.

    Both bounds are values of the sample (the inverted-CDF quantile, no interpolation),
    so ``inf`` values (a resample in which nothing succeeded, say) order above every
    finite value and an upper bound may be ``inf``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    alpha = 1.0 - level
    sample = np.asarray(values, dtype=float).ravel()
    low, high = np.quantile(sample, [alpha / 2.0, 1.0 - alpha / 2.0], method="inverted_cdf")
    return float(low), float(high)
