"""Named suites of problem instances: what a config's ``{suite: NAME}`` expands into.

A suite is a list of :class:`SuiteEntry` (name, family, parameters, dimension, where f*
comes from), known without building any instance. Three kinds, one interface:

- every suite table of the catalog (``problems/<suite>.yaml``, e.g. ``mgh``) is a suite
  of its named instances;
- ``catalog`` is the one-file-per-instance named instances, ``synthetic`` those of
  them whose data is generated from their parameters (no data file), and ``ml_real``
  those on scikit-learn's real data sets;
- a family may register a suite computed at run time (:func:`register_suite`), e.g. one
  read from an optional package's index.

:func:`suite_entries` takes ``max_dim`` to keep the instances of at most that many
variables, as a config's ``{suite: NAME, max_dim: N}`` and ``optbench list problems
--suite NAME --max-dim N`` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optbench.problems import PROBLEMS, list_problems
from optbench.problems.catalog import (
    INSTANCE_FILES_SUITE,
    catalog_entry,
    catalog_names,
    catalog_suites,
    suite_description,
)
from optbench.registry import unknown_name_message

#: The suite of the catalog's instances whose data is generated from their parameters.
SYNTHETIC_SUITE = "synthetic"
#: The suite of the catalog's instances on real data sets (``data: sklearn:...``).
REAL_DATA_SUITE = "ml_real"


@dataclass(frozen=True)
class SuiteEntry:
    """One instance of a suite.

    Attributes
    ----------
    name : str
        The instance's name: a catalog name, or a label for a family instance.
    family : str
        Its registered family.
    params : dict
        The family's parameters.
    dimension : int or None
        Its number of variables (None when the family cannot tell before building).
    f_star_source : str
        Where its f* comes from (``certified``, ``published + certified``, ``on first
        use``, ...).
    named : bool
        Whether ``name`` is a catalog instance (a config then lists it by name).
    """

    name: str
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    dimension: int | None = None
    f_star_source: str = ""
    named: bool = True


@dataclass(frozen=True)
class _Registered:
    description: str
    entries: Callable[[], list[SuiteEntry]]


_registered: dict[str, _Registered] = {}


def register_suite(name: str, description: str, entries: Callable[[], list[SuiteEntry]]) -> None:
    """Register a suite whose instances ``entries()`` lists (called when asked for)."""
    if name in _catalog_suite_names():
        raise ValueError(f"suite {name!r} is a catalog suite already")
    _registered[name] = _Registered(description, entries)


def _catalog_suite_names() -> list[str]:
    return sorted({*catalog_suites(), INSTANCE_FILES_SUITE, SYNTHETIC_SUITE, REAL_DATA_SUITE})


def suite_names() -> list[str]:
    """Every suite: the catalog's, ``synthetic`` and the registered ones, sorted."""
    list_problems()  # importing the families registers their suites
    return sorted({*_catalog_suite_names(), *_registered})


def describe_suite(name: str) -> str:
    """The suite's one-line description."""
    _check_name(name)
    if name in _registered:
        return _registered[name].description
    if name == SYNTHETIC_SUITE:
        return "The catalog's named instances whose data is generated from their parameters."
    if name == REAL_DATA_SUITE:
        return (
            "The catalog's instances on scikit-learn's bundled real data sets "
            "(standardised features; needs optbench[data] to run)."
        )
    if name == INSTANCE_FILES_SUITE:
        return "The catalog's one-file-per-instance named instances."
    return suite_description(name)


def _check_name(name: str) -> None:
    names = suite_names()
    if name not in names:
        raise ValueError("suite: " + unknown_name_message("suite", name, names))


def _catalog_entry(name: str) -> SuiteEntry:
    entry = catalog_entry(name)
    cls = PROBLEMS.get(entry["family"])
    dimension = cls.dimension(cls.check_params(**entry["params"]))
    if entry["certify"] == "on_first_use":
        source = "certified on first use"
    elif entry["published_f_star"] is not None:
        source = "published + certified"
    elif entry["certified"] is not None:
        source = f"certified ({entry['certified']['method']})"
    else:
        source = "none"
    return SuiteEntry(name, entry["family"], dict(entry["params"]), dimension, source)


def suite_entries(name: str, max_dim: int | None = None) -> list[SuiteEntry]:
    """The instances of suite ``name`` (at most ``max_dim`` variables when given).

    Raises
    ------
    ValueError
        An unknown suite (with did-you-mean and the allowed names).
    """
    _check_name(name)
    if name in _registered:
        entries = list(_registered[name].entries())
    else:
        derived = name in (SYNTHETIC_SUITE, REAL_DATA_SUITE)
        listed = INSTANCE_FILES_SUITE if derived else name
        entries = [_catalog_entry(instance) for instance in catalog_names(suite=listed)]
        if name == SYNTHETIC_SUITE:
            entries = [entry for entry in entries if "data" not in entry.params]
        elif name == REAL_DATA_SUITE:
            entries = [e for e in entries if str(e.params.get("data", "")).startswith("sklearn:")]
    if max_dim is None:
        return entries
    return [e for e in entries if e.dimension is not None and e.dimension <= max_dim]


def suite_table() -> list[dict[str, Any]]:
    """One row per suite: name, instances, dimension range, f* sources, description."""
    rows = []
    for name in suite_names():
        try:
            entries = suite_entries(name)
        except ValueError as exc:  # a registered suite whose optional extra is missing
            rows.append(
                {
                    "suite": name,
                    "instances": 0,
                    "dimensions": "-",
                    "f_star": "-",
                    "description": str(exc),
                }
            )
            continue
        dims = [e.dimension for e in entries if e.dimension is not None]
        sources = sorted({e.f_star_source.split(" (")[0] for e in entries})
        rows.append(
            {
                "suite": name,
                "instances": len(entries),
                "dimensions": f"{min(dims)}–{max(dims)}" if dims else "-",
                "f_star": ", ".join(sources) or "-",
                "description": describe_suite(name),
            }
        )
    return rows
