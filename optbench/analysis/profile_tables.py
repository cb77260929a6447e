r"""The report's profiles section (:func:`profile_section`): figures and tables of the
suite-level measures.

Performance profile :math:`\rho_s(\tau)` at the τ of :data:`TABLE_TAUS`, the fraction of
instances reaching each target, and the data profile :math:`d_s(\kappa)` at the κ of
:data:`TABLE_KAPPAS` for τ = :data:`TABLE_DATA_TAU`. Swept families also appear as
their tuned envelope, ``"<family> (tuned)"``. The helpers here are shared with the
figures of :mod:`optbench.analysis.profile_plots`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from optbench.analysis import style
from optbench.analysis.frames import ResultsFrames, load_frames
from optbench.analysis.profiles import (
    TUNED_SUFFIX,
    data_profile,
    default_data_unit,
    performance_profile,
    tuned_envelope,
)
from optbench.analysis.report_blocks import Block, FigureRef, Section, Table, Text
from optbench.analysis.tables import MAX_SETTINGS, settings_left_out, target_text
from optbench.analysis.targets import results_hit_table

#: Where the report tables read the profiles.
TABLE_TAUS = (1.0, 2.0, 4.0, 10.0)
TABLE_KAPPAS = (1.0, 10.0, 100.0, 1000.0)
TABLE_DATA_TAU = 1e-3


def nonempty_traces(frames: ResultsFrames) -> pd.DataFrame | None:
    """The traces of ``frames``, or None when there are none (or no rows)."""
    traces = frames.traces
    return traces if traces is not None and len(traces) else None


def with_envelopes(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A hit table with the rows of each swept family's tuned envelope added."""
    tuned = tuned_envelope(table, metric=metric)
    return pd.concat([table, tuned.drop(columns="tuned_setting")], ignore_index=True)


