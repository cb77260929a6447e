"""Golden oracle counts: generate, check and regenerate ``tests/golden/counts.csv``.

The file holds one row per deterministic (catalog instance x solver configuration)
pair: ``problem, solver, params, status, iters, n_f, n_g, n_hvp, n_hess, n_r, n_J``.
Nothing
time-dependent is stored. ``tests/test_golden_counts.py`` recomputes every row and
asserts equality; this module is also the generator::

    python tests/golden_counts.py            # recompute, print the diff, exit 1 if any
    python tests/golden_counts.py --update   # rewrite the file, print the diff of changed rows
    python tests/golden_counts.py --list     # the pairs, and the skipped pairs with reasons
    pytest tests/test_golden_counts.py --update-golden   # same as --update, from pytest

Without ``--update`` (``--update-golden``) the file is never written.

Solver configurations
---------------------
Every registered solver with its default hyper-parameters, plus the variants of
:data:`VARIANTS`: ``gd`` with ``step_size="armijo"`` and ``"1/L"``, ``newton_cg`` with
each forcing rule, ``scipy`` with each method of
:data:`~optbench.solvers.scipy_baseline.SCIPY_METHODS`. A variant
equal to the defaults (``gd`` armijo, ``newton_cg`` sqrt, ``scipy`` L-BFGS-B) is one
row, labelled by the variant; ``params`` is empty for a solver's defaults.

Budgets
-------
The same for every pair: ``gtol = 1e-8`` (:data:`GTOL`), ``max_iter = 200``
(:data:`MAX_ITER`), no f-gap, cost or time budget; each problem's standard ``x0``.
With these the whole file is computed in well under 30 s on one core (the slowest
rows: dense Newton and scipy trust-exact on ``rosenbrock_extended_1000``, about 0.5 s
each; building ``logistic_sparse`` and ``least_squares_ill`` takes 1-2 s).

Included and skipped pairs
--------------------------
Every instance of the one-file-per-instance catalog (:data:`GOLDEN_SUITE`) not marked
``large: true`` (``catalog_names(large=False, suite=GOLDEN_SUITE)``;
the large ones are never built here) with every configuration, except (reasons derived
from the problem's and the solver's properties, see :func:`skip_reason`):

* a configuration that is not deterministic: its solver says ``deterministic = False``
  (scipy trust-krylov: its counts differ between processes, in plain scipy too);
* a stochastic solver (``stochastic = True``): its work is counted in sample gradients
  (``n_sample_g``), which the file has no column for;
* a ``"c/L"`` step size where ``problem.smoothness().L is None`` (``gd`` 1/L and
  ``nesterov`` on the three Rosenbrock instances): the pair does not apply;
* a solver that uses dense Hessians (detected by :func:`uses_dense_hessian`: it calls
  ``oracle.hess`` on a tiny problem; today ``newton`` and ``scipy`` trust-exact) on a
  problem with ``dim > hess_max_dim`` (does not apply) or ``dim >``
  :data:`DENSE_HESSIAN_MAX_DIM` = 1000 (too expensive for CI: on ``logistic_sparse``,
  dim 2000, ``newton`` takes 13 s and trust-exact 26 s);
* a solver that keeps a dense n x n matrix updated with O(n^3) work per iteration
  (:data:`DENSE_MATRIX_SOLVERS`: scipy BFGS, whose inverse-Hessian update is two n x n
  matrix products) on a problem with ``dim >`` :data:`DENSE_MATRIX_MAX_DIM` = 500 (on
  ``rosenbrock_extended_1000`` it takes 14 s, on ``logistic_sparse`` 105 s).

With the 8 small instances that is 142 rows (``--list`` prints the skipped pairs and
why).

Reproducibility
---------------
The file is exact for the numerical stack it was computed on, whose fingerprint
(:mod:`optbench.stack`) ``--update`` writes to ``tests/golden/stack.json``. On another
stack (another CPU's SIMD kernels, another BLAS kernel, …) rounding moves counts of
long inner loops, and rows are judged with the cross-stack rule of ``optbench compare``
(:class:`~optbench.analysis.compare.StackRule`; ``docs/stack_spread.md`` has the
measurements): the test says which fingerprint fields differ.

Counts are computed with BLAS pinned to one thread (``threadpoolctl``), in a fixed
order, each instance built once and shared by its rows (problems are pure). Checked
when the file was generated: identical rows from separate processes (with different
``PYTHONHASHSEED``, and with ``OPENBLAS_NUM_THREADS=2`` in the environment) and with
the pairs computed in reverse order in one process.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

if __name__ == "__main__" and __package__ in (None, ""):
    # ``python tests/golden_counts.py`` puts tests/ on sys.path, not the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import scipy.linalg  # noqa: F401 - load every BLAS user before pinning threads
import scipy.optimize  # noqa: F401
import scipy.sparse  # noqa: F401
from threadpoolctl import threadpool_limits

from optbench.analysis.compare import StackRule
from optbench.problems import Problem, make_problem
from optbench.problems.catalog import INSTANCE_FILES_SUITE, catalog_names
from optbench.run.runner import LogPolicy, StopCriteria, run_solver
from optbench.solvers import Solver, list_solvers, make_solver
from optbench.solvers.gradient_descent import inverse_lipschitz_multiple
from optbench.solvers.nonlinear_cg import BETA_RULES
from optbench.solvers.optimistix_baseline import OPTIMISTIX_METHODS
from optbench.solvers.scipy_baseline import SCIPY_METHODS
from optbench.solvers.truncated_cg import FORCING_RULES
from optbench.stack import read_stack, stack_differences

#: The golden file.
GOLDEN_PATH = Path(__file__).resolve().parent / "golden" / "counts.csv"
#: The numerical stack the golden file was computed on (beside it).
STACK_PATH = GOLDEN_PATH.with_name("stack.json")
#: Columns of the golden file, in order; the first three are the key of a row.
#: The suite whose instances the file covers: the one-file-per-instance catalog (suite
#: tables such as ``mgh`` are checked by their own tests).
GOLDEN_SUITE = INSTANCE_FILES_SUITE
COLUMNS = (
    "problem", "solver", "params", "status", "iters", "n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J",
)  # fmt: skip
KEY_COLUMNS = COLUMNS[:3]
#: Gradient-norm tolerance of every golden run.
GTOL = 1e-8
#: Iteration budget of every golden run.
MAX_ITER = 200
#: Dense-Hessian solvers are skipped above this dimension (CI time).
DENSE_HESSIAN_MAX_DIM = 1000
#: Solvers keeping a dense n x n matrix with O(n^3) work per iteration are skipped above this.
DENSE_MATRIX_MAX_DIM = 500
#: (solver, params) configurations with a dense n x n matrix updated by O(n^3) work per
#: iteration (not visible in the oracle counts, so declared here).
DENSE_MATRIX_SOLVERS = (("scipy", (("method", "BFGS"),)),)
#: Configurations besides each solver's defaults.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "gd": [{"step_size": "armijo"}, {"step_size": "1/L"}],
    "newton_cg": [{"forcing": rule} for rule in FORCING_RULES] + [{"preconditioner": "none"}],
    "trust_ncg": [{"preconditioner": "none"}],
    "nonlinear_cg": [{"beta": rule} for rule in BETA_RULES],
    "bb": [{"formula": "long"}, {"formula": "short"}],
    "lbfgs": [{"memory": 3}],
    "scipy": [{"method": method} for method in SCIPY_METHODS],
    "optax": [{"method": "adam", "learning_rate": 1e-2}, {"method": "sgd"}],
    "optimistix": [{"method": method} for method in OPTIMISTIX_METHODS],
}
#: Baselines from an optional extra whose counts hang on XLA's kernels and versions,
#: which the stack fingerprint does not record: left out of the golden file.
UNPINNED_SOLVERS = ("optax", "optimistix")
#: Pairs whose counts differ across numerical stacks by more than the cross-stack rule
#: allows, measured under simulated CPUs (NPY_DISABLE_CPU_FEATURES x OPENBLAS_CORETYPE):
#: nonlinear CG without an exact line search amplifies rounding on these two
#: ill-conditioned real-data losses (diabetes: 70 -> 50 and 25 -> 35 iterations, iris:
#: 38 -> 50 and 47 -> 64). Left out of the golden file; nonlinear_cg keeps its rows on
#: every other instance.
ROUNDING_SENSITIVE = {
    ("nonlinear_cg", "least_squares_diabetes"),
    ("nonlinear_cg", "softmax_iris"),
}
#: Trace rows for iteration 0 and the last iteration only (the runner always logs the last).
_LOG_LAST = LogPolicy(every=10**9)
#: The shell command that regenerates the golden file.
UPDATE_COMMAND = "python tests/golden_counts.py --update"


@dataclass(frozen=True)
class Configuration:
    """A solver and the hyper-parameters given explicitly (the rest are defaults).

    Attributes
    ----------
    solver : str
        Registered solver name.
    params : tuple of (str, Any)
        The explicit hyper-parameters, sorted by name.
    """

    solver: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``params`` as ``name=value;name=value`` (empty for the defaults)."""
        return ";".join(f"{name}={value}" for name, value in self.params)

    def make(self) -> Solver:
        """The solver instance."""
        return make_solver(self.solver, **dict(self.params))

    def __str__(self) -> str:
        return f"{self.solver}({self.label})"


