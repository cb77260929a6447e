"""Golden oracle counts: every deterministic (catalog instance x solver) pair.

Each row of ``tests/golden/counts.csv`` is recomputed with the budgets of
:mod:`golden_counts` (BLAS pinned to one thread) and must match exactly: status,
iterations, n_f, n_g, n_hvp, n_hess, n_r, n_J. After an intended change regenerate with::

    pytest tests/test_golden_counts.py --update-golden
    python tests/golden_counts.py --update          # the same, from the shell
"""

from __future__ import annotations

import golden_counts
import pytest
from golden_counts import COLUMNS, GOLDEN_PATH, UPDATE_COMMAND

REGENERATE = f"regenerate with: {UPDATE_COMMAND} (or pytest --update-golden)"


def test_golden_counts(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture) -> None:
    """Recompute every row; equal to the golden file (``--update-golden`` rewrites it)."""
    rows = golden_counts.compute_rows()
    errors = golden_counts.error_rows(rows)
    if request.config.getoption("--update-golden"):
        assert not errors, f"not writing {GOLDEN_PATH}: these pairs raised:\n{errors}"
        diff = golden_counts.update_golden(rows)
        with capsys.disabled():
            print(f"\n{diff or 'golden counts: no change'}")
            print(f"wrote {len(rows)} rows to {GOLDEN_PATH}")
        return
    if not GOLDEN_PATH.exists():
        pytest.fail(f"{GOLDEN_PATH} does not exist; {REGENERATE}")
    rule = golden_counts.golden_rule()
    diff = golden_counts.diff_rows(golden_counts.read_golden(), rows, rule)
    raised = f"\n\npairs that raised:\n{errors}" if errors else ""
    assert not diff, f"{rule.headline()}\ngolden counts differ ({REGENERATE}):\n{diff}{raised}"


def test_golden_file_has_the_golden_pairs_in_order() -> None:
    """The file lists exactly the included pairs, in generation order, and nothing else."""
    included, _ = golden_counts.golden_pairs()
    expected = [(name, config.solver, config.label) for name, config in included]
    stored = [(row["problem"], row["solver"], row["params"]) for row in golden_counts.read_golden()]
    assert stored == expected, f"the golden pairs changed; {REGENERATE}"


def test_golden_file_is_counts_only() -> None:
    """Integer counts, a terminal status other than error, no time-dependent column."""
    rows = golden_counts.read_golden()
    assert rows
    for row in rows:
        assert row["status"] in {"converged", "max_iter", "failed", "diverged"}, row
        assert all(row[name].isdigit() for name in COLUMNS[4:]), row


def make_row(*values: str) -> dict[str, str]:
    return dict(zip(COLUMNS, values, strict=True))


def test_diff_rows_shows_changed_added_and_removed_rows() -> None:
    def row(problem: str, iters: int) -> dict[str, str]:
        return make_row(problem, "gd", "", "max_iter", str(iters), "1", "1", "0", "0", "0", "0")

    expected = [row("a", 1), row("b", 2), row("c", 3)]
    got = [row("a", 1), row("b", 5), row("d", 4)]
    lines = golden_counts.diff_rows(expected, got).splitlines()[3:]
    assert lines == [
        "- b,gd,,max_iter,2,1,1,0,0,0,0",
        "+ b,gd,,max_iter,5,1,1,0,0,0,0",
        "+ d,gd,,max_iter,4,1,1,0,0,0,0",
        "- c,gd,,max_iter,3,1,1,0,0,0,0",
    ]
    assert golden_counts.diff_rows(expected, expected) == ""


def test_update_golden_writes_a_round_trip_and_refuses_errors(tmp_path) -> None:
    path = tmp_path / "golden" / "counts.csv"
    rows = [make_row("p", "scipy", "method=CG", "converged", "3", "4", "4", "0", "0", "0", "0")]
    diff = golden_counts.update_golden([dict(rows[0], message="done")], path)
    assert diff.splitlines()[3:] == ["+ p,scipy,method=CG,converged,3,4,4,0,0,0,0"]
    assert golden_counts.read_golden(path) == rows
    broken = [dict(rows[0], status="error", message="ValueError: boom")]
    with pytest.raises(ValueError, match="boom"):
        golden_counts.update_golden(broken, path)
    assert golden_counts.read_golden(path) == rows
