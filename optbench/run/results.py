"""Reading a results directory: :class:`Results` and :func:`load`.

The directory layout and its readers are :mod:`optbench.results_format`;
:mod:`optbench.run.store` writes it.
Tables are read on first access; a directory whose runs have not been merged yet
(an interrupted experiment) is read from its run files. :meth:`Results.verify`
checks the merged tables against the run files (:mod:`optbench.run.verify`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.results_format import (
    RUNS_FILE,
    SUMMARY_FILE,
    TRACES_FILE,
    is_results_dir,
    normalize_summary,
    not_results_dir_message,
    read_config,
    read_environment,
    read_runs,
    read_summary,
)
from optbench.run.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

    from optbench.analysis.frames import ResultsFrames
    from optbench.run.verify import ResultsCheck

__all__ = ["Results", "is_results_dir", "load", "not_results_dir_message"]


class Results:
    """The contents of a results directory, loaded on first access.

    Attributes
    ----------
    path : Path
        The directory.
    summary : DataFrame
        One row per finished run (``summary.csv``), spec order.
    traces : DataFrame
        One row per logged iteration (``traces.parquet``).
    runs : DataFrame
        One row per planned run (``runs.csv``).
    config, environment : dict
        ``config.yaml`` and ``environment.json``.
    figures : FigureSet or None
        The figure data (and SVG) drawn by ``optbench.run`` into ``plots/``, handed
        to the HTML report so that it draws nothing again; None when none were drawn.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.figures: Any = None
        self._run_ids: list[str] | None = None  # read these run files, not the merged

    def verify(self, repair: bool = True) -> ResultsCheck:
        """Check the merged tables against the run files; rebuild them if wrong.

        When they are wrong and cannot be rebuilt (another process is writing the
        directory), this object reads the intact run files from then on. See
        :func:`optbench.run.verify.verify_results` (which raises ``ValueError`` for a
        damaged ``summary.csv`` without run files).
        """
        from optbench.run.verify import verify_results

        check = verify_results(self.path, repair=repair)
        self._run_ids = None if check.merged_ok else check.finished
        for name in ("summary", "traces", "frames"):
            self.__dict__.pop(name, None)
        return check

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    @cached_property
    def _store(self) -> ResultStore:
        return ResultStore(self.path)

    @cached_property
    def config(self) -> dict[str, Any]:
        """The resolved config (``config.yaml``)."""
        return read_config(self.path) or {}

    @cached_property
    def environment(self) -> dict[str, Any]:
        """The recorded environment (``environment.json``)."""
        return read_environment(self.path) or {}

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per finished run; merged from ``runs/`` if ``summary.csv`` is missing."""
        if (self.path / SUMMARY_FILE).is_file() and self._run_ids is None:
            return read_summary(self.path)
        return normalize_summary(self._store.merged_summary(self._run_ids))

    @cached_property
    def traces(self) -> pd.DataFrame:
        """One row per logged iteration; merged from ``runs/`` if the file is missing."""
        import pandas as pd

        path = self.path / TRACES_FILE
        if path.is_file() and self._run_ids is None:
            return pd.read_parquet(path)
        return self._store.merged_traces(self._run_ids).to_pandas()

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per planned run with its parameters (``runs.csv``)."""
        if (self.path / RUNS_FILE).is_file():
            return read_runs(self.path)
        return self.summary[["run_id"]].copy()

    @cached_property
    def frames(self) -> ResultsFrames:
        """The DataFrames the analysis works on, built once: the tables derived from
        them (the aggregate over seeds, the best settings) are computed once per
        ``Results`` and shared by the report, the printed summary and the figures
        (:meth:`optbench.analysis.frames.ResultsFrames.derived`). :meth:`verify`
        drops them with the tables it re-reads."""
        from optbench.analysis.frames import ResultsFrames

        return ResultsFrames(
            summary=self.summary,
            traces=self.traces,
            runs=self.runs,
            config=self.config,
            path=self.path,
        )

    @property
    def complete(self) -> bool:
        """Whether every planned run has a summary row."""
        return set(self.runs["run_id"]) <= set(self.summary["run_id"])

    def plot(self, kind: str = "all", **kwargs: Any) -> list[Path]:
        """Draw figures into ``plots/`` and return the files written.

        ``kind`` is a registered plot kind (:data:`optbench.analysis.plot_kinds.PLOT_KINDS`:
        ``convergence``, ``step-size``, ``profile``, ``data-profile``, ``ecdf``,
        ``sensitivity``) or ``"all"`` (default). ``kwargs`` go to
        :func:`optbench.analysis.plot_kinds.write_plots` (``x``, ``fmt``, ``out_dir``).
        """
        from optbench.analysis.plot_kinds import write_plots

        return write_plots(self, kind, **kwargs)

    def report(self) -> Any:
        """Write ``report.md`` (:func:`optbench.analysis.report.write_report`)."""
        from optbench.analysis.report import write_report

        return write_report(self)


def load(path: Path | str) -> Results:
    """Open a results directory.

    Raises
    ------
    ValueError
        ``path`` is not an optbench results directory.
    """
    path = Path(path)
    if not is_results_dir(path):
        raise ValueError(not_results_dir_message(path))
    return Results(path)
