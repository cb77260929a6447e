"""Colours, line styles, axis labels and file names shared by every optbench figure.

A solver *family* (see :func:`optbench.analysis.tables.solver_family`) keeps one
colour in every figure of every results directory: the families known from the
solver registry get fixed colours in :data:`FAMILY_ORDER`; any other family gets a
colour from :data:`FALLBACK_PALETTE` chosen by a stable hash of its name (SHA-256,
not Python's salted ``hash``), so it is the same in every process.

This module imports neither matplotlib nor pandas at import time.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optbench.results_format import PLOTS_DIR, atomic_write

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Families in registry order, each with its fixed colour. scipy baselines are
#: separate families (one per ``method``) and are drawn dashed.
FAMILY_COLORS: dict[str, str] = {
    "gd": "#1f77b4",
    "nesterov": "#17becf",
    "newton": "#d62728",
    "newton_cg": "#ff7f0e",
    "trust_ncg": "#9467bd",
    "scipy[method=L-BFGS-B]": "#2ca02c",
    "scipy[method=BFGS]": "#bcbd22",
    "scipy[method=CG]": "#7f7f7f",
    "scipy[method=Newton-CG]": "#8c564b",
    "scipy[method=trust-ncg]": "#e377c2",
    "scipy[method=trust-krylov]": "#393b79",
    "scipy[method=trust-exact]": "#637939",
}

#: Known families in display order (tables and legends list families in this order).
FAMILY_ORDER: tuple[str, ...] = tuple(FAMILY_COLORS)

#: Colours for families not in :data:`FAMILY_COLORS`, none of them used above.
FALLBACK_PALETTE: tuple[str, ...] = (
    "#843c39",
    "#5254a3",
    "#8ca252",
    "#bd9e39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
)

#: Axis titles for the x quantities of convergence plots (with units).
X_LABELS: dict[str, str] = {
    "iter": "iterations",
    "cost": "cost (gradient evaluations)",
    "time": "time (s)",
}

#: Axis title of suboptimality, and of the gradient norm used where f* is unknown.
F_GAP_LABEL = "f − f*"
GRAD_NORM_LABEL = "‖∇f‖ (f* unknown)"

#: Alpha and line width of the best (solid) and the other (faded) settings of a sweep.
BEST_ALPHA, BEST_WIDTH = 1.0, 1.8
FADED_ALPHA, FADED_WIDTH = 0.25, 0.8
#: Alpha of the min–max band across seeds.
BAND_ALPHA = 0.15

#: Figure dots per inch for raster formats, and the file formats figures are written in.
DPI = 130
#: Metadata that leaves the date out of SVG and PDF files.
_UNDATED: dict[str, dict[str, Any]] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}
#: zlib level of PNG files (1: fast, files about a third larger than at the default 6).
PNG_COMPRESS_LEVEL = 1
FORMATS = ("png", "pdf", "svg")
#: Lowest value drawn on a log axis unless the data go lower.
LOG_FLOOR = 1e-16

#: Longest file stem written; longer stems are cut and suffixed with a hash.
MAX_STEM_LENGTH = 100


def y_label(column: str) -> str:
    """Axis title of ``f_gap`` or, where f* is unknown, of ``grad_norm``."""
    return F_GAP_LABEL if column == "f_gap" else GRAD_NORM_LABEL


def family_rank(family: str) -> tuple[int, str]:
    """Sort key putting known families in registry order, then others by name."""
    if family in FAMILY_COLORS:
        return (FAMILY_ORDER.index(family), "")
    return (len(FAMILY_ORDER), family)


def family_color(family: str) -> str:
    """The colour of a solver family, the same in every figure and process.

    Parameters
    ----------
    family : str
        A family name such as ``"gd"`` or ``"scipy[method=L-BFGS-B]"``.

    Returns
    -------
    str
        A hex colour.
    """
    if family in FAMILY_COLORS:
        return FAMILY_COLORS[family]
    digest = hashlib.sha256(family.encode()).digest()
    return FALLBACK_PALETTE[digest[0] % len(FALLBACK_PALETTE)]


def family_linestyle(family: str) -> Literal["--", "-"]:
    """``"--"`` for scipy baselines, ``"-"`` for optbench's own solvers."""
    return "--" if family.startswith("scipy") else "-"


