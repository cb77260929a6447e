r"""Figures of the suite-level measures (plot kinds ``profile``, ``data-profile``,
``ecdf``, ``sensitivity``), as figure data.

Figures (stems of the files in ``<results>/plots/``):

``performance_profile.<fmt>``
    Dolan & Moré (2002) profiles :math:`\rho_s(\tau)` on a log2 τ axis, one panel per
    target ε (at most four, spread over the targets).
``data_profile.<fmt>``
    Moré & Wild (2009) data profiles :math:`d_s(\kappa)`, one panel per tolerance τ
    of :data:`DATA_PROFILE_TAUS`; κ in units of (dim + 1) oracle calls or of cost.
``ecdf.<fmt>``
    The runtime ECDF over all (problem, seed, target) pairs against log10 work
    (Hansen et al., COCO).
``sensitivity_fraction.<fmt>``
    For each swept family, the fraction of its sweep settings (× seeds) that reach
    each target.

A non-default x quantity is appended to the stem, e.g. ``performance_profile_iters.png``.
Curves are step functions with a 95 % percentile bootstrap band over the
``(problem, seed)`` instances (:data:`BAND_RESAMPLES` seeded resamples, seed 0; the
ECDF resamples instances with all their targets), drawn around the solid curves.
Swept families are drawn as their tuned envelope (solid,
``"<family> (tuned)"``) over their individual settings (faded); the others solid.
Colours and line styles are per family (:mod:`optbench.analysis.style`). The same
measures as markdown tables for ``report.md``: :mod:`optbench.analysis.profile_tables`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.figure_data import Curve, FigureData, LegendEntry, Panel
from optbench.analysis.frames import ResultsFrames, results_frames
from optbench.analysis.profile_tables import nonempty_traces, ordered_labels, with_envelopes
from optbench.analysis.profiles import (
    TUNED_SUFFIX,
    data_profile,
    default_data_unit,
    performance_profile,
    runtime_ecdf,
    sweep_success_fraction,
    swept_families,
)
from optbench.analysis.tables import target_text
from optbench.analysis.targets import fixed_target_table, results_hit_table
from optbench.bootstrap import N_RESAMPLES

#: Moré & Wild's tolerances τ for data profiles (their Figures 2–5 use 1e-1 … 1e-7).
DATA_PROFILE_TAUS = (1e-1, 1e-3, 1e-5, 1e-7)
#: Most panels of a profile figure.
MAX_PANELS = 4
#: Bootstrap resamples of the bands (COCO's default, as the report's intervals).
BAND_RESAMPLES = N_RESAMPLES
#: Accepted ``x`` of the profile and ECDF kinds -> work measure; of data profiles -> unit.
METRIC_ALIASES = {"iter": "iters", "iters": "iters", "cost": "cost", "time": "time"}
UNIT_ALIASES = {"dim+1": "dim+1", "calls": "dim+1", "cost": "cost"}
_METRIC_LABELS = {"iters": "iterations", "cost": "cost", "time": "time"}
_BAND_NOTE = "bands: 95 % bootstrap over instances"


def _spread_out(values: Sequence[float], most: int) -> list[float]:
    """At most ``most`` of ``values``, always the first and the last."""
    if len(values) <= most:
        return list(values)
    picks = np.unique(np.round(np.linspace(0, len(values) - 1, most)).astype(int))
    return [values[i] for i in picks]


def _hit_table(
    frames: ResultsFrames, targets: Sequence[float] | None = None, envelopes: str | None = None
) -> pd.DataFrame:
    """The fixed-target table of ``frames`` at ``targets`` (all by default;
    :func:`~optbench.analysis.targets.results_hit_table`, shared with the report) with
    the tuned envelopes for ``envelopes`` (a work measure) added; computed once per
    frames."""
    frames = results_frames(frames)
    table = results_hit_table(frames, targets)
    if envelopes is None:
        return table
    levels = None if targets is None else tuple(sorted({float(t) for t in targets}))
    return frames.derived(
        ("hit_table_with_envelopes", levels, envelopes),
        lambda: with_envelopes(table, envelopes),
    )


def _solid_labels(table: pd.DataFrame, labels: list[tuple[str, str]]) -> set[str]:
    """Labels drawn solid (with a band): tuned envelopes and unswept families' solvers;
    ``labels``: :func:`ordered_labels` of ``table``."""
    swept = set(swept_families(table[~table["solver_label"].str.endswith(TUNED_SUFFIX)]))
    return {
        label for label, family in labels if family not in swept or label.endswith(TUNED_SUFFIX)
    }


def _curves(
    curves: pd.DataFrame, x: str, labels: list[tuple[str, str]], solid: set[str]
) -> list[Curve]:
    """Step curves of ``curves`` (``solver_label, <x>, fraction[, low, high]``) in the
    order of ``labels`` (:func:`ordered_labels`), styled per family: solid with their
    band (``solid``: :func:`_solid_labels`), or faded (the settings of a sweep, no label)."""
    codes, found = pd.factorize(curves["solver_label"])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(found) + 1))
    where = {label: order[bounds[k] : bounds[k + 1]] for k, label in enumerate(found.tolist())}
    columns = {
        c: curves[c].to_numpy(dtype=float) for c in (x, "fraction", "low", "high") if c in curves
    }
    looks = {
        family: (style.family_color(family), style.family_linestyle(family))
        for family in {family for _, family in labels}
    }
    drawn = []
    for label, family in labels:
        rows = where.get(label)
        if rows is None or rows.size == 0:
            continue
        faded = label not in solid
        banded = not faded and "low" in columns
        color, linestyle = looks[family]
        drawn.append(
            Curve(
                columns[x][rows],
                columns["fraction"][rows],
                None if faded else label,
                color,
                linestyle,
                style.FADED_WIDTH if faded else style.BEST_WIDTH,
                style.FADED_ALPHA if faded else style.BEST_ALPHA,
                drawstyle="steps",
                low=columns["low"][rows] if banded else None,
                high=columns["high"][rows] if banded else None,
                band_alpha=style.BAND_ALPHA,
            )
        )
    return drawn


def _sweep_legend(table: pd.DataFrame) -> list[LegendEntry]:
    if swept_families(table[~table["solver_label"].str.endswith(TUNED_SUFFIX)]):
        return [
            LegendEntry("settings of a sweep", width=style.FADED_WIDTH, alpha=style.FADED_ALPHA)
        ]
    return []


def _profile_figure(
    stem: str, panels: list[Panel], table: pd.DataFrame, **kw: object
) -> FigureData:
    columns = len(panels) if len(panels) <= 3 else 2
    rows = -(-len(panels) // columns)
    for panel in panels:
        panel.ylim = (-0.02, 1.02)
    return FigureData(
        stem=stem,
        panels=panels,
        columns=columns,
        width=4.6 * columns + 1.0,
        height=3.6 * rows + 0.8,
        share_y=True,
        legend_from_curves=True,
        extra_legend=_sweep_legend(table),
        **kw,  # type: ignore[arg-type]
    )


def performance_profile_figure(
    frames: ResultsFrames,
    metric: str = "cost",
    targets: Sequence[float] | None = None,
    n_resamples: int = BAND_RESAMPLES,
) -> FigureData:
    """The performance profiles of ``frames`` (one panel per target, at most four)."""
    table = _hit_table(frames, targets, metric)
    labels = ordered_labels(table)
    solid = _solid_labels(table, labels)
    shown = _spread_out(sorted(set(table["target"]), reverse=True), MAX_PANELS)
    panels = []
    for target in shown:
        profile = performance_profile(
            table,
            metric,
            target=target,
            n_resamples=n_resamples,
            own_steps=True,
            banded=solid,
        )
        panels.append(
            Panel(
                _curves(profile, "tau", labels, solid),
                title=f"ε = {target_text(target)}",
                xlabel=f"τ ({_METRIC_LABELS[metric]} / least {_METRIC_LABELS[metric]})",
                xscale="log",
                xscale_base=2.0,
                xlim=(1.0, max(2.0, float(profile["tau"].max()))),
            )
        )
    panels[0].ylabel = "fraction of problems ρₛ(τ)"
    suffix = "" if metric == "cost" else f"_{metric}"
    return _profile_figure(
        f"performance_profile{suffix}",
        panels,
        table,
        title=f"Performance profiles, {_METRIC_LABELS[metric]} to reach f − f* ≤ ε ({_BAND_NOTE})",
        caption=f"Performance profiles (Dolan & Moré) of {_METRIC_LABELS[metric]} to each "
        f"target; {_BAND_NOTE}.",
    )


def data_profile_figure(
    frames: ResultsFrames,
    unit: str = "dim+1",
    taus: Sequence[float] = DATA_PROFILE_TAUS,
    n_resamples: int = BAND_RESAMPLES,
) -> FigureData:
    """The data profiles of ``frames`` (one panel per tolerance τ)."""
    traces = nonempty_traces(frames)
    if traces is None:
        raise ValueError("data profiles need traces (traces.parquet)")
    table = fixed_target_table(frames.summary, traces, taus, test="relative")
    table = with_envelopes(table, "calls" if unit == "dim+1" else "cost")
    labels = ordered_labels(table)
    solid = _solid_labels(table, labels)
    panels = []
    for tau in sorted(taus, reverse=True):
        profile = data_profile(
            table, tau, unit, n_resamples=n_resamples, own_steps=True, banded=solid
        )
        panels.append(
            Panel(
                _curves(profile[profile["kappa"] > 0], "kappa", labels, solid),
                title=f"τ = {tau:.0e}",
                xlabel="κ (oracle calls / (dim + 1))" if unit == "dim+1" else "κ (cost)",
                xscale="log",
            )
        )
    panels[0].ylabel = "fraction of problems dₛ(κ)"
    return _profile_figure(
        "data_profile" if unit == "dim+1" else "data_profile_cost",
        panels,
        table,
        title="Data profiles: solved when f(x₀) − f(x) ≥ (1 − τ)(f(x₀) − f_L)",
        caption=f"Data profiles (Moré & Wild) per tolerance τ; {_BAND_NOTE}.",
    )


def ecdf_figure(
    frames: ResultsFrames, metric: str = "cost", n_resamples: int = BAND_RESAMPLES
) -> FigureData:
    """The runtime ECDF over all (problem, seed, target) triples of ``frames``."""
    table = _hit_table(frames, envelopes=metric)
    labels = ordered_labels(table)
    solid = _solid_labels(table, labels)
    ecdf = runtime_ecdf(table, metric, n_resamples=n_resamples, own_steps=True, banded=solid)
    x_label = style.X_LABELS.get("iter" if metric == "iters" else metric, metric)
    pairs = len(table.drop_duplicates(["problem", "seed", "target"]))
    targets = ", ".join(target_text(t) for t in sorted(set(table["target"]), reverse=True))
    panel = Panel(
        _curves(ecdf[ecdf["budget"] > 0], "budget", labels, solid),
        title=f"Runtime ECDF: {pairs} (problem, seed, target) pairs\nε ∈ {{{targets}}}",
        xlabel=f"{x_label}, log scale",
        ylabel="fraction of (problem, target) pairs",
        xscale="log",
    )
    suffix = "" if metric == "cost" else f"_{metric}"
    return _profile_figure(
        f"ecdf{suffix}",
        [panel],
        table,
        caption=f"Runtime ECDF over (problem, seed, target) pairs against "
        f"{_METRIC_LABELS[metric]}; {_BAND_NOTE} (each with all its targets).",
    )


def sensitivity_fraction_figure(frames: ResultsFrames) -> FigureData | None:
    """The fraction of sweep settings reaching each target; None without sweeps."""
    table = _hit_table(frames)
    fractions = sweep_success_fraction(table)
    if fractions.empty:
        return None
    panel = Panel(xscale="log", invert_x=True, ylim=(-0.02, 1.02))
    for family in sorted(set(fractions["family"]), key=style.family_rank):
        rows = fractions[fractions["family"] == family].sort_values("target", ascending=False)
        settings = int(rows["n_settings"].max())
        panel.curves.append(
            Curve(
                rows["target"].to_numpy(dtype=float),
                rows["fraction"].to_numpy(dtype=float),
                f"{family} ({settings} settings)",
                style.family_color(family),
                style.family_linestyle(family),
                style.BEST_WIDTH,
                marker="o",
            )
        )
    relative = (table["f_star_source"] == "best_found").any()
    measure = "f − f* (relative where f* unknown)" if relative else "f − f*"
    panel.xlabel = f"target ε on {measure}; harder to the right"
    panel.ylabel = "fraction of sweep runs reaching ε"
    panel.title = "Swept solvers: settings × seeds that reach each target"
    return FigureData(
        stem="sensitivity_fraction",
        panels=[panel],
        width=5.6,
        height=4.4,
        legend_from_curves=True,
        caption="Fraction of each sweep's settings × seeds that reach each target.",
    )


def _metric(x: str | None, default: str = "cost") -> str:
    metric = METRIC_ALIASES.get(x or default)
    if metric is None:
        raise ValueError(f"x: must be one of iter, cost, time, got {x!r}")
    return metric


def profile_figures(frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
    """The ``profile`` plot kind; ``x``: iter (iters), cost (default) or time."""
    return [performance_profile_figure(frames, _metric(x))]


def data_profile_figures(frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
    """The ``data-profile`` plot kind; ``x``: dim+1 (alias calls) or cost; by default
    :func:`~optbench.analysis.profiles.default_data_unit`."""
    unit = UNIT_ALIASES.get(x or default_data_unit(frames.summary))
    if unit is None:
        raise ValueError(f"x: must be 'dim+1' or 'cost' for data profiles, got {x!r}")
    return [data_profile_figure(frames, unit)]


def ecdf_figures(frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
    """The ``ecdf`` plot kind; ``x``: iter (iters), cost (default) or time."""
    return [ecdf_figure(frames, _metric(x))]


def sensitivity_fraction_figures(frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
    """The ``sensitivity`` plot kind (``x`` ignored): empty when nothing was swept."""
    del x
    figure = sensitivity_fraction_figure(frames)
    return [] if figure is None else [figure]
