"""Parameters that build a small instance of the families whose constructors need some.

The family-wide tests (derivative checks, the family × solver matrix) build each family
with its defaults; a family without defaults for everything appears here instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.problems.function import jax_available


def _numpy_rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _numpy_rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    a, b = x[:-1], x[1:]
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1:] += 200.0 * (b - a * a)
    return g


def _jax_rosenbrock(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _function_cases() -> list[dict[str, Any]]:
    x0 = [-1.2, 1.0, -1.2, 1.0]
    numpy_route = {
        "f": _numpy_rosenbrock,
        "grad": _numpy_rosenbrock_grad,
        "hvp": "fd",
        "x0": x0,
        "name": "rosenbrock_fd",
    }
    if not jax_available():
        return [numpy_route]
    return [{"f": _jax_rosenbrock, "x0": x0, "name": "rosenbrock_jax"}, numpy_route]


#: Family -> parameter sets (the first one stands for "the defaults").
REQUIRED_PARAMS: dict[str, list[dict[str, Any]]] = {"function": _function_cases()}


def default_params(family: str) -> dict[str, Any]:
    """The parameters that build ``family`` when its defaults do not suffice."""
    return REQUIRED_PARAMS.get(family, [{}])[0]
