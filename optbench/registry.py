"""Name → factory registries with did-you-mean errors.

Problems and solvers are registered by name with the :meth:`Registry.register`
decorator; asking for an unknown name raises a :class:`ValueError` that lists the
allowed names and suggests the closest one.

Installed packages register entries through entry points: the groups
``optbench.problems`` and ``optbench.solvers`` (:data:`PROBLEMS` and :data:`SOLVERS`).
They are loaded when a registry is first consulted (never at ``import optbench``); an
entry point that cannot be loaded is an :class:`EntryPointError`.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


def did_you_mean(name: str, allowed: list[str] | tuple[str, ...]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest allowed name, else ``""``."""
    close = difflib.get_close_matches(str(name), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name_message(kind: str, name: str, allowed: list[str] | tuple[str, ...]) -> str:
    """One-line error for an unknown name: what it is, the suggestion, the allowed names."""
    return (
        f"unknown {kind} {name!r}{did_you_mean(name, allowed)}; "
        f"allowed: {', '.join(sorted(allowed))}"
    )


@functools.cache
def import_submodules(package: str) -> None:
    """Import every module of ``package`` whose name does not start with ``_``, once.

    Importing a family's or a solver's module registers it, so the built-in registries
    keep no list of their modules by hand: a new module in ``optbench/problems/`` or
    ``optbench/solvers/`` is found by being there. Sub-packages are imported (their
    ``__init__`` imports what they hold).
    """
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__, f"{package}."):
        if not info.name.rsplit(".", 1)[1].startswith("_"):
            importlib.import_module(info.name)


class EntryPointError(ValueError):
    """An installed entry point that cannot be loaded; one line naming it and the cause."""


class Registry(Generic[T]):
    """A named collection of factories (classes) of one kind.

    Parameters
    ----------
    kind : str
        What the entries are (``"problem"``, ``"solver"``), used in error messages.
    entry_point_group : str, optional
        The entry-point group of installed packages' entries, loaded on first
        consultation (:meth:`get`, :meth:`names`, ``in``, iteration, ``len``). An entry
        point names a module (importing it registers its entries) or a class, which is
        registered under the entry point's name unless it registered itself.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._entry_points_loaded = entry_point_group is None
        self._entry_points_loading = False
        self._entry_points_lock = threading.RLock()

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator that registers its target under ``name``.

        Raises
        ------
        ValueError
            If ``name`` is already taken by another entry.
        """

        def decorator(entry: T) -> T:
            taken = self._entries.get(name, entry)
            if taken is not entry:
                where = f"{getattr(taken, '__module__', '?')}.{getattr(taken, '__qualname__', '?')}"
                raise ValueError(f"{self.kind} name {name!r} is already registered (by {where})")
            self._entries[name] = entry
            entry.registry_name = name  # type: ignore[attr-defined]
            return entry

        return decorator

    def get(self, name: str) -> T:
        """Return the entry registered as ``name`` or raise a did-you-mean ValueError."""
        self.load_entry_points()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(unknown_name_message(self.kind, name, self.names())) from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        self.load_entry_points()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def load_entry_points(self) -> None:
        """Load the entries of :attr:`entry_point_group` once (thread-safe).

        Called by every consultation. A failing entry point leaves the registry as it
        was (nothing it registered stays) and is tried again at the next consultation.

        Raises
        ------
        EntryPointError
            An entry point cannot be imported, raises while importing, is neither a
            module nor a class, or takes a name already registered.
        """
        group = self.entry_point_group
        if self._entry_points_loaded or group is None:
            return
        with self._entry_points_lock:
            if self._entry_points_loaded or self._entry_points_loading:
                return  # loaded meanwhile, or consulted by an entry point being loaded
            self._entry_points_loading = True
            try:
                from importlib.metadata import entry_points

                for entry_point in entry_points(group=group):
                    self._load_entry_point(entry_point)
                self._entry_points_loaded = True
            finally:
                self._entry_points_loading = False

    def _load_entry_point(self, entry_point: Any) -> None:
        import inspect

        distribution = getattr(entry_point, "dist", None)
        origin = f" of {distribution.name} {distribution.version}" if distribution else ""
        where = (
            f"entry point {entry_point.name} = {entry_point.value} "
            f"(group {self.entry_point_group}{origin})"
        )
        try:
            with undone_on_error():
                entry = entry_point.load()
                if inspect.isclass(entry) and entry not in self._entries.values():
                    # an installed package's class: nothing static says it is a T
                    self.register(entry_point.name)(cast(T, entry))
                elif not (inspect.ismodule(entry) or inspect.isclass(entry)):
                    raise TypeError(f"must name a module or a class, got {type(entry).__name__}")
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of a package's import
            raise EntryPointError(f"{where}: cannot be loaded: {failure(exc)}") from None


def failure(exc: BaseException) -> str:
    """``"<Type>: <message>"`` of an exception, on one line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


#: Problem families (classes deriving from :class:`optbench.problems.base.Problem`).
PROBLEMS: Registry = Registry("problem", entry_point_group="optbench.problems")
#: Solvers (frozen dataclasses implementing :class:`optbench.solvers.base.Solver`).
SOLVERS: Registry = Registry("solver", entry_point_group="optbench.solvers")


@contextmanager
def undone_on_error() -> Iterator[None]:
    """Context that removes what it registered in :data:`PROBLEMS` and :data:`SOLVERS`
    when it exits with an exception, so a failed import can be fixed and tried again."""
    saved = [(registry, dict(registry._entries)) for registry in (PROBLEMS, SOLVERS)]
    try:
        yield
    except BaseException:
        for registry, entries in saved:
            registry._entries.clear()
            registry._entries.update(entries)
        raise