def solver_configurations() -> list[Configuration]:
    """Every registered solver with its defaults and its :data:`VARIANTS`, deduplicated.

    Returns
    -------
    list of Configuration
        Solvers by name; for each solver the variants first, then the defaults
        unless a variant already resolves to the same hyper-parameters.
    """
    configurations = []
    for name in list_solvers():
        seen: list[dict[str, Any]] = []
        for params in [*VARIANTS.get(name, []), {}]:
            configuration = Configuration(name, tuple(sorted(params.items())))
            try:
                resolved = configuration.make().params()
            except ValueError:  # an optional extra that is not installed
                continue
            if resolved not in seen:
                seen.append(resolved)
                configurations.append(configuration)
    return configurations


def nondeterministic_reason(configuration: Configuration) -> str | None:
    """Why the configuration's counts are not reproducible, or ``None``.

    The solver says so: ``deterministic = False`` on its class or instance.
    """
    if not configuration.make().deterministic:
        return f"{configuration} declares deterministic = False"
    return None


@cache
def uses_dense_hessian(configuration: Configuration) -> bool:
    """Whether the configuration calls ``oracle.hess``: two iterations on a tiny problem."""
    probe = make_problem("least_squares", n_samples=8, n_features=3, seed=0)
    stop = StopCriteria(gtol=0.0, max_iter=2)
    with warnings.catch_warnings():  # the probe may step from an exact minimizer
        warnings.simplefilter("ignore", RuntimeWarning)
        result = run_solver(probe, configuration.make(), stop, log=_LOG_LAST)
    return result.n_hess > 0


