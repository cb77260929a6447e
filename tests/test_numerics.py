"""The scaled 2-norm: exact over the whole float range; ``math.hypot`` on short vectors,
identical to numpy in the normal range on longer ones."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench.numerics import SHORT_VECTOR, norm2


def exact_norm(values: list[float]) -> float:
    """sqrt(sum x_i^2) from the exact sum of squares, rounded once (60 digits)."""
    with localcontext() as context:
        context.prec = 60
        context.Emin, context.Emax = -(10**6), 10**6
        total = sum((Decimal(x) * Decimal(x) for x in values), Decimal(0))
        return float(total.sqrt())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0, 4.0], 5.0),
        ([4e155, 2e153], exact_norm([4e155, 2e153])),  # plain sum of squares overflows
        ([1e200, -1e200, 1e200], math.sqrt(3) * 1e200),
        ([1.6e-162, 0.0], 1.6e-162),  # plain sum of squares is subnormal
        ([1e-170, 1e-170, 1e-170], exact_norm([1e-170] * 3)),  # ... or zero
        ([5e-324], 5e-324),  # the smallest subnormal
        ([1.7e308, 1.7e308], exact_norm([1.7e308, 1.7e308])),  # true norm > max: inf
        ([0.0, -0.0, 0.0], 0.0),
        ([], 0.0),
        ([1.0, math.inf], math.inf),
        ([-math.inf, 1e-300], math.inf),
        ([1.0, math.nan], math.nan),
        ([math.inf, math.nan], math.nan),
    ],
)
def test_norm2_table(values, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warning for what it handles
        result = norm2(np.array(values, dtype=float))
    if math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == pytest.approx(expected, rel=4e-16, abs=0.0)


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_norm2_matches_the_exact_norm_anywhere_in_range(values):
    expected = exact_norm(values)
    result = norm2(np.array(values))
    largest = float(np.finfo(float).max)
    if math.isinf(expected) or math.isinf(result):  # within rounding of the largest float
        assert min(expected, result) >= largest * (1 - 1e-14)
    else:
        assert result == pytest.approx(expected, rel=1e-14, abs=0.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=0, max_size=SHORT_VECTOR))
def test_norm2_of_a_short_vector_is_hypot_of_its_entries(values):
    """Up to SHORT_VECTOR entries, whatever their range: math.hypot (or inf beyond the
    largest float, where hypot says inf too)."""
    assert norm2(np.array(values, dtype=float)) == math.hypot(*values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e100, 1e100), min_size=SHORT_VECTOR + 1, max_size=50))
def test_norm2_is_numpys_norm_bit_for_bit_in_the_normal_range(values):
    v = np.array(values)
    sum_of_squares = float(v @ v)
    if np.finfo(float).tiny <= sum_of_squares < math.inf:
        assert norm2(v) == np.linalg.norm(v)


@pytest.mark.parametrize(
    "values",
    [
        [4e155, 2e153],
        [1e200, 1.0],
        [1.6e-162, 0.0],
        [1e-170] * 3,
        [4e155, 2e153] + [0.0] * SHORT_VECTOR,  # longer vectors: the BLAS dot, rescaled
        [1e200, 1.0] * SHORT_VECTOR,
        [1e-170] * (SHORT_VECTOR + 1),
    ],
)
def test_norm2_raises_nothing_whatever_numpy_is_told_to_do_on_errors(values):
    """The sum of squares that overflows or underflows is handled, so no error setting
    (here: raise on everything) turns it into an exception or a warning."""
    v = np.array(values)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = norm2(v)
    assert result == pytest.approx(exact_norm(values), rel=4e-16, abs=0.0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([3.0, 4.0], dtype=np.float32),
        np.array([1, 2, 3]),
        [0.1, 0.2, 0.3],
        np.arange(12.0).reshape(3, 4),
        np.arange(12.0)[::3],
    ],
)
def test_norm2_of_any_input_is_that_of_its_float64_vector(values):
    """Lists, other dtypes, other shapes and strided views give the norm of the
    contiguous float64 vector of their entries."""
    vector = np.array(values, dtype=np.float64).ravel()
    assert norm2(values) == norm2(vector) == pytest.approx(exact_norm(vector.tolist()), rel=4e-16)
