"""The report of a results directory: its sections as data, written as Markdown,
HTML or LaTeX (``report.md``, ``report.html``, ``report.tex``; ``optbench report DIR``).

The report is the list of sections produced by the builders in
:data:`SECTION_BUILDERS`, in order: the summary of what was run, the ranking with its
intervals, the profiles and ECDF, the results of each problem (figures and
fixed-target tables), the statuses and the environment. Each builder takes a
:class:`ReportContext` and returns a :class:`~optbench.analysis.report_blocks.Section`
(text, tables as DataFrames, references to figures of the plot kinds), ``None`` to
add nothing, or a markdown string. The renderers named in
:data:`optbench.analysis.report_formats.REPORT_FORMATS` turn the sections into files.
Other analyses add sections by inserting a builder::

    SECTION_BUILDERS.insert(SECTION_BUILDERS.index(statuses_section), my_section)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from optbench.analysis import style
from optbench.analysis.formatting import format_spread
from optbench.analysis.frames import ResultsFrames, results_frames
from optbench.analysis.report_blocks import Block, FigureRef, Section, Table, Text
from optbench.analysis.statistics_tables import statistics_section
from optbench.analysis.tables import (
    BAD_STATUSES,
    MAX_SETTINGS,
    METRICS,
    OPTIONAL_COUNTS,
    STATUSES,
    TARGET_METRICS,
    aggregate,
    results_best_settings,
    setting_ranks,
    settings_left_out,
    summary_targets,
    target_column,
    target_text,
)
from optbench.results_format import REPORT_FILE, atomic_write_text, read_environment

#: Column titles of the final-state table, in order.
METRIC_TITLES = {
    "iters": "iters",
    "n_f": "n_f",
    "n_g": "n_g",
    "n_hvp": "n_hvp",
    "n_hess": "n_hess",
    "n_r": "n_r",
    "n_J": "n_J",
    "n_sample_g": "n_sample_g",
    "n_sample_hvp": "n_sample_hvp",
    "cost": "cost (grad. eval.)",
    "time": "time (s)",
    "f_gap_final": "final f − f*",
    "grad_norm_final": "final ‖∇f‖",
}
TARGET_TITLES = {
    "iters": "Iterations",
    "cost": "Cost (gradient evaluations)",
    "time": "Time (s)",
}
#: Longest message shown in the status summary (the rest is cut with "…").
MAX_MESSAGE_LENGTH = 160
#: Diverged, failed or error runs listed in the statuses section (the first ones in
#: summary order); the rest are counted.
MAX_BAD_RUNS = 100

LEGEND = (
    "Cells: median over seeds [min–max]; one number when all seeds agree. "
    "Fixed-target cells: a run that never reached ε counts as ∞; the median is shown "
    "only when more than half of the seeds reached ε, else “— (k/n)” with the number "
    "k that did. **Bold**: the best setting of a swept solver (least median cost to "
    "the tightest target reached by any of its settings)."
)


@dataclass
class ReportContext:
    """What section builders see: the results, their aggregate, targets and best settings.

    ``max_settings`` caps the settings of one family shown per problem (``None``: all);
    ``ranks`` is each aggregate row's rank among its family's settings on its problem
    (0: the best setting, :func:`~optbench.analysis.tables.setting_ranks`).
    """

    results: ResultsFrames
    targets: list[float]
    table: pd.DataFrame
    best: pd.DataFrame
    environment: Mapping[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    max_settings: int | None = MAX_SETTINGS
    ranks: np.ndarray | None = None

    @classmethod
    def from_results(cls, results: Any, max_settings: int | None = MAX_SETTINGS) -> ReportContext:
        """Aggregate ``results`` (a ``Results``, :class:`ResultsFrames` or summary)."""
        frames = results_frames(results)
        targets = summary_targets(frames.summary)
        table = aggregate(frames, targets)
        return cls(
            results=frames,
            targets=targets,
            table=table,
            best=results_best_settings(frames, targets),
            environment=getattr(results, "environment", None) or _read_environment(frames.path),
            max_settings=max_settings,
            ranks=setting_ranks(table, targets),
        )

    def problem_rows(self, problem: str) -> pd.DataFrame:
        """The aggregate's rows of ``problem`` (from one grouping of the aggregate)."""
        rows = self.extra.get("_problem_rows")
        if rows is None:
            rows = self.table.groupby("problem", sort=False).indices
            self.extra["_problem_rows"] = rows
        return self.table.iloc[rows.get(problem, [])]

    def best_labels(self, problem: str) -> set[str]:
        """The labels of the best setting of each swept family on ``problem``."""
        labels = self.extra.get("_best_labels")
        if labels is None:
            labels = {}
            for name, label in zip(self.best["problem"], self.best["solver_label"], strict=True):
                labels.setdefault(name, set()).add(label)
            self.extra["_best_labels"] = labels
        return labels.get(problem, set())


