"""The one registry of plot kinds: what ``optbench plot --kind`` and the report can draw.

A :class:`PlotKind` names a function that computes figure *data*
(:class:`~optbench.analysis.figure_data.FigureData`: curves, bands, markers) from the
results frames; drawing is the renderer's job (:mod:`optbench.analysis.render_matplotlib`
for PNG, PDF and SVG files and the HTML report's inline SVG). The command line takes
its ``--kind`` choices from :data:`PLOT_KINDS`.

The figure data of one results directory is computed once, into a :class:`FigureSet`
(:func:`compute_figures`), and handed to every renderer: :func:`render_figures` writes
the files (in worker processes when there are many) and keeps each figure's SVG, which
the HTML report inlines without drawing again. In the default file format of ``optbench
run`` and ``optbench report`` (:data:`DEFAULT_FIGURE_FORMAT`, SVG) that is the file's
own text: each figure is drawn once. :func:`write_plots` is both steps.

How many figures (:data:`PLOT_LEVELS`): ``"none"``; ``"summary"``, the suite-level
figures only (profiles, data profiles, ECDF, the sweep fractions and one grid of
convergence panels): a fixed number of figures whatever the number of problems, runs
or sweep settings; ``"all"``, also a convergence and a step-size figure per problem.

This module (and :mod:`optbench.analysis.style`, whose figure formats it offers)
imports neither numpy, pandas nor matplotlib (the builders are named by
``"module:function"`` and imported on use), so ``optbench --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.analysis.style import check_format

if TYPE_CHECKING:
    from optbench.analysis.figure_data import FigureData
    from optbench.analysis.frames import ResultsFrames

#: The pseudo-kind "every kind".
ALL = "all"
#: How many figures ``optbench run`` draws (``--plots``): none, the suite-level ones, all.
PLOT_LEVELS = ("none", "summary", "all")
#: The default of ``--plots``: the summary figures cost less than the runs of the quick
#: start (README, "Figures"), the per-problem ones grow with the number of problems.
DEFAULT_PLOTS = "summary"
#: The file format of the figures of ``optbench run`` and ``optbench report``
#: (``--figure-format``): SVG is drawn once for both ``plots/`` and the HTML report,
#: which inlines it; PNG and PDF files cost a second drawing (:func:`render_figures`).
DEFAULT_FIGURE_FORMAT = "svg"
#: Render in worker processes when there are more figures than this (and jobs > 1).
PARALLEL_MIN_FIGURES = 8


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
    summary : str or None
        ``"module:function"`` of the kind's figures at ``--plots summary`` (same
        signature as ``builder``); ``""`` for the builder itself, ``None`` when the
        kind has no summary figure.
    """

    name: str
    description: str
    builder: str
    x_help: str = ""
    per_problem: bool = False
    summary: str | None = ""

    def figures(
        self, frames: ResultsFrames, x: str | None = None, level: str = ALL
    ) -> list[FigureData]:
        """The figure data of this kind for ``frames`` at ``level`` (``"summary"`` or
        ``"all"``)."""
        target = self.builder
        if level == "summary":
            if self.summary is None:
                return []
            target = self.summary or self.builder
        module, _, function = target.partition(":")
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
        summary="optbench.analysis.plots:convergence_summary_figures",
    ),
    PlotKind(
        "step-size",
        "final accuracy and iterations to target against a swept step size, per problem",
        "optbench.analysis.sensitivity:step_size_figures",
        per_problem=True,
        summary=None,
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


def check_plots(plots: str) -> str:
    """``plots`` if it is one of :data:`PLOT_LEVELS`, else ``ValueError`` naming them."""
    if plots not in PLOT_LEVELS:
        raise ValueError(f"plots: must be one of {', '.join(PLOT_LEVELS)}, got {plots!r}")
    return plots


@dataclass
class FigureSet:
    """The figure data of one results directory, computed once for every renderer.

    Attributes
    ----------
    kinds : dict
        Kind name -> its figures, or the one-line reason it has none (e.g. no traces).
    level : str
        ``"summary"`` or ``"all"`` (see :data:`PLOT_LEVELS`).
    svg : dict
        Figure stem -> the ``<svg>`` drawn by :func:`render_figures` (ids not yet
        prefixed), so that the HTML report does not draw a figure again.
    """

    kinds: dict[str, list[FigureData] | str]
    level: str = ALL
    svg: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[FigureData]:
        """Every figure, kind by kind in registry order."""
        return [f for found in self.kinds.values() if not isinstance(found, str) for f in found]

    def of(self, kind: str, problem: str | None = None) -> list[FigureData] | str:
        """The figures of ``kind`` for ``problem`` (``None``: the whole suite's, such as
        a profile or the convergence grid), or why there are none."""
        found = self.kinds.get(kind, [])
        if isinstance(found, str):
            return found
        return [f for f in found if f.problem == problem]


def compute_figures(
    results: Any,
    kind: str = ALL,
    x: str | None = None,
    *,
    level: str = ALL,
    strict: bool = True,
) -> FigureSet:
    """The figure data of ``kind`` (all kinds by default) for ``results``, once.

    Parameters
    ----------
    results : path, Results or ResultsFrames
        The results.
    kind : str
        A key of :data:`PLOT_KINDS` or ``"all"``.
    x : str, optional
        The x quantity; with ``kind="all"`` it goes to the per-problem kinds only, the
        others use their default axes.
    level : {"summary", "all"}
        Which figures of each kind (see :data:`PLOT_LEVELS`).
    strict : bool
        Raise the ``ValueError`` of a kind that cannot be drawn (missing traces, an
        unknown ``x``); otherwise keep its message in :attr:`FigureSet.kinds`.
    """
    from optbench.analysis.frames import load_frames

    if level not in ("summary", ALL):
        raise ValueError(f"level: must be 'summary' or 'all', got {level!r}")
    frames = load_frames(results)
    kinds: dict[str, list[FigureData] | str] = {}
    for plot_kind in check_kind(kind):
        try:
            kinds[plot_kind.name] = plot_kind.figures(
                frames, x if kind != ALL or plot_kind.per_problem else None, level
            )
        except (KeyError, ValueError) as error:
            if strict:
                raise
            kinds[plot_kind.name] = f"{plot_kind.name}: not available ({error})"
    return FigureSet(kinds, level)


def figures(results: Any, kind: str = ALL, x: str | None = None) -> list[FigureData]:
    """The figure data of ``kind`` (all kinds by default) for ``results``.

    With ``kind="all"`` the ``x`` is passed to the convergence kind only; the others use
    their default axes.
    """
    return compute_figures(results, kind, x).all()


def _render_chunk(
    chunk: list[tuple[int, FigureData, str]], svg: bool
) -> list[tuple[int, Path, str | None]]:
    """Draw each ``(index, figure, path)`` of ``chunk``: its file, and its SVG if asked."""
    from optbench.analysis import render_matplotlib

    return [
        (index, *render_matplotlib.save_all(figure, Path(path), svg=svg))
        for index, figure, path in chunk
    ]


def render_figures(
    figure_set: FigureSet,
    out_dir: str | Path,
    fmt: str = "png",
    *,
    svg: bool = False,
    jobs: int = 1,
) -> list[Path]:
    """Draw every figure of ``figure_set`` into ``out_dir`` as ``<stem>.<fmt>``.

    With more than :data:`PARALLEL_MIN_FIGURES` figures and ``jobs > 1`` the figures
    are drawn in ``jobs`` joblib worker processes (about the same number of figures
    each, the workers of the runs reused when they are still up), else here; every
    file is the same either way, written atomically.

    Parameters
    ----------
    figure_set : FigureSet
        What to draw (:func:`compute_figures`).
    out_dir : path
        Where to write.
    fmt : {"png", "pdf", "svg"}
        File format.
    svg : bool
        Also keep each figure as SVG in ``figure_set.svg`` (for the HTML report): with
        ``fmt="svg"`` the ``<svg>`` element of the file itself (one drawing per figure),
        else the same matplotlib figure drawn again as SVG.
    jobs : int
        Worker processes allowed.

    Returns
    -------
    list of Path
        The files written, in the order of :meth:`FigureSet.all`.
    """
    check_format(fmt)
    directory = Path(out_dir)
    drawn = figure_set.all()
    tasks = [(i, f, str(directory / f"{f.stem}.{fmt}")) for i, f in enumerate(drawn)]
    if jobs > 1 and len(tasks) > PARALLEL_MIN_FIGURES:
        from joblib import Parallel, delayed

        workers = min(jobs, len(tasks))
        chunks = [tasks[k::workers] for k in range(workers)]
        done = Parallel(n_jobs=workers)(delayed(_render_chunk)(c, svg) for c in chunks)
        results = [item for part in done for item in part]
    else:
        results = _render_chunk(tasks, svg)
    paths: list[Path | None] = [None] * len(drawn)
    for index, path, markup in results:
        paths[index] = path
        if markup is not None:
            figure_set.svg[drawn[index].stem] = markup
    return [p for p in paths if p is not None]


def write_plots(
    results: Any,
    kind: str = ALL,
    x: str | None = None,
    fmt: str = "png",
    out_dir: str | Path | None = None,
    *,
    level: str = ALL,
    jobs: int = 1,
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
    level : {"summary", "all"}
        Which figures (see :data:`PLOT_LEVELS`).
    jobs : int
        Worker processes for drawing (see :func:`render_figures`).

    Returns
    -------
    list of Path
        The files written, ``<stem>.<fmt>`` each.

    Raises
    ------
    ValueError
        Unknown ``kind``, ``x`` or ``fmt``; no directory to write to; missing traces.
    """
    from optbench.analysis import style
    from optbench.analysis.frames import load_frames

    check_kind(kind)
    check_format(fmt)
    frames = load_frames(results)
    directory = style.figure_dir(frames.path, out_dir, "write_plots")
    return render_figures(compute_figures(frames, kind, x, level=level), directory, fmt, jobs=jobs)
