"""The report stays readable with many settings: the best few of each family are shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from test_analysis_tables import make_results

from optbench.analysis import report
from optbench.analysis.profile_tables import best_rows
from optbench.analysis.report import ReportContext, problem_tables, shown_settings
from optbench.analysis.report_blocks import Table, Text
from optbench.analysis.tables import MAX_SETTINGS, best_settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _final_table(blocks) -> pd.DataFrame:
    return next(b.frame for b in blocks if isinstance(b, Table) and b.kind == "final")


def test_the_shipped_sweeps_fit_under_the_cap():
    from optbench.run.config import load_config

    for name in ("gd_stepsize_sweep", "quickstart", "ml_losses", "newton_vs_cg"):
        settings: dict[tuple[str, str], set[str]] = {}
        for spec in load_config(CONFIGS / f"{name}.yaml").runs:
            key = (str(spec.problem.name), spec.solver)
            settings.setdefault(key, set()).add(repr(sorted(spec.solver_params.items())))
        assert max(len(v) for v in settings.values()) <= MAX_SETTINGS, name


def test_problem_tables_show_the_best_settings_of_each_family():
    results = make_results()
    problem = "quadratic[dim=10]"
    everything = ReportContext.from_results(results, max_settings=None)
    capped = ReportContext.from_results(results, max_settings=2)
    full = _final_table(problem_tables(everything, problem))
    cut = problem_tables(capped, problem)
    shown = _final_table(cut)
    # gd has three step sizes: the worst one goes, the other families stay whole
    assert len(full) == 6 and len(shown) == 5
    notes = [b.text for b in cut if isinstance(b, Text) and b.text.startswith("Shown per")]
    assert len(notes) == 1 and "1 more left out (gd 2 of 3)" in notes[0]
    best = best_settings(results.summary)
    best_gd = best.loc[(best["problem"] == problem) & (best["family"] == "gd"), "solver_label"]
    assert f"**{best_gd.iloc[0]}**" in set(shown["solver"])
    left_out = set(full["solver"]) - set(shown["solver"])
    assert left_out == {"gd[step_size=1]"}  # the step that diverges
    # the rows kept keep their order
    assert [s for s in full["solver"] if s in set(shown["solver"])] == list(shown["solver"])


def test_default_cap_leaves_small_reports_unchanged():
    results = make_results()  # at most three settings of a family
    capped = report.build_report(results)
    assert capped == report.build_report(results, max_settings=None)
    assert "Shown per solver" not in capped


def test_shown_settings_keeps_all_without_a_cap():
    context = ReportContext.from_results(make_results(), max_settings=None)
    table, note = shown_settings(context, "quadratic[dim=10]")
    assert note is None and len(table) == 6


def test_profile_rows_keep_the_largest_fractions_and_the_envelopes():
    labels = ["gd (tuned)", *(f"gd[{i}]" for i in range(5)), "newton_cg"]
    wide = pd.DataFrame(
        {"a": [1.0, 0.1, 0.5, np.nan, 0.9, 0.5, 0.2], "b": [1.0, 0.0, 0.5, 0.0, 0.9, 0.6, 0.2]},
        index=pd.Index(labels, name="solver_label"),
    )
    families = {label: label.split("[")[0].split(" ")[0] for label in labels}
    shown, note = best_rows(wide, families, 2)
    assert list(shown.index) == ["gd (tuned)", "gd[3]", "gd[4]", "newton_cg"]
    assert note is not None and "3 more left out (gd 2 of 5)" in note
    assert best_rows(wide, families, None) == (wide, None)
    same, nothing = best_rows(wide, families, 5)
    assert nothing is None and same is wide


def test_statuses_list_at_most_the_cap(monkeypatch):
    results = make_results()
    bad = results.summary["status"].isin(("diverged", "failed", "error")).sum()
    assert bad > 3
    monkeypatch.setattr(report, "MAX_BAD_RUNS", 3)
    section = report.statuses_section(ReportContext.from_results(results))
    tables = [b.frame for b in section.blocks if isinstance(b, Table)]
    assert len(tables[0]) == 3
    assert any(f"the first 3 of {bad}" in b.text for b in section.blocks if isinstance(b, Text))


def _hits(results):
    from optbench.analysis.targets import fixed_target_table

    hits = fixed_target_table(results.summary, results.traces)
    target = float(hits.loc[hits["reached"], "target"].min())
    return hits[hits["target"] == target], target


def test_scores_of_some_solvers_are_their_scores_among_all():
    from optbench.analysis.score import point_scores, profile_score

    rows, target = _hits(make_results())
    everyone = profile_score(rows, "cost", target).set_index("solver_label")
    chosen = ["gd[step_size=0.1]", "newton_cg[forcing=sqrt]"]
    some = profile_score(rows, "cost", target, solvers=chosen).set_index("solver_label")
    assert set(some.index) == set(chosen)
    pd.testing.assert_frame_equal(some, everyone.loc[some.index])
    points = point_scores(rows, "cost", target)
    np.testing.assert_allclose(points[everyone.index].to_numpy(), everyone["score"].to_numpy())


def test_paired_tests_of_some_solvers_are_the_pairs_among_them():
    from optbench.analysis.paired_tests import paired_wilcoxon

    rows, target = _hits(make_results())
    chosen = ["gd[step_size=0.01]", "gd[step_size=0.1]", "newton_cg[forcing=sqrt]"]
    pairs = paired_wilcoxon(rows, "cost", target, solvers=chosen)
    assert len(pairs) == 3
    assert set(pairs["solver_a"]) | set(pairs["solver_b"]) == set(chosen)
    every = paired_wilcoxon(rows, "cost", target)
    assert len(every) == 15
    merged = pairs.merge(every, on=["solver_a", "solver_b"], suffixes=("", "_all"))
    np.testing.assert_array_equal(merged["p_value"], merged["p_value_all"])


def test_statistics_section_ranks_and_tests_the_best_settings_of_each_family():
    from optbench.analysis.statistics_tables import statistics_section

    results = make_results()
    full = statistics_section(ReportContext.from_results(results, max_settings=None))
    capped = statistics_section(ReportContext.from_results(results, max_settings=2))
    same = statistics_section(ReportContext.from_results(results))
    texts = [b.text for b in capped.blocks if isinstance(b, Text)]
    assert any("1 more left out (gd 2 of 3)" in t for t in texts)
    ranking = {b.kind: b.frame for b in capped.blocks if isinstance(b, Table)}["ranking"]
    everyone = {b.kind: b.frame for b in full.blocks if isinstance(b, Table)}["ranking"]
    assert len(ranking) == 5 and len(everyone) == 6
    left_out = set(everyone["solver"]) - set(ranking["solver"])
    gd_rows = everyone[everyone["solver"].str.startswith("gd[")]
    assert left_out == {gd_rows["solver"].iloc[-1]}  # the lowest gd score
    assert any("over the 10 pairs" in t for t in texts)
    assert [b.text for b in same.blocks if isinstance(b, Text)] == [
        b.text for b in full.blocks if isinstance(b, Text)
    ]


def _count_builds(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = report.build_sections

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(report, "build_sections", counted)
    return calls


def test_run_and_report_commands_build_the_report_once(tmp_path, monkeypatch, capsys):
    import yaml

    from optbench.cli import main

    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "problems": ["rosenbrock_2d"],
                "solvers": [{"name": "gd", "params": {"step_size": [1e-4, 1e-3]}}],
                "stop": {"max_iter": 5},
                "jobs": 1,
            }
        )
    )
    out = tmp_path / "out"
    calls = _count_builds(monkeypatch)
    assert main(["run", str(config), "--out", str(out), "--no-plots", "--print-report"]) == 0
    assert len(calls) == 1
    printed = capsys.readouterr().out
    assert printed.startswith((out / "report.md").read_text())
    assert main(["report", str(out), "--format", "md"]) == 0
    assert len(calls) == 2
    assert capsys.readouterr().out.startswith((out / "report.md").read_text())
