"""The one registry of plot kinds: what ``optbench plot --kind`` and the report can draw.

A :class:`PlotKind` names a function that computes figure *data*
(:class:`~optbench.analysis.figure_data.FigureData`: curves, bands, markers) from the
results frames; drawing is the renderer's job (:mod:`optbench.analysis.render_matplotlib`
for PNG, PDF and SVG files and the HTML report's inline SVG). The command line takes
its ``--kind`` choices from :data:`PLOT_KINDS`, :func:`write_plots` writes the files of
one kind or of all, and the HTML report inlines the same figures.

This module (and :mod:`optbench.analysis.style`, whose figure formats it offers)
imports neither numpy, pandas nor matplotlib (the builders are named by
``"module:function"`` and imported on use), so ``optbench --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.analysis.style import check_format

if TYPE_CHECKING:
    from optbench.analysis.figure_data import FigureData
    from optbench.analysis.frames import ResultsFrames

#: The pseudo-kind "every kind".
ALL = "all"


@dataclass(frozen=True)
class PlotKind:
    """A registered plot kind.

    Attributes
    ----------
    name : str
        The ``--kind`` value.
    description : str
        One line for ``--help``.
    builder : str
        ``"module:function"``; the function takes ``(frames, x)`` (``x`` None for the
        default) and returns a list of ``FigureData``.
    x_help : str
        The accepted ``--x`` values, for ``--help``.
    per_problem : bool
        Whether the kind draws one figure per problem (the report puts those in the
        problem's section) rather than one for the whole suite.
    """

    name: str
    description: str
    builder: str
    x_help: str = ""
    per_problem: bool = False

    def figures(self, frames: ResultsFrames, x: str | None = None) -> list[FigureData]:
        """The figure data of this kind for ``frames``."""
        module, _, function = self.builder.partition(":")
        build: Callable[..., list[FigureData]] = getattr(importlib.import_module(module), function)
        return build(frames, x)


#: Plot kinds by name, in the order ``all`` draws them and ``--help`` lists them.
PLOT_KINDS: dict[str, PlotKind] = {}


def register_plot_kind(kind: PlotKind) -> PlotKind:
    """Add ``kind`` to :data:`PLOT_KINDS` (a name may be registered once)."""
    if kind.name in PLOT_KINDS or kind.name == ALL:
        raise ValueError(f"plot kind {kind.name!r} is already registered")
    PLOT_KINDS[kind.name] = kind
    return kind


for _kind in (
    PlotKind(
        "convergence",
        "f − f* (or ‖∇f‖) per problem, median and 25–75 % band over seeds; a grid of "
        "all problems for small suites",
        "optbench.analysis.plots:convergence_figures",
        "iter (default), cost or time",
        per_problem=True,
    ),
    PlotKind(
        "step-size",
        "final accuracy and iterations to target against a swept step size, per problem",
        "optbench.analysis.sensitivity:step_size_figures",
        per_problem=True,
    ),
    PlotKind(
        "profile",
        "performance profiles (Dolan & Moré), one panel per target, bootstrap bands",
        "optbench.analysis.profile_plots:profile_figures",
        "iter, cost (default) or time",
    ),
    PlotKind(
        "data-profile",
        "data profiles (Moré & Wild), one panel per tolerance, bootstrap bands",
        "optbench.analysis.profile_plots:data_profile_figures",
        "dim+1 (default) or cost",
    ),
    PlotKind(
        "ecdf",
        "runtime ECDF over (problem, seed, target) pairs, bootstrap band",
        "optbench.analysis.profile_plots:ecdf_figures",
        "iter, cost (default) or time",
    ),
    PlotKind(
        "sensitivity",
        "fraction of each sweep's settings that reach each target",
        "optbench.analysis.profile_plots:sensitivity_fraction_figures",
    ),
):
    register_plot_kind(_kind)


def kind_choices() -> tuple[str, ...]:
    """Every registered kind and ``"all"``: the ``--kind`` choices."""
    return (*PLOT_KINDS, ALL)


def check_kind(kind: str) -> list[PlotKind]:
    """The kinds ``kind`` stands for (every one for ``"all"``); ``ValueError`` if unknown."""
    if kind == ALL:
        return list(PLOT_KINDS.values())
    if kind not in PLOT_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(kind_choices())}, got {kind!r}")
    return [PLOT_KINDS[kind]]


def figures(results: Any, kind: str = ALL, x: str | None = None) -> list[FigureData]:
    """The figure data of ``kind`` (all kinds by default) for ``results``.

    With ``kind="all"`` the ``x`` is passed to the convergence kind only; the others use
    their default axes.
    """
    from optbench.analysis.frames import load_frames

    frames = load_frames(results)
    found: list[FigureData] = []
    for plot_kind in check_kind(kind):
        found += plot_kind.figures(frames, x if kind != ALL or plot_kind.per_problem else None)
    return found


def write_plots(
    results: Any,
    kind: str = ALL,
    x: str | None = None,
    fmt: str = "png",
    out_dir: str | Path | None = None,
) -> list[Path]:
    """Draw the figures of ``kind`` into ``out_dir`` (default ``<results>/plots``).

    Parameters
    ----------
    results : path, Results or ResultsFrames
        The results.
    kind : str
        A key of :data:`PLOT_KINDS` or ``"all"``.
    x : str, optional
        The x quantity (see each kind's ``x_help``).
    fmt : {"png", "pdf", "svg"}
        File format.
    out_dir : path, optional
        Where to write.

    Returns
    -------
    list of Path
        The files written, ``<stem>.<fmt>`` each.

    Raises
    ------
    ValueError
        Unknown ``kind``, ``x`` or ``fmt``; no directory to write to; missing traces.
    """
    from optbench.analysis import render_matplotlib, style
    from optbench.analysis.frames import load_frames

    check_kind(kind)
    check_format(fmt)
    frames = load_frames(results)
    directory = style.figure_dir(frames.path, out_dir, "write_plots")
    return [
        render_matplotlib.save(figure, directory / f"{figure.stem}.{fmt}")
        for figure in figures(frames, kind, x)
    ]
