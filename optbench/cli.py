"""The ``optbench`` command line: argument parsing only; the work is in library calls.

Each sub-command has a ``_add_<name>_parser(subparsers)`` function that declares its
arguments and a ``_cmd_<name>(args) -> int`` handler; :func:`build_parser` wires them
via :data:`COMMANDS`. Bad input (argparse errors and the ``ValueError``,
``FileNotFoundError`` or YAML errors raised by library code) becomes one line on
stderr, ``optbench: error: <field>: <what is wrong>``, and exit code 2, never a
traceback. numpy-heavy modules, pandas and matplotlib are imported inside the handlers
so that ``optbench --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from optbench.listing import LIST_KINDS
from optbench.run import DEFAULT_MAX_RUNS

PROG = "optbench"
#: Exit status when the reader of stdout went away (128 + SIGPIPE, as a shell reports it).
BROKEN_PIPE_EXIT = 141


class UsageError(Exception):
    """Bad command-line input; its message is the one line shown to the user."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        prefix = "the following arguments are required: "
        if message.startswith(prefix):
            message = f"{message[len(prefix) :]}: required (see {self.prog} --help)"
        raise UsageError(message)


def _fail(message: str) -> int:
    """Print ``optbench: error: <message>`` as one line on stderr and return exit code 2."""
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
    return 2


#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED_EXIT = 130


def _interrupted(message: str) -> int:
    """Print ``optbench: interrupted: <message>`` as one line on stderr; exit code 130."""
    print(f"{PROG}: interrupted: {message}", file=sys.stderr)
    return INTERRUPTED_EXIT


def _warn(message: str) -> None:
    """Print ``optbench: warning: <message>`` on stderr."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _load_verified(directory: str) -> Any:
    """The results in ``directory``, checked against their per-run files (rebuilt when
    damaged), with a warning line per finding (:meth:`optbench.run.results.Results.verify`)."""
    from optbench.run.results import load

    results = load(directory)
    for line in results.verify().messages():
        _warn(line)
    return results


def _parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are parsed as YAML (numbers, bools, lists)."""
    import yaml

    params: dict[str, Any] = {}
    for pair in pairs or ():
        key, equals, text = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UsageError(f"param: expected key=value, got {pair!r}")
        if key in params:
            raise UsageError(f"param: {key} given twice")
        try:
            params[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"param: {key}: cannot parse value {text!r} ({exc})") from None
    return params


def _add_plugin_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="a module name or .py file (relative to the current directory) that registers "
        f"solvers or problems, {what} (repeatable)",
    )


# --- check ---------------------------------------------------------------------------


def _add_check_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check",
        help="verify a problem's gradient, HVP and Hessian against finite differences",
        description=(
            "Compare the gradient with central differences of f, the Hessian-vector "
            "product with central differences of gradients and the dense Hessian with the "
            "HVP, for steps h from 1e-1 to 1e-12. Exit 0 when every check passes, 1 when "
            "one fails, 2 on bad input."
        ),
    )
    parser.add_argument("problem", help="a family (e.g. logistic) or a catalog instance")
    parser.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a family parameter, value parsed as YAML (repeatable): --param dim=10",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--x0", action="store_true", help="check at the starting point x0")
    where.add_argument(
        "--seed", type=int, default=0, help="check at a random point near x0 (default seed 0)"
    )
    parser.add_argument("--plot", metavar="FILE", help="save error against h (log-log) to FILE")
    parser.add_argument(
        "--hvp-modes",
        action="store_true",
        help="instead: the HVP by every route (analytic, AD forward-over-reverse and "
        "reverse-over-reverse, forward and central differences), its error and its time "
        "per value-and-gradient",
    )
    _add_plugin_option(parser, "imported first")
    return parser


