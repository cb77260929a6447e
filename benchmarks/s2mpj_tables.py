"""Tables of the ``s2mpj`` family: derivative checks of every problem, certified f* up to a size.

Run ``python benchmarks/s2mpj_tables.py`` (needs ``optbench[cutest]``). It writes

- ``docs/s2mpj_derivatives.md``: :func:`optbench.checks.check_derivatives` of every
  unconstrained S2MPJ problem at its default size, at ``x0`` and at a random point near
  it (gradient and HVP by finite differences, fused value and gradient, dense Hessian
  against the HVP and symmetry up to ``hess_max_dim``);
- ``docs/s2mpj_fstar.md``: for those of at most ``--max-dim`` variables, the SIF
  ``LO SOLTN``, the value damped Newton certifies from the SIF start (gradient norm,
  smallest Hessian eigenvalue), their discrepancy and a status; each certificate is also
  written to the on-disk f* cache that runs read.

A problem that fails a check, or runs out of ``--timeout`` seconds, says so in its row.
The whole run takes hours; ``--resume TABLE ...`` keeps the rows of tables written
before (by an interrupted run, or by other processes run with ``--names`` and ``--out``)
and computes only the problems missing from them.
"""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optbench.checks import check_derivatives
from optbench.problems.certify import certify, store_certificate
from optbench.problems.s2mpj import CERTIFY_GTOL, S2MPJ, unconstrained_index

#: A smallest Hessian eigenvalue above this times n·max(1, ||H||) shows a strict minimum
#: (well above the rounding of the eigenvalues, about n·eps·||H||).
EIG_RTOL = 100 * float(np.finfo(np.float64).eps)
DOCS = Path(__file__).resolve().parent.parent / "docs"


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _with_timeout(seconds: int, function: Any, *args: Any) -> Any:
    """``function(*args)``, stopped after ``seconds`` of this process's CPU time."""
    signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _fmt(value: float | None, spec: str = ".3e") -> str:
    return "" if value is None else format(value, spec)


#: Columns of each table: (row key, header, how a cell reads back).
DERIVATIVE_COLUMNS = ("name", "n", "grad_error", "hvp_error", "hess_error", "symmetry_error")
FSTAR_COLUMNS = ("name", "n", "sif", "certified", "discrepancy", "grad_norm", "min_eig")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a table this script wrote (either kind), to resume from."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    header, body = lines[0], lines[1:]
    columns = DERIVATIVE_COLUMNS if "gradient" in header else FSTAR_COLUMNS
    rows = []
    for line in body:
        cells = [cell.strip() for cell in line.strip("| ").split(" | ")]
        row: dict[str, Any] = {"name": cells[0], "n": int(cells[1]), "status": cells[-1]}
        for key, cell in zip(columns[2:], cells[2:-1], strict=True):
            if cell or key == "sif":
                row[key] = float(cell) if cell else None
        if columns is DERIVATIVE_COLUMNS:
            status = row["status"]
            row["passed"] = None if status.startswith("not checked") else status == "pass"
        rows.append(row)
    return rows


