"""Warnings raised during a run are counted on the run instead of shown on the terminal.

:func:`recording_warnings` is entered by :func:`~optbench.run.runner.run_solver` around
each run, in whichever process runs it (the caller's, a joblib worker, a Dask
worker). Every warning the run raises, numpy's floating-point warnings
(``RuntimeWarning: overflow encountered in ...``) included, is counted by
``"<Category>: <message>"`` with every occurrence counted (the ``"always"`` action), and
nothing is printed.

The warning filters and ``warnings.showwarning`` are process-wide, while runs may
execute concurrently in threads of one process (a Dask worker with several threads).
So the first run to start installs one dispatching ``showwarning`` and the last to
finish restores the previous one; each warning goes to the counter of the run of the
thread that raised it (a thread-local). A thread that a solver starts belongs to the
run when its target is wrapped by :func:`in_this_run` in the run's thread (as the
scipy bridge does). A warning from a thread outside any run, while some run records,
is shown as before (every occurrence, since the filter then says ``"always"``).

The counter is a thread-local, not a :class:`~contextvars.ContextVar`: setting any
context variable gives the thread a context, and from then on numpy, which keeps its
error state and allocator in context variables of its own, looks them up in that
context at every ufunc call and array allocation instead of in a cache (about 80
instructions each, 4,000 an iteration of gradient descent on 2-D Rosenbrock, a seventh
of the runner's overhead there).
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TextIO, TypeVar

if TYPE_CHECKING:
    from optbench.run.result import OptimizeResult

P = ParamSpec("P")
R = TypeVar("R")
#: ``counts``: the counter of the run this thread belongs to (absent outside runs).
_run = threading.local()
_lock = threading.Lock()
_recording_runs = 0
_saved_state: warnings.catch_warnings | None = None
_previous_showwarning: Any = None


def warning_key(category: type[Warning], message: Warning | str) -> str:
    """How a warning is counted: ``"<Category>: <message>"``."""
    return f"{category.__name__}: {message}"


def _dispatch(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    counts = getattr(_run, "counts", None)
    if counts is None:  # raised outside any run: shown as usual
        _previous_showwarning(message, category, filename, lineno, file, line)
        return
    counts[warning_key(category, message)] += 1


def _install() -> None:
    global _saved_state, _previous_showwarning
    _saved_state = warnings.catch_warnings()  # saves and later restores filters and hooks
    _saved_state.__enter__()
    _previous_showwarning = warnings.showwarning
    warnings.simplefilter("always")
    warnings.showwarning = _dispatch


def _uninstall() -> None:
    global _saved_state
    if _saved_state is not None:
        _saved_state.__exit__(None, None, None)
    _saved_state = None


@contextmanager
def recording_warnings() -> Iterator[Counter[str]]:
    """Count the warnings raised in this thread (and threads given :func:`in_this_run`).

    Yields
    ------
    collections.Counter
        ``"<Category>: <message>"`` to the number of times it was raised; filled as
        the block runs.

    Examples
    --------
    >>> import warnings
    >>> with recording_warnings() as counts:
    ...     warnings.warn("careful", UserWarning)
    >>> dict(counts)
    {'UserWarning: careful': 1}
    """
    global _recording_runs
    counts: Counter[str] = Counter()
    outer = getattr(_run, "counts", None)
    _run.counts = counts
    with _lock:
        if _recording_runs == 0:
            _install()
        _recording_runs += 1
    try:
        yield counts
    finally:
        with _lock:
            _recording_runs -= 1
            if _recording_runs == 0:
                _uninstall()
        _run.counts = outer


def in_this_run(target: Callable[P, R]) -> Callable[P, R]:
    """``target`` for another thread, whose warnings then count in the run of the
    thread that calls this (if any), as if it raised them itself."""
    counts = getattr(_run, "counts", None)

    @functools.wraps(target)
    def belonging(*args: P.args, **kwargs: P.kwargs) -> R:
        _run.counts = counts
        return target(*args, **kwargs)

    return belonging


def records_warnings(run: Callable[P, OptimizeResult]) -> Callable[P, OptimizeResult]:
    """Decorate a function returning an :class:`~optbench.run.result.OptimizeResult` so
    that the warnings it raises are counted in the result's ``warnings``, not shown."""

    @functools.wraps(run)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> OptimizeResult:
        with recording_warnings() as counts:
            result = run(*args, **kwargs)
        result.warnings = dict(counts)
        return result

    return recorded