def _cmd_check(args: argparse.Namespace) -> int:
    from optbench.check_report import check_text, plot_check
    from optbench.checks import check_derivatives
    from optbench.problems import list_problems, make_problem
    from optbench.run.plugins import load_plugins

    load_plugins(args.plugin, option="--plugin")

    params = _parse_params(args.param)
    names = list_problems()
    if args.problem not in names:
        from optbench.registry import unknown_name_message

        return _fail("problem: " + unknown_name_message("problem", args.problem, names))
    try:
        problem = make_problem(args.problem, **params)
    except ValueError as exc:
        return _fail(f"{'param' if params else 'problem'}: {exc}")
    x = problem.x0 if args.x0 else None
    if args.hvp_modes:
        from optbench.hvp_modes import format_modes, measure_hvp_modes

        where = "x0" if args.x0 else f"a random point near x0 (seed {args.seed})"
        rows = measure_hvp_modes(problem, x, seed=args.seed)
        print(format_modes(rows, f"HVP routes: {problem.name} (dim {problem.dim}) at {where}"))
        return 0
    result = check_derivatives(problem, x=x, seed=args.seed)
    print(check_text(result))
    if args.plot:
        try:
            plot_check(result, args.plot)
        except (ValueError, OSError) as exc:
            return _fail(f"plot: cannot write {args.plot}: {exc}")
        print(f"plot written to {args.plot}")
    return 0 if result.passed else 1


# --- run -----------------------------------------------------------------------------


def _add_run_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="run every (problem x solver x parameters x seed) of a config",
        description=(
            "Expand CONFIG into runs, execute them (in parallel with --jobs), write each "
            "finished run at once into the results directory, then the summary, traces, "
            "plots, report.html and report.md, and print a short summary: per problem the statuses "
            "and the best solver at each target (--print-report: the whole report). "
            "Exit 0 when every run completed (whatever its status), "
            "1 when a run ended in 'error', 2 on bad input, when the executor cannot run "
            "(Dask not installed, scheduler unreachable or lost) or when another optbench "
            "run is writing DIR, 130 after Ctrl-C (finished runs are kept: --resume runs "
            "the rest)."
        ),
    )
    parser.add_argument("config", help="an experiment config (YAML)")
    parser.add_argument("--out", metavar="DIR", help="results directory (default results/<name>)")
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="runs N tasks at once (default: the config's jobs)"
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS, e.g. "
        "tcp://127.0.0.1:8786 (overrides the config's executor; needs optbench[dask])",
    )
    _add_plugin_option(parser, "imported here and in every worker besides the config's plugins")
    parser.add_argument("--resume", action="store_true", help="run only the missing runs of DIR")
    parser.add_argument("--force", action="store_true", help="replace results already in DIR")
    parser.add_argument("--dry-run", action="store_true", help="print the runs and their count")
    parser.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_RUNS,
        help=f"refuse a config of more than N runs, counted before any is made "
        f"(default {DEFAULT_MAX_RUNS})",
    )
    _add_plots_option(parser, "DIR/plots/ and report.html")
    _add_figure_format_option(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--print-report",
        action="store_true",
        help="print the whole report.md instead of the short summary",
    )
    output.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    return parser


def _add_plots_option(parser: argparse.ArgumentParser, where: str) -> None:
    """``--plots LEVEL`` and its alias ``--no-plots`` (read by :func:`_plots_option`)."""
    parser.add_argument(
        "--plots",
        metavar="LEVEL",
        default=None,
        help=f"figures in {where}: none, summary (default: the suite-level profiles, "
        "ECDF and a grid of convergence panels) or all (also a convergence and a "
        "step-size figure per problem)",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="no figures: the same as --plots none"
    )


def _add_figure_format_option(parser: argparse.ArgumentParser) -> None:
    """``--figure-format FORMAT`` (read by :func:`_figure_format_option`)."""
    from optbench.analysis.plot_kinds import DEFAULT_FIGURE_FORMAT
    from optbench.analysis.style import FORMATS

    parser.add_argument(
        "--figure-format",
        metavar="FORMAT",
        default=DEFAULT_FIGURE_FORMAT,
        help=f"file format of the figures in DIR/plots/: {', '.join(FORMATS)} (default "
        f"{DEFAULT_FIGURE_FORMAT}: each figure is drawn once, and report.html inlines the "
        "same SVG; png and pdf cost a second drawing, as SVG, for report.html)",
    )


