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


def median_interval(
    values: np.ndarray, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (NaN, NaN for fewer than 2).

    The median of every resample of the values, then :func:`percentile_interval`.
    """
    sample = np.asarray(values, dtype=float).ravel()
    if sample.size < 2:
        return float("nan"), float("nan")
    medians = np.median(sample[resample_indices(sample.size, n_resamples, seed)], axis=1)
    return percentile_interval(medians, level)


def ratio_interval(
    new: np.ndarray,
    base: np.ndarray,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    r"""The ratio of medians :math:`\mathrm{med}(new) / \mathrm{med}(base)` and its interval.

    The two samples are independent: each is resampled on its own (seeds ``seed`` and
    ``seed + 1``) and the ratio of the resampled medians gives the percentile
    interval. With one value on both sides the interval is the ratio itself (no
    spread can be estimated); a side with no positive median gives NaN.

    Returns
    -------
    tuple of float
        ``(ratio, low, high)``.
    """
    new = np.asarray(new, dtype=float).ravel()
    base = np.asarray(base, dtype=float).ravel()
    if new.size == 0 or base.size == 0:
        return float("nan"), float("nan"), float("nan")
    base_median = float(np.median(base))
    if not base_median > 0:
        return float("nan"), float("nan"), float("nan")
    ratio = float(np.median(new)) / base_median
    new_medians = np.median(new[resample_indices(new.size, n_resamples, seed)], axis=1)
    base_medians = np.median(base[resample_indices(base.size, n_resamples, seed + 1)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(base_medians > 0, new_medians / base_medians, np.inf)
    low, high = percentile_interval(ratios, level)
    return ratio, low, high
