r"""Figures of the suite-level measures (``optbench plot --kind``).

Figures, written to ``<results>/plots/``:

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
Curves are step functions. Swept families are drawn as their tuned envelope (solid,
``"<family> (tuned)"``) over their individual settings (faded); the others solid.
Colours and line styles are per family (:mod:`optbench.analysis.style`). The same
measures as markdown tables for ``report.md``: :mod:`optbench.analysis.profile_tables`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.frames import ResultsFrames, load_frames
from optbench.analysis.profile_tables import nonempty_traces, ordered_labels, with_envelopes
from optbench.analysis.profiles import (
    TUNED_SUFFIX,
    data_profile,
    performance_profile,
    runtime_ecdf,
    sweep_success_fraction,
    swept_families,
)
from optbench.analysis.tables import target_text
from optbench.analysis.targets import fixed_target_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PROFILE_KINDS = ("profile", "data-profile", "ecdf", "sensitivity")
FORMATS = style.FORMATS
#: Moré & Wild's tolerances τ for data profiles (their Figures 2–5 use 1e-1 … 1e-7).
DATA_PROFILE_TAUS = (1e-1, 1e-3, 1e-5, 1e-7)
#: Most panels of a profile figure.
MAX_PANELS = 4
_METRIC_ALIASES = {"iter": "iters", "iters": "iters", "cost": "cost", "time": "time"}
_UNIT_ALIASES = {"dim+1": "dim+1", "calls": "dim+1", "cost": "cost"}
_METRIC_LABELS = {"iters": "iterations", "cost": "cost", "time": "time"}


def _spread_out(values: Sequence[float], most: int) -> list[float]:
    """At most ``most`` of ``values``, always the first and the last."""
    if len(values) <= most:
        return list(values)
    picks = np.unique(np.round(np.linspace(0, len(values) - 1, most)).astype(int))
    return [values[i] for i in picks]


def _draw_curves(ax: Axes, curves: pd.DataFrame, x: str, table: pd.DataFrame) -> None:
    """Step curves of ``curves`` (``solver_label, <x>, fraction``), styled per family."""
    swept = set(swept_families(table[~table["solver_label"].str.endswith(TUNED_SUFFIX)]))
    for label, family in ordered_labels(table):
        curve = curves[curves["solver_label"] == label]
        if curve.empty:
            continue
        faded = family in swept and not label.endswith(TUNED_SUFFIX)
        ax.step(
            curve[x],
            curve["fraction"],
            where="post",
            color=style.family_color(family),
            linestyle=style.family_linestyle(family),
            alpha=style.FADED_ALPHA if faded else style.BEST_ALPHA,
            linewidth=style.FADED_WIDTH if faded else style.BEST_WIDTH,
            label=None if faded else label,
        )
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, which="major", alpha=0.3)


def _legend(fig: Any, axes: Sequence[Axes], table: pd.DataFrame) -> None:
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()
    if swept_families(table[~table["solver_label"].str.endswith(TUNED_SUFFIX)]):
        handles.append(Line2D([], [], color="gray", lw=style.FADED_WIDTH, alpha=style.FADED_ALPHA))
        labels.append("settings of a sweep")
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(len(handles), 3), fontsize="small"
    )


def _panels(count: int) -> tuple[Any, list[Axes]]:
    columns = count if count <= 3 else 2
    rows = math.ceil(count / columns)
    fig = style.new_figure(4.6 * columns + 1.0, 3.6 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, list(axes[:count])


def plot_performance_profile(
    frames: ResultsFrames, path: Path, metric: str = "cost", targets: Sequence[float] | None = None
) -> Path:
    """Write the performance-profile figure (one panel per target) to ``path``."""
    table = with_envelopes(
        fixed_target_table(frames.summary, nonempty_traces(frames), targets), metric
    )
    shown = _spread_out(sorted(set(table["target"]), reverse=True), MAX_PANELS)
    fig, axes = _panels(len(shown))
    for ax, target in zip(axes, shown, strict=True):
        profile = performance_profile(table, metric, target=target)
        _draw_curves(ax, profile, "tau", table)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1.0, max(2.0, profile["tau"].max()))
        ax.set_title(rf"$\varepsilon$ = {target_text(target)}")
        ax.set_xlabel(rf"$\tau$ ({_METRIC_LABELS[metric]} / least {_METRIC_LABELS[metric]})")
    axes[0].set_ylabel(r"fraction of problems $\rho_s(\tau)$")
    _legend(fig, axes, table)
    fig.suptitle(f"Performance profiles, {_METRIC_LABELS[metric]} to reach f − f* ≤ ε")
    return style.save_figure(fig, path)


def plot_data_profile(
    frames: ResultsFrames,
    path: Path,
    unit: str = "dim+1",
    taus: Sequence[float] = DATA_PROFILE_TAUS,
) -> Path:
    """Write the data-profile figure (one panel per tolerance τ) to ``path``."""
    traces = nonempty_traces(frames)
    if traces is None:
        raise ValueError("data profiles need traces (traces.parquet)")
    table = fixed_target_table(frames.summary, traces, taus, test="relative")
    table = with_envelopes(table, "calls" if unit == "dim+1" else "cost")
    fig, axes = _panels(len(taus))
    for ax, tau in zip(axes, sorted(taus, reverse=True), strict=True):
        profile = data_profile(table, tau, unit)
        _draw_curves(ax, profile[profile["kappa"] > 0], "kappa", table)
        ax.set_xscale("log")
        ax.set_title(rf"$\tau$ = {tau:.0e}")
        ax.set_xlabel(
            r"$\kappa$ (oracle calls / (dim + 1))" if unit == "dim+1" else r"$\kappa$ (cost)"
        )
    axes[0].set_ylabel(r"fraction of problems $d_s(\kappa)$")
    _legend(fig, axes, table)
    fig.suptitle(r"Data profiles: solved when $f(x_0) - f(x) \geq (1 - \tau)(f(x_0) - f_L)$")
    return style.save_figure(fig, path)


def plot_runtime_ecdf(frames: ResultsFrames, path: Path, metric: str = "cost") -> Path:
    """Write the runtime ECDF over all (problem, seed, target) pairs to ``path``."""
    table = with_envelopes(fixed_target_table(frames.summary, nonempty_traces(frames)), metric)
    ecdf = runtime_ecdf(table, metric)
    fig, axes = _panels(1)
    _draw_curves(axes[0], ecdf[ecdf["budget"] > 0], "budget", table)
    axes[0].set_xscale("log")
    x_label = style.X_LABELS.get("iter" if metric == "iters" else metric, metric)
    axes[0].set_xlabel(f"{x_label}, log scale")
    axes[0].set_ylabel("fraction of (problem, target) pairs")
    pairs = len(table.drop_duplicates(["problem", "seed", "target"]))
    targets = ", ".join(target_text(t) for t in sorted(set(table["target"]), reverse=True))
    axes[0].set_title(f"Runtime ECDF: {pairs} (problem, seed, target) pairs\nε ∈ {{{targets}}}")
    _legend(fig, axes, table)
    return style.save_figure(fig, path)


def plot_sensitivity_fraction(frames: ResultsFrames, path: Path) -> Path | None:
    """Write the fraction of sweep settings reaching each target; None without sweeps."""
    table = fixed_target_table(frames.summary, nonempty_traces(frames))
    fractions = sweep_success_fraction(table)
    if fractions.empty:
        return None
    fig, axes = _panels(1)
    ax = axes[0]
    for family in sorted(set(fractions["family"]), key=style.family_rank):
        rows = fractions[fractions["family"] == family].sort_values("target", ascending=False)
        settings = int(rows["n_settings"].max())
        ax.plot(
            rows["target"],
            rows["fraction"],
            marker="o",
            color=style.family_color(family),
            linestyle=style.family_linestyle(family),
            linewidth=style.BEST_WIDTH,
            label=f"{family} ({settings} settings)",
        )
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    relative = (table["f_star_source"] == "best_found").any()
    measure = "f − f* (relative where f* unknown)" if relative else "f − f*"
    ax.set_xlabel(rf"target $\varepsilon$ on {measure}; harder to the right")
    ax.set_ylabel("fraction of sweep runs reaching ε")
    ax.set_title("Swept solvers: settings × seeds that reach each target")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    return style.save_figure(fig, path)


def plot_profiles(
    results: Any,
    kind: str = "profile",
    x: str | None = None,
    fmt: str = "png",
    out_dir: str | Path | None = None,
) -> list[Path]:
    """Write the figure of ``kind`` into ``<results>/plots/`` and return the files.

    Parameters
    ----------
    results : path, Results or ResultsFrames
        A results directory or its loaded frames (``summary``; ``traces`` where the
        summary's target columns do not suffice, and always for data profiles).
    kind : {"profile", "data-profile", "ecdf", "sensitivity"}
        Performance profile, data profile, runtime ECDF, sweep success fraction.
    x : str, optional
        ``profile`` and ``ecdf``: ``iter`` (or ``iters``), ``cost`` (default) or
        ``time``. ``data-profile``: ``dim+1`` (default, alias ``calls``) or ``cost``.
        ``sensitivity``: ignored.
    fmt : {"png", "pdf", "svg"}
        File format.
    out_dir : path, optional
        Default ``<results dir>/plots``.

    Returns
    -------
    list of Path
        The file written (empty for ``sensitivity`` when nothing was swept).

    Raises
    ------
    ValueError
        Unknown ``kind``, ``x`` or ``fmt``; no directory to write to; missing traces.
    """
    if kind not in PROFILE_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(PROFILE_KINDS)}, got {kind!r}")
    style.check_format(fmt)
    frames = load_frames(results)
    out_dir = style.figure_dir(frames.path, out_dir, "plot_profiles")
    if kind == "sensitivity":
        written = plot_sensitivity_fraction(frames, out_dir / f"sensitivity_fraction.{fmt}")
        return [written] if written is not None else []
    if kind == "data-profile":
        unit = _UNIT_ALIASES.get(x or "dim+1")
        if unit is None:
            raise ValueError(f"x: must be 'dim+1' or 'cost' for data profiles, got {x!r}")
        suffix = "" if unit == "dim+1" else "_cost"
        return [plot_data_profile(frames, out_dir / f"data_profile{suffix}.{fmt}", unit)]
    metric = _METRIC_ALIASES.get(x or "cost")
    if metric is None:
        raise ValueError(f"x: must be one of iter, cost, time, got {x!r}")
    suffix = "" if metric == "cost" else f"_{metric}"
    if kind == "profile":
        path = out_dir / f"performance_profile{suffix}.{fmt}"
        return [plot_performance_profile(frames, path, metric)]
    return [plot_runtime_ecdf(frames, out_dir / f"ecdf{suffix}.{fmt}", metric)]
