r"""Floating-point helpers shared by problems, solvers and the runner (imports numpy only).

:func:`norm2` is the Euclidean norm that every gradient, residual and step norm of
optbench goes through. ``np.linalg.norm`` computes :math:`\sqrt{v^\top v}` without
scaling (numpy 2.4 for float64 vectors), so it overflows to ``inf`` once
:math:`\|v\|_2 \gtrsim 10^{154}` and loses all precision, then returns 0, once
:math:`\|v\|_2 \lesssim 10^{-154}`: a finite gradient would read as a divergence, a
tiny non-zero one as an exact stationary point.
"""

from __future__ import annotations

import math

import numpy as np

#: Smallest positive normal float64; a sum of squares below it may have lost digits.
_SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)
#: Bound once: :func:`norm2`'s common case runs once per iteration of every run, where
#: a module attribute lookup per name is a measurable part of its cost. ``np.vdot`` is
#: an ``__array_function__`` dispatcher (NEP 18); its ``_implementation`` is the same C
#: function without the dispatch, which is a third of the call's cost on a short
#: vector. norm2 converts any input to a numpy array anyway, so nothing is lost.
_vdot = getattr(np.vdot, "_implementation", np.vdot)
_FLOAT64 = np.float64
_INF = math.inf
_sqrt = math.sqrt


def _sum_of_squares(v: np.ndarray) -> float:
    """:math:`v^\\top v` by one BLAS dot, overflowing to ``inf`` without a warning.

    ``np.vdot`` runs the kernel ``v @ v``, ``v.dot(v)`` and ``np.linalg.norm`` run (its
    results are theirs bit for bit) but does not check the floating-point status flags
    afterwards, so an overflow raises no warning (nor an error under
    ``np.errstate(over="raise")``) and costs no ``np.errstate`` around it, which
    matters once per iteration of every run.
    """
    return float(np.vdot(v, v))


def norm2(v: np.ndarray) -> float:
    r"""The Euclidean norm :math:`\|v\|_2`, exact to rounding over the whole float range.

    When the plain sum of squares :math:`s = v^\top v` (one BLAS dot) is a finite
    normal number, the result is :math:`\sqrt{s}`, bit for bit what
    ``np.linalg.norm(v)`` returns: no partial sum of non-negative terms exceeds the
    finite total, and squares lost below the normal range sum to at most
    :math:`n \cdot 2^{-1075}`, within the dot product's own rounding error
    :math:`O(n \epsilon)\, s`. Otherwise (overflow to ``inf``, or :math:`s` zero or
    subnormal) it is recomputed scaled by :math:`m = \max_i |v_i|`:

    .. math:: \|v\|_2 = m \, \bigl\|v / m\bigr\|_2 ,

    whose sum of squares lies in :math:`[1, n]`. Any NaN entry gives NaN; otherwise
    any infinite entry gives ``inf``; a zero vector gives 0. A norm within rounding
    of the largest float may come out as ``inf``. No floating-point
    warning is raised for the overflow or underflow it handles.

    The common case, a float64 array, costs one ``np.vdot`` call, whose result is then
    a ``numpy.float64`` (it runs once per iteration of every run); anything else (a
    list, float32 or integer entries) takes the general path, converted to float64
    first.

    Parameters
    ----------
    v : array_like
        A vector (any shape is flattened); converted to float64.

    Returns
    -------
    float
    """
    sum_of_squares = _vdot(v, v)
    if type(sum_of_squares) is _FLOAT64 and _SMALLEST_NORMAL <= sum_of_squares < _INF:
        # v was float64 (vdot flattens it as ravel does): the common case, one call.
        return _sqrt(sum_of_squares)
    v = np.asarray(v, dtype=np.float64).ravel()
    sum_of_squares = _sum_of_squares(v)
    if _SMALLEST_NORMAL <= sum_of_squares < math.inf:
        return math.sqrt(sum_of_squares)
    if math.isnan(sum_of_squares):  # NaN entries only: squares are never negative
        return math.nan
    scale = float(np.max(np.abs(v))) if v.size else 0.0
    if scale == 0.0 or not math.isfinite(scale):
        return scale  # 0, inf, or NaN
    return scale * math.sqrt(_sum_of_squares(v / scale))
