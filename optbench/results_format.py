"""The results format: one home for the layout, columns, readers and atomic writes.

A leaf module (the standard library and :mod:`optbench.registry`'s message helper at
import; pandas, pyarrow and yaml imported by
the functions that need them): :mod:`optbench.run` writes results with it and
:mod:`optbench.analysis` reads them with it, and neither spells a file name or a
column list of its own.

Layout of a results directory ``results/<name>/``::

    config.yaml         the resolved config                        (CONFIG_FILE)
    runs.csv            one row per planned run, its parameters     (RUNS_FILE)
    environment.json    versions, CPU, BLAS and threads, git rev    (ENVIRONMENT_FILE)
    runs/<batch>.parquet, runs/<batch>.jsonl                        (RUNS_DIR)
                        a batch of finished runs (one worker task, or about a
                        second of runs): their traces with their run_id, then their
                        summary rows, one JSON object a line (BATCH_SUMMARY_SUFFIX)
    runs/<run_id>.parquet, runs/<run_id>.json
                        one finished run, as results written before batches hold
                        them (read, never written: RUN_SUMMARY_SUFFIX)
    summary.csv         merged summary rows, spec order             (SUMMARY_FILE)
    traces.parquet      merged trace rows, spec order               (TRACES_FILE)
    plots/, report.*    written by optbench.analysis   (PLOTS_DIR, REPORT_FILE, REPORT_HTML_FILE,
                                                                  REPORT_LATEX_FILE)

Summary columns, in order: :data:`SUMMARY_KEY_COLUMNS`, the solver's parameters (a
parameter whose name is a summary column is written ``param_<name>``, so the
``step_size`` hyper-parameter of ``gd`` is ``param_step_size``),
:data:`SUMMARY_RESULT_COLUMNS`, then one column per target metric and level
(:func:`target_column`). Every summary is read by :func:`read_summary`, with one
dtype rule, and summaries written by older versions are brought to this format by
:func:`upgrade_summary`.

Every file is written to a temporary file in its directory and renamed over its
target (:func:`atomic_write`): a crash or Ctrl-C never leaves a half-written file.
Files are not fsync'ed: a power loss may lose the newest ones. A batch's trace is
written before its summary rows, so a batch whose summary file exists is complete
(:func:`run_files` lists those; :func:`write_run_batch` writes one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.registry import unknown_name_message

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# --- layout ----------------------------------------------------------------------------

CONFIG_FILE = "config.yaml"
RUNS_FILE = "runs.csv"
ENVIRONMENT_FILE = "environment.json"
SUMMARY_FILE = "summary.csv"
TRACES_FILE = "traces.parquet"
REPORT_FILE = "report.md"
REPORT_HTML_FILE = "report.html"
REPORT_LATEX_FILE = "report.tex"
RUNS_DIR = "runs"
PLOTS_DIR = "plots"
#: Files and directories that make a directory a results directory (removed by ``--force``).
RESULT_FILES = (CONFIG_FILE, RUNS_FILE, ENVIRONMENT_FILE, SUMMARY_FILE, TRACES_FILE)
RESULT_DIRS = (RUNS_DIR, PLOTS_DIR)
#: Files the analysis writes into a results directory.
GENERATED_FILES = (REPORT_FILE, REPORT_HTML_FILE, REPORT_LATEX_FILE)
#: The files of a baseline (no traces, no plots): what ``compare --update`` copies.
BASELINE_FILES = (SUMMARY_FILE, RUNS_FILE, CONFIG_FILE, ENVIRONMENT_FILE)
#: Suffixes of a batch's files in :data:`RUNS_DIR`: its traces, its summary rows (JSON lines).
BATCH_TRACE_SUFFIX = ".parquet"
BATCH_SUMMARY_SUFFIX = ".jsonl"
#: Suffixes of one run's files in :data:`RUNS_DIR` (the layout before batches).
RUN_TRACE_SUFFIX = ".parquet"
RUN_SUMMARY_SUFFIX = ".json"
#: Prefix of batch names (a run id is 12 hex digits, so the two never clash).
BATCH_PREFIX = "batch-"
#: Suffix added to the files of a damaged run (they are kept, set aside).
DAMAGED_SUFFIX = ".damaged"
#: Prefix of the temporary files of :func:`atomic_write`.
TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class RunFile:
    """A finished unit of :data:`RUNS_DIR`: a batch of runs, or one run of the older layout.

    Attributes
    ----------
    name : str
        The files' stem: ``batch-…`` (:data:`BATCH_PREFIX`) or a run id.
    summary : Path
        Its summary rows: JSON lines for a batch, one JSON object for a run.
    trace : Path
        Its trace rows (Parquet, with their ``run_id``).
    """

    name: str
    summary: Path
    trace: Path

    @property
    def batched(self) -> bool:
        """Whether this is a batch (else one run written before batches)."""
        return self.summary.suffix == BATCH_SUMMARY_SUFFIX


def run_files(runs_dir: Path) -> list[RunFile]:
    """The complete batches and runs in ``runs_dir``, sorted by name.

    A unit is complete when its summary file exists, and its trace (written first)
    with it; temporary files and files set aside (:data:`DAMAGED_SUFFIX`) are not units.
    """
    if not runs_dir.is_dir():
        return []
    names = {entry.name for entry in os.scandir(runs_dir)}
    found = []
    for name in sorted(names):
        stem, suffix = os.path.splitext(name)
        if name.startswith(TEMP_PREFIX) or suffix not in (BATCH_SUMMARY_SUFFIX, RUN_SUMMARY_SUFFIX):
            continue
        trace = stem + (BATCH_TRACE_SUFFIX if suffix == BATCH_SUMMARY_SUFFIX else RUN_TRACE_SUFFIX)
        if trace in names:
            found.append(RunFile(stem, runs_dir / name, runs_dir / trace))
    return found


def orphan_traces(runs_dir: Path) -> list[Path]:
    """Trace files of ``runs_dir`` without their summary file: a batch (or run) whose
    writing was cut between its two files, which holds no finished run."""
    if not runs_dir.is_dir():
        return []
    names = {entry.name for entry in os.scandir(runs_dir)}
    summaries = (BATCH_SUMMARY_SUFFIX, RUN_SUMMARY_SUFFIX)
    return [
        runs_dir / name
        for name in sorted(names)
        if name.endswith(BATCH_TRACE_SUFFIX)
        and not name.startswith(TEMP_PREFIX)
        and not any(name[: -len(BATCH_TRACE_SUFFIX)] + suffix in names for suffix in summaries)
    ]


def not_results_dir_message(path: Path | str) -> str:
    """The one-line refusal for a directory that holds no results."""
    return f"{path}: not an optbench results directory (no {SUMMARY_FILE} / {RUNS_DIR}/)"


def is_results_dir(path: Path | str) -> bool:
    """Whether ``path`` holds merged results or per-run results with their ``runs.csv``."""
    path = Path(path)
    return (path / SUMMARY_FILE).is_file() or (
        (path / RUNS_DIR).is_dir() and (path / RUNS_FILE).is_file()
    )


# --- columns ---------------------------------------------------------------------------

#: Trace columns, in order, as a run produces them (``run_id`` is added when stored).
TRACE_COLUMNS = (
    "problem",
    "optimizer",
    "iter",
    "time",
    "f",
    "f_gap",
    "grad_norm",
    "n_f",
    "n_g",
    "n_hvp",
    "n_hess",
    "n_r",
    "n_J",
    "n_sample_g",
    "n_sample_hvp",
    "cost",
    "step_size",
)
#: Trace columns as stored: ``run_id`` then :data:`TRACE_COLUMNS`.
STORED_TRACE_COLUMNS = ("run_id", *TRACE_COLUMNS)
#: Oracle call counts, in the order of the tables: full evaluations, then sample
#: gradients and sample HVPs of finite sums (n of them cost as much as one gradient).
COUNT_COLUMNS = ("n_f", "n_g", "n_hvp", "n_hess", "n_r", "n_J", "n_sample_g", "n_sample_hvp")
#: Integer trace columns (the rest after ``run_id, problem, optimizer`` are floats).
TRACE_INTEGER_COLUMNS = ("iter", *COUNT_COLUMNS)

#: Leading summary columns; the solver's parameters follow them.
SUMMARY_KEY_COLUMNS = ("run_id", "problem", "optimizer", "solver_label")
#: Summary columns after the solver's parameters; the target columns follow them.
#:
#: ``time`` is the median over the run's repeats (``repeats``, the config's ``repeat``),
#: ``time_low``, ``time_high`` its bootstrap interval (NaN for one repeat) and
#: ``repeat_times`` every repeat's time (:func:`format_times`, empty for one repeat);
#: ``step_size`` is the step the solver used (:func:`used_step_size`).
SUMMARY_RESULT_COLUMNS = (
    "seed",
    "status",
    "message",
    "iters",
    *COUNT_COLUMNS,
    "cost",
    "time",
    "time_low",
    "time_high",
    "repeats",
    "repeat_times",
    "compile_time",
    "step_size",
    "f_final",
    "f_gap_final",
    "grad_norm_final",
    "dim",
    "f0",
    "warnings",
)
#: Count columns added after the first results format: a results directory written
#: before them has none, which reads as zero calls.
LATER_COUNT_COLUMNS = ("n_r", "n_J", "n_sample_g", "n_sample_hvp")
#: Summary columns added later, with the value a run written before them reads as.
#: ``compile_time``: seconds compiling the problem's oracles (0 for native families);
#: one repeat (no interval); the step size is :func:`upgrade_summary`'s business.
LATER_SUMMARY_COLUMNS: dict[str, int | float] = {
    "n_r": 0,
    "n_J": 0,
    "n_sample_g": 0,
    "n_sample_hvp": 0,
    "compile_time": 0.0,
    "time_low": float("nan"),
    "time_high": float("nan"),
    "repeats": 1,
}
#: Text columns added later (read as empty in older summaries).
LATER_TEXT_COLUMNS = ("repeat_times",)
#: A column every summary of this format has: its absence marks an older summary.
FORMAT_MARKER_COLUMN = "repeats"
#: Summary columns holding text (possibly empty) rather than numbers.
TEXT_SUMMARY_COLUMNS = (
    "run_id",
    "problem",
    "optimizer",
    "solver_label",
    "status",
    "message",
    "warnings",
    "repeat_times",
)
#: Columns an analysis adds to summary rows (never parameters).
DERIVED_SUMMARY_COLUMNS = ("family",)
#: Every summary column that is not a solver parameter or a target column.
NON_PARAMETER_COLUMNS = frozenset(
    (*SUMMARY_KEY_COLUMNS, *SUMMARY_RESULT_COLUMNS, *DERIVED_SUMMARY_COLUMNS)
)
#: Statuses from best to worst.
STATUSES = ("converged", "max_iter", "max_cost", "max_time", "diverged", "failed", "error")
#: Prefix of the ``warnings`` entry of a run whose repeats disagreed on a count.
REPEAT_MISMATCH = "RepeatMismatch"

#: Metrics recorded at each target level ε, see :func:`target_column`.
TARGET_METRICS = ("iters", "cost", "time")
_TARGET_COLUMN = re.compile(rf"^({'|'.join(TARGET_METRICS)})_to_(.+)$")


@cache
def target_text(eps: float) -> str:
    """A target level as the column names write it: ``1e-04``, ``1.5e-03``.

    The fewest mantissa digits that give ``eps`` back, so distinct levels never share
    a name (remembered per level: every run's summary row names its targets).
    """
    eps = float(eps)
    for digits in range(17):
        text = f"{eps:.{digits}e}"
        if float(text) == eps:
            return text
    return f"{eps:.16e}"  # pragma: no cover - 17 significant digits always round-trip


def target_column(metric: str, eps: float) -> str:
    """Summary column of ``metric`` at target level ``eps``.

    ``target_column("cost", 1e-4) == "cost_to_1e-04"``,
    ``target_column("iters", 1.5e-3) == "iters_to_1.5e-03"`` (:func:`target_text`).

    Parameters
    ----------
    metric : {"iters", "cost", "time"}
        What is recorded at the first iterate with ``f - f* <= eps``.
    eps : float
        The target level of ``f - f*``.

    Raises
    ------
    ValueError
        An unknown ``metric``.
    """
    if metric not in TARGET_METRICS:
        raise ValueError(unknown_name_message("target metric", metric, TARGET_METRICS))
    return f"{metric}_to_{target_text(eps)}"


def parse_target_column(name: str) -> tuple[str, float] | None:
    """``(metric, eps)`` of a target column such as ``cost_to_1e-04``, else ``None``."""
    match = _TARGET_COLUMN.match(str(name))
    if match is None:
        return None
    try:
        return match.group(1), float(match.group(2))
    except ValueError:
        return None


def is_target_column(name: str) -> bool:
    """Whether ``name`` is a fixed-target column such as ``cost_to_1e-04``."""
    return parse_target_column(name) is not None


def summary_targets(columns: Iterable[str]) -> list[float]:
    """The target levels ε with an ``iters_to_<eps>`` column, loosest first.

    ``columns`` is a summary's columns (a DataFrame iterates over them).
    """
    found = {parsed[1] for c in columns if (parsed := parse_target_column(c))}
    found = {eps for eps in found if f"iters_to_{target_text(eps)}" in set(map(str, columns))}
    return sorted(found, reverse=True)


def parameter_column_name(name: str) -> str:
    """The summary column of the solver parameter ``name``: ``param_<name>`` when the
    name is a summary column or a target column, else ``name``."""
    reserved = name in SUMMARY_KEY_COLUMNS or name in SUMMARY_RESULT_COLUMNS
    return f"param_{name}" if reserved or is_target_column(name) else name


def parameter_columns(columns: Iterable[str]) -> list[str]:
    """The columns of ``columns`` holding solver or problem parameters, in order."""
    return [str(c) for c in columns if c not in NON_PARAMETER_COLUMNS and not is_target_column(c)]


def summary_column_order(columns: Iterable[str]) -> list[str]:
    """Summary columns in their order: keys, solver parameters, results, targets.

    Parameters and targets keep their order of first appearance in ``columns``. The
    :data:`LATER_SUMMARY_COLUMNS` appear only when ``columns`` has them, so the runs
    of a results directory written before them merge into the summary they had.
    """
    columns = list(dict.fromkeys(columns))
    fixed = {*SUMMARY_KEY_COLUMNS, *SUMMARY_RESULT_COLUMNS}
    params = [c for c in columns if c not in fixed and not is_target_column(c)]
    targets = [c for c in columns if c not in fixed and is_target_column(c)]
    optional = {*LATER_SUMMARY_COLUMNS, *LATER_TEXT_COLUMNS, "step_size"}
    results = [c for c in SUMMARY_RESULT_COLUMNS if c not in optional or c in columns]
    return [*SUMMARY_KEY_COLUMNS, *params, *results, *targets]


def trace_schema() -> pa.Schema:
    """Arrow schema of the stored trace columns."""
    import pyarrow as pa

    text = {"run_id", "problem", "optimizer"}
    return pa.schema(
        [
            (
                name,
                pa.string()
                if name in text
                else pa.int64()
                if name in TRACE_INTEGER_COLUMNS
                else pa.float64(),
            )
            for name in STORED_TRACE_COLUMNS
        ]
    )


def used_step_size(steps: Iterable[float | None]) -> float:
    """The ``step_size`` summary column: the median step a run took.

    ``steps`` are the step lengths of a run's logged iterations (the trace's
    ``step_size``); the median is over the finite ones > 0 (iteration 0 has none; a
    rejected trust-region step is 0). A fixed step (a number, or ``"c/L"`` resolved
    to :math:`c/L`) is its own median; for a line search it is the median accepted
    step, for a trust-region method the median step length. NaN when there is none.
    """
    import math
    import statistics

    taken = [float(s) for s in steps if s is not None and math.isfinite(s) and s > 0]
    return float(statistics.median(taken)) if taken else math.nan


def format_times(times: Iterable[float]) -> str:
    """The ``repeat_times`` cell: every repeat's time, space-separated (``repr`` digits)."""
    return " ".join(repr(float(t)) for t in times)