def _figure_format_option(args: argparse.Namespace) -> str:
    """``--figure-format``; ``UsageError`` for a bad value."""
    from optbench.analysis.style import check_format

    try:
        return check_format(args.figure_format, "--figure-format")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _plots_option(args: argparse.Namespace) -> str:
    """``--plots`` (``--no-plots`` is ``--plots none``); ``UsageError`` for a bad value."""
    from optbench.analysis.plot_kinds import DEFAULT_PLOTS, PLOT_LEVELS

    if args.no_plots and args.plots not in (None, "none"):
        raise UsageError(f"--no-plots: excludes --plots {args.plots}")
    plots = "none" if args.no_plots else args.plots or DEFAULT_PLOTS
    if plots not in PLOT_LEVELS:
        raise UsageError(f"--plots: must be one of {', '.join(PLOT_LEVELS)}, got {plots!r}")
    return plots


def _cmd_run(args: argparse.Namespace) -> int:
    from optbench.run.config import describe, load_config

    if args.jobs is not None and args.jobs < 1:
        return _fail(f"jobs: must be an integer >= 1, got {args.jobs}")
    if args.max_runs < 1:
        return _fail(f"--max-runs: must be an integer >= 1, got {args.max_runs}")
    plots = _plots_option(args)
    figure_format = _figure_format_option(args)
    config = load_config(args.config, plugins=args.plugin, max_runs=args.max_runs)
    if args.dry_run:
        print(describe(config.runs))
        return 0
    import shlex
    from pathlib import Path

    from optbench.analysis.report import build_sections, print_report, write_reports
    from optbench.analysis.run_summary import run_summary
    from optbench.run.executor import BackendError
    from optbench.run.experiment import (
        RunInterrupted,
        check_output_dir,
        errors_only,
        exit_code,
        run_experiment,
    )
    from optbench.run.lock import ResultsLocked

    if args.out is not None:
        try:
            check_output_dir(Path(args.out))
        except ValueError as exc:
            return _fail(f"--out: {exc}")

    try:
        results = run_experiment(
            config,
            out=args.out,
            jobs=args.jobs,
            resume=args.resume,
            force=args.force,
            progress=not args.quiet,
            plot=plots,
            figure_format=figure_format,
            dask_address=args.dask,
            max_runs=args.max_runs,
        )
    except (BackendError, ResultsLocked) as exc:
        return _fail(str(exc))
    except RunInterrupted as stop:
        resume = shlex.join([PROG, "run", args.config, "--out", str(stop.path), "--resume"])
        return _interrupted(
            f"{stop.kept} runs kept in {stop.path}, {stop.missing} missing; "
            f"to run the missing ones: {resume}"
        )
    sections = build_sections(results)  # once: written, then printed or summarised
    reports = write_reports(results, figures=results.figures or False, sections=sections)
    if args.print_report:
        print_report(results, sections=sections)
    elif not args.quiet:
        print(run_summary(results, reports[0]), end="")
    print(f"results written to {results.path}")
    failures = errors_only(results)
    if failures:
        print(f"{PROG}: error: {failures}", file=sys.stderr)
    return exit_code(results)


# --- list ----------------------------------------------------------------------------


def _add_list_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "list", help="list problems and solvers with their parameters and defaults"
    )
    parser.add_argument("kind", nargs="?", choices=LIST_KINDS, help="what to list")
    parser.add_argument("--suite", metavar="NAME", help="list problems: the instances of a suite")
    parser.add_argument(
        "--max-dim", type=int, metavar="N", help="with --suite: at most N variables"
    )
    _add_plugin_option(parser, "listed with the rest")
    return parser


