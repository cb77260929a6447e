"""Plugins: user modules that register solvers or problems, imported in every process.

A config's ``plugins:`` list (and ``optbench run --plugin``) names modules
(``my_package.solvers``, imported with :func:`importlib.import_module`) or Python files
(``path/to/file.py``, relative to the config file's directory; relative to the current
directory for a config given as a mapping and for ``--plugin``). :func:`load_plugins`
imports them in the main process before the config's names are checked, and returns
them *resolved* (module names as given, files as absolute paths): that list is what the
results directory's ``config.yaml`` records and what every worker gets.
:func:`call_with_plugins` is the worker side: it imports the resolved plugins once per
process, then runs the task.

A file is imported as a module named after its resolved path (:func:`file_module_name`),
so the same file is the same module in every process (the classes it defines pickle by
reference) and a second import is a no-op. A plugin that cannot be imported, raises while
importing or registers a name already taken is a :class:`PluginError`; what it
registered before failing is removed again. The built-in families and solvers and the
installed entry points (:mod:`optbench.registry`) are loaded first, so a plugin's clash
with any of them is reported at its own import.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from optbench.problems import list_problems
from optbench.registry import failure, undone_on_error
from optbench.run.schema import ConfigError
from optbench.solvers import list_solvers

__all__ = [
    "PluginError",
    "call_with_plugins",
    "file_module_name",
    "import_plugins",
    "is_file_plugin",
    "load_plugin",
    "load_plugins",
    "load_registries",
]

R = TypeVar("R")

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_FORMS = "a module name (e.g. my_package.solvers) or a path to a .py file"
_import_lock = threading.RLock()
#: Resolved plugins imported in this process.
_imported: set[str] = set()


class PluginError(ConfigError):
    """A plugin that cannot be imported: one line naming it and the cause.

    Attributes
    ----------
    label : str
        Which plugin (``plugins[i]``, ``--plugin X``, ...); empty when not known yet.
    cause : str
        What went wrong, without the label.
    index : int or None
        Position of the plugin in the list given to :func:`load_plugins`.
    """

    def __init__(self, label: str, cause: str, index: int | None = None) -> None:
        super().__init__(f"{label}: {cause}" if label else cause)
        self.label, self.cause, self.index = label, cause, index

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a worker, re-raised in the parent
        return type(self), (self.label, self.cause, self.index)


def is_file_plugin(entry: str) -> bool:
    """Whether ``entry`` names a file (ends in ``.py`` or holds a path separator)."""
    return entry.endswith(".py") or "/" in entry or os.sep in entry


def file_module_name(path: Path) -> str:
    """The module name of the plugin file at the resolved ``path``: the same in every process.

    ``_optbench_plugin_<stem>_<12 hex digits of a SHA-256 of the path>``: no dots (it is
    no package), distinct for distinct files with one stem.
    """
    stem = re.sub(r"\W", "_", path.stem)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return f"_optbench_plugin_{stem}_{digest}"


def load_registries() -> None:
    """Register the built-in families and solvers and the installed entry points."""
    list_problems()
    list_solvers()


def load_plugin(entry: str, base_dir: str | Path | None = None) -> str:
    """Import one plugin (once per process) and return it resolved.

    Parameters
    ----------
    entry : str
        A module name, or the path of a ``.py`` file.
    base_dir : str or Path, optional
        The directory a relative file path is relative to (default: the current one).

    Returns
    -------
    str
        The module name as given, or the file's absolute resolved path.

    Raises
    ------
    PluginError
        ``entry`` is neither form, the file does not exist, or importing it fails
        (including a name it registers that is already taken); the message is the cause.
    """
    if not isinstance(entry, str) or not (is_file_plugin(entry) or _MODULE_NAME.fullmatch(entry)):
        raise PluginError("", f"must be {_FORMS}, got {entry!r}")
    if is_file_plugin(entry):
        path = (Path(base_dir or ".") / Path(entry).expanduser()).resolve()
        if not path.is_file() or path.suffix != ".py":
            relative = "" if Path(entry).expanduser().is_absolute() else f" (from {entry!r})"
            problem = "is not a .py file" if path.exists() else "no such file"
            raise PluginError("", f"{path}: {problem}{relative}")
        resolved = str(path)
    else:
        resolved = entry
    with _import_lock:
        if resolved not in _imported:
            load_registries()
            try:
                with undone_on_error():
                    _import(resolved)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
                raise PluginError("", f"importing {resolved} failed: {failure(exc)}") from None
            _imported.add(resolved)
    return resolved


def _import(resolved: str) -> ModuleType:
    if not is_file_plugin(resolved):
        return importlib.import_module(resolved)
    name = file_module_name(Path(resolved))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ImportError(f"no loader for {resolved}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing: dataclasses and pickle look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugins(
    entries: Sequence[str], base_dir: str | Path | None = None, option: str | None = None
) -> list[str]:
    """Import plugins in order and return them resolved (see :func:`load_plugin`).

    Parameters
    ----------
    entries : sequence of str
        Module names or ``.py`` paths.
    base_dir : str or Path, optional
        The directory relative paths are relative to (default: the current one).
    option : str, optional
        The name of the plugins in error lines (e.g. ``--plugin``); default
        ``plugins[i]``.

    Raises
    ------
    PluginError
        The first plugin that cannot be imported: ``plugins[i]: <cause>`` (or
        ``<option> <entry>: <cause>``), with its :attr:`~PluginError.index`.
    """
    resolved = []
    for index, entry in enumerate(entries):
        try:
            resolved.append(load_plugin(entry, base_dir))
        except PluginError as exc:
            label = f"{option} {entry}" if option else f"plugins[{index}]"
            raise PluginError(label, exc.cause, index) from None
    return resolved


def import_plugins(resolved: Sequence[str]) -> None:
    """Import resolved plugins (from :func:`load_plugins`) not yet imported in this process.

    Raises
    ------
    PluginError
        A plugin cannot be imported here (e.g. a file missing on a Dask worker's machine),
        named with this process's id.
    """
    for entry in resolved:
        if entry not in _imported:
            try:
                load_plugin(entry)
            except PluginError as exc:
                raise PluginError(f"plugin {entry} in process {os.getpid()}", exc.cause) from None


def call_with_plugins(plugins: Sequence[str], function: Callable[..., R], *args: Any) -> R:
    """``function(*args)`` after importing ``plugins`` in this process: a worker's task.

    The executor's backends submit their task function through it, so each worker
    process imports the plugins once, before its first task.
    """
    import_plugins(plugins)
    return function(*args)
