"""What one run produces: the trace rows and the :class:`OptimizeResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Trace columns, in order; ``run_id`` is added by the store.
TRACE_COLUMNS = (
    "problem",
    "optimizer",
    "iter",
    "time",
    "f",
    "f_gap",
    "grad_norm",
    "n_f",
    "n_g",
    "n_hvp",
    "n_hess",
    "n_r",
    "n_J",
    "n_sample_g",
    "n_sample_hvp",
    "cost",
    "step_size",
)


class TraceRecorder:
    """Column-wise buffer of trace rows; turned into a DataFrame only on demand."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in TRACE_COLUMNS[2:]}

    def append(self, **row: Any) -> None:
        """Add one row (the keys are the numeric trace columns)."""
        for name, values in self.columns.items():
            values.append(row[name])

    def __len__(self) -> int:
        return len(self.columns["iter"])

    def last_iter(self) -> int | None:
        """Iteration number of the last logged row, if any."""
        return self.columns["iter"][-1] if len(self) else None

    def to_frame(self, problem: str, optimizer: str) -> pd.DataFrame:
        """The rows as a DataFrame with the trace columns."""
        import pandas as pd

        frame = pd.DataFrame(self.columns)
        frame.insert(0, "optimizer", optimizer)
        frame.insert(0, "problem", problem)
        return frame


@dataclass(frozen=True)
class TargetHit:
    """First iteration, cost and solver time at which ``f - f* <= target``."""

    iter: int
    cost: float
    time: float


@dataclass
class OptimizeResult:
    """The outcome of one run of a solver on a problem.

    ``status == "converged"`` only when a stopping test held at ``x``. Counts are
    oracle calls made by the solver; ``time`` is the wall time spent inside
    ``init``/``step`` (logging excluded); ``cost`` is in gradient-equivalents.
    ``n_r`` and ``n_J`` count residual vectors and Jacobians (least-squares-shaped
    problems only), ``n_sample_g`` and ``n_sample_hvp`` sample gradients and sample HVPs
    of minibatch evaluations (finite sums only). ``compile_time`` is the time spent
    compiling, never in ``time``:
    the problem's oracles (:attr:`~optbench.problems.base.Problem.compile_seconds`) and
    the solver's step when it compiled one for this run (``state.info`` key
    :data:`~optbench.solvers.base.COMPILE_SECONDS`).
    ``targets`` maps each requested level ε of ``f - f*`` to its first
    :class:`TargetHit` (absent when never reached). ``warnings`` counts the
    warnings raised during the run by ``"<Category>: <message>"``.
    """

    problem: str
    optimizer: str
    x: np.ndarray
    f: float
    grad_norm: float
    f_gap: float
    status: str
    message: str
    iters: int
    n_f: int
    n_g: int
    n_hvp: int
    n_hess: int
    cost: float
    time: float
    recorder: TraceRecorder = field(repr=False)
    targets: dict[float, TargetHit] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    n_r: int = 0
    n_J: int = 0
    n_sample_g: int = 0
    n_sample_hvp: int = 0
    compile_time: float = 0.0

    @property
    def trace(self) -> pd.DataFrame:
        """One row per logged iteration (iteration 0 is ``x0``), the trace columns."""
        return self.recorder.to_frame(self.problem, self.optimizer)

    @property
    def success(self) -> bool:
        """Whether the run converged."""
        return self.status == "converged"

    def summary(self) -> dict[str, Any]:
        """The scalar fields as a dict (one summary row without run parameters)."""
        return {
            "problem": self.problem,
            "optimizer": self.optimizer,
            "status": self.status,
            "message": self.message,
            "iters": self.iters,
            "n_f": self.n_f,
            "n_g": self.n_g,
            "n_hvp": self.n_hvp,
            "n_hess": self.n_hess,
            "n_r": self.n_r,
            "n_J": self.n_J,
            "n_sample_g": self.n_sample_g,
            "n_sample_hvp": self.n_sample_hvp,
            "cost": self.cost,
            "time": self.time,
            "compile_time": self.compile_time,
            "f_final": self.f,
            "f_gap_final": self.f_gap,
            "grad_norm_final": self.grad_norm,
        }

    def __repr__(self) -> str:
        return (
            f"OptimizeResult({self.optimizer} on {self.problem}: {self.status}, "
            f"iters={self.iters}, f={self.f:.6g}, grad_norm={self.grad_norm:.3g}, "
            f"n_f={self.n_f}, n_g={self.n_g}, n_hvp={self.n_hvp}, n_hess={self.n_hess}, "
            f"n_r={self.n_r}, n_J={self.n_J}, n_sample_g={self.n_sample_g}, "
            f"n_sample_hvp={self.n_sample_hvp}, "
            f"cost={self.cost:.6g}, time={self.time:.3g}s)"
        )


def nan_if_none(value: float | None) -> float:
    """``value`` as a float, NaN for ``None``."""
    return math.nan if value is None else float(value)
