"""Running experiments: config → runs → the one loop → the results store.

The package itself is callable: ``optbench.run(config)`` is
:func:`optbench.run.experiment.run_experiment`, so the public name ``optbench.run``
and the subpackage ``optbench.run`` (``optbench.run.runner``, …) are one object.
"""

from __future__ import annotations

import sys
import types
from typing import Any

#: Largest number of runs a config may describe unless told otherwise (``--max-runs``);
#: counted from the sweep sizes before any run is made. Defined here, in a module that
#: imports nothing heavy, so that ``optbench --help`` can show it.
DEFAULT_MAX_RUNS = 100_000


class _CallableRunModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run an experiment config; see :func:`optbench.run.experiment.run_experiment`."""
        from optbench.run.experiment import run_experiment

        return run_experiment(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableRunModule
