"""The report's section of scores, paired tests and expected running times, with intervals.

At the tightest target any run reached, over the ``(problem, seed)`` instances:

- the ranking by the score of :mod:`optbench.analysis.score` (area under the performance
  profile of cost up to τ = 4) with its bootstrap interval over instances;
- the pairs of solvers whose cost differs significantly by the Wilcoxon signed-rank test
  with Holm's correction (:mod:`optbench.analysis.paired_tests`);
- per problem and solver, the expected running time in cost over seeds with its
  bootstrap interval and the success count (:mod:`optbench.analysis.ert`).

Intervals are 95 % percentile intervals from 1,000 seeded resamples.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from optbench.analysis.ert import ert_table
from optbench.analysis.formatting import format_number
from optbench.analysis.paired_tests import paired_wilcoxon
from optbench.analysis.report_blocks import Section, Table, Text
from optbench.analysis.score import TAU_MAX, point_scores, profile_score
from optbench.analysis.tables import MAX_SETTINGS, target_text
from optbench.analysis.targets import results_hit_table


def _interval(value: float, low: float, high: float) -> str:
    return f"{format_number(value)} [{format_number(low)}, {format_number(high)}]"


def _shown_solvers(
    rows: pd.DataFrame, target: float, max_settings: int | None
) -> tuple[list[str] | None, str | None]:
    """The solvers the section tests and lists (``None``: all), and the line saying
    what was left out: at most ``max_settings`` settings of each family, those with
    the highest scores (ties by label)."""
    if max_settings is None:
        return None, None
    families = rows.drop_duplicates("solver_label").set_index("solver_label")["family"]
    if families.value_counts().max() <= max_settings:
        return None, None
    scores = point_scores(rows, "cost", target)
    ranking = pd.DataFrame(
        {"family": families.reindex(scores.index).to_numpy(), "score": scores.to_numpy()},
        index=scores.index.rename("solver_label"),
    ).reset_index()
    ranking = ranking.sort_values(
        ["family", "score", "solver_label"], ascending=[True, False, True], kind="stable"
    )
    rank = ranking.groupby("family", sort=False).cumcount().to_numpy()
    shown = ranking["solver_label"].to_numpy()[rank < max_settings].tolist()
    counts = ranking["family"].value_counts(sort=False)
    cut = [f"{family} {max_settings} of {n}" for family, n in counts.items() if n > max_settings]
    note = (
        f"Shown and tested per solver: the {max_settings} settings with the highest scores, "
        f"{len(ranking) - len(shown)} more left out ({', '.join(cut)}); their scores are "
        "against every setting."
    )
    return shown, note


def statistics_section(context: Any) -> Section | None:
    """Ranking with intervals, significant pairs, ERT per problem (``None``: no hit)."""
    results = context.results
    if results.summary.empty:
        return None
    try:
        hits = results_hit_table(results)
    except ValueError:
        return None
    reached = hits[hits["reached"]]
    if reached.empty:
        return None
    target = float(reached["target"].min())
    rows = hits[hits["target"] == target]
    level = target_text(target)
    section = Section("ranking", "Ranking, with uncertainty")
    section.blocks.append(
        Text(
            f"At the tightest target any run reached (f − f* ≤ {level}), cost in gradient "
            f"evaluations. Score: the area under the performance profile up to τ = "
            f"{TAU_MAX:g}, divided by {TAU_MAX - 1:g} (1: cheapest on every instance; 0: "
            "never within that factor), with a 95 % bootstrap interval over the instances "
            "(1,000 seeded resamples)."
        )
    )
    shown, note = _shown_solvers(rows, target, getattr(context, "max_settings", MAX_SETTINGS))
    if note is not None:
        section.blocks.append(Text(note))
    scores = profile_score(rows, "cost", target, solvers=shown)
    ranking = pd.DataFrame(
        {
            "solver": scores["solver_label"],
            "score [95 % interval]": [
                _interval(r.score, r.score_low, r.score_high) for r in scores.itertuples()
            ],
            "solved": [f"{100 * s:.0f} %" for s in scores["solved"]],
        }
    )
    section.blocks.append(
        Table(ranking, caption=f"Ranking by profile score, cost to ε = {level}", kind="ranking")
    )
    pairs = paired_wilcoxon(rows, "cost", target, solvers=shown)
    significant = pairs[pairs["significant"]]
    section.blocks.append(
        Text(
            f"Paired comparisons: Wilcoxon signed-rank test on the log cost ratio over the "
            f"instances, a run that missed the target ranked worse than any that reached it "
            f"and two misses a tie; Holm-corrected over the {len(pairs)} pairs, 5 % level."
        )
    )
    if significant.empty:
        section.blocks.append(Text("No difference is significant."))
    else:
        table = pd.DataFrame(
            {
                "A": significant["solver_a"],
                "B": significant["solver_b"],
                "A cheaper on": significant["a_better"],
                "B cheaper on": significant["b_better"],
                "median cost A/B": significant["median_ratio"],
                "Holm p": significant["p_holm"],
                "better": significant["better"],
            }
        )
        section.blocks.append(
            Table(
                table,
                caption="Significant paired differences",
                solver_column="better",
                kind="paired",
            )
        )
    ert = ert_table(rows if shown is None else rows[rows["solver_label"].isin(shown)], ("cost",))
    section.blocks += [
        Text(
            "Expected running time (total cost of all seeds' runs, censored ones included, "
            "divided by the number that reached the target; ∞ when none did):"
        ),
        Table(
            pd.DataFrame(
                {
                    "problem": ert["problem"],
                    "solver": ert["solver_label"],
                    "ERT cost [95 % interval]": [
                        _interval(r.ert_cost, r.ert_cost_low, r.ert_cost_high)
                        for r in ert.itertuples()
                    ],
                    "reached": [f"{r.successes}/{r.runs}" for r in ert.itertuples()],
                }
            ),
            caption=f"Expected running time in cost to ε = {level}",
            kind="ert",
        ),
    ]
    return section
