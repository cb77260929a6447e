"""The Moré–Garbow–Hillstrom test set: the ``mgh`` problem family and its functions.

Importing the package imports every module in it, so each function module registers its
classes in :data:`~optbench.problems.mgh.definition.FUNCTIONS` and :mod:`.family`
registers the ``mgh`` family: a new module needs no import line.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