def ordered_labels(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(solver_label, family) pairs: families in registry order, tuned first in each."""
    pairs = table[["solver_label", "family"]].drop_duplicates()
    return sorted(
        pairs.itertuples(index=False, name=None),
        key=lambda p: (style.family_rank(p[1]), not p[0].endswith(TUNED_SUFFIX), p[0]),
    )


def _profile_row(curves: pd.DataFrame, x: str, points: Sequence[float]) -> pd.DataFrame:
    """Wide table: one row per solver, the fraction at each point of ``points``."""
    wide = curves.pivot(index="solver_label", columns=x, values="fraction")
    return wide.reindex(columns=list(points))


def best_rows(
    wide: pd.DataFrame, families: Mapping[str, str], max_settings: int | None
) -> tuple[pd.DataFrame, str | None]:
    """At most ``max_settings`` rows of each family of a wide profile table, and the line
    saying what was left out (``None``: nothing).

    The rows kept are those with the largest sum of fractions over the table's columns
    (the area under the profile at its points; ties go to the earlier row), in their
    order; tuned envelopes are always kept.

    Parameters
    ----------
    wide : DataFrame
        Indexed by solver label, one column per point of the profile.
    families : mapping
        The family of every label.
    max_settings : int or None
        The cap (``None``: every row).
    """
    if max_settings is None or len(wide) <= max_settings:
        return wide, None
    labels = wide.index.to_series()
    ranking = pd.DataFrame(
        {
            "family": labels.map(families).to_numpy(),
            "score": wide.sum(axis=1, skipna=True).to_numpy(),
            "position": range(len(wide)),
            "tuned": labels.str.endswith(TUNED_SUFFIX).to_numpy(),
        }
    )
    settings = ranking[~ranking["tuned"]].sort_values(
        ["family", "score", "position"], ascending=[True, False, True], kind="stable"
    )
    rank = settings.groupby("family", sort=False).cumcount()
    keep = ranking["tuned"].to_numpy().copy()
    keep[settings["position"].to_numpy()[rank.to_numpy() < max_settings]] = True
    if keep.all():
        return wide, None
    note = (
        f"Shown per solver: the {max_settings} settings with the largest fractions (their "
        f"sum over the columns) and the tuned envelope, {int((~keep).sum())} more left out "
        f"({settings_left_out(settings['family'], max_settings)})."
    )
    return wide[keep], note


def _table_blocks(
    wide: pd.DataFrame,
    families: Mapping[str, str],
    max_settings: int | None,
    caption: str,
    kind: str,
) -> list[Block]:
    """The table of ``wide`` (capped by :func:`best_rows`), after its note if any."""
    shown, note = best_rows(wide, families, max_settings)
    table = Table(_solver_frame(shown), caption=caption, kind=kind)
    return [table] if note is None else [Text(note), table]


def profile_tables(results: Any, max_settings: int | None = MAX_SETTINGS) -> str:
    """The profiles section as markdown (``""`` when the summary has no targets)."""
    from optbench.analysis.report_markdown import section_markdown

    section = profile_section(results, max_settings=max_settings)
    return "" if section is None else section_markdown(section)


def profile_section(results: Any, max_settings: int | None = MAX_SETTINGS) -> Section | None:
    """The figures (performance profile, ECDF, data profile, sweep sensitivity) and the
    tables: ρ_s at a few τ, fraction solved, d_s at a few κ.

    Parameters
    ----------
    results : path, Results or ResultsFrames
        The results (traces are needed for the data-profile table and where f* is
        unknown; without them those parts say why they are missing).
    max_settings : int or None
        Rows of one solver family in each table (:func:`best_rows`; ``None``: all).

    Returns
    -------
    Section or None
        ``None`` when the summary has no targets.
    """
    frames = load_frames(results)
    if frames.summary.empty:
        return None
    traces = nonempty_traces(frames)
    section = Section("profiles", "Profiles")
    try:
        table = results_hit_table(frames)
    except ValueError as error:
        if "no targets" in str(error):
            return None
        section.blocks.append(Text(f"Not available: {error}."))
        return section
    section.blocks += [FigureRef("profile"), FigureRef("ecdf")]
    if traces is not None:
        section.blocks.append(FigureRef("data-profile"))
    section.blocks.append(FigureRef("sensitivity"))
    table = with_envelopes(table, "cost")
    labelled = ordered_labels(table)
    order = [label for label, _ in labelled]
    families = dict(labelled)
    instances = len(table.drop_duplicates(["problem", "seed"]))
    section.blocks.append(
        Text(
            f"Over {instances} problem instances ((problem, seed) pairs; Dolan & Moré 2002). "
            "A run that did not reach a target counts as a failure (ratio ∞) and stays in "
            "the denominator. Swept solvers also appear as “(tuned)”: per problem and target, "
            "the setting with the least median cost."
        )
    )
    unknown = sorted(set(table.loc[table["f_star_source"] == "best_found", "problem"]))
    if unknown:
        section.blocks.append(
            Text(
                f"f* unknown for {', '.join(unknown)}: there a target ε means Moré & Wild's "
                "test f(x0) − f(x) ≥ (1 − ε)(f(x0) − f_L), with f_L the best value any run "
                "reached."
            )
        )
    reached = table[table["reached"]]
    targets = sorted(set(table["target"]), reverse=True)
    target = min(reached["target"]) if len(reached) else targets[0]
    ratios = performance_profile(table, "cost", taus=[*TABLE_TAUS, math.inf], target=target)
    wide = _profile_row(ratios, "tau", [*TABLE_TAUS, math.inf]).reindex(order)
    wide.columns = [f"τ = {t:g}" for t in TABLE_TAUS] + ["solved"]
    title = f"Performance profile: cost to ε = {target_text(target)}"
    section.subsections.append(
        Section(
            "profiles-performance",
            title,
            [
                Text("ρ(τ): fraction of instances solved within τ × the least cost of any solver."),
                *_table_blocks(wide, families, max_settings, title, "profile"),
            ],
            level=3,
        )
    )
    solved = table.groupby(["solver_label", "target"])["reached"].mean().unstack("target")
    solved = solved.reindex(index=order, columns=targets)
    solved.columns = [f"ε = {target_text(t)}" for t in targets]
    title = "Fraction of instances reaching each target"
    section.subsections.append(
        Section(
            "profiles-solved",
            title,
            _table_blocks(solved, families, max_settings, title, "solved"),
            level=3,
        )
    )
    section.subsections.append(_data_profile_section(frames, traces, order, families, max_settings))
    return section


def _solver_frame(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.reset_index().rename(columns={"solver_label": "solver"})


def _data_profile_section(
    frames: ResultsFrames,
    traces: pd.DataFrame | None,
    order: list[str],
    families: Mapping[str, str],
    max_settings: int | None,
) -> Section:
    section = Section("profiles-data", f"Data profile: τ = {TABLE_DATA_TAU:.0e}", level=3)
    blocks: list[Block] = section.blocks
    if traces is None:
        blocks.append(Text("Not available: no traces."))
        return section
    table = results_hit_table(frames, [TABLE_DATA_TAU], test="relative")
    if table["dim"].isna().any():
        blocks.append(Text("Not available: the summary has no `dim` column."))
        return section
    unit = default_data_unit(frames.summary)
    table = with_envelopes(table, "calls" if unit == "dim+1" else "cost")
    profile = data_profile(table, TABLE_DATA_TAU, unit, kappas=TABLE_KAPPAS)
    wide = _profile_row(profile, "kappa", TABLE_KAPPAS).reindex(order).dropna(how="all")
    wide.columns = [f"κ = {k:g}" for k in TABLE_KAPPAS]
    work = (
        "κ·(dim + 1) oracle calls (n_f + n_g + n_hvp + n_hess + n_r + n_J; Moré & Wild 2009)"
        if unit == "dim+1"
        else "a cost of κ gradient-equivalents (some runs took sample gradients, which "
        "oracle calls do not count: one data pass of them costs 1)"
    )
    blocks += [
        Text(
            "d(κ): fraction of instances with f(x0) − f(x) ≥ (1 − τ)(f(x0) − f_L) within "
            f"{work}, f_L = f* where certified, else the best value found; first logged hit."
        ),
        *_table_blocks(wide, families, max_settings, section.title, "data-profile"),
    ]
    return section
