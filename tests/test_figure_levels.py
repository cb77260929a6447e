"""Figure data computed once and linear in the runs; ``--plots`` levels; parallel drawing.

The vectorised computations are compared with the per-run and per-solver code they
replaced (written out here as the reference), on cases with several configurations,
seeds of different lengths, diverged values and grids long enough to be thinned.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import yaml
from test_analysis_tables import make_results

from optbench.analysis.frames import ResultsFrames
from optbench.analysis.plot_kinds import (
    FigureSet,
    check_plots,
    compute_figures,
    render_figures,
    write_plots,
)
from optbench.analysis.plots import GRID_POINTS, seed_envelopes
from optbench.analysis.profiles import _fractions, performance_profile, runtime_ecdf
from optbench.analysis.report_blocks import FigureRef, Section
from optbench.analysis.report_html import render
from optbench.cli import main


def reference_envelope(runs, max_points=GRID_POINTS, band=(0.25, 0.75)):
    """The former per-run computation: a mask and an np.interp per seed."""
    xs = [np.asarray(x, dtype=float) for x, _ in runs]
    logs = []
    for _, y in runs:
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.log10(np.asarray(y, dtype=float))
        logs.append(np.where(np.isfinite(log), log, 400.0))
    grid = np.unique(np.concatenate(xs))
    if grid.size > max_points:
        ends = [x[-1] for x in xs]
        grid = np.unique(np.concatenate([np.linspace(grid[0], grid[-1], max_points), ends]))
    values = np.full((len(xs), grid.size), np.nan)
    for row, x, log in zip(values, xs, logs, strict=True):
        inside = (grid >= x[0]) & (grid <= x[-1])
        row[inside] = np.interp(grid[inside], x, log)
        row[grid > x[-1]] = log[-1]
    median = np.nanmedian(values, axis=0)
    low, high = np.nanquantile(values, band, axis=0)
    median = np.where(median >= 200, np.nan, 10.0 ** np.minimum(median, 300))
    low = np.where(low > 308.26, np.nan, 10.0 ** np.minimum(low, 300))
    high = np.where(high > 308.26, np.inf, 10.0 ** np.minimum(high, 300))
    return grid, median, low, high


def random_configs(rng, n_configs):
    """Per configuration, 1-4 seeds of 1-700 rows, increasing x, some diverged values."""
    configs = []
    for _ in range(n_configs):
        runs = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.choice([1, 3, 12, 700]))
            x = np.cumsum(rng.choice([0.5, 1.0, 2.0], size=n)) + rng.integers(0, 3)
            y = 10.0 ** rng.normal(0, 3, size=n)
            if rng.random() < 0.3:
                y[rng.integers(0, n) :] = rng.choice([np.inf, np.nan])
            runs.append((x, y))
        configs.append(runs)
    return configs


def test_seed_envelopes_of_many_configurations_match_the_per_run_computation():
    rng = np.random.default_rng(7)
    configs = random_configs(rng, 40)
    x = np.concatenate([r[0] for runs in configs for r in runs])
    y = np.concatenate([r[1] for runs in configs for r in runs])
    sizes = [len(r[0]) for runs in configs for r in runs]
    run = np.repeat(np.arange(len(sizes)), sizes)
    config = np.repeat(np.arange(len(configs)), [sum(len(r[0]) for r in runs) for runs in configs])
    owner, grid, median, low, high = seed_envelopes(x, y, run, config)
    assert (np.diff(owner) >= 0).all()
    thinned = 0
    for c, runs in enumerate(configs):
        expected = reference_envelope(runs)
        got = (grid[owner == c], median[owner == c], low[owner == c], high[owner == c])
        for want, have in zip(expected, got, strict=True):
            np.testing.assert_allclose(have, want, rtol=1e-12, atol=0, equal_nan=True)
        thinned += expected[0].size < len(np.unique(np.concatenate([r[0] for r in runs])))
    assert thinned > 0  # some grids were long enough to be thinned


def reference_fractions(matrix, grid):
    """The former per-solver loop on a shared grid (no band)."""
    values = matrix.to_numpy(dtype=float)
    parts = []
    for column, label in enumerate(matrix.columns):
        ordered = np.sort(values[:, column])
        ordered = ordered[np.isfinite(ordered)]
        counts = np.searchsorted(ordered, grid, side="right")
        parts.append(
            pd.DataFrame({"solver_label": label, "x": grid, "fraction": counts / len(values)})
        )
    return pd.concat(parts, ignore_index=True)


def test_fractions_at_own_steps_are_the_shared_grid_step_functions():
    rng = np.random.default_rng(3)
    values = np.where(
        rng.random((30, 12)) < 0.3, np.inf, np.round(rng.lognormal(1, 1, (30, 12)), 1)
    )
    values[:, 4] = np.inf  # a solver that never succeeds
    matrix = pd.DataFrame(values, columns=[f"s{k}" for k in range(12)])
    finite = values[np.isfinite(values)]
    grid = np.unique(np.concatenate([[0.0], finite, [finite.max() * 2]]))
    shared = _fractions(matrix, grid, "x", n_resamples=50, seed=1)
    pd.testing.assert_frame_equal(
        shared[["solver_label", "x", "fraction"]], reference_fractions(matrix, grid)
    )
    own = _fractions(matrix, None, "x", n_resamples=50, seed=1, banded={"s0", "s4", "s7"})
    assert len(own) < len(shared) / 3
    for label, rows in shared.groupby("solver_label"):
        mine = own[own["solver_label"] == label]
        assert (np.diff(mine["x"]) > 0).all()
        assert mine["x"].iloc[0] == 0.0 and mine["x"].iloc[-1] == grid[-1]
        held = np.searchsorted(mine["x"].to_numpy(), rows["x"].to_numpy(), side="right") - 1
        np.testing.assert_array_equal(mine["fraction"].to_numpy()[held], rows["fraction"])
        for column in ("low", "high"):
            if label in {"s0", "s4", "s7"}:
                np.testing.assert_array_equal(mine[column].to_numpy()[held], rows[column])
            else:
                assert mine[column].isna().all()


def test_profile_functions_keep_their_shared_grid_by_default():
    results = make_results()
    from optbench.analysis.targets import fixed_target_table

    table = fixed_target_table(results.summary, results.traces)
    target = sorted(set(table["target"]))[0]
    shared = performance_profile(table, "cost", target=target)
    own = performance_profile(table, "cost", target=target, own_steps=True)
    assert len(own) <= len(shared)
    assert set(shared["tau"]) >= set(own["tau"])
    ecdf = runtime_ecdf(table, "cost", own_steps=True)
    assert set(ecdf["solver_label"]) == set(table["solver_label"])


def test_levels_and_one_computation_for_files_and_report(tmp_path):
    results = make_results(tmp_path)
    summary = compute_figures(results, level="summary")
    everything = compute_figures(results, level="all")
    stems = {f.stem for f in summary.all()}
    assert stems == {
        "convergence_grid",
        "performance_profile",
        "data_profile",
        "ecdf",
        "sensitivity_fraction",
    }
    assert {f.stem for f in everything.all()} > stems
    assert any(f.problem is not None for f in everything.all())
    paths = render_figures(summary, tmp_path / "plots", svg=True)
    assert sorted(p.stem for p in paths) == sorted(stems)
    assert set(summary.svg) == stems and all(s.startswith("<svg") for s in summary.svg.values())
    # the report inlines the SVG kept with the figure set, drawing nothing again
    marked = FigureSet(summary.kinds, "summary", {s: f'<svg id="{s}"></svg>' for s in stems})
    page = render(
        [Section("profiles", "Profiles", [FigureRef("profile"), FigureRef("ecdf")])], marked
    )
    assert '<svg id="f1-performance_profile">' in page and '<svg id="f2-ecdf">' in page
    with pytest.raises(ValueError, match="plots: must be one of none, summary, all"):
        check_plots("some")


def test_parallel_drawing_writes_the_same_files(tmp_path):
    results = make_results(tmp_path)
    figure_set = compute_figures(results, level="all")
    assert len(figure_set.all()) > 8
    serial = render_figures(figure_set, tmp_path / "serial", fmt="svg")
    parallel = render_figures(figure_set, tmp_path / "parallel", fmt="svg", jobs=2)
    assert [p.name for p in serial] == [p.name for p in parallel]
    for one, other in zip(serial, parallel, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name
    assert write_plots(results, "profile", out_dir=tmp_path / "one")[0].name == (
        "performance_profile.png"
    )


TINY = {
    "name": "levels",
    "problems": ["rosenbrock_2d", "logistic_small"],
    "solvers": [{"name": "gd", "params": {"step_size": [1e-3, 1e-2, "armijo"]}}],
    "stop": {"gtol": 1e-6, "max_iter": 30},
    "targets": [1e-2, 1e-6],
    "seeds": [0, 1],
    "jobs": 1,
}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], {"convergence_grid", "performance_profile", "data_profile", "ecdf"}),
        (["--plots", "all"], {"convergence_rosenbrock_2d", "sensitivity_logistic_small"}),
        (["--plots", "none"], set()),
        (["--no-plots"], set()),
    ],
)
def test_run_plots_option(tmp_path, options, expected):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", *options]) == 0
    drawn = {p.stem for p in (out / "plots").glob("*.svg")}
    assert drawn == {p.stem for p in (out / "plots").glob("*")}  # SVG only, by default
    assert expected <= drawn
    if not expected:
        assert not drawn
    assert ("convergence_rosenbrock_2d" in drawn) == (options == ["--plots", "all"])
    page = (out / "report.html").read_text()  # every figure drawn, the grid included
    assert page.count("<svg") == len(drawn)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--plots", "some"], "--plots: must be one of none, summary, all, got 'some'"),
        (["--no-plots", "--plots", "all"], "--no-plots: excludes --plots all"),
    ],
)
def test_bad_plots_option_is_one_line_and_writes_nothing(tmp_path, capsys, options, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_frames_without_traces_draw_what_they_can(tmp_path):
    results = make_results(tmp_path)
    bare = ResultsFrames(summary=results.summary, path=tmp_path)
    found = compute_figures(bare, level="summary", strict=False)
    assert isinstance(found.of("data-profile"), str)  # the reason, for the report
    assert found.of("convergence") == []


def test_many_faded_curves_are_one_path_per_style_with_the_same_vertices():
    from optbench.analysis.figure_data import Curve, FigureData, Panel
    from optbench.analysis.render_matplotlib import MERGE_CURVES, _joined, _step_points, to_figure

    rng = np.random.default_rng(0)
    curves = [
        Curve(np.cumsum(rng.random(n) + 0.1), rng.random(n), None, "C0", drawstyle=kind)
        for n, kind in zip(rng.integers(1, 6, 40), ["steps", "line"] * 20, strict=True)
    ]
    joined = _joined(curves)
    pieces = np.split(joined, np.flatnonzero(np.isnan(joined[:, 0])))
    pieces = [p[~np.isnan(p[:, 0])] for p in pieces][: len(curves)]
    for curve, piece in zip(curves, pieces, strict=True):
        x, y = (curve.x, curve.y) if curve.drawstyle == "line" else _step_points(curve.x, curve.y)
        np.testing.assert_array_equal(piece, np.column_stack([x, y]))
    many = [Curve(c.x, c.y, None, c.color, alpha=0.25) for c in curves * (MERGE_CURVES // 20)]
    figure = to_figure(FigureData("many", [Panel(many + curves[:1])]))
    (lines,) = figure.axes[0].collections
    assert len(lines.get_segments()) == 2 and lines.get_rasterized()  # one per style
    few = to_figure(FigureData("few", [Panel(curves)])).axes[0].collections[0]
    assert len(few.get_segments()) == len(curves) and not few.get_rasterized()


def test_report_plots_option(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--plots", "none"]) == 0
    assert "<svg" not in (out / "report.html").read_text()
    assert main(["report", str(out), "--quiet"]) == 0  # summary: the suite-level figures
    summary = (out / "report.html").read_text().count("<svg")
    assert main(["report", str(out), "--quiet", "--plots", "all"]) == 0
    assert (out / "report.html").read_text().count("<svg") > summary > 0
    assert main(["report", str(out), "--quiet", "--plots", "none"]) == 0
    assert "<svg" not in (out / "report.html").read_text()
    capsys.readouterr()
    assert main(["report", str(out), "--plots", "every"]) == 2
    assert "--plots: must be one of none, summary, all" in capsys.readouterr().err


def test_python_figure_format_is_checked_as_the_command_line_does(tmp_path):
    from optbench.run.experiment import run_experiment

    out = tmp_path / "out"
    message = "^figure_format: must be one of png, pdf, svg, got 'gif'$"
    with pytest.raises(ValueError, match=message):
        run_experiment(TINY, out=out, progress=False, figure_format="gif")
    assert not out.exists()  # nothing written
    results = run_experiment(TINY, out=out, progress=False, figure_format="pdf")
    files = sorted((out / "plots").iterdir())
    assert {p.stem for p in files} == set(results.figures.svg)  # the report's SVG, kept
    assert all(p.suffix == ".pdf" and p.read_bytes()[:4] == b"%PDF" for p in files)