def inapplicable_reason(problem: Problem, configuration: Configuration) -> str | None:
    """Why ``configuration`` cannot run on ``problem`` at all, or ``None``.

    A ``"c/L"`` step size needs a known ``problem.smoothness().L``; a dense-Hessian
    solver needs ``problem.dim <= problem.hess_max_dim``.
    """
    solver = configuration.make()
    reason = solver.incompatibility(problem)
    if reason is not None:
        return reason
    for name, value in solver.params().items():
        if inverse_lipschitz_multiple(value) is not None and problem.smoothness().L is None:
            return (
                f"{configuration.solver} {name}={value!r} needs the gradient's Lipschitz "
                f"constant, and {problem.name}.smoothness().L is None"
            )
    if problem.dim > problem.hess_max_dim and uses_dense_hessian(configuration):
        return (
            f"{configuration} builds dense Hessians and {problem.name} has dim "
            f"{problem.dim} > hess_max_dim = {problem.hess_max_dim}"
        )
    return None


def skip_reason(problem: Problem, configuration: Configuration) -> str | None:
    """Why the golden file leaves the pair out, or ``None`` when it is included.

    The configuration is not deterministic (:func:`nondeterministic_reason`), the pair
    does not apply (:func:`inapplicable_reason`), or it is too expensive
    for CI: a dense-Hessian solver above :data:`DENSE_HESSIAN_MAX_DIM`, or a solver of
    :data:`DENSE_MATRIX_SOLVERS` above :data:`DENSE_MATRIX_MAX_DIM`.
    """
    reason = nondeterministic_reason(configuration) or inapplicable_reason(problem, configuration)
    if reason is not None:
        return reason
    if configuration.make().stochastic:
        return (
            f"{configuration} is stochastic: its work is in sample gradients, which this file "
            "does not hold (tests/test_stochastic_runner.py checks them)"
        )
    if configuration.solver in UNPINNED_SOLVERS:
        return f"{configuration}: counts depend on XLA, which the stack fingerprint does not pin"
    if (configuration.solver, problem.name) in ROUNDING_SENSITIVE:
        return f"{configuration} on {problem.name}: counts vary across stacks beyond the rule"
    if problem.dim > DENSE_HESSIAN_MAX_DIM and uses_dense_hessian(configuration):
        return (
            f"{configuration} factorizes a dense {problem.dim}x{problem.dim} Hessian per "
            f"iteration: too slow for CI above dim {DENSE_HESSIAN_MAX_DIM}"
        )
    dense_matrix = (configuration.solver, configuration.params) in DENSE_MATRIX_SOLVERS
    if problem.dim > DENSE_MATRIX_MAX_DIM and dense_matrix:
        return (
            f"{configuration} updates a dense {problem.dim}x{problem.dim} matrix with "
            f"O(n^3) work per iteration: too slow for CI above dim {DENSE_MATRIX_MAX_DIM}"
        )
    return None