def parse_times(cell: Any) -> list[float]:
    """The times of a ``repeat_times`` cell (empty for a run of one repeat)."""
    text = "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell)
    return [float(t) for t in text.split()]


# --- reading ---------------------------------------------------------------------------


def upgrade_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Bring summary rows written by an older version to this format (in place, returned).

    Rows without :data:`FORMAT_MARKER_COLUMN` predate the ``step_size`` result column:
    their ``step_size`` is the solver's hyper-parameter, which moves to
    ``param_step_size``; the step used is then known only where that parameter is a
    number (a fixed step). Steps given as ``"c/L"`` or rules (``"armijo"``) have no
    step size in such rows (NaN): re-run those results to get it. The
    :data:`LATER_SUMMARY_COLUMNS` a row lacks read as their values there.
    """
    import pandas as pd

    if FORMAT_MARKER_COLUMN in summary:
        old = summary[FORMAT_MARKER_COLUMN].isna()
    else:
        old = pd.Series(True, index=summary.index)
    if old.any() and "step_size" in summary:
        parameter = summary["step_size"].where(old)
        if "param_step_size" in summary:
            summary["param_step_size"] = summary["param_step_size"].where(~old, parameter)
        else:
            position = list(summary.columns).index("step_size")
            summary.insert(position, "param_step_size", parameter.where(old))
        numeric = pd.to_numeric(parameter, errors="coerce")
        summary["step_size"] = pd.to_numeric(summary["step_size"], errors="coerce").where(
            ~old, numeric
        )
    for name, before in LATER_SUMMARY_COLUMNS.items():
        if name not in summary:
            summary[name] = before
        elif summary[name].isna().any() and before == before:  # NaN stays NaN
            summary[name] = summary[name].fillna(before).astype(type(before))
    if "step_size" not in summary:
        summary["step_size"] = float("nan")
    for name in LATER_TEXT_COLUMNS:
        if name not in summary:
            summary[name] = ""
    return summary[[c for c in summary_column_order(summary.columns) if c in summary]]


def normalize_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The one dtype rule of summary tables, applied to a frame however it was read.

    :data:`TEXT_SUMMARY_COLUMNS` are ``str`` with an empty cell as ``""``; everything
    else keeps what pandas infers from the CSV text (numbers, or text for parameters
    such as ``"1/L"``). Older summaries are upgraded (:func:`upgrade_summary`).
    """
    for column in TEXT_SUMMARY_COLUMNS:
        if column in summary:
            summary[column] = summary[column].astype(object).fillna("").astype(str)
    return upgrade_summary(summary)


