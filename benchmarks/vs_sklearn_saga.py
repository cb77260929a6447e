"""optbench's SAGA against scikit-learn's SAGA and SAG, in data passes, on the same loss.

The problem is the catalog's ``logistic_breast_cancer`` (569 x 30, standardized, no
intercept, l2 = 1e-3): :math:`f(w) = \\frac1n\\sum_i \\log(1 + e^{-y_i a_i^\\top w}) +
\\frac{\\lambda}{2}\\|w\\|^2`. scikit-learn's ``LogisticRegression`` minimizes
:math:`C \\sum_i \\log(1 + e^{-y_i a_i^\\top w}) + \\frac12\\|w\\|^2 = C n\\, f(w)` when
:math:`C = 1/(n \\lambda)`, with ``fit_intercept=False``; the script checks the mapping
by evaluating scikit-learn's solution after 5000 passes with optbench's f against the certified
:math:`f^\\star`.

scikit-learn's SAG and SAGA report their data passes in ``n_iter_``. Its passes to
:math:`f - f^\\star \\le 10^{-6}` are found by bisection on ``max_iter`` with ``tol=0``: with
a fixed ``random_state`` a fit of ``k`` passes is the first ``k`` passes of any longer one,
so this is the pass at which its run first meets the target (``f`` evaluated by optbench on
``coef_``). Next to it, what scikit-learn does when left to its own stopping test
(``tol=1e-4``, ``max_iter`` 5000): ``n_iter_`` and the :math:`f - f^\\star` it stops at. Its
SAGA step is :math:`1/(2L + \\min(2n\\lambda, L))` with :math:`L = \\max_i\\|a_i\\|^2/4 +
\\lambda` (``sklearn.linear_model._sag.get_auto_step_size``), about :math:`1/(2L_{\\max})`
here.

optbench's ``saga`` runs with the step :math:`1/(3 L_{\\max})` (Defazio et al.'s) and
with scikit-learn's step, batch size 1, the table filled by one pass at :math:`x_0 = 0`
(counted); its passes are the data passes (``cost``) at the first logged point with
:math:`f - f^\\star \\le 10^{-6}`, logged every tenth of a pass. Medians over the seeds.
Target: optbench's passes within 1.5x of scikit-learn's SAGA passes.

Run with ``PYTHONPATH=. python benchmarks/vs_sklearn_saga.py [--seeds 0-4]``; it prints
tables and asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings
from typing import Any

import numpy as np

import optbench
from optbench.run.runner import LogPolicy, StopCriteria, run_solver
from optbench.solvers.saga import SAGA

TARGET = 1e-6
MAX_PASSES = 5000


def sklearn_fit(problem: Any, solver: str, seed: int, **options: Any) -> tuple[int, float]:
    """(passes, f - f*) of one scikit-learn fit, ``f`` being optbench's."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    assert problem.f_star is not None
    C = 1.0 / (problem.n_samples * problem.l2)
    model = LogisticRegression(
        C=C, solver=solver, fit_intercept=False, random_state=seed, **options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(problem.X, problem.y)
    return int(np.max(model.n_iter_)), problem.value(model.coef_.ravel()) - problem.f_star


def sklearn_passes(problem: Any, solver: str, seed: int) -> tuple[int, float]:
    """(passes, f - f*): the fewest whole passes after which scikit-learn's ``solver``
    has ``f - f* <= TARGET``, found by bisection on ``max_iter`` with ``tol=0``.

    A fit with ``max_iter=k`` and a fixed ``random_state`` is the first ``k`` passes of
    any longer fit (the same sample sequence), so this is the pass at which its run
    first reaches the target, as optbench's count is. (NaN, gap) when ``MAX_PASSES``
    are not enough.
    """
    passes, gap = sklearn_fit(problem, solver, seed, tol=0.0, max_iter=MAX_PASSES)
    if gap > TARGET:
        return -1, gap
    low, high = 0, passes  # the target is missed after `low` passes and met after `high`
    while high - low > 1:
        middle = (low + high) // 2
        passes, gap_middle = sklearn_fit(problem, solver, seed, tol=0.0, max_iter=middle)
        if gap_middle <= TARGET:
            high, gap = middle, gap_middle
        else:
            low = middle
    return high, gap


def sklearn_saga_step(problem: Any) -> float:
    """scikit-learn's automatic SAGA step on this problem."""
    from sklearn.linear_model._sag import get_auto_step_size

    X = problem.X
    max_squared_sum = float(np.max(np.einsum("ij,ij->i", X, X)))
    return float(
        get_auto_step_size(
            max_squared_sum,
            problem.l2,
            "log",
            False,
            n_samples=problem.n_samples,
            is_saga=True,
        )
    )


def optbench_passes(problem: Any, step_size: float | str, seed: int) -> tuple[float, float]:
    """(passes, f - f*) of optbench's SAGA at the first logged point with f - f* <= TARGET."""
    result = run_solver(
        problem,
        SAGA(step_size=step_size),
        StopCriteria(gtol=0.0, f_gap_tol=TARGET, max_iter=10**9, max_cost=MAX_PASSES),
        log=LogPolicy(every_epochs=0.1),
        targets=[TARGET],
        seed=seed,
    )
    hit = result.targets.get(TARGET)
    return (hit.cost if hit is not None else float("nan")), result.f_gap


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` or ``"0,2,5"`` as a list of seeds."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def median(values: list[float]) -> float:
    """The median, NaN when any value is NaN (a run that missed the target)."""
    return float("nan") if any(v != v for v in values) else statistics.median(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2", help="seeds, e.g. 0-4 or 0,3")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    problem: Any = optbench.make_problem("logistic_breast_cancer")
    n_samples, l2 = problem.n_samples, problem.l2
    l_max = problem.smoothness().L_max
    sk_step = sklearn_saga_step(problem)
    print(
        f"logistic_breast_cancer: n = {n_samples}, d = {problem.dim}, l2 = {l2:g}, "
        f"C = 1/(n l2) = {1 / (n_samples * l2):.6g}, L_max = {l_max:.6g}"
    )
    print(
        f"steps: 1/(3 L_max) = {1 / (3 * l_max):.4g}; scikit-learn's SAGA step "
        f"{sk_step:.4g} = 1/({1 / (sk_step * l_max):.3f} L_max)"
    )
    _, mapped_gap = sklearn_fit(problem, "saga", 0, tol=0.0, max_iter=MAX_PASSES)
    print(
        f"mapping check: scikit-learn SAGA after {MAX_PASSES} passes has f - f* = {mapped_gap:.2g}"
    )
    print(f"\npasses to f - f* <= {TARGET:g}, seeds {args.seeds}: median [per seed]")
    header = f"{'method':<38} {'passes':>8}  {'per seed':<24} own stop: passes, f - f*"
    print(header)
    print("-" * len(header))
    reference = math.nan
    for name in ("saga", "sag"):
        hits = [sklearn_passes(problem, name, seed) for seed in seeds]
        own = [sklearn_fit(problem, name, seed, max_iter=MAX_PASSES) for seed in seeds]
        passes = [float(p) if p >= 0 else math.nan for p, _ in hits]
        reference = median(passes) if name == "saga" else reference
        own_text = ", ".join(f"{p} {gap:.2g}" for p, gap in own)
        print(
            f"{'scikit-learn ' + name.upper():<38} {median(passes):>8.0f}  "
            f"{str([int(p) for p in passes if p == p]):<24} {own_text} (tol 1e-4)"
        )
    steps: dict[str, float | str] = {"1/(3 L_max)": "1/(3 L_max)", "scikit-learn's": sk_step}
    ratios = {}
    for label, step in steps.items():
        runs = [optbench_passes(problem, step, seed) for seed in seeds]
        passes = [p for p, _ in runs]
        ratios[label] = median(passes) / reference
        print(
            f"{'optbench saga, step ' + label:<38} {median(passes):>8.1f}  "
            f"{str([round(p) for p in passes]):<24}"
        )
    print("\noptbench's passes / scikit-learn SAGA's (target <= 1.5):")
    for label, ratio in ratios.items():
        print(f"  step {label:<16} {ratio:.2f}")


if __name__ == "__main__":
    main()