def _read_environment(path: Any) -> Mapping[str, Any] | None:
    if path is None:
        return None
    return read_environment(path)


def _config_name(context: ReportContext) -> str:
    config = context.results.config or {}
    if config.get("name"):
        return str(config["name"])
    return Path(context.results.path).name if context.results.path is not None else "results"


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_inline(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_inline(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def header_section(context: ReportContext) -> Section:
    """Title, what was run (counts, stop criteria, targets) and the environment."""
    summary = context.results.summary
    config = context.results.config or {}
    section = Section("summary", f"optbench report: {_config_name(context)}", level=1)
    lines: list[str] = []
    missing = missing_runs_line(context.results)
    if summary.empty:
        section.blocks.append(Text("\n".join(["No finished runs in these results.", *missing])))
        return section
    n_configs = len(context.table)  # one row per (problem, configuration)
    lines.append(
        f"- runs: {len(summary)} ({summary['problem'].nunique()} problems, "
        f"{summary['solver_label'].nunique()} solver configurations, "
        f"{n_configs} problem × configuration pairs, seeds "
        f"{_inline(sorted(pd.unique(summary['seed']).tolist()))})"
    )
    lines += missing
    if "stop" in config:
        lines.append(f"- stop: {_inline(config['stop'])}")
    targets = context.targets or config.get("targets")
    targets_text = ", ".join(target_text(eps) for eps in targets) if targets else "none"
    lines.append(f"- targets ε of f − f*: {targets_text}")
    if context.results.path is not None:
        lines.append(f"- results: `{context.results.path}`")
    lines.append(f"- environment: {environment_line(context.environment)}")
    section.blocks += [Text("\n".join(lines)), Text(LEGEND)]
    return section


def missing_runs_line(results: ResultsFrames) -> list[str]:
    """``["- **missing: k of n planned runs** …"]`` when planned runs (``runs``) have no
    summary row, else ``[]``."""
    if results.runs is None or "run_id" not in results.runs:
        return []
    finished = set(results.summary["run_id"]) if "run_id" in results.summary else set()
    planned = results.runs["run_id"]
    missing = int((~planned.isin(finished)).sum())
    if not missing:
        return []
    return [
        f"- **missing: {missing} of {len(planned)} planned runs** have no results "
        "(interrupted? `optbench run … --resume` runs them); the tables below leave them out"
    ]


def _field(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def environment_fields(environment: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The essentials of ``environment.json`` as (field, value) pairs.

    Python, optbench, numpy and scipy versions, CPU, the BLAS libraries with their
    thread counts, the BLAS threads given to each run, the git revision and the
    start time: whichever of them are recorded.
    """
    if not environment:
        return []
    parts: list[tuple[str, str]] = []
    python = _field(environment, "python", "version") or environment.get("python")
    if isinstance(python, str):
        parts.append(("Python", python))
    for name in ("optbench", "numpy", "scipy"):
        version = _field(environment, "packages", name) or environment.get(name)
        if isinstance(version, str):
            parts.append((name, version))
    cpu = environment.get("cpu")
    if isinstance(cpu, Mapping) and cpu.get("model"):
        parts.append(("CPU", f"{cpu['model']} ×{cpu.get('available') or cpu.get('count') or '?'}"))
    elif isinstance(cpu, str):
        parts.append(("CPU", cpu))
    blas = environment.get("blas")
    if isinstance(blas, list) and blas:
        libraries = [
            f"{lib.get('internal_api', '?')} {lib.get('version', '')} for "
            f"{lib.get('package', '?')} ({lib.get('num_threads', '?')} threads)"
            for lib in blas
            if isinstance(lib, Mapping)
        ]
        parts.append(("BLAS", ", ".join(libraries)))
    if environment.get("blas_threads_for_runs") is not None:
        parts.append(("BLAS threads per run", str(environment["blas_threads_for_runs"])))
    git = environment.get("git")
    revision = _field(git, "revision") if isinstance(git, Mapping) else git
    if isinstance(revision, str) and revision:
        dirty = " (uncommitted changes)" if _field(git, "dirty") else ""
        parts.append(("git", f"{revision[:10]}{dirty}"))
    if isinstance(environment.get("started"), str):
        parts.append(("started", environment["started"]))
    return parts


def environment_line(environment: Mapping[str, Any] | None) -> str:
    """:func:`environment_fields` on one line (``"not recorded"`` without a file)."""
    if not environment:
        return "not recorded"
    parts = environment_fields(environment)
    return " · ".join(f"{k} {v}" for k, v in parts) if parts else "recorded (no known fields)"


def _configuration_cell(row: Mapping[str, Any], best_labels: set[str]) -> str:
    label = str(row["solver_label"])
    return f"**{label}**" if label in best_labels else label


def shown_settings(context: ReportContext, problem: str) -> tuple[pd.DataFrame, str | None]:
    """The aggregate rows of ``problem`` the tables show, and the line saying what was
    left out (``None`` when every setting is shown).

    At most :attr:`ReportContext.max_settings` settings of each family: the best ones by
    the best-setting criterion, in their usual order.
    """
    table = context.problem_rows(problem)
    cap = context.max_settings
    if cap is None or context.ranks is None or len(table) <= cap:
        return table, None
    ranks = context.ranks[context.table.index.get_indexer(table.index)]
    shown = table[ranks < cap]
    if len(shown) == len(table):
        return table, None
    note = (
        f"Shown per solver: the {cap} best settings (least median cost to the tightest "
        f"target any of its settings reached, then final f − f*), {len(table) - len(shown)} "
        f"more left out ({settings_left_out(table['family'], cap)}); `summary.csv` has every run."
    )
    return shown, note


def problem_tables(context: ReportContext, problem: str) -> list[Block]:
    """The final-state table and the fixed-target tables of one problem (at most
    :attr:`ReportContext.max_settings` settings of each family, :func:`shown_settings`)."""
    everything = context.problem_rows(problem)
    table, note = shown_settings(context, problem)
    best_labels = context.best_labels(problem)
    records = table.to_dict("records")
    solvers = [_configuration_cell(row, best_labels) for row in records]
    final = {"solver": solvers, "status": table["status"].tolist()}
    for metric in METRICS:
        if metric in OPTIONAL_COUNTS and not everything[metric].fillna(0).any():
            continue  # no solver used residuals, Jacobians or minibatches here
        final[METRIC_TITLES[metric]] = [
            format_spread(row[metric], row[f"{metric}_min"], row[f"{metric}_max"])
            for row in records
        ]
    blocks: list[Block] = [] if note is None else [Text(note)]
    blocks.append(Table(pd.DataFrame(final), caption=f"Final state on {problem}", kind="final"))
    f_star_known = everything["f_gap_final"].notna().any()
    if not f_star_known:
        blocks.insert(0, Text("f* is unknown for this problem: no f − f* and no fixed targets."))
        return blocks
    for metric in TARGET_METRICS:
        cells: dict[str, list[str]] = {"solver": solvers}
        for eps in context.targets:
            column = target_column(metric, eps)
            cells[f"ε = {target_text(eps)}"] = [
                format_spread(
                    row[column],
                    row[f"{column}_min"],
                    row[f"{column}_max"],
                    f"{row[f'{column}_reached']}/{row['n_runs']}",
                )
                for row in records
            ]
        if context.targets:
            title = f"{TARGET_TITLES[metric]} to reach f − f* ≤ ε"
            blocks.append(Text(f"{title}{_logged_note(everything)}:"))
            blocks.append(
                Table(pd.DataFrame(cells), caption=f"{title} on {problem}", kind="fixed-target")
            )
    return blocks


def _logged_note(table: pd.DataFrame) -> str:
    """How targets are read where stochastic runs (sample gradients) are in ``table``."""
    if "n_sample_g" not in table or not table["n_sample_g"].fillna(0).any():
        return ""
    return (
        " (runs with sample gradients, n_sample_g > 0: the first logged point with "
        "f − f* ≤ ε; their f is evaluated at the log points only)"
    )


def problem_groups(results: ResultsFrames) -> dict[str, str]:
    """The suite of each problem, as the config listed it (``{suite: NAME}`` items).

    Problems named one by one, and any the suites no longer list, are in the group
    ``"problems"``.
    """
    config = results.config or {}
    groups: dict[str, str] = {}
    for item in config.get("problems") or []:
        suite = item.get("suite") if isinstance(item, Mapping) else None
        if not suite:
            continue
        try:
            from optbench.problems.suites import suite_entries

            entries = suite_entries(str(suite), item.get("max_dim"))
        except (ImportError, ValueError, KeyError):
            continue
        for entry in entries:
            groups.setdefault(entry.name, str(suite))
    problems = pd.unique(results.summary["problem"]) if "problem" in results.summary else []
    return {str(p): groups.get(str(p), "problems") for p in problems}


def problem_key(stem: str) -> str:
    """The anchor of a problem's section."""
    return f"problem-{stem}"


def problems_section(context: ReportContext) -> Section:
    """The convergence grid of the suite (when drawn), then one subsection per problem:
    its figures (convergence, step-size sensitivity) and tables, filed under its suite."""
    section = Section("problems", "Results by problem", [FigureRef("convergence")])
    problems = [str(p) for p in pd.unique(context.table["problem"])]
    stems = style.unique_stems(problems)
    groups = problem_groups(context.results)
    for problem in problems:
        blocks: list[Block] = [FigureRef("convergence", problem), FigureRef("step-size", problem)]
        section.subsections.append(
            Section(
                problem_key(stems[problem]),
                problem,
                blocks + problem_tables(context, problem),
                level=3,
                group=groups.get(problem, "problems"),
                collapsible=True,
            )
        )
    return section


def _message(text: Any) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # a traceback ends with the exception line; any other message starts with its gist
    first = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    if len(first) > MAX_MESSAGE_LENGTH:
        first = first[: MAX_MESSAGE_LENGTH - 1] + "…"
    return first


def statuses_section(context: ReportContext) -> Section | None:
    """Counts of every status, and each diverged, failed or error run with its message."""
    summary = context.results.summary
    if summary.empty:
        return None
    counts = summary["status"].value_counts()
    order = [s for s in STATUSES if s in counts] + sorted(set(counts.index) - set(STATUSES))
    section = Section("statuses", "Statuses", [Text(", ".join(f"{s}: {counts[s]}" for s in order))])
    bad = summary[summary["status"].isin(BAD_STATUSES)]
    if bad.empty:
        section.blocks.append(Text("No run diverged, failed or raised an error."))
        return section
    intro = "Runs that diverged, failed or raised an error:"
    if len(bad) > MAX_BAD_RUNS:
        intro = (
            f"Runs that diverged, failed or raised an error: the first {MAX_BAD_RUNS} of "
            f"{len(bad)} (`summary.csv` has them all, with their messages):"
        )
        bad = bad.iloc[:MAX_BAD_RUNS]
    rows = pd.DataFrame(
        {
            "problem": bad["problem"].astype(str),
            "solver": bad["solver_label"].astype(str),
            "seed": bad["seed"],
            "status": bad["status"].astype(str),
            "message": [_message(m) for m in bad["message"]],
            "run_id": bad["run_id"].astype(str),
        }
    )
    section.blocks += [
        Text(intro),
        Table(rows, caption="Runs that diverged, failed or raised an error", kind="statuses"),
    ]
    return section


def profiles_section(context: ReportContext) -> Section | None:
    """Performance-profile, ECDF and data-profile figures, and their tables."""
    from optbench.analysis.profile_tables import profile_section

    return profile_section(context.results, max_settings=context.max_settings)


def environment_section(context: ReportContext) -> Section:
    """The recorded environment, one row per field (versions, CPU, BLAS, git)."""
    fields = environment_fields(context.environment)
    if not fields:
        fields = [("environment", environment_line(context.environment))]
    frame = pd.DataFrame(fields, columns=["field", "value"])
    return Section(
        "environment",
        "Environment",
        [Table(frame, caption="Environment of the runs", solver_column=None, kind="environment")],
    )


#: What a section builder returns: a section, nothing, or markdown text.
SectionResult = Section | str | None

#: The report's sections, in order; insert builders here to extend the report.
SECTION_BUILDERS: list[Callable[[ReportContext], SectionResult]] = [
    header_section,
    statistics_section,
    profiles_section,
    problems_section,
    statuses_section,
    environment_section,
]


def build_sections(results: Any, max_settings: int | None = MAX_SETTINGS) -> list[Section | str]:
    """The report's sections for ``results`` (every builder of :data:`SECTION_BUILDERS`).

    Parameters
    ----------
    results : Results or ResultsFrames or DataFrame
        The results.
    max_settings : int or None
        Settings of one solver family shown in a table (per problem where the table is
        per problem): the best ones, with a line saying how many were left out
        (:data:`~optbench.analysis.tables.MAX_SETTINGS`; ``None``: all).

    Returns
    -------
    list of Section or str
        In order; a builder's markdown string is kept as it is.
    """
    context = ReportContext.from_results(results, max_settings)
    built = (builder(context) for builder in SECTION_BUILDERS)
    return [section for section in built if section]


def build_report(
    results: Any,
    max_settings: int | None = MAX_SETTINGS,
    *,
    sections: Sequence[Section | str] | None = None,
) -> str:
    """The markdown report of ``results``.

    Parameters
    ----------
    results : Results or ResultsFrames or DataFrame
        A loaded results directory (``optbench.load``), or its summary DataFrame.
    max_settings : int or None
        See :func:`build_sections`.
    sections : sequence of Section or str, optional
        The sections already built by :func:`build_sections` (then ``results`` and
        ``max_settings`` are not consulted).

    Returns
    -------
    str
        Markdown: every section of :data:`SECTION_BUILDERS`, separated by blank lines.
    """
    from optbench.analysis.report_markdown import render

    if sections is None:
        sections = build_sections(results, max_settings)
    return render(sections)


def write_reports(
    results: Any,
    formats: Sequence[str] | None = None,
    directory: str | Path | None = None,
    *,
    figures: Any = True,
    sections: Sequence[Section | str] | None = None,
    max_settings: int | None = MAX_SETTINGS,
) -> list[Path]:
    """Write the report in each of ``formats`` (default html and md) into ``directory``.

    Parameters
    ----------
    results : Results or ResultsFrames
        The results (with ``path`` unless ``directory`` is given).
    formats : sequence of {"md", "html", "latex"}, optional
        Default :data:`~optbench.analysis.report_formats.DEFAULT_FORMATS`.
    directory : path, optional
        Default: the results directory.
    figures : bool or FigureSet
        Draw the figures into formats that hold them (HTML); without, they are
        left out. A :class:`~optbench.analysis.plot_kinds.FigureSet` is used as it is
        (computed, and drawn, once for the plots and the report).
    sections : sequence of Section or str, optional
        The sections, when already built (:func:`build_sections`): a caller that also
        prints the report builds it once.
    max_settings : int or None
        See :func:`build_sections` (when ``sections`` is not given).

    Returns
    -------
    list of Path
        ``report.md``, ``report.html``, ``report.tex``: the files written, each
        written to a temporary name and renamed, never left half-written.
    """
    from optbench.analysis.report_formats import DEFAULT_FORMATS, renderer

    formats = list(formats or DEFAULT_FORMATS)
    renderers = [renderer(name) for name in formats]  # unknown formats fail before writing
    frames = results_frames(results)
    if directory is None:
        directory = frames.path
        if directory is None:
            raise ValueError("write_reports: results have no directory; pass directory=")
    if sections is None:
        sections = build_sections(frames, max_settings)
    shown = figures if not isinstance(figures, bool) else frames if figures else None
    return [
        atomic_write_text(Path(directory) / file_name, render(sections, shown))
        for file_name, render in renderers
    ]


def write_report(results: Any, path: str | Path | None = None) -> Path:
    """Write :func:`build_report` to ``path`` (default ``<results dir>/report.md``).

    The file is written atomically (:func:`optbench.results_format.atomic_write_text`).

    Raises
    ------
    ValueError
        If ``path`` is not given and ``results`` has no ``path``.
    """
    if path is None:
        base = results_frames(results).path
        if base is None:
            raise ValueError("write_report: results have no directory; pass path=")
        path = Path(base) / REPORT_FILE
    return atomic_write_text(path, build_report(results))


def print_report(
    results: Any,
    file: TextIO | None = None,
    *,
    sections: Sequence[Section | str] | None = None,
) -> None:
    """Print the markdown report to ``file`` (default standard output); ``sections``:
    the report already built (:func:`build_sections`), printed as it is."""
    print(build_report(results, sections=sections), end="", file=file or sys.stdout)
