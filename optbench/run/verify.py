"""Checking a results directory against its run files, and repairing it.

The files of ``runs/`` are the truth: batches of finished runs (``<batch>.parquet``
then ``<batch>.jsonl``, each written atomically as a worker task ends) or, in
directories written before batches, one ``<run_id>.parquet`` and ``.json`` per run.
The merged tables ``summary.csv`` and ``traces.parquet`` are derived from them at the
end of ``optbench run``, so an interrupted or killed run leaves them missing or out of
date, and a copy or a full disk can leave them cut short. :func:`verify_results`
compares them with the run files and says what is missing or damaged, naming the file;
with ``repair`` it sets damaged files aside (their runs count as missing, so that
``--resume`` runs them again) and rebuilds
the merged tables, under the directory's lock (:mod:`optbench.run.lock`). While another
process holds the lock (a run in progress) nothing is rewritten and
:attr:`ResultsCheck.merged_ok` says whether the merged tables can be trusted.

A directory without run files (a baseline holds only its summary) can only be
checked for a cut-short ``summary.csv``, which then cannot be rebuilt.
"""

from __future__ import annotations

import io
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from optbench.results_format import (
    CONFIG_FILE,
    RUNS_DIR,
    SUMMARY_FILE,
    TRACES_FILE,
)
from optbench.run.lock import ResultsLock, ResultsLocked
from optbench.run.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ResultsCheck", "verify_results"]


@dataclass
class ResultsCheck:
    """What :func:`verify_results` found in a results directory.

    Attributes
    ----------
    path : Path
        The directory.
    planned : int
        Runs listed in ``runs.csv`` (the finished ones when it is missing).
    finished : list of str
        Runs whose files in ``runs/`` are intact, in spec order.
    missing : list of str
        Planned runs without intact results, in spec order.
    problems : list of str
        One line per damaged or out-of-date file, naming it.
    rebuilt : bool
        Whether the merged tables were rebuilt (or damaged runs set aside).
    merged_ok : bool
        Whether ``summary.csv`` and ``traces.parquet`` now agree with the run files
        (false when they do not and could not be rewritten; see ``in_use``).
    in_use : str
        Another live process holds the directory's lock (a run in progress): the
        lock's message; then nothing is rewritten. Empty otherwise.
    """

    path: Path
    planned: int = 0
    finished: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rebuilt: bool = False
    merged_ok: bool = True
    in_use: str = ""

    @property
    def resume_command(self) -> str:
        """The command that runs the missing runs."""
        config = str(self.path / CONFIG_FILE)
        return shlex.join(["optbench", "run", config, "--out", str(self.path), "--resume"])

    def messages(self) -> list[str]:
        """One line per finding, for the user (empty when all is well)."""
        lines = []
        if self.missing:
            counts = f"{len(self.finished)} of {self.planned} runs finished, {len(self.missing)}"
            if self.in_use:
                lines.append(f"{self.path}: {counts} not yet; {self.in_use}")
            else:
                lines.append(f"{self.path}: {counts} missing; to run them: {self.resume_command}")
        lines += self.problems
        if self.rebuilt:
            lines.append(f"{self.path}: {SUMMARY_FILE} and {TRACES_FILE} rebuilt from {RUNS_DIR}/")
        elif not self.merged_ok:
            lines.append(f"{self.path}: not rebuilt while in use; reading runs/ instead")
        return lines