def _cmd_list(args: argparse.Namespace) -> int:
    import os

    # The listing does no linear algebra: numpy (imported with the problem families)
    # then starts OpenBLAS without its thread pool, whose start-up costs CPU on every
    # other core. Only when nothing imported numpy before and the user set no count.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from optbench.listing import describe

    if args.plugin:  # the plugin machinery (and pydantic with it) only when asked for
        from optbench.run.plugins import load_plugins

        load_plugins(args.plugin, option="--plugin")
    if args.max_dim is not None and args.max_dim < 1:
        return _fail(f"--max-dim: must be an integer >= 1, got {args.max_dim}")
    try:
        text = describe(args.kind, suite=args.suite, max_dim=args.max_dim)
    except ValueError as exc:
        return _fail(str(exc))
    print(text)
    return 0


# --- report --------------------------------------------------------------------------


def _add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from optbench.analysis.report_formats import DEFAULT_FORMATS, REPORT_FORMATS

    files = ", ".join(f"{name}: {file}" for name, (file, _) in REPORT_FORMATS.items())
    parser = subparsers.add_parser(
        "report",
        help="write the report of a results directory (report.html and report.md) and "
        "print its tables",
        description=f"Write the report into DIR ({files}) and print the markdown tables. "
        "report.html is one self-contained file (inline SVG figures, no network request); "
        "its figures are also written into DIR/plots/ (--figure-format). "
        "report.tex holds booktabs tables for a paper.",
    )
    parser.add_argument("dir", help="a results directory")
    parser.add_argument(
        "--format",
        action="append",
        choices=tuple(REPORT_FORMATS),
        help=f"a format to write (repeatable; default: {' and '.join(DEFAULT_FORMATS)})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the tables")
    _add_plots_option(parser, "DIR/plots/ and report.html (drawn when report.html is written)")
    _add_figure_format_option(parser)
    return parser


def _cmd_report(args: argparse.Namespace) -> int:
    from optbench.analysis.report import build_sections, print_report, write_reports
    from optbench.analysis.report_formats import DEFAULT_FORMATS
    from optbench.run.experiment import draw_figures

    plots = _plots_option(args)
    figure_format = _figure_format_option(args)
    results = _load_verified(args.dir)
    drawn = "html" in (args.format or DEFAULT_FORMATS) and plots != "none"  # only HTML draws
    shown = drawn and draw_figures(results, plots, fmt=figure_format)  # plots/ and HTML
    sections = build_sections(results)  # once: written, then printed
    paths = write_reports(results, args.format, figures=shown, sections=sections)
    if not args.quiet:
        print_report(results, sections=sections)
    for path in paths:
        print(f"report written to {path}")
    return 0


# --- plot ----------------------------------------------------------------------------


def _add_plot_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from optbench.analysis.plot_kinds import PLOT_KINDS, kind_choices
    from optbench.analysis.style import FORMATS

    kinds = "; ".join(f"{kind.name}: {kind.description}" for kind in PLOT_KINDS.values())
    x_help = "; ".join(f"{k.name}: {k.x_help}" for k in PLOT_KINDS.values() if k.x_help)
    parser = subparsers.add_parser(
        "plot",
        help="draw the figures of a results directory",
        description=f"Draw figures into DIR/plots/. Kinds: {kinds}; all: every kind.",
    )
    parser.add_argument("dir", help="a results directory")
    parser.add_argument(
        "--kind", choices=kind_choices(), default="convergence", help="default: convergence"
    )
    parser.add_argument("--x", help=f"x axis ({x_help})")
    parser.add_argument("--format", choices=FORMATS, default="png")
    return parser


def _cmd_plot(args: argparse.Namespace) -> int:
    from optbench.analysis.plot_kinds import write_plots

    results = _load_verified(args.dir)
    for path in write_plots(results, args.kind, x=args.x, fmt=args.format):
        print(path)
    return 0


# --- compare -------------------------------------------------------------------------


