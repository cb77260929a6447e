"""The DataFrames of a results directory, from a ``Results``, frames or a path.

:class:`ResultsFrames` is what the analysis modules work on: ``summary`` (one row per
run), ``traces`` (one row per logged iteration), ``runs``, ``config`` and ``path``.
:func:`results_frames` takes any object with those attributes (a
:class:`optbench.run.results.Results`, frames, or a bare summary DataFrame);
:func:`load_frames` also reads a results directory given by its path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from optbench.results_format import SUMMARY_FILE, read_config, read_summary, read_traces

T = TypeVar("T")


@dataclass
class ResultsFrames:
    """The DataFrames of a results directory (a duck-typed ``Results``).

    Build it directly from DataFrames, or with :func:`results_frames` from any object
    with ``summary`` (and optionally ``traces``, ``runs``, ``config``, ``path``).

    Tables derived from the summary (the aggregate over seeds, the best settings) are
    computed once per frames object and kept (:meth:`derived`): the frames are
    read-only once built. A new ``summary`` assigned to the frames is a new key.
    """

    summary: pd.DataFrame
    traces: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None
    config: Mapping[str, Any] | None = None
    path: Any = None
    _derived: dict[Hashable, tuple[pd.DataFrame, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def derived(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, called once per ``key`` and summary; later calls return the
        same object (treat it as read-only: copy it before changing it)."""
        kept = self._derived.get(key)
        if kept is not None and kept[0] is self.summary:
            return kept[1]
        value = compute()
        self._derived[key] = (self.summary, value)
        return value


def results_frames(results: Any) -> ResultsFrames:
    """Normalize a ``Results`` object, a :class:`ResultsFrames` or a summary DataFrame.

    An object whose ``frames`` attribute is a :class:`ResultsFrames` (a ``Results``:
    one per directory, kept) gives it, so its derived tables are computed once.
    """
    if isinstance(results, ResultsFrames):
        return results
    if isinstance(results, pd.DataFrame):
        return ResultsFrames(summary=results)
    frames = getattr(results, "frames", None)
    if isinstance(frames, ResultsFrames):
        return frames
    return ResultsFrames(
        summary=results.summary,
        traces=getattr(results, "traces", None),
        runs=getattr(results, "runs", None),
        config=getattr(results, "config", None),
        path=getattr(results, "path", None),
    )


def load_frames(results: Any) -> ResultsFrames:
    """A results directory path, a ``Results`` or :class:`ResultsFrames`.

    A path is read with the readers of :mod:`optbench.results_format`.
    """
    if not isinstance(results, (str, os.PathLike)):
        return results_frames(results)
    path = Path(results)
    if not (path / SUMMARY_FILE).is_file():
        raise ValueError(f"{path}: not an optbench results directory (no {SUMMARY_FILE})")
    return ResultsFrames(
        summary=read_summary(path),
        traces=read_traces(path),
        config=read_config(path),
        path=path,
    )