def derivative_rows(
    names: list[str], timeout: int, path: Path | None = None, done: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One row per problem: the worst errors over x0 and the random point, and the verdict."""
    rows = list(done)
    known = {row["name"] for row in rows}
    for name in (name for name in names if name not in known):
        started = time.perf_counter()
        problem = S2MPJ.including_excluded(name)
        row: dict[str, Any] = {"name": name, "n": problem.dim}
        try:
            checks = [
                _with_timeout(timeout, check_derivatives, problem, problem.x0),
                _with_timeout(timeout, check_derivatives, problem),
            ]
        except _Timeout:
            row.update(status=f"not checked: over {timeout} s CPU", passed=None)
        except Exception as error:  # noqa: BLE001 - a failing evaluation is a result here
            row.update(status=f"error: {type(error).__name__}: {error}"[:120], passed=False)
        else:
            for key in ("grad_error", "hvp_error", "hess_error", "symmetry_error"):
                values = [getattr(c, key) for c in checks if getattr(c, key) is not None]
                row[key] = max(values) if values else None
            failed = sorted({o.name for c in checks for o in c.outcomes if not o.passed})
            row["passed"] = not failed
            row["status"] = "pass" if not failed else "FAIL: " + ", ".join(failed)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(f"{name:12s} n={row['n']:5d} {row['status']}  {row['seconds']:.1f}s", flush=True)
        if path is not None:  # rewritten after each row: an interrupted run leaves its part
            write_derivatives(rows, path, len(names))
    return rows


def fstar_rows(
    names: list[str],
    max_dim: int,
    timeout: int,
    path: Path | None = None,
    done: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """One row per problem of at most ``max_dim`` variables: SIF and certified f*."""
    rows = list(done)
    known = {row["name"] for row in rows}
    for name in (name for name in names if name not in known):
        problem = S2MPJ.including_excluded(name)
        if problem.dim > max_dim:
            continue
        sif = problem.sif_f_star()
        row: dict[str, Any] = {"name": name, "n": problem.dim, "sif": sif}
        started = time.perf_counter()
        try:
            with np.errstate(all="ignore"):
                certificate = _with_timeout(timeout, certify, problem, CERTIFY_GTOL)
        except _Timeout:
            row["status"] = f"not certified: over {timeout} s CPU"
        except (RuntimeError, ValueError, FloatingPointError) as error:
            row["status"] = "not certified: " + str(error).split(" for ")[0][:100]
        else:
            seconds = time.perf_counter() - started
            store_certificate(problem, certificate, CERTIFY_GTOL, seconds)
            row.update(
                certified=certificate.f_star,
                grad_norm=certificate.grad_norm,
                min_eig=certificate.min_eigenvalue,
            )
            row["status"] = _status(certificate, sif, problem.dim)
            if sif is not None:
                row["discrepancy"] = certificate.f_star - sif
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(f"{name:12s} n={problem.dim:4d} {row['status']}", flush=True)
        if path is not None:
            write_fstar(rows, max_dim, path, complete=False)
    if path is not None:
        write_fstar(rows, max_dim, path, complete=True)
    return rows


def _status(certificate: Any, sif: float | None, dim: int) -> str:
    """``strict local min`` / ``singular Hessian``, and how it compares with the SIF value."""
    eigenvalue, norm = certificate.min_eigenvalue, certificate.hess_norm or 0.0
    if eigenvalue is None:
        kind = "local min (eigenvalue not computed)"
    elif eigenvalue > EIG_RTOL * dim * max(norm, 1.0):
        kind = "strict local min"
    else:
        kind = "singular Hessian"
    if sif is None:
        return kind
    gap = certificate.f_star - sif
    scale = max(1.0, abs(sif))
    if abs(gap) <= 1e-6 * scale:
        return kind + ", agrees with SIF"
    if gap > 0:
        return kind + ", above SIF (another local min)"
    return kind + ", below SIF (SIF value rounded or not the minimum)"


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def write_derivatives(rows: list[dict[str, Any]], path: Path, total: int) -> None:
    rows = sorted(rows, key=lambda row: row["name"])
    passed = sum(1 for r in rows if r["passed"])
    failed = [r["name"] for r in rows if r["passed"] is False]
    unchecked = [r["name"] for r in rows if r["passed"] is None]
    text = [
        "# S2MPJ derivative checks\n",
        "Generated by `python benchmarks/s2mpj_tables.py`. Every unconstrained S2MPJ "
        "problem at its default size, checked by `optbench.checks.check_derivatives` at "
        "`x0` and at a random point near it (seed 0): the largest error of the two. "
        "Finite-difference checks pass at relative error ≤ 1e-6, exact ones (Hessian "
        "against HVP, symmetry) at ≤ 1e-10. A problem that fails is left out of the family "
        "(`DERIVATIVE_FAILURES` in `optbench/problems/s2mpj.py`).\n",
        f"Checked: {len(rows)} of the {total} problems.\n",
        f"{len(rows)} problems: {passed} pass, {len(failed)} fail "
        f"({', '.join(failed) or 'none'}), {len(unchecked)} not checked in time "
        f"({', '.join(unchecked) or 'none'}).\n",
    ]
    lines = [
        [
            r["name"],
            str(r["n"]),
            _fmt(r.get("grad_error")),
            _fmt(r.get("hvp_error")),
            _fmt(r.get("hess_error")),
            _fmt(r.get("symmetry_error")),
            r["status"],
        ]
        for r in rows
    ]
    header = ["problem", "n", "gradient", "HVP", "Hessian vs HVP", "symmetry", "status"]
    text.append(_markdown(header, lines))
    path.write_text("\n".join(text))


def write_fstar(rows: list[dict[str, Any]], max_dim: int, path: Path, complete: bool) -> None:
    rows = sorted(rows, key=lambda row: row["name"])
    certified = sum(1 for r in rows if "certified" in r)
    with_sif = sum(1 for r in rows if r["sif"] is not None)
    agree = sum(1 for r in rows if "agrees" in r["status"])
    text = [
        "# S2MPJ reference optima f*\n",
        "Generated by `python benchmarks/s2mpj_tables.py`. For every listed S2MPJ "
        f"problem of at most {max_dim} variables at its default size: the SIF file's "
        "`LO SOLTN` (where it gives one), the value damped Newton reaches from the SIF "
        "start with ‖∇f‖ ≤ 1e-10 (a certified local minimiser: `optbench.problems.certify`), "
        "certified − SIF, and the smallest eigenvalue of the Hessian there. "
        "The certified value is the one runs use (it is in the on-disk f* cache).\n",
        f"Every problem of at most {max_dim} variables.\n"
        if complete
        else "Partial: an interrupted run (resumable with `--resume`).\n",
        f"{len(rows)} problems: {certified} certified, {with_sif} with a SIF value, "
        f"{agree} where both agree to 1e-6 relative.\n",
    ]
    lines = [
        [
            r["name"],
            str(r["n"]),
            _fmt(r["sif"], ".10g"),
            _fmt(r.get("certified"), ".12g"),
            _fmt(r.get("discrepancy"), ".2e"),
            _fmt(r.get("grad_norm"), ".1e"),
            _fmt(r.get("min_eig"), ".3e"),
            r["status"],
        ]
        for r in rows
    ]
    header = ["problem", "n", "SIF LO SOLTN", "certified", "certified − SIF", "‖∇f‖", "λ_min"]
    text.append(_markdown([*header, "status"], lines))
    path.write_text("\n".join(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-dim", type=int, default=100, help="f* table up to this n")
    parser.add_argument("--timeout", type=int, default=120, help="CPU seconds per check")
    parser.add_argument("--only", choices=("derivatives", "fstar"), help="one table only")
    parser.add_argument("--names", nargs="*", help="these problems only (default all)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of the two tables")
    parser.add_argument(
        "--resume", type=Path, nargs="*", default=[], help="tables whose rows are kept"
    )
    args = parser.parse_args()
    names = args.names or sorted(unconstrained_index())
    done = [row for table in args.resume for row in read_rows(table)]
    derivatives = [row for row in done if "passed" in row]
    certificates = [row for row in done if "passed" not in row]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only != "fstar":
        derivative_rows(names, args.timeout, args.out / "s2mpj_derivatives.md", derivatives)
    if args.only != "derivatives":
        fstar_rows(names, args.max_dim, args.timeout, args.out / "s2mpj_fstar.md", certificates)


if __name__ == "__main__":
    main()
