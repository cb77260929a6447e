"""Writing the results directory: atomic per-run writes, resume, merged tables.

Reading it back is :func:`~optbench.run.results.load` (re-exported here, with
:class:`~optbench.run.results.Results`); the row format is :mod:`optbench.run.records`.

Layout of ``results/<name>/``::

    config.yaml         the resolved config
    runs.csv            one row per RunSpec, in spec order, with its parameters
    environment.json    versions, CPU, BLAS and thread settings, git revision
    runs/<run_id>.parquet, runs/<run_id>.json
                        one finished run: its trace, then its summary row
    summary.csv         merged summary rows, spec order   (rebuilt by finalize)
    traces.parquet      merged trace rows, spec order     (rebuilt by finalize)
    plots/, report.md   written by optbench.analysis

Every file is written to a temporary file in the same directory and renamed over
its target (:func:`os.replace` is atomic), so a crash or Ctrl-C never leaves a
half-written file; a run counts as finished once its ``.json`` exists (written after
its ``.parquet``). Files are not fsync'ed: a power loss may lose recent runs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.run.records import (
    LATER_COUNT_COLUMNS,
    LATER_SUMMARY_COLUMNS,
    RunRecord,
    json_default,
    spec_row,
    summary_column_order,
    trace_schema,
)
from optbench.run.results import (
    Results,
    is_results_dir,
    load,
    not_results_dir_message,
    read_json,
)
from optbench.run.spec import RunSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "ResultStore",
    "Results",
    "RunFiles",
    "atomic_write",
    "atomic_write_text",
    "is_results_dir",
    "load",
    "not_results_dir_message",
]

#: Files and directories that make a directory a results directory.
RESULT_FILES = ("config.yaml", "runs.csv", "environment.json", "summary.csv", "traces.parquet")
RESULT_DIRS = ("runs", "plots")
#: Suffix added to the files of a damaged run (:meth:`ResultStore.set_aside`).
DAMAGED_SUFFIX = ".damaged"
GENERATED_FILES = ("report.md",)
#: Columns of ``runs.csv`` that define a run's settings (compared on resume).
SPEC_SETTING_COLUMNS = ("stop", "targets", "log")
_TEMP_PREFIX = ".tmp-"


@cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` via ``write(temporary_path)`` then rename it over ``path``.

    The temporary file is in the same directory (so the rename is atomic) and is
    removed if ``write`` fails.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=".part")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


class ResultStore:
    """Reads and writes one results directory (see the module docstring).

    Parameters
    ----------
    path : path-like
        The results directory, e.g. ``results/quickstart``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.runs_dir = self.path / "runs"

    # --- starting ---------------------------------------------------------------------

    def holds_results(self) -> bool:
        """Whether the directory has any file or directory this store would write."""
        names = (*RESULT_FILES, *RESULT_DIRS, *GENERATED_FILES)
        return any((self.path / name).exists() for name in names)

    def create(
        self,
        config: dict[str, Any],
        specs: Sequence[RunSpec],
        force: bool = False,
        environment: dict[str, Any] | None = None,
    ) -> None:
        """Start a new results directory for ``specs``.

        Parameters
        ----------
        config : dict
            The resolved config, written to ``config.yaml``.
        specs : sequence of RunSpec
            The expanded runs, in order (written to ``runs.csv``).
        force : bool
            Delete the results already in the directory (only the files and folders
            listed in the module docstring; anything else is left alone).
        environment : dict, optional
            Written to ``environment.json``.

        Raises
        ------
        ValueError
            The directory already holds results and ``force`` is false, or two
            specs are the same run.
        """
        import yaml

        _check_unique(specs)
        if self.holds_results():
            if not force:
                raise ValueError(
                    f"{self.path}: already holds results; use --resume to continue them "
                    "or --force to overwrite them"
                )
            self._remove_results()
        self.path.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
        atomic_write_text(self.path / "config.yaml", text)
        self._write_environment(environment or {})
        self._write_runs_csv(specs)
        self.runs_dir.mkdir()

    def _remove_results(self) -> None:
        for name in (*RESULT_FILES, *GENERATED_FILES):
            (self.path / name).unlink(missing_ok=True)
        for name in RESULT_DIRS:
            if (self.path / name).is_dir():
                shutil.rmtree(self.path / name)

    def _write_environment(self, environment: dict[str, Any]) -> None:
        text = json.dumps(environment, indent=2, default=json_default) + "\n"
        atomic_write_text(self.path / "environment.json", text)

    def _write_runs_csv(self, specs: Sequence[RunSpec]) -> None:
        import pandas as pd

        rows = [spec_row(spec) for spec in specs]
        columns = list(dict.fromkeys(name for row in rows for name in row))
        columns = ["run_id", *(c for c in columns if c not in ("run_id", *SPEC_SETTING_COLUMNS))]
        frame = pd.DataFrame(rows, columns=[*columns, *SPEC_SETTING_COLUMNS])
        atomic_write(self.path / "runs.csv", lambda tmp: frame.to_csv(tmp, index=False))

    def open_existing(
        self, specs: Sequence[RunSpec], environment: dict[str, Any] | None = None
    ) -> None:
        """Reopen a results directory to resume it with ``specs``.

        Leftover temporary files of an interrupted session are removed, the files of
        damaged runs are set aside (:meth:`set_aside`: those runs count as missing
        and run again), and ``environment`` (if given) is appended to
        ``environment.json`` under ``"resumed"``.

        Raises
        ------
        ValueError
            The directory is not a results directory, or ``specs`` are not the runs it
            was created for (the message names the difference).
        """
        if not is_results_dir(self.path) or not (self.path / "runs.csv").is_file():
            raise ValueError(not_results_dir_message(self.path))
        _check_unique(specs)
        self._check_same_runs(specs)
        self.runs_dir.mkdir(exist_ok=True)
        for leftover in self.runs_dir.glob(f"{_TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)
        self.set_aside(self.inspect_runs().damaged)
        if environment is not None:
            stored = read_json(self.path / "environment.json")
            stored.setdefault("resumed", []).append(environment)
            self._write_environment(stored)

    def _check_same_runs(self, specs: Sequence[RunSpec]) -> None:
        stored = {row["run_id"]: row for row in self._read_runs_csv()}
        wanted = {spec.run_id: (spec, spec_row(spec)) for spec in specs}
        missing = [wanted[i][0] for i in wanted if i not in stored]
        extra = [stored[i] for i in stored if i not in wanted]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} run(s) of the config are not in it, e.g. "
                             + _describe_spec(missing[0]))  # fmt: skip
            if extra:
                row = extra[0]
                parts.append(
                    f"{len(extra)} of its run(s) are not in the config, e.g. {row['solver_label']}"
                    f" on {row['problem']} seed {row['seed']}"
                )
            raise ValueError(
                f"{self.path}: cannot resume, the config has different runs: "
                + "; ".join(parts)
                + " (use --force to start over, or another --out)"
            )
        for run_id, (spec, row) in wanted.items():
            for setting in SPEC_SETTING_COLUMNS:
                if stored[run_id][setting] != row[setting]:
                    raise ValueError(
                        f"{self.path}: cannot resume, {setting} differs for "
                        f"{_describe_spec(spec)}: stored {stored[run_id][setting]}, "
                        f"config {row[setting]} (use --force to start over, or another --out)"
                    )

    def _read_runs_csv(self) -> list[dict[str, str]]:
        with open(self.path / "runs.csv", newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    # --- during the runs --------------------------------------------------------------

    def completed_run_ids(self) -> set[str]:
        """Ids of the runs whose results are on disk."""
        if not self.runs_dir.is_dir():
            return set()
        return {
            path.stem
            for path in self.runs_dir.glob("*.json")
            if not path.name.startswith(_TEMP_PREFIX) and path.with_suffix(".parquet").is_file()
        }

    def write_record(self, record: RunRecord) -> None:
        """Write one finished run: its trace, then its summary row (both atomically)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict(record.trace, schema=trace_schema())
        atomic_write(
            self.runs_dir / f"{record.run_id}.parquet",
            lambda temporary: pq.write_table(table, temporary),
        )
        atomic_write_text(
            self.runs_dir / f"{record.run_id}.json",
            json.dumps(record.summary, default=json_default) + "\n",
        )

    def inspect_runs(self) -> RunFiles:
        """Read every finished run's files and sort the intact from the damaged.

        A run is intact when its ``.json`` holds its summary row (a JSON object with
        its ``run_id``) and its ``.parquet`` is a readable Parquet file (its footer is
        read, not its rows).
        """
        import pyarrow.parquet as pq

        intact: dict[str, int] = {}
        damaged: dict[str, str] = {}
        for run_id in sorted(self.completed_run_ids()):
            json_path = self.runs_dir / f"{run_id}.json"
            parquet_path = json_path.with_suffix(".parquet")
            try:
                row = json.loads(json_path.read_text(encoding="utf-8"))
                if not isinstance(row, dict) or row.get("run_id") != run_id:
                    raise ValueError(f"not the summary row of run {run_id}")
            except (OSError, ValueError) as exc:
                damaged[run_id] = f"{json_path}: unreadable ({_first_line(exc)})"
                continue
            try:
                intact[run_id] = pq.read_metadata(parquet_path).num_rows
            except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
                damaged[run_id] = f"{parquet_path}: unreadable ({_first_line(exc)})"
        return RunFiles(intact, damaged)

    def set_aside(self, run_ids: Iterable[str]) -> None:
        """Rename the files of damaged runs to ``<name>.damaged``: the runs count as
        missing (a resume runs them again) and the files stay for inspection."""
        for run_id in run_ids:
            for suffix in (".json", ".parquet"):
                path = self.runs_dir / f"{run_id}{suffix}"
                if path.exists():
                    os.replace(path, path.with_name(f"{path.name}{DAMAGED_SUFFIX}"))

    # --- merging ----------------------------------------------------------------------

    def ordered_completed_ids(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Completed run ids (or ``run_ids``) in spec order (the order of ``runs.csv``).

        Runs missing from ``runs.csv`` follow in sorted order.
        """
        wanted = self.completed_run_ids() if run_ids is None else set(run_ids)
        planned = [row["run_id"] for row in self._read_runs_csv()] if self._has_runs_csv() else []
        ordered = [run_id for run_id in planned if run_id in wanted]
        return ordered + sorted(wanted.difference(ordered))

    def _has_runs_csv(self) -> bool:
        return (self.path / "runs.csv").is_file()

    def merged_summary(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Summary rows of the intact runs (or of ``run_ids``, see :meth:`inspect_runs`),
        spec order, columns in their order."""
        import pandas as pd

        if run_ids is None:
            run_ids = self.inspect_runs().intact
        rows = [
            read_json(self.runs_dir / f"{run_id}.json")
            for run_id in self.ordered_completed_ids(run_ids)
        ]
        columns = summary_column_order(name for row in rows for name in row)
        summary = pd.DataFrame(rows, columns=columns)
        for name, before in LATER_SUMMARY_COLUMNS.items():  # runs written before the column
            if name in summary and summary[name].isna().any():
                summary[name] = summary[name].fillna(before).astype(type(before))
        return summary

    def merged_traces(self, run_ids: Iterable[str] | None = None) -> pa.Table:
        """Trace rows of the intact runs (or of ``run_ids``, see :meth:`inspect_runs`),
        spec order, as an Arrow table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if run_ids is None:
            run_ids = self.inspect_runs().intact
        schema = trace_schema()
        tables = [
            _zero_missing_counts(pq.read_table(self.runs_dir / f"{run_id}.parquet", schema=schema))
            for run_id in self.ordered_completed_ids(run_ids)
        ]
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def finalize(self, run_ids: Iterable[str] | None = None) -> None:
        """Rebuild ``summary.csv`` and ``traces.parquet`` from the per-run files.

        Parameters
        ----------
        run_ids : iterable of str, optional
            The runs to merge (default: the intact runs, see :meth:`inspect_runs`).
        """
        import pyarrow.parquet as pq

        if run_ids is None:
            run_ids = self.inspect_runs().intact
        summary = self.merged_summary(run_ids)
        atomic_write(self.path / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
        traces = self.merged_traces(run_ids)
        atomic_write(self.path / "traces.parquet", lambda tmp: pq.write_table(traces, tmp))


@dataclass(frozen=True)
class RunFiles:
    """The finished runs of a results directory, sorted by :meth:`ResultStore.inspect_runs`.

    Attributes
    ----------
    intact : dict of str to int
        Run id -> number of trace rows, for the runs whose files are readable.
    damaged : dict of str to str
        Run id -> what is wrong, naming the file.
    """

    intact: dict[str, int]
    damaged: dict[str, str]


def _zero_missing_counts(table: pa.Table) -> pa.Table:
    """A trace written before the :data:`LATER_COUNT_COLUMNS` (read as nulls): zero calls."""
    import pyarrow.compute as pc

    for name in LATER_COUNT_COLUMNS:
        index = table.schema.get_field_index(name)
        if table.column(index).null_count:
            table = table.set_column(index, name, pc.fill_null(table.column(index), 0))
    return table


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _check_unique(specs: Sequence[RunSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.run_id in seen:
            raise ValueError(f"the config lists the same run twice: {_describe_spec(spec)}")
        seen.add(spec.run_id)


def _describe_spec(spec: RunSpec) -> str:
    return f"{spec.solver_label} on {spec.problem.label} seed {spec.seed}"
