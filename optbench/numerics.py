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
#: The sum of squares ``v @ v`` (the kernel ``v.dot(v)`` and ``np.linalg.norm`` run, bit
#: for bit), without the floating-point status check after it: an overflow raises no
#: warning (nor an error under ``np.errstate(over="raise")``) and needs no
#: ``np.errstate`` around it. Bound once: :func:`norm2` runs once per iteration of every
#: run, where a module attribute lookup per name is a measurable part of its cost.
#: ``np.vdot`` is an ``__array_function__`` dispatcher (NEP 18); its ``_implementation``
#: is the same C function without the dispatch, a third of the call's cost on a short
#: vector (norm2 has a numpy array by then anyway).
_vdot = getattr(np.vdot, "_implementation", np.vdot)
_INF = math.inf
_sqrt = math.sqrt
_hypot = math.hypot
_NDARRAY = np.ndarray
_FLOAT64 = np.float64
#: Up to this length :func:`norm2` is ``math.hypot`` of the entries as Python floats:
#: 0.15 us for 2 entries against 0.4 us for one BLAS call (``np.vdot``), even at 10.
SHORT_VECTOR = 8


def norm2(v: np.ndarray) -> float:
    r"""The Euclidean norm :math:`\|v\|_2`, exact to rounding over the whole float range.

    Anything but a float64 vector (a list, float32 or integer entries, another shape)
    is first converted to one. A vector of at most :data:`SHORT_VECTOR` entries (the
    gradients of most of the classic test problems) gives ``math.hypot`` of its
    entries: scaled, so exact over the whole range, with an error under one ulp and
    almost always correctly rounded (CPython 3.10 and later), so it may differ from
    ``np.linalg.norm`` in the last bit; the same on every CPU (no SIMD reduction
    order); and less than half the cost of the BLAS call below on a 2-vector, which
    matters as this function runs once per iteration of every run.

    A longer vector: when the plain sum of squares :math:`s = v^\top v` (one BLAS dot,
    ``np.vdot``) is a finite normal number, the common case, the result is
    :math:`\sqrt{s}`, bit for bit what ``np.linalg.norm(v)`` returns: no partial sum
    of non-negative terms exceeds the finite total, and squares lost below the normal
    range sum to at most :math:`n \cdot 2^{-1075}`, within the dot product's own
    rounding error :math:`O(n \epsilon)\, s`. Otherwise (overflow to ``inf``, or :math:`s` zero or
    subnormal) it is recomputed scaled by :math:`m = \max_i |v_i|`:

    .. math:: \|v\|_2 = m \, \bigl\|v / m\bigr\|_2 ,

    whose sum of squares lies in :math:`[1, n]`. A norm within rounding of the largest
    float may come out as ``inf``.

    Either way, any NaN entry gives NaN; otherwise any infinite entry gives ``inf``; a
    zero vector gives 0; no floating-point warning is raised for an overflow or
    underflow.

    Parameters
    ----------
    v : array_like
        A vector (any shape is flattened); converted to float64.

    Returns
    -------
    float
    """
    if type(v) is not _NDARRAY or v.ndim != 1:
        v = np.asarray(v, dtype=np.float64).ravel()
    if v.size <= SHORT_VECTOR:
        entries = v.tolist()  # Python numbers of any real dtype: hypot takes them as floats
        norm = _hypot(*entries)  # inf for any inf entry, even beside a NaN
        if norm < _INF or not any(x != x for x in entries):
            return norm
        return math.nan
    sum_of_squares = _vdot(v, v)
    if type(sum_of_squares) is not _FLOAT64:  # float32 or integer entries: as float64
        v = np.asarray(v, dtype=np.float64)
        sum_of_squares = _vdot(v, v)
    if _SMALLEST_NORMAL <= sum_of_squares < _INF:
        return _sqrt(sum_of_squares)  # the common case: one call
    if math.isnan(sum_of_squares):  # NaN entries only: squares are never negative
        return math.nan
    scale = float(np.max(np.abs(v)))
    if scale == 0.0 or not math.isfinite(scale):
        return scale  # 0, inf, or NaN
    scaled = v / scale
    return scale * _sqrt(_vdot(scaled, scaled))
