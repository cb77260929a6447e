"""Checks of scalar arguments, shared by every layer (problems, solvers, runner, configs).

A *number* is a Python or numpy integer or floating-point value and never a ``bool``
(``True`` is an ``int`` to Python, but a flag given where a number is expected is a
mistake). The predicates answer yes or no; :func:`check_number` and
:func:`check_integer` return the value in its canonical type or raise a ``ValueError``
whose message starts with the argument's name (``"<name>: must be ..., got ..."``), the
form every one-line error of optbench takes.

This module imports nothing but the standard library (``numbers`` knows the numpy
scalar types), so that any module may use it without slowing ``optbench --help``.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

__all__ = ["check_integer", "check_number", "is_finite_number", "is_integer", "is_number"]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (possibly NaN or infinite), not a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number, not a ``bool``."""
    return is_number(value) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer, not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _bounded(value: Any, bounds: dict[str, float | None]) -> tuple[bool, str]:
    """Whether ``value`` is within ``bounds`` (``{">": gt, ">=": ge, ...}``), and their text."""
    given = {op: bound for op, bound in bounds.items() if bound is not None}
    try:
        within = all(bool(_COMPARISONS[op](value, bound)) for op, bound in given.items())
    except TypeError:  # not comparable with a number
        within = False
    return within, " and".join(f" {op} {bound:g}" for op, bound in given.items())


def check_number(
    name: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` within the bounds, or raise ``ValueError``.

    Parameters
    ----------
    name : str
        The argument's name, which starts the error message.
    value : object
        The value to check.
    gt, ge, lt, le : float, optional
        Strict and non-strict lower and upper bounds.

    Raises
    ------
    ValueError
        ``"<name>: must be a finite number [> gt ...], got <value>"``.
    """
    within, text = _bounded(value, {">": gt, ">=": ge, "<": lt, "<=": le})
    if not (is_finite_number(value) and within):
        raise ValueError(f"{name}: must be a finite number{text}, got {value!r}")
    return float(value)


def check_integer(name: str, value: Any, *, ge: int | None = None, le: int | None = None) -> int:
    """Return ``value`` as an ``int`` within the bounds, or raise ``ValueError``.

    Raises
    ------
    ValueError
        ``"<name>: must be an integer [>= ge ...], got <value>"``.
    """
    within, text = _bounded(value, {">=": ge, "<=": le})
    if not (is_integer(value) and within):
        raise ValueError(f"{name}: must be an integer{text}, got {value!r}")
    return int(value)