def read_summary(path: Path | str) -> pd.DataFrame:
    """The ``summary.csv`` of a results directory (or the file itself), one dtype rule.

    See :func:`normalize_summary`.

    Raises
    ------
    FileNotFoundError
        There is no such file.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    text_columns = dict.fromkeys(TEXT_SUMMARY_COLUMNS, str)
    return normalize_summary(pd.read_csv(path, dtype=text_columns, keep_default_na=True))


def read_runs(path: Path | str) -> pd.DataFrame:
    """The ``runs.csv`` of a results directory (``run_id`` as text)."""
    import pandas as pd

    return pd.read_csv(Path(path) / RUNS_FILE, dtype={"run_id": str})


def read_traces(path: Path | str) -> pd.DataFrame | None:
    """The ``traces.parquet`` of a results directory, ``None`` when it has none."""
    import pandas as pd

    file = Path(path) / TRACES_FILE
    return pd.read_parquet(file) if file.is_file() else None


def read_config(path: Path | str) -> dict[str, Any] | None:
    """The ``config.yaml`` of a results directory, ``None`` when it has none."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        return None
    import yaml

    return yaml.safe_load(file.read_text(encoding="utf-8"))


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_run_rows(file: RunFile) -> list[Any]:
    """The summary rows of a batch (one JSON value a line) or of a run (one value).

    Raises
    ------
    OSError, ValueError
        The file cannot be read, or is not JSON (a line cut short included).
    """
    text = file.summary.read_text(encoding="utf-8")
    if not file.batched:
        return [json.loads(text)]
    # JSON text never holds a raw newline, so the lines join into one array
    return json.loads("[" + ",".join(line for line in text.split("\n") if line) + "]")


