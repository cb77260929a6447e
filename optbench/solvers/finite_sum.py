r"""What the variance-reduced and subsampled solvers share on finite sums.

A finite sum is :math:`f(x) = \frac1n \sum_{i=1}^n f_i(x) + \frac{\lambda}{2}\|x\|^2`
(the data losses: least squares, logistic and softmax regression). Their problems give
``n_samples`` and minibatch evaluations; the solvers of this group (``svrg``, ``saga``,
``subsampled_newton_cg``) refuse other problems with one line, draw row batches from the
run's seeded generator, and take step sizes relative to :math:`L_{\max}`, the largest
smoothness constant of one term :math:`f_i + \frac{\lambda}{2}\|\cdot\|^2`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from optbench.problems.oracle import Oracle
from optbench.scalars import is_finite_number, is_integer

#: ``"c/L_max"`` or ``"1/(c L_max)"`` (``"1/(3 L_max)"``, ``"1/(3*L_max)"``): a step size
#: relative to the largest per-sample smoothness constant.
_RELATIVE_STEP = re.compile(
    r"^\s*(?P<num>[0-9.eE+-]+)\s*/\s*(?:\(\s*(?P<den>[0-9.eE+-]+)\s*\*?\s*L_max\s*\)|L_max)\s*$"
)


def finite_sum_incompatibility(problem: Any, solver: str, *needs: str) -> str | None:
    """Why ``solver`` cannot run on ``problem`` (one line), or None.

    ``problem`` must be a finite sum (``n_samples`` set) offering the methods ``needs``.
    """
    name = getattr(problem, "name", type(problem).__name__)
    if getattr(problem, "n_samples", None) is None:
        return (
            f"{solver} needs a finite-sum problem (a data loss: least_squares, logistic, "
            f"softmax), and problem {name!r} is not one"
        )
    missing = [method for method in needs if not callable(getattr(problem, method, None))]
    if missing:
        return f"{solver} needs {', '.join(missing)} of problem {name!r}, which it does not offer"
    return None


def relative_step_multiple(step_size: object) -> float | None:
    """``c`` of a step size ``"c/L_max"`` (``"1/(k L_max)"`` gives ``1/k``), else None."""
    if not isinstance(step_size, str):
        return None
    match = _RELATIVE_STEP.match(step_size)
    if match is None:
        return None
    try:
        multiple = float(match["num"]) / float(match["den"] or 1.0)
    except (ValueError, ZeroDivisionError):
        return None
    return multiple if math.isfinite(multiple) and multiple > 0 else None


def check_relative_step(step_size: object) -> None:
    """Raise ``ValueError`` unless ``step_size`` is a number > 0 or ``"c/L_max"``."""
    if isinstance(step_size, str):
        ok = relative_step_multiple(step_size) is not None
    else:
        ok = is_finite_number(step_size) and float(step_size) > 0  # type: ignore[arg-type]
    if not ok:
        raise ValueError(
            "step_size: must be a number > 0, 'c/L_max' or '1/(c L_max)' with a number c > 0 "
            f"(e.g. '1/(3 L_max)'); got {step_size!r}"
        )


def resolve_relative_step(step_size: float | str, oracle: Oracle) -> float:
    """The numeric step: the number itself, or :math:`c / L_{\\max}` of the problem.

    Raises
    ------
    ValueError
        When the problem gives no finite :math:`L_{\\max} > 0` (raised from ``init``, so the
        run is recorded as ``error`` with this line).
    """
    multiple = relative_step_multiple(step_size)
    if multiple is None:
        return float(step_size)
    l_max = getattr(oracle.smoothness(), "L_max", None)
    if l_max is None or not math.isfinite(l_max) or l_max <= 0:
        raise ValueError(
            f"step_size: {step_size!r} needs L_max, the largest per-sample smoothness "
            f"constant, which problem {oracle.problem.name!r} does not provide; give a number"
        )
    return multiple / l_max


def check_batch_size(name: str, value: object, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1 (or None when allowed)."""
    if value is None and allow_none:
        return
    if not (is_integer(value) and int(value) >= 1):  # type: ignore[call-overload]
        allowed = "None or an integer >= 1" if allow_none else "an integer >= 1"
        raise ValueError(f"{name}: must be {allowed}, got {value!r}")


def draw_batch(rng: np.random.Generator, n_samples: int, size: int) -> np.ndarray:
    """``size`` distinct row indices drawn uniformly from ``range(n_samples)``.

    A batch of one is a single ``integers`` draw; larger batches are drawn without
    replacement (all rows when ``size >= n_samples``).
    """
    if size == 1:
        return rng.integers(n_samples, size=1)
    if size >= n_samples:
        return np.arange(n_samples)
    return rng.choice(n_samples, size=size, replace=False)


def ridge_gradient(problem: Any, x: np.ndarray) -> np.ndarray:
    r"""The gradient :math:`\lambda x` of the ridge term of a data loss.

    ``l2`` is the problem's :math:`\lambda`; an unregularized intercept (logistic with
    ``fit_intercept``, the last coordinate) gets 0.
    """
    l2 = float(getattr(problem, "l2", 0.0) or 0.0)
    out = l2 * x
    if getattr(problem, "fit_intercept", False):
        out[-1] = 0.0
    return out


def run_generator(oracle: Oracle) -> np.random.Generator:
    """The run's seeded generator (its seed decides every batch the solver draws)."""
    return np.random.default_rng(getattr(oracle, "seed", 0))


def sample_count(oracle: Oracle) -> int:
    """The number of terms :math:`n` of the oracle's finite sum."""
    n_samples = oracle.problem.n_samples
    if n_samples is None:
        raise ValueError(f"problem {oracle.problem.name!r} is not a finite sum")
    return int(n_samples)
