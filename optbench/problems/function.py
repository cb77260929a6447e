r"""A problem from the user's own function: derivatives by automatic differentiation.

``make_problem("function", f=..., x0=..., name=...)`` turns a scalar function into an
optbench problem. Two routes give the derivatives:

JAX (``optbench[jax]``)
    ``f`` is written with :mod:`jax.numpy`. The gradient is reverse mode (a
    vector–Jacobian product), fused with the value (``jax.value_and_grad``); the
    Hessian-vector product is forward-over-reverse, a Jacobian–vector product of the
    gradient, :math:`\nabla^2 f(x)\,v = \tfrac{d}{dt}\nabla f(x + t v)|_{t=0}`
    (``jax.jvp`` of ``jax.grad``; Pearlmutter, *Fast exact multiplication by the
    Hessian*, Neural Comput. 6(1), 1994; Griewank & Walther, *Evaluating Derivatives*,
    2nd ed., 2008, §5.4); the dense Hessian is ``jacfwd(jacrev(f))``, compiled only when
    asked for. float64 is enabled (``jax_enable_x64``, a process-wide JAX setting). Each
    function is ``jax.jit``-compiled once per instance, when it is built, and the
    compile time is measured then (:attr:`FunctionProblem.compile_seconds`, the
    summary's ``compile_time``): it is never part of a run's ``time``.
NumPy
    ``f`` and ``grad`` written with NumPy, and ``hvp="fd"``: the Hessian-vector product
    by central differences of gradients with the step
    :math:`h = \epsilon^{1/3}(1 + \|x\|)` chosen per call
    (:mod:`optbench.problems.finite_differences`). Its relative error is about
    :math:`\epsilon^{2/3} \approx 4\cdot 10^{-11}` times the third derivative's scale:
    enough for Newton-CG, but a CG run on an ill-conditioned Hessian can see it (say
    so when comparing). Each such HVP costs two gradients, and is counted so (cost
    weight 2). ``hvp="fd"`` also works with the JAX gradient.

A missing ``grad`` without JAX is an error naming the extra, never a silently
finite-differenced gradient. With JAX, the AD HVP counts as one gradient-equivalent,
the convention of the analytic families (its real time shows in ``time``).

From a config, ``module`` names a module or a ``.py`` file holding the function:
``{family: function, params: {module: my_losses, name: my_loss, x0: [...]}}`` takes
``my_losses.my_loss`` as ``f`` and, when given as a string, ``grad`` as another name in
that module. ``f_star`` given by the user is checked (a gradient-norm test at a
certified minimiser from ``x0`` must not find a value below it); otherwise f* is
certified on first use, as for the synthetic families.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from optbench.problems.base import CostWeights, Problem
from optbench.problems.certify import LazyFStar
from optbench.problems.finite_differences import central_difference_hvp
from optbench.registry import PROBLEMS
from optbench.scalars import is_finite_number

#: How the Hessian-vector product is computed.
HVP_MODES = ("ad", "fd")
#: The install hint of the JAX route.
JAX_EXTRA = "pip install 'optbench[jax]'"


def jax_available() -> bool:
    """Whether JAX can be imported (without importing it)."""
    return importlib.util.find_spec("jax") is not None


def _jax() -> Any:
    """JAX with float64 enabled."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _module(entry: str) -> Any:
    """The module ``entry`` names: a module name or the path of a ``.py`` file."""
    if entry.endswith(".py"):
        path = Path(entry).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"module: no such file {path}")
        name = "_optbench_function_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ValueError(f"module: cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[name]
                raise ValueError(f"module: importing {path} failed: {exc}") from None
        return sys.modules[name]
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as exc:
        hint = f" (for a file, give its path: {entry}.py)" if Path(f"{entry}.py").is_file() else ""
        raise ValueError(f"module: importing {entry!r} failed: {exc}{hint}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of user code is one line
        raise ValueError(f"module: importing {entry!r} failed: {exc}") from None


def _callable(
    value: Any, module: Any, field: str, where: str | None = None
) -> Callable[..., Any] | None:
    """``value`` as a callable: itself, or an attribute of ``module`` (named ``where``)."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and module is not None:
        found = getattr(module, value, None)
        if callable(found):
            return found
        raise ValueError(f"{field}: {where} has no function {value!r}")
    raise ValueError(f"{field}: must be a function (or, with module, its name), got {value!r}")


def _describe(function: Callable[..., Any] | None) -> str | None:
    """``module.qualname`` of a function, for the instance's params."""
    if function is None:
        return None
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


def _code_digest(function: Callable[..., Any] | None) -> str:
    """A hash of the function's source (or its repr when there is none)."""
    if function is None:
        return ""
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        text = repr(function)
    return hashlib.sha256(text.encode()).hexdigest()


@PROBLEMS.register("function")
class FunctionProblem(LazyFStar, Problem):
    r"""The user's function :math:`f`, with derivatives by JAX or by the user.

    Parameters
    ----------
    f : callable or None
        :math:`f(x) \to` scalar; written with ``jax.numpy`` for the JAX route. None
        when ``module`` is given (then ``f`` is ``module.<name>``).
    x0 : sequence of float
        The starting point (fixes the dimension).
    name : str
        The problem's name (and, with ``module``, the function's name in it).
    grad : callable, str or None
        :math:`\nabla f(x)`. None: by JAX (reverse mode). With ``module``, a name in it.
    hvp : {"ad", "fd"}
        ``ad``: forward-over-reverse AD (needs JAX); ``fd``: central differences of
        gradients (module notes).
    module : str or None
        A module name or ``.py`` path holding ``name`` (and ``grad`` when a string).
    f_star : float or None
        The optimal value if known (checked by certification); None: certified on
        first use.
    """

    vector_params = ("x0",)
    path_params = ("module",)

    def __init__(
        self,
        f: Callable[..., Any] | None = None,
        x0: Any = None,
        name: str = "function",
        grad: Callable[..., Any] | str | None = None,
        hvp: str = "ad",
        module: str | None = None,
        f_star: float | None = None,
    ) -> None:
        params = self._validated_params(
            f=f, x0=x0, name=name, grad=grad, hvp=hvp, module=module, f_star=f_star
        )
        self._f, self._user_grad = params.pop("_f"), params.pop("_grad")
        self.params = params
        self.name = name
        self.x0 = np.array(x0, dtype=float)
        self.dim = self.x0.size
        self.hvp_mode = hvp
        self.hvp_exact = hvp == "ad"
        self.cost_weights = CostWeights(hvp=2.0) if hvp == "fd" else CostWeights()
        self.compile_seconds = 0.0
        self._jit_hess: Callable[..., Any] | None = None
        self._prepare()
        self._given_f_star = f_star

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int:
        return len(params["x0"])

    @classmethod
    def check_params(cls, **params: Any) -> dict[str, Any]:
        """The checked parameters, without the resolved functions (see the base class)."""
        checked = super().check_params(**params)
        return {key: value for key, value in checked.items() if not key.startswith("_")}

    @classmethod
    def _validated_params(
        cls,
        *,
        f: Any,
        x0: Any,
        name: Any,
        grad: Any,
        hvp: Any,
        module: Any,
        f_star: Any,
    ) -> dict[str, Any]:
        """Check every parameter; the resolved functions go in ``_f`` and ``_grad``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: must be a non-empty string, got {name!r}")
        if hvp not in HVP_MODES:
            raise ValueError(f"hvp: must be one of {', '.join(HVP_MODES)}, got {hvp!r}")
        if module is not None and not isinstance(module, str):
            raise ValueError(f"module: must be a module name or a .py path, got {module!r}")
        if (f is None) == (module is None):
            raise ValueError("f: give either f (a function) or module (where f is found)")
        loaded = _module(module) if module is not None else None
        if loaded is None:
            function = _callable(f, None, "f")
        else:
            function = _callable(name, loaded, "name", module)
        gradient = _callable(grad, loaded, "grad", module)
        point = np.asarray(x0, dtype=float) if _is_vector(x0) else None
        if point is None:
            raise ValueError(f"x0: must be a non-empty list of finite numbers, got {x0!r}")
        if f_star is not None and not is_finite_number(f_star):
            raise ValueError(f"f_star: must be a finite number or null, got {f_star!r}")
        needs_jax = gradient is None or hvp == "ad"
        if needs_jax and not jax_available():
            missing = "grad is not given" if gradient is None else "hvp: ad"
            hint = "" if gradient is None else " or hvp: fd"
            raise ValueError(
                f"function: {missing} and JAX is not installed: {JAX_EXTRA}{hint}"
                + ("; or pass grad" if gradient is None else "")
            )
        return {
            "name": name,
            "x0": point.tolist(),
            "f": _describe(function),
            "grad": _describe(gradient),
            "hvp": hvp,
            "module": module,
            "f_star": None if f_star is None else float(f_star),
            "_f": function,
            "_grad": gradient,
        }

    def _prepare(self) -> None:
        """Build (and compile, for JAX) the value, gradient and HVP functions."""
        started = time.perf_counter()
        if self._user_grad is not None:
            self._value_and_grad = self._numpy_value_and_grad
        else:
            jax = _jax()
            fused = jax.jit(jax.value_and_grad(self._f))
            fused(self.x0)[1].block_until_ready()
            self._jit_value_and_grad = fused
            self._value_and_grad = self._jax_value_and_grad
        if self.hvp_mode == "ad":
            jax = _jax()
            gradient = jax.grad(self._f)
            product = jax.jit(lambda x, v: jax.jvp(gradient, (x,), (v,))[1])
            product(self.x0, np.ones(self.dim)).block_until_ready()
            self._jit_hvp = product
        self.compile_seconds = time.perf_counter() - started if self._uses_jax else 0.0

    @property
    def jax_function(self) -> Callable[..., Any] | None:
        """The user's :math:`f` when it is written for JAX (no ``grad`` given), else None."""
        return self._f if self._user_grad is None else None

    @property
    def _uses_jax(self) -> bool:
        return self._user_grad is None or self.hvp_mode == "ad"

    def _numpy_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value = float(self._f(x))
        return value, np.array(self._user_grad(x), dtype=float)

    def _jax_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._jit_value_and_grad(x)
        return float(value), np.array(gradient, dtype=float)

    def value(self, x: np.ndarray) -> float:
        return float(self._f(x))

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self._value_and_grad(x)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        if self.hvp_mode == "ad":
            return np.array(self._jit_hvp(x, v), dtype=float)
        return central_difference_hvp(self.grad, x, v)

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian: ``jacfwd(jacrev(f))`` with JAX (compiled on first call)."""
        self._check_hess_size()
        if self.hvp_mode != "ad":
            return super().hess(x)
        if self._jit_hess is None:
            jax = _jax()
            self._jit_hess = jax.jit(jax.jacfwd(jax.jacrev(self._f)))
        H = np.array(self._jit_hess(x), dtype=float)
        return 0.5 * (H + H.T)

    def data_digest(self) -> str:
        """What certification's cache key hashes besides the params: the code."""
        return _code_digest(self._f) + _code_digest(self._user_grad)

    @property
    def f_star(self) -> float | None:
        """The user's f* (checked against a certified one) or the certified one."""
        certified = LazyFStar.f_star.fget(self)  # type: ignore[attr-defined]
        given = self._given_f_star
        if given is None:
            return certified
        if certified is not None and certified < given - 1e-8 * max(1.0, abs(given)):
            raise ValueError(
                f"f_star: {given!r} is above a certified local minimum {certified!r} of "
                f"{self.name}: not a lower bound"
            )
        return given

    @f_star.setter
    def f_star(self, value: float | None) -> None:
        LazyFStar.f_star.fset(self, value)  # type: ignore[attr-defined]


def _is_vector(value: Any) -> bool:
    """A non-empty flat sequence of finite numbers."""
    if isinstance(value, str | bytes) or value is None:
        return False
    try:
        items = list(np.asarray(value, dtype=object).ravel())
        shape = np.shape(value)
    except (TypeError, ValueError):
        return False
    return len(shape) == 1 and bool(items) and all(is_finite_number(v) for v in items)