def verify_results(path: Path | str, repair: bool = True) -> ResultsCheck:
    """Check a results directory's merged tables against its run files.

    Parameters
    ----------
    path : path-like
        A results directory.
    repair : bool
        Set damaged batch (or run) files aside and rebuild wrong merged tables (when the
        directory's lock can be taken).

    Returns
    -------
    ResultsCheck
        The findings; :meth:`ResultsCheck.messages` words them.

    Raises
    ------
    ValueError
        ``summary.csv`` is damaged and there are no run files to rebuild it from.
    """
    store = ResultStore(path)
    check = ResultsCheck(store.path)
    if not store.runs_dir.is_dir():
        problem = _summary_problem(store.path / SUMMARY_FILE, expected=None)
        if problem:
            raise ValueError(f"{problem}; no run files (runs/) to rebuild it from")
        return check
    runs = store.inspect_runs()
    finished = store.ordered_completed_ids(runs.intact)
    planned = store.planned_ids() or finished
    check.planned, check.finished = len(planned), finished
    check.missing = [run_id for run_id in planned if run_id not in runs.intact]
    check.problems = [f"{reason}; its runs count as missing" for reason in runs.damaged.values()]
    merged = [
        _summary_problem(store.path / SUMMARY_FILE, store.merged_summary(finished, runs)),
        _traces_problem(store.path / TRACES_FILE, sum(runs.trace_rows.values())),
    ]
    check.problems += [problem for problem in merged if problem]
    lock = ResultsLock(store.path, command="optbench (rebuilding the merged tables)")
    check.in_use = lock.in_use()
    if not runs.damaged and not any(merged):
        return check
    check.merged_ok = False
    if not repair or check.in_use:
        return check
    try:
        with lock:  # read the runs again: a writer may have added some before it ended
            runs = store.inspect_runs()
            store.set_aside(runs.damaged)
            store.finalize(runs.intact)
    except ResultsLocked as exc:  # taken meanwhile
        check.in_use = str(exc)
        return check
    check.rebuilt = check.merged_ok = True
    return check


def _summary_problem(path: Path, expected: pd.DataFrame | None) -> str:
    """What is wrong with ``summary.csv`` compared to ``expected`` ('' when nothing).

    ``expected`` is the summary merged from the run files (``None``: check only
    that the file is whole).
    """
    import pandas as pd

    if not path.is_file():
        return "" if expected is None else f"{path}: missing"
    text = path.read_text(encoding="utf-8", errors="replace")
    if text and not text.endswith("\n"):
        return f"{path}: cut short (its last row is incomplete)"
    try:
        actual = pd.read_csv(io.StringIO(text), dtype={"run_id": str}) if text else None
    except (ValueError, pd.errors.ParserError) as exc:
        return f"{path}: unreadable ({str(exc).strip().splitlines()[0]})"
    if expected is None:
        return ""
    expected_text = expected.to_csv(index=False)
    if text == expected_text:
        return ""
    wanted = pd.read_csv(io.StringIO(expected_text), dtype={"run_id": str})
    if actual is None or "run_id" not in actual:
        return f"{path}: has no run_id column"
    if list(actual["run_id"]) != list(wanted["run_id"]):
        return (
            f"{path}: lists {len(actual)} runs, the run files in runs/ hold "
            f"{len(wanted)} (out of date)"
        )
    if list(actual.columns) != list(wanted.columns):
        return f"{path}: its columns differ from the run files'"
    for column in wanted.columns:
        differs = ~(
            (actual[column] == wanted[column]) | (actual[column].isna() & wanted[column].isna())
        )
        if differs.any():
            row = int(differs.to_numpy().nonzero()[0][0])
            return (
                f"{path}: run {wanted['run_id'][row]} has {column} = {actual[column][row]}, "
                f"its run file has {wanted[column][row]}"
            )
    return ""


def _traces_problem(path: Path, expected_rows: int) -> str:
    """What is wrong with ``traces.parquet`` ('' when nothing): unreadable, or not the
    number of rows of the run traces."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return f"{path}: missing"
    try:
        rows = pq.read_metadata(path).num_rows
    except (OSError, ValueError) as exc:
        return f"{path}: unreadable ({str(exc).strip().splitlines()[0]})"
    if rows != expected_rows:
        return f"{path}: holds {rows} trace rows, the run files in runs/ hold {expected_rows}"
    return ""