@cache
def golden_problem(name: str) -> Problem:
    """Catalog instance ``name``, built once per process (problems are pure)."""
    return make_problem(name)


def golden_pairs() -> tuple[list[tuple[str, Configuration]], list[tuple[str, Configuration, str]]]:
    """The pairs of the golden file, and the skipped pairs with their reasons.

    Returns
    -------
    included : list of (str, Configuration)
        (catalog instance, configuration), instances sorted by name.
    skipped : list of (str, Configuration, str)
        The pairs left out and why.
    """
    included, skipped = [], []
    configurations = solver_configurations()
    for name in catalog_names(large=True, suite=GOLDEN_SUITE):
        reason = f"{name} is marked 'large: true' in the catalog (too big for the test suite)"
        skipped += [(name, configuration, reason) for configuration in configurations]
    for name in catalog_names(large=False, suite=GOLDEN_SUITE):
        problem = golden_problem(name)
        for configuration in configurations:
            reason = skip_reason(problem, configuration)
            if reason is None:
                included.append((name, configuration))
            else:
                skipped.append((name, configuration, reason))
    return included, skipped


def compute_row(name: str, configuration: Configuration) -> dict[str, str]:
    """Run one pair with the golden budgets; its row (all values as strings).

    The row has the :data:`COLUMNS` and also ``message``, the run's message (not
    stored in the file; shown for rows ending in ``error``). Call inside
    :func:`pinned_blas` (as :func:`compute_rows` does).
    """
    stop = StopCriteria(gtol=GTOL, max_iter=MAX_ITER)
    result = run_solver(golden_problem(name), configuration.make(), stop, log=_LOG_LAST)
    values = (
        name,
        configuration.solver,
        configuration.label,
        result.status,
        result.iters,
        result.n_f,
        result.n_g,
        result.n_hvp,
        result.n_hess,
        result.n_r,
        result.n_J,
    )
    return dict(zip(COLUMNS, map(str, values), strict=True), message=result.message)


def pinned_blas() -> threadpool_limits:
    """Context manager pinning every BLAS/OpenMP pool to one thread (reproducible sums)."""
    return threadpool_limits(limits=1)


def compute_rows(pairs: Iterable[tuple[str, Configuration]] | None = None) -> list[dict[str, str]]:
    """The golden rows, recomputed with BLAS pinned to one thread.

    Parameters
    ----------
    pairs : iterable of (str, Configuration), optional
        Default: every included pair of :func:`golden_pairs`.
    """
    if pairs is None:
        pairs = golden_pairs()[0]
    with pinned_blas():
        return [compute_row(name, configuration) for name, configuration in pairs]


def read_golden(path: Path = GOLDEN_PATH) -> list[dict[str, str]]:
    """Rows of the golden file (values as strings).

    Raises
    ------
    FileNotFoundError
        If there is no golden file yet.
    ValueError
        If its header is not :data:`COLUMNS`.
    """
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(COLUMNS)}, got {reader.fieldnames}")
        return [dict(row) for row in reader]


