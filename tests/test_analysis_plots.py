"""Convergence figures: seed envelopes, files written, formats, names, styles."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from test_analysis_tables import PROBLEMS, make_results

from optbench.analysis import style
from optbench.analysis.frames import ResultsFrames
from optbench.analysis.plot_kinds import write_plots
from optbench.analysis.plots import convergence_panel, seed_envelope
from optbench.analysis.render_matplotlib import save
from optbench.analysis.sensitivity import is_fixed_step, step_size_figure

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF", "svg": b"<?xml"}


def _only(results: ResultsFrames, problems: list[str], path) -> ResultsFrames:
    summary = results.summary[results.summary["problem"].isin(problems)]
    traces = results.traces[results.traces["problem"].isin(problems)]
    return ResultsFrames(summary=summary.reset_index(drop=True), traces=traces, path=path)


def plot_results(results, x="iter", fmt="png", out_dir=None):
    """The per-problem kinds (convergence curves and step-size sensitivity)."""
    written = write_plots(results, "convergence", x=x, fmt=fmt, out_dir=out_dir)
    return written + write_plots(results, "step-size", fmt=fmt, out_dir=out_dir)


def plot_step_size_sensitivity(summary, problem, path):
    figure = step_size_figure(summary, problem)
    return None if figure is None else save(figure, path)


def test_seed_envelope_median_band_and_carry_forward():
    runs = [
        (np.array([0.0, 1.0, 2.0]), np.array([1.0, 1e-2, 1e-4])),
        (np.array([0.0, 1.0]), np.array([1.0, 1e-1])),  # stops at x = 1
        (np.array([0.0, 2.0, 4.0]), np.array([10.0, 1e-2, 1e-6])),
    ]
    grid, median, low, high = seed_envelope(runs, band=(0.0, 1.0))
    assert grid.tolist() == [0.0, 1.0, 2.0, 4.0]
    # x = 1: the third seed is interpolated in log10 y between 10 and 1e-2 -> 10**-0.5
    assert median[1] == pytest.approx(1e-1)
    assert low[1] == pytest.approx(1e-2)
    assert high[1] == pytest.approx(10**-0.5)
    # x = 4: the first two seeds carry their last values 1e-4 and 1e-1
    assert median[3] == pytest.approx(1e-4)
    assert low[3] == pytest.approx(1e-6)
    assert high[3] == pytest.approx(1e-1)
    # the default band: 25 % and 75 % quantiles of log10 y, linear between seeds
    _, _, low, high = seed_envelope(runs)
    assert low[3] == pytest.approx(10 ** ((-6 + -4) / 2))
    assert high[3] == pytest.approx(10 ** ((-4 + -1) / 2))


def test_seed_envelope_diverged_seeds():
    x = np.array([0.0, 1.0, 2.0])
    fine = (x, np.array([1.0, 0.1, 0.01]))
    diverged = (x, np.array([1.0, 1e6, np.inf]))
    _, median, _, high = seed_envelope([fine, diverged, (x, np.array([1.0, 1e3, np.nan]))])
    assert math.isnan(median[2])  # most seeds diverged: no median
    _, median, low, high = seed_envelope([fine, fine, diverged], band=(0.0, 1.0))
    assert median[2] == pytest.approx(0.01)
    assert high[2] == math.inf
    assert low[2] == pytest.approx(0.01)


def test_seed_envelope_thins_long_grids():
    x = np.arange(5000.0)
    grid, median, _, _ = seed_envelope([(x, np.exp(-x / 500)), (x[:3000], np.exp(-x[:3000] / 400))])
    assert grid.size <= 402
    assert grid[0] == 0 and grid[-1] == 4999 and 2999 in grid
    assert np.all(np.diff(median) <= 1e-12)


@pytest.mark.parametrize("x", ["iter", "cost", "time"])
def test_plot_results_writes_png_files(tmp_path, x):
    problems = list(PROBLEMS) if x == "iter" else ["logistic_unknown_fstar"]  # keep it quick
    written = plot_results(_only(make_results(), problems, tmp_path), x=x)
    stems = style.unique_stems(problems)
    plots = tmp_path / "plots"
    expected = {plots / style.figure_name("convergence_grid", "", x, "png")}
    for problem in problems:
        expected.add(plots / style.figure_name("convergence", stems[problem], x, "png"))
        expected.add(plots / style.figure_name("sensitivity", stems[problem], "iter", "png"))
    assert set(written) == expected
    assert len(written) == len(expected)
    for path in written:
        assert path.read_bytes()[:8] == MAGIC["png"], path
    assert (tmp_path / "plots" / f"convergence_grid{'' if x == 'iter' else '_' + x}.png").exists()
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        p.name for p in written
    )  # no temporary files left behind


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_plot_results_other_formats(tmp_path, fmt):
    results = _only(make_results(), ["quadratic[dim=10]"], tmp_path)
    out = tmp_path / "figures"
    written = plot_results(results, x="cost", fmt=fmt, out_dir=out)
    assert len(written) == 3
    for path in written:
        assert path.parent == out and path.suffix == f".{fmt}"
        assert path.read_bytes().lstrip()[: len(MAGIC[fmt])] == MAGIC[fmt]


def test_sensitivity_only_where_step_size_is_swept(tmp_path):
    results = make_results(tmp_path)
    summary = results.summary
    keep = (summary["optimizer"] != "gd") | (summary["step_size"] == 0.1)
    kept = ResultsFrames(
        summary=summary[keep].reset_index(drop=True),
        traces=results.traces[results.traces["run_id"].isin(summary.loc[keep, "run_id"])],
        path=tmp_path,
    )
    two_problems = list(PROBLEMS)[1:]  # one with f* known, one without
    names = {p.name for p in plot_results(_only(kept, two_problems, tmp_path))}
    assert len(names) == len(two_problems) + 1
    assert not any(name.startswith("sensitivity_") for name in names)
    only_newton = summary[summary["optimizer"] == "newton_cg"]
    assert plot_step_size_sensitivity(only_newton, "quadratic[dim=10]", tmp_path / "s.png") is None
    assert not (tmp_path / "s.png").exists()
    swept = plot_step_size_sensitivity(summary, "quadratic[dim=10]", tmp_path / "s.png")
    assert swept == tmp_path / "s.png" and swept.read_bytes()[:8] == MAGIC["png"]


def test_best_setting_solid_others_faded():
    results = make_results()
    panel, extra, families = convergence_panel(
        results.traces, results.summary, "quadratic[dim=10]", "iter"
    )
    assert families == {"gd", "newton_cg", "scipy[method=L-BFGS-B]", "scipy[method=BFGS]"}
    solid = {c.label: c for c in panel.curves if c.label is not None}
    assert solid["gd[step_size=0.1] (best of 3)"].alpha == style.BEST_ALPHA
    assert solid["newton_cg[forcing=sqrt]"].alpha == style.BEST_ALPHA
    faded = [c for c in panel.curves if c.label is None]
    assert len(faded) == 2 and {c.alpha for c in faded} == {style.FADED_ALPHA}
    assert {c.color for c in faded} == {style.family_color("gd")}
    assert [(e.label, e.color) for e in extra] == [
        ("gd: 2 other settings", style.family_color("gd"))
    ]
    # the best setting carries its band across seeds, around its median
    best = solid["gd[step_size=0.1] (best of 3)"]
    assert best.low is not None and best.high is not None
    inside = np.isfinite(best.y) & np.isfinite(best.low) & np.isfinite(best.high)
    assert np.all(best.low[inside] <= best.y[inside] * (1 + 1e-12))
    assert np.all(best.y[inside] <= best.high[inside] * (1 + 1e-12))
    assert panel.yscale == "log" and panel.xlabel == "iterations"
    assert "25–75 %" in panel.legend_title
    unknown, _, _ = convergence_panel(
        results.traces, results.summary, "logistic_unknown_fstar", "time"
    )
    assert "f* unknown" in unknown.ylabel
    assert unknown.xlabel == "time (s)"


def test_unlabelled_curves_are_one_line_collection():
    from matplotlib.collections import LineCollection

    from optbench.analysis.render_matplotlib import to_figure

    results = make_results()
    panel, extra, _ = convergence_panel(results.traces, results.summary, "quadratic[dim=10]")
    from optbench.analysis.figure_data import FigureData

    ax = to_figure(FigureData("x", [panel], extra_legend=extra)).axes[0]
    collections = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(collections) == 1 and len(collections[0].get_segments()) == 2
    labelled = [c.label for c in panel.curves if c.label is not None]
    assert [line.get_label() for line in ax.get_lines()] == labelled


def test_safe_and_unique_filenames(tmp_path):
    assert style.safe_filename("rosenbrock[dim=100,variant=chained]") == (
        "rosenbrock_dim-100_variant-chained"
    )
    for label in ["../../etc/passwd", "a b/c:d*e?", "", "x" * 500, "ümlaut[p=1]"]:
        stem = style.safe_filename(label)
        assert stem and len(stem) <= style.MAX_STEM_LENGTH
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
        assert not stem.startswith(".")
    stems = style.unique_stems(["a[b=1]", "a_b-1", "c"])
    assert len(set(stems.values())) == 3
    assert stems["c"] == "c"
    results = make_results(tmp_path)
    summary, traces = results.summary.copy(), results.traces.copy()
    summary["problem"] = summary["problem"].replace({"quadratic[dim=10]": "quad/ratic: 10"})
    traces["problem"] = traces["problem"].replace({"quadratic[dim=10]": "quad/ratic: 10"})
    subset = ResultsFrames(summary=summary, traces=traces, path=tmp_path)
    written = plot_results(_only(subset, ["quad/ratic: 10"], tmp_path))
    assert {p.name for p in written} == {
        "convergence_quad_ratic_10.png",
        "sensitivity_quad_ratic_10.png",
        "convergence_grid.png",
    }
    assert all(p.parent == tmp_path / "plots" for p in written)


def test_family_colours_are_fixed_and_stable():
    known = [style.family_color(f) for f in style.FAMILY_ORDER]
    assert len(set(known)) == len(known)
    assert style.family_color("gd") == style.FAMILY_COLORS["gd"]
    other = style.family_color("my_solver")
    assert other in style.FALLBACK_PALETTE and other == style.family_color("my_solver")
    assert not set(style.FALLBACK_PALETTE) & set(known)
    assert style.family_linestyle("scipy[method=CG]") == "--"
    assert style.family_linestyle("newton") == "-"


def test_bad_arguments_and_no_figure_leak(tmp_path):
    import matplotlib.pyplot as plt

    results = _only(make_results(), ["quadratic[dim=10]"], tmp_path)
    with pytest.raises(ValueError, match="x: must be one of"):
        plot_results(results, x="seconds")
    with pytest.raises(ValueError, match="format: must be one of"):
        plot_results(results, fmt="jpg")
    with pytest.raises(ValueError, match="out_dir"):
        plot_results(ResultsFrames(summary=results.summary, traces=results.traces))
    with pytest.raises(ValueError, match="kind: must be one of"):
        write_plots(results, "histogram")
    before = plt.get_fignums()
    plot_results(results)
    assert plt.get_fignums() == before


def test_fixed_steps_are_numbers_and_multiples_of_one_over_l():
    assert is_fixed_step(0.1) and is_fixed_step("0.1") and is_fixed_step("0.5/L")
    assert not any(is_fixed_step(v) for v in ("armijo", "", math.nan, None))


def test_sensitivity_reads_the_step_used_from_the_summary(tmp_path):
    results = make_results()
    summary = results.summary.copy()
    gd = summary["optimizer"] == "gd"
    # as summary.csv reads back a parameter mixing numbers and rules: all text
    summary["param_step_size"] = summary["param_step_size"].map(
        lambda v: "" if np.isnan(v) else f"{v:g}"
    )
    summary.loc[gd & (summary["param_step_size"] == "0.01"), "param_step_size"] = "0.5/L"
    summary.loc[gd & (summary["param_step_size"] == "1"), "param_step_size"] = "armijo"
    summary.loc[summary["param_step_size"] == "0.5/L", "step_size"] = 0.05  # c/L resolved
    # one plain step, one c/L step and a rule (whose median accepted step is no
    # setting of the sweep): no sweep of either kind
    path = tmp_path / "s.png"
    assert plot_step_size_sensitivity(summary, "quadratic[dim=10]", path) is None
    assert not path.exists()
    # two multiples of 1/L (0.5/L and 2/L, which used the step 1.0) make a sweep
    summary.loc[gd & (summary["param_step_size"] == "armijo"), "param_step_size"] = "2/L"
    written = plot_step_size_sensitivity(summary, "quadratic[dim=10]", path)
    assert written == path and path.read_bytes()[:8] == MAGIC["png"]
    # a summary without the used step (a c/L setting of an old results directory) has
    # nothing to draw the c/L sweep at
    summary.loc[summary["param_step_size"].str.endswith("/L"), "step_size"] = np.nan
    assert plot_step_size_sensitivity(summary, "quadratic[dim=10]", tmp_path / "t.png") is None
