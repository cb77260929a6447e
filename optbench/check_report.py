"""Rendering of a derivative check: the text table and the error-against-step figure.

:func:`check_text` is what ``optbench check`` prints and :func:`plot_check` what
``optbench check --plot FILE`` draws, from a :class:`optbench.checks.DerivativeCheck`
(which knows nothing of its rendering: this module imports it, never the reverse).
matplotlib is imported only to draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optbench.checks import CHECK_LABELS, STEP_CHECKS, DerivativeCheck


def check_text(check: DerivativeCheck) -> str:
    """The error table of ``check`` and its verdicts as plain text for a terminal.

    One row per step ``h`` with the relative error of each finite-difference check,
    ``*`` at the best step of each column; then one line per check (error, best
    step, tolerance, verdict) and the overall verdict.
    """
    best = check.best_step
    lines = [
        f"derivative check: {check.problem} (dim {check.dim}) at {check.point}",
        "",
        f"{'h':>9}  {'gradient':>10}  {'grad coords':>11}  {'hvp':>10}",
    ]
    for row in check.table:
        cells = [f"{row.step:9.1e}"]
        for name, width in zip(STEP_CHECKS, (10, 11, 10), strict=True):
            value = getattr(row, name)
            mark = "*" if best.get(name) == row.step else " "
            cells.append(f"{_format_error(value):>{width}}{mark}")
        lines.append(" ".join(cells))
    lines += ["", "(* marks the best step of each column; errors are relative)", ""]
    lines.append(f"{'check':<31} {'error':>9} {'best h':>9} {'tolerance':>9}  verdict")
    for outcome in check.outcomes:
        step = "-" if outcome.best_step is None else f"{outcome.best_step:.1e}"
        verdict = (
            f"skipped ({outcome.skipped})"
            if outcome.skipped
            else ("pass" if outcome.passed else "FAIL")
        )
        lines.append(
            f"{CHECK_LABELS[outcome.name]:<31} {_format_error(outcome.error):>9} "
            f"{step:>9} {outcome.tolerance:>9.0e}  {verdict}"
        )
    failed = [o.name for o in check.outcomes if not o.passed]
    lines.append("")
    lines.append("verdict: PASS" if not failed else f"verdict: FAIL ({', '.join(failed)})")
    return "\n".join(lines)


def plot_check(check: DerivativeCheck, path: str | Path) -> None:
    """Draw the relative errors of ``check`` against ``h`` (log-log) and save them to ``path``.

    One line per finite-difference check, its best step circled, the tolerance
    dashed. Exact zeros are drawn at ``1e-17``. The format follows the file suffix.
    """
    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    steps = np.array([row.step for row in check.table])
    for name in STEP_CHECKS:
        outcome = check.outcome(name)
        if outcome.skipped:
            continue
        errors = np.array([getattr(row, name) for row in check.table], dtype=float)
        shown = np.clip(errors, 1e-17, None)  # log axes cannot show exact zeros
        (line,) = axes.loglog(steps, shown, marker=".", label=CHECK_LABELS[name])
        circle = {"markersize": 11, "markerfacecolor": "none", "color": line.get_color()}
        axes.loglog([outcome.best_step], [max(outcome.measured_error, 1e-17)], "o", **circle)
    axes.axhline(
        check.outcome("gradient").tolerance, color="grey", linestyle="--", label="tolerance"
    )
    axes.set_xlabel("finite-difference step h")
    axes.set_ylabel("relative error")
    verdict = "PASS" if check.passed else "FAIL"
    axes.set_title(f"{check.problem} (dim {check.dim}): {verdict}; circles mark the best h")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="best")
    figure.savefig(path)


def _format_error(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"
