"""Run an experiment config end to end: the work behind ``optbench run`` and Python.

:func:`run_experiment` loads and expands the config, creates (or resumes) the results
directory, executes the runs with every record written as soon as it is back, merges
the tables, draws the plots and returns the :class:`~optbench.run.results.Results`.
:func:`exit_code` is the command's exit status for those results.

The results directory is locked from before anything is written until the plots are
drawn (:class:`~optbench.run.lock.ResultsLock`): a second writer gets
:class:`~optbench.run.lock.ResultsLocked`. Ctrl-C (``KeyboardInterrupt``) stops the
workers, keeps every finished run, merges the tables and raises :class:`RunInterrupted`,
which says how many runs were kept and how many are missing; ``resume=True`` runs the
missing ones.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optbench.analysis.plot_kinds import DEFAULT_FIGURE_FORMAT
from optbench.analysis.style import check_format
from optbench.run.config import DEFAULT_MAX_RUNS
from optbench.run.environment import collect_environment
from optbench.run.executor import execute, open_backend
from optbench.run.lock import LOCK_FILE, ResultsLock
from optbench.run.results import Results, load
from optbench.run.schema import ConfigError
from optbench.run.store import ResultStore

if TYPE_CHECKING:
    from optbench.analysis.plot_kinds import FigureSet
    from optbench.run.config import ExperimentConfig

#: Parent of the default output directory ``results/<name>/`` (relative to the cwd).
DEFAULT_RESULTS_ROOT = Path("results")


class RunInterrupted(KeyboardInterrupt):
    """The runs were interrupted (Ctrl-C); the finished ones are kept in ``path``.

    A ``KeyboardInterrupt``, so code that handles Ctrl-C still does.

    Attributes
    ----------
    path : Path
        The results directory.
    kept : int
        Runs with results in it.
    missing : int
        Planned runs without results (``resume=True`` runs them).
    """

    def __init__(self, path: Path, kept: int, missing: int) -> None:
        self.path, self.kept, self.missing = path, kept, missing
        super().__init__(f"{path}: interrupted: {kept} runs kept, {missing} missing")


def default_output(config: ExperimentConfig) -> Path:
    """``results/<name>/`` relative to the current directory."""
    return DEFAULT_RESULTS_ROOT / config.name


def run_experiment(
    config_or_path: str | Path | dict[str, Any] | ExperimentConfig,
    out: str | Path | None = None,
    jobs: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    plot: bool | str = True,
    blas_threads: int | None = 1,
    dask_address: str | None = None,
    max_runs: int | None = DEFAULT_MAX_RUNS,
    figure_format: str = DEFAULT_FIGURE_FORMAT,
) -> Results:
    """Run every run of an experiment config and write its results directory.

    Parameters
    ----------
    config_or_path : path, dict or ExperimentConfig
        A YAML config file or the config itself (see :mod:`optbench.run.config`).
    out : path, optional
        The results directory (default ``results/<name>/`` in the current directory).
    jobs : int, optional
        Tasks run at once (default: the config's ``jobs``); with more than one and
        no backend named in the config, this process runs tasks beside ``jobs - 1``
        joblib (loky) workers that start in the background while the experiment is
        prepared (see :func:`~optbench.run.executor.execute`).
    resume : bool
        Continue an interrupted experiment in ``out``: only runs without results
        are executed. The directory must hold the same runs (same problems, solver
        configurations, seeds, stopping tests, targets and logging). A missing or
        empty ``out`` starts afresh.
    force : bool
        Replace the results already in ``out``.
    progress : bool
        Show a progress bar on stderr (only when stderr is a terminal).
    plot : {"summary", "all", "none"} or bool
        Which figures to draw into ``out/plots/`` at the end
        (:data:`~optbench.analysis.plot_kinds.PLOT_LEVELS`): ``"summary"`` (also
        ``True``, the default) the suite-level figures, ``"all"`` also the figures of
        each problem, ``"none"`` (also ``False``) none. Their data and SVG are kept as
        ``results.figures`` for the HTML report.
    figure_format : {"svg", "png", "pdf"}
        The file format of the figures in ``out/plots/`` (``optbench run
        --figure-format``; :data:`~optbench.analysis.style.FORMATS`). ``"svg"`` (the
        default, :data:`~optbench.analysis.plot_kinds.DEFAULT_FIGURE_FORMAT`) draws each
        figure once, for its file and for the HTML report; PNG or PDF files cost a
        second drawing, as SVG, for the report.
    blas_threads : int or None
        BLAS threads per worker during runs (``None``: not limited).
    dask_address : str, optional
        Run on the Dask cluster whose scheduler is at this address (e.g.
        ``tcp://127.0.0.1:8786``), overriding the config's ``executor``; see
        :mod:`optbench.run.dask_backend`.
    max_runs : int or None
        Refuse a config of more runs (default :data:`~optbench.run.config.DEFAULT_MAX_RUNS`;
        None: no limit), before anything runs.

    Returns
    -------
    Results
        The results directory, loaded lazily.

    Raises
    ------
    ValueError
        ``plot`` or ``figure_format`` is not one of its values (before anything runs).
    ConfigError
        The config is invalid (one line naming the path and the rule), including a
        problem parameter that its family refuses, or ``out`` cannot be a results
        directory (under a regular file, or not writable); nothing is written then.
    ValueError
        ``out`` already holds results (without ``resume`` or ``force``), is not a
        results directory (with ``resume``), or holds a different experiment.
    BackendError
        The executor backend cannot start (dask not installed, the scheduler cannot
        be reached: nothing is written then) or lost its cluster during the runs.
    ResultsLocked
        Another live process is writing ``out`` (nothing is written then).
    RunInterrupted
        Ctrl-C: the workers are stopped, the finished runs kept and the tables merged.
    """
    from optbench.run.config import load_config

    if resume and force:
        raise ValueError(
            "resume and force exclude each other: resume keeps results, force deletes them"
        )
    plots = plot_level(plot)
    check_format(figure_format, "figure_format")
    config = load_config(config_or_path, max_runs=max_runs)
    specs = list(config.runs)
    out = default_output(config) if out is None else Path(out)
    try:
        check_output_dir(out)
    except ValueError as exc:
        raise ConfigError(f"out: {exc}") from None
    jobs = config.jobs if jobs is None else jobs
    backend, options = _backend(config, jobs, dask_address)
    with open_backend(backend, options, jobs, blas_threads) as options, ResultsLock(out):
        environment = collect_environment(blas_threads)
        if backend == "dask":
            from optbench.run.dask_backend import cluster_description

            environment["executor"] = cluster_description(options["client"])
        store = ResultStore(out)
        if resume and any(path.name != LOCK_FILE for path in out.iterdir()):
            store.open_existing(specs, environment)
        else:
            config_data = config.model_dump(mode="json")
            store.create(config_data, specs, force=force, environment=environment)
        completed = store.completed_run_ids()
        pending = [spec for spec in specs if spec.run_id not in completed]
        try:
            try:
                execute(
                    pending,
                    store.write_batch,
                    jobs=jobs,
                    backend=backend,
                    progress=progress,
                    blas_threads=blas_threads,
                    backend_options=options,
                    plugins=config.plugins,
                )
            finally:
                store.finalize()
            results = load(out)
            if plots != "none" and errors_only(results) is None:  # else nothing to draw
                results.figures = draw_figures(results, plots, jobs=jobs, fmt=figure_format)
        except KeyboardInterrupt:
            kept = len(store.completed_run_ids() & {spec.run_id for spec in specs})
            raise RunInterrupted(out, kept, len(specs) - kept) from None
    return results


def plot_level(plot: bool | str) -> str:
    """``--plots`` as one of :data:`~optbench.analysis.plot_kinds.PLOT_LEVELS`
    (``True``: the default level, ``False``: ``"none"``); ``ValueError`` otherwise."""
    from optbench.analysis.plot_kinds import DEFAULT_PLOTS, check_plots

    if isinstance(plot, bool):
        return DEFAULT_PLOTS if plot else "none"
    return check_plots(plot)


def draw_figures(
    results: Results, level: str, jobs: int = 1, fmt: str = DEFAULT_FIGURE_FORMAT
) -> FigureSet:
    """Compute the figure data of ``results`` at ``level`` once, draw it into
    ``plots/<stem>.<fmt>`` (the SVG kept for the HTML report: with ``fmt="svg"`` the
    files' own text, else a second drawing of each figure) and return it."""
    from optbench.analysis.plot_kinds import compute_figures, render_figures
    from optbench.results_format import PLOTS_DIR

    figure_set = compute_figures(results, level=level, strict=False)
    render_figures(figure_set, results.path / PLOTS_DIR, fmt, svg=True, jobs=jobs)
    return figure_set


def check_output_dir(out: Path) -> None:
    """Check, before any run, that ``out`` is or can be made a writable directory.

    Nothing is created in ``out``: writability is probed with an anonymous temporary
    file in ``out`` or, when ``out`` does not exist yet, in its nearest existing parent
    (permission bits alone would not do: they do not bind root, nor see a read-only
    file system).

    Raises
    ------
    ValueError
        ``"<out>: ..."``: it is a file, it is under a file, or the directory that
        would hold it is not writable.
    """
    path = Path(out).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise ValueError(f"{out}: {where}, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        where = "" if existing == path else f" (in {existing}, where it would be created)"
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{out}: cannot write there{where}: {reason}") from None


def errors_only(results: Results, shown: int = 3) -> str | None:
    """When every run of ``results`` ended in ``error``: a line saying so, with the first
    ``shown`` distinct messages; else None."""
    summary = results.summary
    if not len(summary) or not (summary["status"] == "error").all():
        return None
    messages = list(dict.fromkeys(summary["message"].astype(str)))
    first = "; ".join(messages[:shown]) + (" ..." if len(messages) > shown else "")
    return f"all {len(summary)} runs ended in error; first messages: {first}"


def _backend(
    config: ExperimentConfig, jobs: int, dask_address: str | None = None
) -> tuple[str | None, dict[str, Any]]:
    """The executor backend and its options.

    ``dask_address`` selects the dask backend whatever the config says; ``jobs > 1``
    overrides a ``serial`` config (``None``: the executor picks from ``jobs``).
    """
    if dask_address is not None:
        return "dask", {"address": dask_address}
    backend = config.executor.backend
    if backend == "serial" and jobs != 1:
        backend = None
    options = {"address": config.executor.address} if backend == "dask" else {}
    return backend, options


def exit_code(results: Results) -> int:
    """The exit status of ``optbench run``: 0 when every run completed whatever its
    status, 1 when a run ended in ``error`` or a planned run has no result."""
    summary = results.summary
    errored = bool((summary["status"] == "error").any()) if len(summary) else False
    return 1 if errored or not results.complete else 0