def safe_filename(label: str) -> str:
    """A file-system-safe stem derived from a problem or solver label.

    ``rosenbrock[dim=100,variant=chained]`` → ``rosenbrock_dim-100_variant-chained``.
    Only letters, digits, ``.``, ``-`` and ``_`` are kept; stems longer than
    :data:`MAX_STEM_LENGTH` are cut and end with 8 hex digits of the label's hash so
    that distinct long labels stay distinct.

    Parameters
    ----------
    label : str
        Any label.

    Returns
    -------
    str
        A non-empty stem without path separators.
    """
    stem = label.replace("=", "-")
    stem = re.sub(r"[^A-Za-z0-9.\-]+", "_", stem).strip("._-") or "unnamed"
    if len(stem) > MAX_STEM_LENGTH:
        digest = hashlib.sha256(label.encode()).hexdigest()[:8]
        stem = f"{stem[: MAX_STEM_LENGTH - 9]}_{digest}"
    return stem


def unique_stems(labels: list[str]) -> dict[str, str]:
    """Map each label to a safe stem, adding a hash where two labels collide.

    Parameters
    ----------
    labels : list of str
        Distinct labels (e.g. problem labels).

    Returns
    -------
    dict
        ``label -> stem``, all stems distinct.
    """
    stems = {label: safe_filename(label) for label in labels}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    for label, stem in stems.items():
        if counts[stem] > 1:
            stems[label] = f"{stem}_{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    return stems


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib :class:`~matplotlib.figure.Figure` not registered with pyplot.

    Figures built this way hold no global state (nothing to close, nothing leaks)
    and render with the Agg canvas whatever the interactive backend is.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) atomically and return the path.

    The figure is drawn to a temporary file next to ``path`` and renamed
    (:func:`optbench.results_format.atomic_write`), so an interrupted call never
    leaves a truncated image. PNG files are compressed at zlib level
    :data:`PNG_COMPRESS_LEVEL`: the default level took a fifth of the drawing time.
    SVG and PDF files carry no date, so that the same figure gives the same bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".")
    options: dict[str, Any] = {"format": fmt, "dpi": DPI}
    if fmt == "png":
        options["pil_kwargs"] = {"compress_level": PNG_COMPRESS_LEVEL}
    elif fmt in _UNDATED:
        options["metadata"] = _UNDATED[fmt]
    return atomic_write(path, lambda tmp: fig.savefig(tmp, **options))


def check_format(fmt: str, name: str = "format") -> str:
    """``fmt`` if it is one of :data:`FORMATS`; else ``ValueError`` starting ``<name>:``.

    The one check of a figure file format, for ``optbench plot --format``, ``optbench
    run|report --figure-format`` and their Python keywords (``name`` says which).
    """
    if fmt not in FORMATS:
        raise ValueError(f"{name}: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def figure_dir(results_path: Any, out_dir: str | Path | None, caller: str) -> Path:
    """Where ``caller`` writes its figures: ``out_dir``, by default ``<results_path>/plots``.

    Raises
    ------
    ValueError
        Neither ``out_dir`` nor a results directory is given.
    """
    if out_dir is None:
        if results_path is None:
            raise ValueError(f"{caller}: results have no directory; pass out_dir=")
        out_dir = Path(results_path) / PLOTS_DIR
    return Path(out_dir)


def figure_name(kind: str, stem: str, x: str, fmt: str) -> str:
    """File name of a figure: ``convergence_<stem>.png``, ``convergence_<stem>_cost.png``
    (the x quantity is appended unless it is ``iter``), ``sensitivity_<stem>.png``."""
    suffix = "" if x == "iter" or kind == "sensitivity" else f"_{x}"
    return f"{kind}_{stem}{suffix}.{fmt}" if stem else f"{kind}{suffix}.{fmt}"


def mark_top(ax: Axes, xs: Sequence[float], marker: str, color: str) -> None:
    """Markers at the top of ``ax`` (x in data units), e.g. × for diverged settings."""
    if len(xs):
        ax.scatter(
            xs,
            [0.96] * len(xs),
            marker=marker,
            s=60,
            color=color,
            facecolors="none" if marker == "^" else color,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            zorder=5,
        )


def plain_log_ticks(ax: Axes) -> None:
    """Tick labels like ``150`` instead of ``1.5 × 10^2`` on a log y axis of counts."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if low > 0 and high / low < 10 else NullFormatter())
