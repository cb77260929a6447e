"""On-disk cache of certified optima f* for instances too large to certify in tests.

A catalog instance marked ``certify: on_first_use`` (see
:mod:`optbench.problems.catalog`) has its f* certified the first time it is asked for,
on the machine that asks, and stored here; every later process reads it back and never
recomputes it. One JSON file per instance::

    <cache dir>/f_star/<key>.json      key = optbench.problems.certify.cache_key(problem)

The key is the SHA-256 of the family, its normalized parameters (seed included) and, for
user data, the data bytes, so a change to any of them is a different file. The cache
directory is ``$OPTBENCH_CACHE_DIR`` when set, else the user's cache directory:
``platformdirs.user_cache_dir("optbench")`` when platformdirs is installed, otherwise
``$XDG_CACHE_HOME/optbench`` or ``~/.cache/optbench`` (``%LOCALAPPDATA%\\optbench\\Cache``
on Windows).

Files are written atomically (a temporary file in the same folder, then
:func:`os.replace`), so a reader sees a whole file or none. A file that cannot be read,
is not a JSON object with the expected fields, or belongs to another key is ignored with
a ``RuntimeWarning`` naming it (the caller recomputes and overwrites it). A cache folder
that cannot be written is reported with a warning too; f* is still returned.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from optbench.scalars import is_integer, is_number

#: Environment variable that overrides the cache directory.
ENV_VAR = "OPTBENCH_CACHE_DIR"
#: Sub-folder of the cache directory that holds the f* files.
SUBDIR = "f_star"
#: Fields every cache file holds (more may be present: family, params, timings, ...).
REQUIRED_FIELDS = ("key", "f_star", "grad_norm", "tolerance", "method", "iters")


def cache_dir() -> Path:
    """The optbench cache directory (not created here)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError:
        pass
    else:
        return Path(platformdirs.user_cache_dir("optbench", appauthor=False))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "optbench" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "optbench"


def entry_path(key: str) -> Path:
    """Path of the cache file of ``key``."""
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise ValueError(f"key: must be a lowercase hexadecimal digest, got {key!r}")
    return cache_dir() / SUBDIR / f"{key}.json"


def read_entry(key: str) -> dict[str, Any] | None:
    """The cached entry of ``key``; None when absent, or (with a warning) when corrupt."""
    path = entry_path(key)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        _warn(f"ignoring unreadable f* cache file {path}: {error}")
        return None
    try:
        entry = json.loads(text)
    except ValueError as error:
        _warn(f"ignoring corrupt f* cache file {path}: not valid JSON ({error})")
        return None
    problem = _invalid_reason(entry, key)
    if problem:
        _warn(f"ignoring corrupt f* cache file {path}: {problem}")
        return None
    return entry


def write_entry(key: str, entry: dict[str, Any]) -> Path | None:
    """Write ``entry`` (which must hold :data:`REQUIRED_FIELDS`) for ``key`` atomically.

    Returns the path written, or None (with a warning) when the folder is not writable.

    Raises
    ------
    ValueError
        If ``entry`` lacks a required field or has an invalid value.
    """
    entry = dict(entry, key=key)
    problem = _invalid_reason(entry, key)
    if problem:
        raise ValueError(f"entry: {problem}")
    path = entry_path(key)
    text = json.dumps(entry, indent=1, sort_keys=True, default=_json_default) + "\n"
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:16]}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        _warn(f"could not write the f* cache file {path}: {error}")
        return None
    return path


def _invalid_reason(entry: Any, key: str) -> str:
    """Why ``entry`` is not a valid cache entry for ``key`` ('' when it is)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    missing = [name for name in REQUIRED_FIELDS if name not in entry]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if entry["key"] != key:
        return f"key {entry['key']!r} does not match the file's key"
    for name in ("f_star", "grad_norm", "tolerance"):
        value = entry[name]
        if not is_number(value):
            return f"{name} is not a number: {value!r}"
        if not math.isfinite(value) or (name != "f_star" and value < 0):
            return f"{name} is not a finite{'' if name == 'f_star' else ' non-negative'} number"
    if not isinstance(entry["method"], str) or not entry["method"]:
        return "method is not a non-empty string"
    iters = entry["iters"]
    if not is_integer(iters) or iters < 0:
        return f"iters is not an integer >= 0: {iters!r}"
    return ""


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)
