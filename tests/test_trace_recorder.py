"""The trace recorder: typed rows that grow geometrically and read back as the trace table."""

from __future__ import annotations

import math
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from optbench.run.result import (
    INITIAL_CAPACITY,
    INTEGER_COLUMNS,
    RECORDED_COLUMNS,
    TRACE_COLUMNS,
    TraceRecorder,
)
from optbench.run.runner import StopCriteria, run_solver
from optbench.solvers import make_solver


def random_rows(count: int, seed: int = 0) -> list[dict[str, float]]:
    """Rows as the runner logs them: counts that grow, floats of every kind."""
    rng = np.random.default_rng(seed)
    specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    rows, counts = [], dict.fromkeys(sorted(INTEGER_COLUMNS - {"iter"}), 0)
    cost = 0.0
    for k in range(count):
        for name in counts:
            counts[name] += int(rng.integers(0, 3))
        cost += float(rng.choice([0.5, 1.0, 1.5]))
        f = float(rng.standard_normal() * 10.0 ** rng.integers(-300, 300))
        rows.append(
            {
                "iter": k,
                "time": float(rng.random()),
                "f": specials[k % len(specials)] if k % 5 == 4 else f,
                "grad_norm": float(rng.random() * 10.0 ** rng.integers(-20, 20)),
                **counts,
                "cost": cost,
                "step_size": math.nan if k % 3 == 0 else float(rng.random()),
            }
        )
    return rows


def record(rows: list[dict[str, float]], f_star: float | None) -> TraceRecorder:
    recorder = TraceRecorder(f_star)
    for row in rows:
        counters = SimpleNamespace(**{name: row[name] for name in INTEGER_COLUMNS - {"iter"}})
        counters.cost = row["cost"]
        recorder.append(row["iter"], row["time"], row["f"], row["grad_norm"], row["step_size"],
                        counters)  # fmt: skip
    return recorder


def former_trace(rows: list[dict[str, float]], f_star: float | None) -> pd.DataFrame:
    """The trace table as the recorder built it before: Python lists of the row values,
    f_gap = f - f* computed per row by the runner (NaN without f*)."""
    columns: dict[str, list[float]] = {name: [] for name in TRACE_COLUMNS[2:]}
    for row in rows:
        f_gap = row["f"] - f_star if f_star is not None else math.nan
        for name, values in columns.items():
            values.append(f_gap if name == "f_gap" else row[name])
    frame = pd.DataFrame(columns)
    frame.insert(0, "optimizer", "gd")
    frame.insert(0, "problem", "p")
    return frame


@pytest.mark.parametrize("f_star", [None, 0.25, -1e300])
@pytest.mark.parametrize("count", [0, 1, INITIAL_CAPACITY, 3 * INITIAL_CAPACITY + 5])
def test_the_trace_table_is_the_one_built_from_lists_before(count, f_star):
    rows = random_rows(count)
    recorder = record(rows, f_star)
    frame = recorder.to_frame("p", "gd")
    expected = former_trace(rows, f_star)
    if count == 0:  # an empty table: same columns, typed as a trace
        assert list(frame.columns) == list(expected.columns) and len(frame) == 0
    else:
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert list(frame.columns) == list(TRACE_COLUMNS)
    for name in TRACE_COLUMNS[2:]:
        assert frame[name].dtype == (np.int64 if name in INTEGER_COLUMNS else np.float64), name
    lists = recorder.columns
    assert all(type(v) is int for name in INTEGER_COLUMNS for v in lists[name])
    assert all(type(v) is float for v in lists["f"] + lists["f_gap"] + lists["step_size"])
    for name in TRACE_COLUMNS[2:]:
        np.testing.assert_array_equal(
            np.array(lists[name], dtype=float), frame[name].to_numpy(float)
        )


def test_the_buffer_doubles_when_full_and_shrinks_to_the_rows():
    recorder = TraceRecorder(0.0)
    rows = random_rows(INITIAL_CAPACITY + 1)
    recorder = record(rows[:INITIAL_CAPACITY], 0.0)
    assert recorder.nbytes == INITIAL_CAPACITY * 76
    recorder = record(rows, 0.0)
    assert len(recorder) == INITIAL_CAPACITY + 1
    assert recorder.nbytes == 2 * INITIAL_CAPACITY * 76  # doubled, not grown by one
    recorder.shrink_to_fit()
    assert recorder.nbytes == (INITIAL_CAPACITY + 1) * 76
    assert recorder.last_iter() == INITIAL_CAPACITY
    pd.testing.assert_frame_equal(
        recorder.to_frame("p", "gd"), former_trace(rows, 0.0), check_exact=True
    )


def test_rows_are_stored_as_32_bit_integers_and_float64():
    recorder = record(random_rows(3), None)
    stored = recorder._rows.dtype
    assert stored.names == RECORDED_COLUMNS
    for name in RECORDED_COLUMNS:
        assert stored[name] == np.dtype("<i4" if name in INTEGER_COLUMNS else "<f8"), name
    assert stored.itemsize == 76


@pytest.mark.parametrize("big", [2**31, 2**40, -(2**31) - 1])
def test_a_count_beyond_32_bits_widens_the_integers(big):
    rows = random_rows(INITIAL_CAPACITY + 3)
    rows[INITIAL_CAPACITY + 1]["n_hvp"] = big
    recorder = record(rows, 1.0)
    assert recorder._rows.dtype["n_hvp"] == np.dtype("<i8")
    assert recorder.nbytes // len(recorder._rows) == 112
    pd.testing.assert_frame_equal(
        recorder.to_frame("p", "gd"), former_trace(rows, 1.0), check_exact=True
    )


def test_a_value_that_is_no_number_is_an_error_not_a_row():
    recorder = record(random_rows(2), None)
    counters = SimpleNamespace(
        n_f=1, n_g=1, n_hvp=0, n_hess=0, n_r=0, n_J=0, n_sample_g=0, n_sample_hvp=0, cost=1.0
    )
    with pytest.raises(Exception, match="integer"):
        recorder.append(2.5, 0.0, 1.0, 1.0, math.nan, counters)  # type: ignore[arg-type]
    assert len(recorder) == 2 and recorder._rows.dtype.itemsize == 76  # not widened


def test_a_recorder_pickles_and_keeps_recording():
    rows = random_rows(10)
    recorder = record(rows[:7], 0.5)
    copy = pickle.loads(pickle.dumps(recorder))
    for row in rows[7:]:
        counters = SimpleNamespace(**{name: row[name] for name in INTEGER_COLUMNS - {"iter"}})
        counters.cost = row["cost"]
        copy.append(row["iter"], row["time"], row["f"], row["grad_norm"], row["step_size"],
                    counters)  # fmt: skip
    pd.testing.assert_frame_equal(copy.to_frame("p", "gd"), former_trace(rows, 0.5))


def test_a_run_keeps_76_bytes_a_row_and_its_trace_matches_its_counts():
    from optbench.problems.rosenbrock import Rosenbrock

    problem = Rosenbrock(dim=2)
    result = run_solver(problem, make_solver("gd", step_size=1e-3), StopCriteria(max_iter=300))
    trace = result.trace
    assert len(trace) == 301 and result.recorder.nbytes == 301 * 76
    assert trace["iter"].tolist() == list(range(301))
    last = trace.iloc[-1]
    assert (last["n_f"], last["n_g"], last["cost"]) == (result.n_f, result.n_g, result.cost)
    assert last["f"] == result.f and last["grad_norm"] == result.grad_norm
    np.testing.assert_array_equal(trace["f_gap"], trace["f"] - problem.f_star)