def format_rows(rows: Sequence[dict[str, str]]) -> str:
    """The CSV text of ``rows`` with the :data:`COLUMNS` header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_golden(rows: Sequence[dict[str, str]], path: Path = GOLDEN_PATH) -> None:
    """Write ``rows`` to ``path`` (atomically: a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(format_rows(rows), encoding="utf-8")
    temporary.replace(path)


def _line(row: dict[str, str]) -> str:
    return ",".join(row[column] for column in COLUMNS)


def error_rows(rows: Sequence[dict[str, str]]) -> str:
    """The rows that ended in ``error``, one a line with their message; ``""`` if none.

    An included pair that raises is a bug (pairs that do not apply are skipped), so such
    rows are never written to the golden file.
    """
    return "\n".join(
        f"{_line(row)}: {row.get('message', '')}" for row in rows if row["status"] == "error"
    )


def current_stack() -> dict[str, str]:
    """The fingerprint of this process's numerical stack, BLAS pinned to one thread."""
    from optbench.run.environment import collect_environment

    return collect_environment(blas_threads=1)["stack"]


def golden_rule(stack_path: Path = STACK_PATH) -> StackRule:
    """The rule that judges recomputed rows: exact on the golden file's stack, the
    cross-stack tolerance of ``optbench compare`` elsewhere (or with no stack file)."""
    stored = read_stack(stack_path) or {}
    return StackRule(tuple(stack_differences(current_stack(), stored)))


def changed(before: dict[str, str], after: dict[str, str], rule: StackRule | None) -> bool:
    """Whether a row changed by more than ``rule`` allows (any change on one stack).

    Across stacks the change must be beyond the tolerance in either direction: a
    status change rounding does not explain, or, between equal statuses other than
    ``failed`` (a stop on rounding noise, whose counts measure that noise), a count
    beyond :meth:`StackRule.allowed` one way or the other.
    """
    if rule is None or not rule.cross_stack:
        return _line(before) != _line(after)

    def explained(a: dict[str, str], b: dict[str, str]) -> bool:
        statuses = np.array([a["status"]]), np.array([b["status"]])
        iters = float(a["iters"]), float(b["iters"])
        return bool(rule.rounding_explains(*statuses, {"iters": iters})[0])

    if before["status"] != after["status"]:
        return not (explained(before, after) or explained(after, before))
    if before["status"] == "failed":
        return False
    return any(
        float(b) > rule.allowed(name, np.array(float(a)))
        for name in COLUMNS[4:]
        for a, b in ((before[name], after[name]), (after[name], before[name]))
    )


def diff_rows(
    expected: Sequence[dict[str, str]],
    got: Sequence[dict[str, str]],
    rule: StackRule | None = None,
) -> str:
    """The changed rows, keyed by (problem, solver, params); ``""`` when equal.

    A changed row (:func:`changed` under ``rule``; by default any difference) shows as
    ``- expected`` then ``+ got``; a row only in ``expected`` as ``-``, a row only in
    ``got`` as ``+``. Rows are listed in ``got``'s order, then the removed ones.
    """

    def key(row: dict[str, str]) -> tuple[str, ...]:
        return tuple(row[column] for column in KEY_COLUMNS)

    old = {key(row): row for row in expected}
    new = {key(row): row for row in got}
    lines = []
    for row in got:
        before = old.get(key(row))
        if before is None:
            lines.append(f"+ {_line(row)}")
        elif changed(before, row, rule):
            lines += [f"- {_line(before)}", f"+ {_line(row)}"]
    lines += [f"- {_line(row)}" for row in expected if key(row) not in new]
    if not lines:
        return ""
    header = ["  " + ",".join(COLUMNS), "--- expected (tests/golden/counts.csv)", "+++ got"]
    return "\n".join(header + lines)


def update_golden(rows: Sequence[dict[str, str]], path: Path = GOLDEN_PATH) -> str:
    """Write ``rows`` to ``path`` and this stack's fingerprint to ``stack.json`` beside
    it; return the diff against the previous file.

    Raises
    ------
    ValueError
        If a row ended in ``error`` (the file is left unchanged).
    """
    errors = error_rows(rows)
    if errors:
        raise ValueError(f"not writing {path}: these pairs raised:\n{errors}")
    try:
        previous = read_golden(path)
    except (FileNotFoundError, ValueError):
        previous = []
    write_golden(rows, path)
    stack = json.dumps(current_stack(), indent=1) + "\n"
    temporary = path.with_name(".stack.json.tmp")
    temporary.write_text(stack, encoding="utf-8")
    temporary.replace(path.with_name(STACK_PATH.name))
    return diff_rows(previous, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Check (default), ``--update`` or ``--list`` the golden counts from the shell."""
    parser = argparse.ArgumentParser(
        prog="python tests/golden_counts.py",
        description="Recompute the golden oracle counts and compare with tests/golden/counts.csv.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update", action="store_true", help="rewrite the golden file")
    action.add_argument("--list", action="store_true", help="print the pairs and the skips")
    args = parser.parse_args(argv)
    if args.list:
        included, skipped = golden_pairs()
        for name, configuration in included:
            print(f"{name:26s} {configuration}")
        print(f"\n{len(included)} pairs; {len(skipped)} skipped:")
        for name, configuration, reason in skipped:
            print(f"{name:26s} {configuration}: {reason}")
        return 0
    rows = compute_rows()
    if args.update:
        try:
            diff = update_golden(rows)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(diff or "no change", f"\nwrote {len(rows)} rows to {GOLDEN_PATH}", sep="")
        return 0
    try:
        expected = read_golden()
    except FileNotFoundError:
        print(f"{GOLDEN_PATH} does not exist; create it with {UPDATE_COMMAND}", file=sys.stderr)
        return 1
    rule = golden_rule()
    print(rule.headline())
    diff = diff_rows(expected, rows, rule)
    if diff:
        errors = error_rows(rows)
        print(diff, f"\n\npairs that raised:\n{errors}" if errors else "", sep="")
        print(f"\ngolden counts differ; regenerate with {UPDATE_COMMAND}")
        return 1
    print(f"{len(rows)} rows match {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