def read_environment(path: Path | str) -> dict[str, Any] | None:
    """The ``environment.json`` of a results directory; ``None`` when missing or unreadable."""
    try:
        return json.loads((Path(path) / ENVIRONMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- writing ---------------------------------------------------------------------------


@cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Write ``path`` via ``write(temporary_path)``, then rename it over ``path``.

    The temporary file is in the same directory (so the rename is atomic, and a
    reader sees the old file or the new one, never a part), has the permissions a
    new file would have, and is removed if ``write`` fails. Returns ``path``.
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".part")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def atomic_copy(source: Path | str, destination: Path | str) -> Path:
    """Copy the file ``source`` to ``destination`` atomically."""
    return atomic_write(destination, lambda temporary: shutil.copyfile(source, temporary))


def write_run_batch(
    runs_dir: Path,
    name: str,
    rows: Sequence[dict[str, Any]],
    traces: pa.Table,
    default: Callable[[Any], Any] | None = None,
) -> RunFile:
    """Write a batch of finished runs into ``runs_dir``: their traces, then their summary
    rows (each file atomically), so the batch is complete or absent (:func:`run_files`).

    Parameters
    ----------
    runs_dir : Path
        The results directory's :data:`RUNS_DIR`.
    name : str
        The batch's name, starting with :data:`BATCH_PREFIX`, new in ``runs_dir``.
    rows : sequence of dict
        The runs' summary rows.
    traces : pyarrow.Table
        Their trace rows (:func:`trace_schema`).
    default : callable, optional
        :func:`json.dumps` fallback for values JSON does not know (numpy scalars).
    """
    import pyarrow.parquet as pq

    file = RunFile(
        name, runs_dir / f"{name}{BATCH_SUMMARY_SUFFIX}", runs_dir / f"{name}{BATCH_TRACE_SUFFIX}"
    )
    atomic_write(file.trace, lambda temporary: pq.write_table(traces, temporary))
    text = "".join(json.dumps(row, default=default) + "\n" for row in rows)
    atomic_write_text(file.summary, text)
    return file
