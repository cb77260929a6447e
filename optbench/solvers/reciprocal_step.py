r"""Step rules of the variance-reduced methods (``svrg``, ``saga``): the reciprocal form.

Their theory states steps as :math:`1/(c L_{\max})` (SAGA's :math:`1/(3L)`, Defazio, Bach &
Lacoste-Julien 2014), which ``"c/L_max"`` can only approximate in decimal. A step
``"1/(c L_max)"`` (or ``"1/(c*L_max)"``, and the same with ``L``) is turned here into the
multiple :math:`1/c` of :mod:`optbench.solvers.stochastic`'s step rules, which resolve it.
"""

from __future__ import annotations

import math
import re

from optbench.problems.oracle import Oracle
from optbench.solvers.stochastic import check_base_step, resolve_base_step

#: ``1/(c L_max)``, ``1/(c*L_max)``, ``1/(c L)``: a reciprocal multiple of a smoothness constant.
_RECIPROCAL = re.compile(r"^1\s*/\s*\(\s*(?P<c>[0-9.eE+-]+)\s*\*?\s*(?P<constant>L_max|L)\s*\)$")


def as_multiple(step_size: float | str) -> float | str:
    """``"1/(c L_max)"`` as ``"<1/c>/L_max"`` (likewise with ``L``); anything else unchanged."""
    if not isinstance(step_size, str):
        return step_size
    match = _RECIPROCAL.match(step_size.strip())
    if match is None:
        return step_size
    try:
        divisor = float(match["c"])
    except ValueError:
        return step_size
    if not (math.isfinite(divisor) and divisor > 0):
        return step_size
    return f"{1.0 / divisor!r}/{match['constant']}"


def check_step(step_size: object) -> None:
    """Raise ``ValueError`` unless ``step_size`` is a number > 0, ``"c/L"``, ``"c/L_max"``
    or ``"1/(c L_max)"`` / ``"1/(c L)"`` with a number ``c > 0``."""
    try:
        check_base_step(as_multiple(step_size) if isinstance(step_size, str) else step_size)
    except ValueError:
        raise ValueError(
            "step_size: must be a number > 0, 'c/L', 'c/L_max', '1/(c L)' or '1/(c L_max)' "
            f"with a number c > 0 (e.g. '1/(3 L_max)'); got {step_size!r}"
        ) from None


def resolve_step(step_size: float | str, oracle: Oracle) -> float:
    """The numeric step of ``step_size`` on the oracle's problem (see :func:`check_step`)."""
    return resolve_base_step(as_multiple(step_size), oracle)
