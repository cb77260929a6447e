"""``compare_results`` and ``update_baseline`` on hand-made results directories."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from optbench.analysis.compare import (
    STACK_RTOL,
    STACK_WORK_FACTOR,
    IncomparableError,
    compare_results,
    update_baseline,
)
from optbench.stack import STACK_FIELDS


def summary() -> pd.DataFrame:
    """Three runs: gd on rosenbrock (max_iter), newton_cg on rosenbrock seeds 0 and 1."""
    return pd.DataFrame(
        {
            "run_id": ["0a1b2c3d4e5f", "111111111111", "1e5000000000"],
            "problem": ["rosenbrock_2d"] * 3,
            "optimizer": ["gd", "newton_cg", "newton_cg"],
            "solver_label": ["gd[step_size=0.001]", "newton_cg", "newton_cg"],
            "step_size": [0.001, math.nan, math.nan],
            "seed": [0, 0, 1],
            "status": ["max_iter", "converged", "converged"],
            "message": ["reached max_iter = 500", "gradient norm small", "gradient norm small"],
            "iters": [500, 21, 24],
            "n_f": [501, 40, 45],
            "n_g": [501, 40, 45],
            "n_hvp": [0, 90, 101],
            "n_hess": [0, 0, 0],
            "cost": [501.0, 130.0, 146.0],
            "time": [0.05, 0.004, 0.005],
            "f_final": [0.3, 1e-20, 2e-19],
            "f_gap_final": [0.3, 1e-20, 2e-19],
            "grad_norm_final": [0.5, 3e-10, 8e-10],
            "dim": [2, 2, 2],
            "f0": [24.2, 24.2, 30.1],
            "iters_to_1e-04": [math.nan, 15, 17],
            "cost_to_1e-04": [math.nan, 90.0, 101.5],
            "time_to_1e-04": [math.nan, 0.003, 0.0035],
        }
    )


#: A stack fingerprint (every field known) for hand-made results directories.
STACK = {field: f"{field}-A" for field in STACK_FIELDS}


def write(directory, frame: pd.DataFrame, extra: bool = True, stack: dict | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "summary.csv", index=False)
    if extra:
        frame[["run_id", "problem", "solver_label", "seed"]].to_csv(
            directory / "runs.csv", index=False
        )
        (directory / "config.yaml").write_text("name: quickstart\ntargets: [1.0e-4]\n")
        environment = {"stack": STACK if stack is None else stack}
        (directory / "environment.json").write_text(json.dumps(environment))
        (directory / "traces.parquet").write_bytes(b"not copied")
        (directory / "plots").mkdir(exist_ok=True)
    return directory


def test_identical_directories_exit_0(tmp_path):
    new, base = write(tmp_path / "new", summary()), write(tmp_path / "base", summary())
    comparison = compare_results(new, base)
    assert comparison.exit_code == 0
    assert comparison.regressions.empty
    assert len(comparison.matched) == 3
    first, second = comparison.table().splitlines()
    assert first == "Same numerical stack: counts judged exactly."
    assert second.startswith("No regressions in 3 runs")
    # run ids made only of digits (or like "1e5…") stay strings, not numbers.
    assert set(comparison.matched["run_id"]) == set(summary()["run_id"])


def test_fewer_iterations_in_baseline_is_a_regression(tmp_path):
    baseline = summary()
    baseline.loc[2, "iters_to_1e-04"] = 16  # the new run needs 17
    comparison = compare_results(
        write(tmp_path / "new", summary()), write(tmp_path / "base", baseline)
    )
    assert comparison.exit_code == 1
    regressions = comparison.regressions
    assert regressions[["run_id", "measure", "baseline", "new"]].values.tolist() == [
        ["1e5000000000", "iters_to_1e-04", 16, 17]
    ]
    text = comparison.table()
    assert "1 regressions in 1 of 3 runs" in text
    assert "| rosenbrock_2d | newton_cg | 1 | iters_to_1e-04 | 16 | 17 |" in text


def test_targets_with_more_mantissa_digits_are_compared():
    """The runner writes 1.5e-3 as ``iters_to_1.5e-03``: that column is checked too."""
    baseline = summary().rename(columns=lambda c: c.replace("1e-04", "1.5e-03"))
    new = baseline.copy()
    new.loc[2, "iters_to_1.5e-03"] = 18
    found = compare_results(new, baseline).regressions
    assert found[["run_id", "measure", "baseline", "new"]].values.tolist() == [
        ["1e5000000000", "iters_to_1.5e-03", 17, 18]
    ]


def test_tolerance_on_counts():
    baseline = summary()
    baseline.loc[1, ["cost_to_1e-04", "cost"]] = [85.0, 120.0]  # new: 90, 130 (+6%, +8%)
    assert compare_results(summary(), baseline, metric="cost").exit_code == 1
    assert compare_results(summary(), baseline, metric="cost", rtol=0.1).exit_code == 0
    found = compare_results(summary(), baseline, metric="cost", rtol=0.07).regressions
    assert found["measure"].tolist() == ["cost"]


def with_status(row: int, status: str, message: str) -> pd.DataFrame:
    """:func:`summary` with run ``row`` ended in ``status`` with ``message``."""
    frame = summary()
    frame.loc[row, ["status", "message"]] = [status, message]
    return frame


def status_changes(comparison) -> pd.DataFrame:
    """The regressions of ``comparison`` in the status measure."""
    return comparison.regressions.query("measure == 'status'")


def test_status_converged_to_max_iter():
    new = with_status(1, "max_iter", "reached max_iter = 20")
    comparison = compare_results(new, summary())
    status = status_changes(comparison)
    assert status[["run_id", "baseline", "new"]].values.tolist() == [
        ["111111111111", "converged", "max_iter"]
    ]
    assert "converged → max_iter: reached max_iter = 20" in status["reason"].iloc[0]
    assert comparison.exit_code == 1
    # The other way round (max_iter → converged) is an improvement, not a regression.
    assert status_changes(compare_results(summary(), new)).empty


def test_status_to_error_is_a_regression_and_the_table_stays_a_table():
    comparison = compare_results(
        with_status(0, "error", "ValueError: bad | input\nmore"), summary()
    )
    status = status_changes(comparison)
    assert status[["run_id", "baseline", "new"]].values.tolist() == [
        ["0a1b2c3d4e5f", "max_iter", "error"]
    ]
    row = next(line for line in comparison.table().splitlines() if "max_iter → error" in line)
    assert "ValueError: bad \\| input more" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 10  # nine cells: the message's bar is escaped


def test_target_lost_and_final_accuracy():
    new = summary()
    new.loc[2, ["iters_to_1e-04", "cost_to_1e-04", "time_to_1e-04"]] = math.nan
    new.loc[0, "f_gap_final"] = 0.31  # 0.3 → 0.31: not 10x worse
    new.loc[1, "grad_norm_final"] = 5e-9  # 3e-10 → 5e-9: > 10x and above 1e-12
    new.loc[2, "f_gap_final"] = 1e-13  # 2e-19 → 1e-13: > 10x but below 1e-12
    found = compare_results(new, summary()).regressions
    assert sorted(zip(found["run_id"], found["measure"], strict=True)) == [
        ("111111111111", "grad_norm_final"),
        ("1e5000000000", "cost_to_1e-04"),
        ("1e5000000000", "iters_to_1e-04"),
    ]
    assert set(found.query("measure == 'iters_to_1e-04'")["reason"]) == {"target no longer reached"}


def test_time_fails_only_with_metric_time():
    new = summary()
    new["time"] = summary()["time"] * 2
    comparison = compare_results(new, summary())
    assert comparison.exit_code == 0
    assert comparison.matched["time_ratio"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert "median 2.00" in comparison.table()
    timed = compare_results(new, summary(), metric="time")
    assert timed.exit_code == 1 and set(timed.regressions["measure"]) == {"time"}
    assert compare_results(new, summary(), metric="time", rtol=1.5).exit_code == 0


def test_matching_by_label_and_seed_without_run_ids():
    new = summary().drop(columns="run_id")
    base = summary().drop(columns="run_id")
    base.loc[1, "iters"] = 20
    found = compare_results(new, base).regressions
    assert found[["solver_label", "seed", "measure"]].values.tolist() == [["newton_cg", 0, "iters"]]


def test_unmatched_runs_are_incomparable(tmp_path):
    new = summary()
    new.loc[2, "run_id"] = "ffffffffffff"
    new.loc[2, "seed"] = 7
    with pytest.raises(IncomparableError) as error:
        compare_results(new, summary())
    message = str(error.value)
    assert "\n" not in message
    assert "1 only in new: newton_cg on rosenbrock_2d seed 7 (run ffffffffffff)" in message
    assert "1 only in baseline: newton_cg on rosenbrock_2d seed 1 (run 1e5000000000)" in message


def test_unmatched_list_is_truncated():
    many = pd.concat([summary()] * 4, ignore_index=True)
    many["run_id"] = [f"id{i}" for i in range(len(many))]
    many["seed"] = range(len(many))
    with pytest.raises(IncomparableError, match=r"9 only in new: .*… and 4 more"):
        compare_results(many, many.iloc[:3])


def test_missing_directories_are_incomparable(tmp_path):
    base = write(tmp_path / "base", summary())
    with pytest.raises(IncomparableError, match="no such results directory"):
        compare_results(tmp_path / "absent", base)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IncomparableError, match="no summary.csv"):
        compare_results(base, tmp_path / "empty")
    with pytest.raises(IncomparableError, match="lack the baseline's columns iters_to_1e-04$"):
        compare_results(summary().drop(columns="iters_to_1e-04"), base)


def test_update_baseline_copies_summary_files_only(tmp_path):
    new = write(tmp_path / "new", summary())
    base = tmp_path / "baselines" / "quickstart"
    base.mkdir(parents=True)
    (base / "environment.json").write_text("stale")
    (base / "README").write_text("kept")
    (new / "environment.json").unlink()
    written = update_baseline(new, base)
    assert sorted(p.name for p in written) == ["config.yaml", "runs.csv", "summary.csv"]
    assert sorted(p.name for p in base.iterdir()) == [
        "README",
        "config.yaml",
        "runs.csv",
        "summary.csv",
    ]
    assert (base / "summary.csv").read_bytes() == (new / "summary.csv").read_bytes()
    assert compare_results(new, base).exit_code == 0
    with pytest.raises(IncomparableError):
        update_baseline(tmp_path / "absent", base)


def test_assert_converges_passes_on_rosenbrock():
    from optbench.problems.rosenbrock import Rosenbrock
    from optbench.testing import assert_converges

    result = assert_converges(Rosenbrock(dim=2), "newton_cg", gtol=1e-8, max_iter=200)
    assert result.status == "converged" and result.grad_norm <= 1e-8


def test_assert_converges_explains_a_failure():
    from optbench.problems.rosenbrock import Rosenbrock
    from optbench.testing import assert_converges

    with pytest.raises(AssertionError) as error:
        assert_converges(Rosenbrock(dim=2), "gd", gtol=1e-8, max_iter=3, step_size=1e-3)
    message = str(error.value)
    assert "gd with {'step_size': 0.001} did not converge on rosenbrock" in message
    assert "status max_iter (reached max_iter = 3) after 3 iterations" in message
    for field in ("grad_norm", "gtol 1e-08", "f - f*", "n_f", "n_g", "n_hvp", "n_hess", "cost"):
        assert field in message


def test_assert_no_regression(tmp_path):
    from optbench.testing import assert_no_regression

    new, base = write(tmp_path / "new", summary()), write(tmp_path / "base", summary())
    assert assert_no_regression(new, base).exit_code == 0
    worse = summary()
    worse.loc[1, "iters_to_1e-04"] = 19
    write(tmp_path / "worse", worse)
    with pytest.raises(
        AssertionError, match=r"(?s)regressed.*\| newton_cg \| 0 \| iters_to_1e-04 \| 15 \| 19 \|"
    ):
        assert_no_regression(tmp_path / "worse", base)
    with pytest.raises(AssertionError, match="cannot compare .*no such results directory"):
        assert_no_regression(tmp_path / "absent", base)


def test_regressions_are_grouped_by_run_in_the_new_summary_order():
    new = summary()
    new.loc[1, "iters"] = 30  # newton_cg seed 0: more iterations to converge
    new.loc[2, ["iters", "grad_norm_final"]] = [40, 1e-6]  # seed 1: slower and less accurate
    found = compare_results(new.iloc[::-1], summary()).regressions
    assert found[["run_id", "measure"]].values.tolist() == [
        ["1e5000000000", "iters"],
        ["1e5000000000", "grad_norm_final"],
        ["111111111111", "iters"],
    ]


# --- numerical stacks ----------------------------------------------------------------

OTHER_STACK = {**STACK, "numpy_simd": "X86_V3", "blas": "openblas 0.3.30 Sandybridge (numpy)"}


def cross(tmp_path, new: pd.DataFrame, base: pd.DataFrame, **options):
    """Compare ``new`` on :data:`OTHER_STACK` with ``base`` on :data:`STACK`."""
    return compare_results(
        write(tmp_path / "new", new, stack=OTHER_STACK),
        write(tmp_path / "base", base),
        **options,
    )


def test_the_first_line_names_the_fields_that_differ(tmp_path):
    comparison = cross(tmp_path, summary(), summary())
    first = comparison.table().splitlines()[0]
    assert first.startswith("Different numerical stacks (blas: ")
    assert "numpy_simd: X86_V3 ≠ numpy_simd-A" in first
    assert "python" not in first
    exact = cross(tmp_path, summary(), summary(), exact=True).table().splitlines()[0]
    assert exact.startswith("Different numerical stacks (blas:")
    assert exact.endswith("counts judged exactly.")


def test_cross_stack_tolerance_on_iterations_and_work(tmp_path):
    """Iterations: x(1 + stack_rtol) + 1; work: x(1 + stack_rtol) * STACK_WORK_FACTOR."""
    base = summary()
    new = summary()
    iters_limit = 15 * (1 + STACK_RTOL) + 1  # iters_to_1e-04 of run 1 is 15
    work_limit = 90.0 * (1 + STACK_RTOL) * STACK_WORK_FACTOR  # cost_to_1e-04 is 90
    new.loc[1, ["iters_to_1e-04", "cost_to_1e-04"]] = [math.floor(iters_limit), work_limit]
    assert cross(tmp_path, new, base).exit_code == 0
    assert compare_results(new, base).exit_code == 1  # the same tables on one stack
    new.loc[1, ["iters_to_1e-04", "cost_to_1e-04"]] = [math.floor(iters_limit) + 1, work_limit + 1]
    found = cross(tmp_path, new, base).regressions
    assert found["measure"].tolist() == ["iters_to_1e-04", "cost_to_1e-04"]
    assert set(found["reason"]) == {"grew beyond the cross-stack tolerance"}
    assert cross(tmp_path, new, base, stack_rtol=1.0).exit_code == 0
    assert cross(tmp_path, new, base, exact=True).exit_code == 1


def test_status_flips_rounding_explains_only_across_stacks(tmp_path):
    """converged -> failed (a stop on precision loss) is a regression on one stack only."""
    failed = with_status(1, "failed", "line search failed: precision loss")
    assert cross(tmp_path, failed, summary()).exit_code == 0
    same = compare_results(write(tmp_path / "n1", failed), write(tmp_path / "b1", summary()))
    assert status_changes(same)["new"].tolist() == ["failed"]
    # converged -> max_iter: explained within the iteration tolerance, not beyond it.
    budget = with_status(1, "max_iter", "reached max_iter = 22")
    budget.loc[1, "iters"] = 22  # baseline converged in 21
    assert status_changes(cross(tmp_path, budget, summary())).empty
    budget.loc[1, "iters"] = 40
    assert status_changes(cross(tmp_path, budget, summary()))["new"].tolist() == ["max_iter"]
    # error and divergence are never rounding.
    for status in ("error", "diverged"):
        found = status_changes(cross(tmp_path, with_status(1, status, "boom"), summary()))
        assert found["new"].tolist() == [status]


def test_across_stacks_a_converged_run_is_judged_by_its_stopping_test(tmp_path):
    """Final accuracy and lost targets of a run that converged are not regressions across
    stacks (its stopping test held first); on one stack they are."""
    new = summary()
    new.loc[2, ["iters_to_1e-04", "cost_to_1e-04", "time_to_1e-04"]] = math.nan
    new.loc[1, "grad_norm_final"] = 5e-9  # 3e-10 -> 5e-9, still converged
    assert cross(tmp_path, new, summary()).exit_code == 0
    assert len(compare_results(new, summary()).regressions) == 3
    new.loc[2, "status"] = "max_iter"  # not converged: the target it lost counts
    new.loc[2, "iters"] = 500
    found = cross(tmp_path, new, summary()).regressions
    assert set(found["measure"]) == {"status", "iters_to_1e-04", "cost_to_1e-04"}


def test_a_baseline_without_a_fingerprint_is_another_stack(tmp_path):
    new = write(tmp_path / "new", summary())
    base = write(tmp_path / "base", summary())
    (base / "environment.json").write_text("{}")
    first = compare_results(new, base).table().splitlines()[0]
    assert first.startswith("Different numerical stacks (stack: not recorded for the second)")


def test_cli_exact_and_stack_rtol(tmp_path, capsys):
    from optbench.cli import main

    worse = summary()
    worse.loc[1, "iters_to_1e-04"] = 19  # 15 -> 19: within 25% + 1
    new = write(tmp_path / "new", worse, stack=OTHER_STACK)
    base = write(tmp_path / "base", summary())
    assert main(["compare", str(new), str(base)]) == 0
    assert main(["compare", str(new), str(base), "--exact"]) == 1
    assert main(["compare", str(new), str(base), "--stack-rtol", "0.1"]) == 1
    capsys.readouterr()
    assert main(["compare", str(new), str(base), "--stack-rtol", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--stack-rtol" in err and "Traceback" not in err


def _repeated(times_per_run: list[list[float]]) -> pd.DataFrame:
    """``summary()`` with every run repeated: its ``time`` the median of ``times``."""
    frame = summary()
    frame["repeats"] = [len(t) for t in times_per_run]
    frame["repeat_times"] = [" ".join(repr(x) for x in t) for t in times_per_run]
    frame["time"] = [float(np.median(t)) for t in times_per_run]
    return frame


BASE_TIMES = [[1.0, 1.02, 0.98, 1.01, 0.99]] * 3


def test_metric_time_judges_the_interval_over_repeats(tmp_path):
    slower = _repeated([[2 * t for t in times] for times in BASE_TIMES])
    base = _repeated(BASE_TIMES)
    found = compare_results(slower, base, metric="time").regressions
    assert found["measure"].tolist() == ["time"] * 3 and found["seed"].tolist() == [0, 0, 1]
    assert found["ratio"].tolist() == [2.0] * 3
    assert all("bootstrap over 5 repeats" in reason for reason in found["reason"])
    # the counts are judged as usual: a 2x slowdown is no count regression
    assert compare_results(slower, base).exit_code == 0
    # the same distribution reordered, and one slow repeat that leaves the median: equal
    equal = _repeated([[0.99, 1.01, 1.0, 0.98, 1.02], [1.0, 3.0, 1.0, 0.98, 1.01], BASE_TIMES[0]])
    assert compare_results(equal, base, metric="time").exit_code == 0
    # 1.2x slower is within the default 25%, beyond a 10% tolerance
    mild = _repeated([[1.2 * t for t in times] for times in BASE_TIMES])
    assert compare_results(mild, base, metric="time").exit_code == 0
    assert compare_results(mild, base, metric="time", rtol=0.1).exit_code == 1


def test_metric_time_without_repeats_judges_each_configuration_over_its_runs():
    base, new = summary(), summary()
    new.loc[2, "time"] = 10 * base.loc[2, "time"]  # one newton_cg seed 10x slower
    found = compare_results(new, base, metric="time").regressions
    # newton_cg: medians of {0.004, 0.05} / {0.004, 0.005}; resamples give the ratio
    # 0.004 / 0.005 = 0.8 at the low end, so the interval is not above 1.25
    assert found.empty
    new.loc[1, "time"] = 10 * base.loc[1, "time"]  # both seeds 10x slower
    found = compare_results(new, base, metric="time").regressions
    assert found[["solver_label", "seed", "measure"]].values.tolist() == [
        ["newton_cg", "all", "time"]
    ]
    assert "bootstrap over 2 runs" in found["reason"].iloc[0]


def test_cli_metric_time_on_directories(tmp_path, capsys):
    from optbench.cli import main

    base = write(tmp_path / "base", _repeated(BASE_TIMES))
    slower = write(tmp_path / "slow", _repeated([[2 * t for t in ts] for ts in BASE_TIMES]))
    same = write(tmp_path / "same", _repeated(BASE_TIMES))
    assert main(["compare", str(slower), str(base), "--metric", "time"]) == 1
    assert "3 regressions in 3 of 3 runs (metric time" in capsys.readouterr().out
    assert main(["compare", str(same), str(base), "--metric", "time"]) == 0
    assert main(["compare", str(slower), str(base)]) == 0  # --metric counts, the default
    assert main(["compare", str(slower), str(base), "--metric", "counts"]) == 0
