"""Writing the results directory: batches of finished runs, resume, merged tables.

The layout, the columns and the atomic write are :mod:`optbench.results_format`;
reading a directory back is :func:`optbench.run.results.load`. Finished runs are
written in batches (:meth:`ResultStore.write_batch`: one per worker task, or about a
second of serial runs); a run counts as finished once the summary file of its batch
exists (written after the batch's traces). Directories written before batches hold one
file pair per run; they are read, resumed and verified alike.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.results_format import (
    BATCH_PREFIX,
    BATCH_SUMMARY_SUFFIX,
    BATCH_TRACE_SUFFIX,
    CONFIG_FILE,
    DAMAGED_SUFFIX,
    ENVIRONMENT_FILE,
    FORMAT_MARKER_COLUMN,
    GENERATED_FILES,
    LATER_COUNT_COLUMNS,
    LATER_SUMMARY_COLUMNS,
    RESULT_DIRS,
    RESULT_FILES,
    RUN_SUMMARY_SUFFIX,
    RUNS_DIR,
    RUNS_FILE,
    SUMMARY_FILE,
    TEMP_PREFIX,
    TRACES_FILE,
    RunFile,
    atomic_write,
    atomic_write_text,
    is_results_dir,
    not_results_dir_message,
    orphan_traces,
    read_json,
    read_run_rows,
    run_files,
    summary_column_order,
    trace_schema,
    write_run_batch,
)
from optbench.run.records import RunRecord, json_default, spec_row
from optbench.run.spec import RunSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: Columns of ``runs.csv`` that define a run's settings (compared on resume), with the
#: value a ``runs.csv`` written before the column reads as.
SPEC_SETTING_COLUMNS = ("stop", "targets", "log", "repeat")
SPEC_SETTING_DEFAULTS = {"repeat": "1"}


class ResultStore:
    """Reads and writes one results directory (see the module docstring).

    Parameters
    ----------
    path : path-like
        The results directory, e.g. ``results/quickstart``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.runs_dir = self.path / RUNS_DIR
        self._planned: list[str] | None = None  # run ids of runs.csv, read once
        self._token = secrets.token_hex(3)  # batch names of this store: unique per session
        self._batches = 0

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
        atomic_write_text(self.path / CONFIG_FILE, text)
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
        atomic_write_text(self.path / ENVIRONMENT_FILE, text)

    def _write_runs_csv(self, specs: Sequence[RunSpec]) -> None:
        import pandas as pd

        rows = [spec_row(spec) for spec in specs]
        columns = list(dict.fromkeys(name for row in rows for name in row))
        columns = ["run_id", *(c for c in columns if c not in ("run_id", *SPEC_SETTING_COLUMNS))]
        frame = pd.DataFrame(rows, columns=[*columns, *SPEC_SETTING_COLUMNS])
        atomic_write(self.path / RUNS_FILE, lambda tmp: frame.to_csv(tmp, index=False))
        self._planned = [spec.run_id for spec in specs]

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
        if not is_results_dir(self.path) or not (self.path / RUNS_FILE).is_file():
            raise ValueError(not_results_dir_message(self.path))
        _check_unique(specs)
        self._check_same_runs(specs)
        self.runs_dir.mkdir(exist_ok=True)
        for leftover in [*self.runs_dir.glob(f"{TEMP_PREFIX}*"), *orphan_traces(self.runs_dir)]:
            leftover.unlink(missing_ok=True)
        self.set_aside(self.inspect_runs().damaged)
        if environment is not None:
            stored = read_json(self.path / ENVIRONMENT_FILE)
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
                stored_value = stored[run_id].get(setting, SPEC_SETTING_DEFAULTS.get(setting))
                if stored_value != row[setting]:
                    raise ValueError(
                        f"{self.path}: cannot resume, {setting} differs for "
                        f"{_describe_spec(spec)}: stored {stored_value}, "
                        f"config {row[setting]} (use --force to start over, or another --out)"
                    )

    def _read_runs_csv(self) -> list[dict[str, str]]:
        with open(self.path / RUNS_FILE, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    # --- during the runs --------------------------------------------------------------

    def completed_run_ids(self) -> set[str]:
        """Ids of the runs whose results are on disk (in complete batches or run files)."""
        return set(self.inspect_runs().intact)

    def write_batch(self, records: Sequence[RunRecord]) -> None:
        """Write finished runs as one batch: their traces, then their summary rows.

        Each file is written atomically, the summary rows last, so the batch is complete
        or absent. A Ctrl-C while it is being written writes it again (same name)
        before ``KeyboardInterrupt`` goes on: no run handed over is lost.
        """
        if not records:
            return
        self._batches += 1
        name = f"{BATCH_PREFIX}{time.time_ns():016x}-{self._token}-{self._batches}"
        rows = [record.summary for record in records]
        traces = trace_table(records)
        try:
            write_run_batch(self.runs_dir, name, rows, traces, default=json_default)
        except KeyboardInterrupt:
            write_run_batch(self.runs_dir, name, rows, traces, default=json_default)
            raise

    def inspect_runs(self) -> RunFiles:
        """Read every finished batch and run file; sort the intact from the damaged.

        A file is intact when its summary rows are JSON objects with a ``run_id`` (one,
        naming its run, for a run file of the older layout), its trace is a readable
        Parquet file (its footer is read, not its rows), and none of its runs is in a
        file listed before it (such a file is damaged).
        """
        import pyarrow.parquet as pq

        intact: dict[str, RunFile] = {}
        rows: dict[str, dict[str, Any]] = {}
        trace_rows: dict[str, int] = {}
        damaged: dict[str, str] = {}
        for file in run_files(self.runs_dir):
            try:
                summaries = read_run_rows(file)
                ids = [row.get("run_id") if isinstance(row, dict) else None for row in summaries]
                if not summaries or not all(isinstance(run_id, str) for run_id in ids):
                    raise ValueError("not summary rows with their run_id")
                if not file.batched and ids != [file.name]:
                    raise ValueError(f"not the summary row of run {file.name}")
            except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
                damaged[file.name] = f"{file.summary}: unreadable ({_first_line(exc)})"
                continue
            try:
                count = pq.read_metadata(file.trace).num_rows
            except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
                damaged[file.name] = f"{file.trace}: unreadable ({_first_line(exc)})"
                continue
            names = [str(run_id) for run_id in ids]
            again = _first_repeated(names, intact)
            if again is not None:
                where = intact[again].summary if again in intact else "the same file"
                damaged[file.name] = f"{file.summary}: holds run {again}, also in {where}"
                continue
            trace_rows[file.name] = count
            for run_id, row in zip(names, summaries, strict=True):
                intact[run_id] = file
                rows[run_id] = row
        return RunFiles(intact, damaged, rows, trace_rows)

    def set_aside(self, names: Iterable[str]) -> None:
        """Rename the files of damaged batches (or runs) to ``<name>.damaged``: their
        runs count as missing (a resume runs them again) and the files stay for
        inspection. ``names`` are the keys of :attr:`RunFiles.damaged`."""
        for name in names:
            for suffix in (BATCH_SUMMARY_SUFFIX, RUN_SUMMARY_SUFFIX, BATCH_TRACE_SUFFIX):
                path = self.runs_dir / f"{name}{suffix}"
                if path.exists():
                    os.replace(path, path.with_name(f"{path.name}{DAMAGED_SUFFIX}"))

    # --- merging ----------------------------------------------------------------------

    def planned_ids(self) -> list[str]:
        """Run ids of ``runs.csv`` in its order (empty without it); read once."""
        if self._planned is None:
            if not self._has_runs_csv():
                return []
            with open(self.path / RUNS_FILE, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                column = header.index("run_id") if "run_id" in header else 0
                self._planned = [row[column] for row in reader if len(row) > column]
        return self._planned

    def ordered_completed_ids(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """Completed run ids (or ``run_ids``) in spec order (the order of ``runs.csv``).

        Runs missing from ``runs.csv`` follow in sorted order.
        """
        wanted = self.completed_run_ids() if run_ids is None else set(run_ids)
        ordered = [run_id for run_id in self.planned_ids() if run_id in wanted]
        if len(ordered) == len(wanted):
            return ordered
        return ordered + sorted(wanted.difference(ordered))

    def _has_runs_csv(self) -> bool:
        return (self.path / RUNS_FILE).is_file()

    def merged_summary(
        self, run_ids: Iterable[str] | None = None, files: RunFiles | None = None
    ) -> pd.DataFrame:
        """Summary rows of the intact runs (or of ``run_ids``, see :meth:`inspect_runs`),
        spec order, columns in their order. ``files``: what :meth:`inspect_runs` read."""
        import pandas as pd

        files = self.inspect_runs() if files is None else files
        wanted = files.intact if run_ids is None else run_ids
        rows = [files.rows[run_id] for run_id in self.ordered_completed_ids(wanted)]
        shapes = dict.fromkeys(tuple(row) for row in rows)  # few distinct, first-seen order
        columns = summary_column_order(name for shape in shapes for name in shape)
        summary = pd.DataFrame(rows, columns=columns)
        for name, before in LATER_SUMMARY_COLUMNS.items():  # runs written before the column
            if name == FORMAT_MARKER_COLUMN or before != before:  # read_summary upgrades those
                continue
            if name in summary and summary[name].isna().any():
                summary[name] = summary[name].fillna(before).astype(type(before))
        return summary

    def merged_traces(
        self, run_ids: Iterable[str] | None = None, files: RunFiles | None = None
    ) -> pa.Table:
        """Trace rows of the intact runs (or of ``run_ids``, see :meth:`inspect_runs`),
        spec order, as an Arrow table. ``files``: what :meth:`inspect_runs` read.

        Each file holding a wanted run is read once; the tables are concatenated once
        and put in spec order by one stable sort on the runs' positions.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        files = self.inspect_runs() if files is None else files
        ordered = self.ordered_completed_ids(files.intact if run_ids is None else run_ids)
        schema = trace_schema()
        holding: dict[str, RunFile] = {}
        for run_id in ordered:
            file = files.intact[run_id]
            holding.setdefault(file.name, file)
        tables = [
            _zero_missing_counts(pq.read_table(file.trace, schema=schema))
            for file in sorted(holding.values(), key=lambda file: file.name)
        ]
        if not tables:
            return schema.empty_table()
        table = pa.concat_tables(tables)
        positions = pc.index_in(table.column("run_id"), value_set=pa.array(ordered, pa.string()))
        if positions.null_count:  # runs not wanted (a subset asked for)
            table = table.filter(pc.is_valid(positions))
            positions = positions.drop_null()
        return table.take(pc.sort_indices(positions))

    def finalize(self, run_ids: Iterable[str] | None = None) -> None:
        """Rebuild ``summary.csv`` and ``traces.parquet`` from the batch and run files,
        each read once.

        Parameters
        ----------
        run_ids : iterable of str, optional
            The runs to merge (default: the intact runs, see :meth:`inspect_runs`).
        """
        import pyarrow.parquet as pq

        files = self.inspect_runs()
        summary = self.merged_summary(run_ids, files)
        atomic_write(self.path / SUMMARY_FILE, lambda tmp: summary.to_csv(tmp, index=False))
        traces = self.merged_traces(run_ids, files)
        atomic_write(self.path / TRACES_FILE, lambda tmp: pq.write_table(traces, tmp))


@dataclass(frozen=True)
class RunFiles:
    """The finished runs of a results directory, sorted by :meth:`ResultStore.inspect_runs`.

    Attributes
    ----------
    intact : dict of str to RunFile
        Run id -> the intact batch (or run file) holding it.
    damaged : dict of str to str
        Name of a damaged batch or run file -> what is wrong, naming the file.
    rows : dict of str to dict
        Run id -> its summary row, for the intact runs.
    trace_rows : dict of str to int
        Name of an intact file -> the rows of its trace.
    """

    intact: dict[str, RunFile]
    damaged: dict[str, str]
    rows: dict[str, dict[str, Any]]
    trace_rows: dict[str, int]


def trace_table(records: Sequence[RunRecord]) -> pa.Table:
    """The trace rows of ``records`` as one Arrow table (:func:`trace_schema`)."""
    import pyarrow as pa

    schema = trace_schema()
    columns = {
        name: [value for record in records for value in record.trace[name]] for name in schema.names
    }
    return pa.Table.from_pydict(columns, schema=schema)


def _first_repeated(run_ids: Sequence[str], known: dict[str, RunFile]) -> str | None:
    """The first of ``run_ids`` already in ``known`` or earlier in ``run_ids``, if any."""
    seen: set[str] = set()
    for run_id in run_ids:
        if run_id in known or run_id in seen:
            return run_id
        seen.add(run_id)
    return None


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