def _add_compare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="convergence regression check of NEW against BASELINE",
        description=(
            "Match runs by (problem, solver, parameters, seed) and list every run whose "
            "status got worse, whose iterations or cost to a target grew, or whose final "
            "accuracy got worse. Exit 0: no regression; 1: regressions; 2: the "
            "directories cannot be compared."
        ),
    )
    parser.add_argument("new", help="results directory to check")
    parser.add_argument("baseline", help="baseline results directory")
    parser.add_argument(
        "--metric",
        choices=("counts", "iters", "cost", "time"),
        default="counts",
        help="counts (default; iters and cost are the same check): iterations and oracle "
        "work with --rtol; time: also flag a slowdown when the 95%% bootstrap interval of "
        "the time ratio new/baseline lies above 1 + --rtol",
    )
    parser.add_argument(
        "--rtol", type=float, help="relative tolerance (default 0 for counts, 0.25 for time)"
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="judge counts exactly even when NEW and BASELINE ran on different numerical stacks",
    )
    parser.add_argument(
        "--stack-rtol",
        type=float,
        metavar="R",
        help="across stacks, iterations may grow by R (default 0.25) plus one iteration, "
        "oracle work by (1+R)*2",
    )
    parser.add_argument(
        "--update", action="store_true", help="write NEW as the baseline (summary files only)"
    )
    return parser


def _cmd_compare(args: argparse.Namespace) -> int:
    from optbench.analysis.compare import compare_results, update_baseline
    from optbench.results_format import SUMMARY_FILE
    from optbench.run.verify import verify_results

    for name in ("rtol", "stack_rtol"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            return _fail(f"--{name.replace('_', '-')}: must be a number >= 0, got {value}")
    for directory in (args.new, args.baseline):  # compare reads summary.csv: repair it first
        check = verify_results(directory)
        for line in check.messages():
            _warn(line)
        if not check.merged_ok:
            return _fail(f"{directory}/{SUMMARY_FILE}: cannot be compared until it is rebuilt")
    if args.update:
        written = update_baseline(args.new, args.baseline)
        print(f"baseline {args.baseline} updated from {args.new} ({len(written)} files)")
        return 0
    comparison = compare_results(
        args.new,
        args.baseline,
        metric=args.metric,
        rtol=args.rtol,
        exact=args.exact,
        stack_rtol=args.stack_rtol,
    )
    print(comparison.table())
    return comparison.exit_code


# --- wiring --------------------------------------------------------------------------

ParserBuilder = Callable[[argparse._SubParsersAction], argparse.ArgumentParser]
Handler = Callable[[argparse.Namespace], int]

#: Sub-command name -> (function adding its sub-parser, handler). Add new sub-commands here.
COMMANDS: dict[str, tuple[ParserBuilder, Handler]] = {
    "run": (_add_run_parser, _cmd_run),
    "list": (_add_list_parser, _cmd_list),
    "check": (_add_check_parser, _cmd_check),
    "plot": (_add_plot_parser, _cmd_plot),
    "report": (_add_report_parser, _cmd_report),
    "compare": (_add_compare_parser, _cmd_compare),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optbench")
    except PackageNotFoundError:  # running from a checkout that is not installed
        from optbench import __version__

        return __version__


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (``importlib.metadata`` is
    slow to import, and every other command would pay for it at start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        print(f"{PROG} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``optbench`` argument parser with one sub-parser per entry of :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Benchmark suite for smooth unconstrained optimization.",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_parser, handler in COMMANDS.values():
        add_parser(subparsers).set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``optbench`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        from optbench.registry import unknown_name_message

        return _fail("command: " + unknown_name_message("command", argv[0], list(COMMANDS)))
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _fail(f"command: missing; allowed: {', '.join(COMMANDS)} (see {PROG} --help)")
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # e.g. `optbench run ... --dry-run | head`: stop quietly
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else 0
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _interrupted("stopped by Ctrl-C")
    except Exception as exc:
        import yaml

        if isinstance(exc, yaml.YAMLError):
            return _fail(str(exc))
        raise


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush cannot raise again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
