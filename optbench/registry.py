"""Name → factory registries with did-you-mean errors.

Problems and solvers are registered by name with the :meth:`Registry.register`
decorator; asking for an unknown name raises a :class:`ValueError` that lists the
allowed names and suggests the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

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


class Registry(Generic[T]):
    """A named collection of factories (classes) of one kind.

    Parameters
    ----------
    kind : str
        What the entries are (``"problem"``, ``"solver"``), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator that registers its target under ``name``.

        Raises
        ------
        ValueError
            If ``name`` is already taken by another entry.
        """

        def decorator(entry: T) -> T:
            if name in self._entries and self._entries[name] is not entry:
                raise ValueError(f"{self.kind} name {name!r} is already registered")
            self._entries[name] = entry
            entry.registry_name = name  # type: ignore[attr-defined]
            return entry

        return decorator

    def get(self, name: str) -> T:
        """Return the entry registered as ``name`` or raise a did-you-mean ValueError."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(unknown_name_message(self.kind, name, self.names())) from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


#: Problem families (classes deriving from :class:`optbench.problems.base.Problem`).
PROBLEMS: Registry = Registry("problem")
#: Solvers (frozen dataclasses implementing :class:`optbench.solvers.base.Solver`).
SOLVERS: Registry = Registry("solver")
