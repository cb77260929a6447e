"""What one run produces: the trace rows and the :class:`OptimizeResult`."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from optbench.results_format import TRACE_COLUMNS, TRACE_INTEGER_COLUMNS, used_step_size

if TYPE_CHECKING:
    import pandas as pd


#: The trace columns a :class:`TraceRecorder` stores, in the order of
#: :meth:`TraceRecorder.append`'s row layout: the trace columns of the results format
#: after ``problem, optimizer``, less ``f_gap`` (computed from ``f`` when read).
RECORDED_COLUMNS = tuple(name for name in TRACE_COLUMNS[2:] if name != "f_gap")
#: Columns that hold integers (int64 in the trace table).
INTEGER_COLUMNS = frozenset(TRACE_INTEGER_COLUMNS)
#: Rows a new recorder has room for; the buffer doubles whenever it is full.
INITIAL_CAPACITY = 64


class Counters(Protocol):
    """The oracle counters a trace row records (an :class:`~optbench.problems.oracle.Oracle`)."""

    n_f: int
    n_g: int
    n_hvp: int
    n_hess: int
    n_r: int
    n_J: int
    n_sample_g: int
    n_sample_hvp: int
    cost: float


def _row_layout(integer_bytes: int) -> tuple[np.dtype, struct.Struct]:
    """The record dtype of a stored row and the :class:`struct.Struct` that packs one row
    into it (little-endian, no padding): integers of ``integer_bytes``, floats of 8."""
    integer = {4: "i", 8: "q"}[integer_bytes]
    codes = [integer if name in INTEGER_COLUMNS else "d" for name in RECORDED_COLUMNS]
    packer = struct.Struct("<" + "".join(codes))
    dtype = np.dtype(
        [(name, "<" + code) for name, code in zip(RECORDED_COLUMNS, codes, strict=True)]
    )
    assert dtype.itemsize == packer.size
    return dtype, packer


_INTEGER_POSITIONS = tuple(
    position for position, name in enumerate(RECORDED_COLUMNS) if name in INTEGER_COLUMNS
)


def _beyond_32_bits(row: tuple[Any, ...]) -> bool:
    """Whether an integer column of ``row`` holds a value outside the int32 range."""
    return any(not -(2**31) <= row[position] < 2**31 for position in _INTEGER_POSITIONS)


#: Rows with 32-bit iteration and counters (76 bytes), and with 64-bit ones (112 bytes),
#: which a recorder switches to when a value does not fit in 32 bits.
_NARROW, _WIDE = _row_layout(4), _row_layout(8)
_PACKERS = {_NARROW[0]: _NARROW[1], _WIDE[0]: _WIDE[1]}


class TraceRecorder:
    """The trace rows of one run, in a typed buffer; a DataFrame only on demand.

    Each row is packed by one :meth:`struct.Struct.pack_into` call into a preallocated
    numpy record array (:data:`RECORDED_COLUMNS`: iteration and counters as 32-bit
    integers, the rest float64; 76 bytes a row) that doubles when full; once the run
    ends, :meth:`shrink_to_fit` drops the unused rows. An iteration or counter beyond
    :math:`2^{31} - 1` widens the integers to 64 bits (112 bytes a row). ``f_gap`` is
    not stored: it is ``f - f_star`` (NaN when ``f_star`` is None), computed when the
    rows are read, the same subtraction the runner makes.

    Parameters
    ----------
    f_star : float or None
        The problem's certified optimal value, if known.
    """

    def __init__(self, f_star: float | None = None) -> None:
        self.f_star = f_star
        self._rows = np.empty(INITIAL_CAPACITY, _NARROW[0])
        #: ``Struct.pack_into`` of the current layout (writes into the numpy buffer).
        self._pack: Callable[..., None] = _NARROW[1].pack_into
        self._row_bytes = _NARROW[0].itemsize
        self._capacity = INITIAL_CAPACITY
        self._length = 0

    def append(
        self,
        iteration: int,
        time: float,
        f: float,
        grad_norm: float,
        step_size: float | None,
        counters: Counters,
    ) -> None:
        """Add the row of ``iteration``: its solver time, f, gradient norm and step size
        (None, when the solver gives none, is stored as NaN) and the ``counters`` of the
        oracle after it."""
        length = self._length
        if length == self._capacity:
            self._resize(2 * length, self._rows.dtype)
        if step_size is None:
            step_size = math.nan
        try:  # the values as arguments: building a row tuple first costs a tenth more
            self._pack(
                self._rows, length * self._row_bytes, iteration, time, f, grad_norm,
                counters.n_f, counters.n_g, counters.n_hvp, counters.n_hess, counters.n_r,
                counters.n_J, counters.n_sample_g, counters.n_sample_hvp, counters.cost,
                step_size,
            )  # fmt: skip
        except struct.error:  # the rare path: widen once if an integer is beyond 32 bits
            row = (
                iteration, time, f, grad_norm, counters.n_f, counters.n_g, counters.n_hvp,
                counters.n_hess, counters.n_r, counters.n_J, counters.n_sample_g,
                counters.n_sample_hvp, counters.cost, step_size,
            )  # fmt: skip
            if self._rows.dtype == _WIDE[0] or not _beyond_32_bits(row):
                raise
            self._resize(self._capacity, _WIDE[0])
            self._pack(self._rows, length * self._row_bytes, *row)
        self._length = length + 1

    def _resize(self, capacity: int, dtype: np.dtype) -> None:
        """Give the buffer room for ``capacity`` rows of ``dtype``, keeping the rows."""
        self._capacity = capacity
        if dtype == self._rows.dtype:
            try:  # in place (realloc) where the allocator can: no second buffer
                self._rows.resize(capacity, refcheck=True)
                return
            except ValueError:  # something else holds a view of the buffer
                pass
        rows = np.empty(capacity, dtype)
        rows[: self._length] = self._rows[: self._length]
        self._rows = rows
        self._pack = _PACKERS[dtype].pack_into
        self._row_bytes = dtype.itemsize

    def shrink_to_fit(self) -> None:
        """Release the unused part of the buffer (the runner calls it when a run ends)."""
        if self._capacity > self._length:
            self._resize(self._length, self._rows.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffer (used rows and room for more)."""
        return self._rows.nbytes

    def __len__(self) -> int:
        return self._length

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_pack"]  # a Struct method does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pack = _PACKERS[self._rows.dtype].pack_into
        self._capacity = len(self._rows)

    def last_iter(self) -> int | None:
        """Iteration number of the last logged row, if any."""
        return int(self._rows["iter"][self._length - 1]) if self._length else None

    def column(self, name: str) -> np.ndarray:
        """One numeric trace column as a new array: int64 for the iteration and the
        counters, float64 for the rest (``f_gap`` computed from ``f``)."""
        if name == "f_gap":
            if self.f_star is None:
                return np.full(self._length, math.nan)
            with np.errstate(over="ignore", invalid="ignore"):  # as Python floats subtract
                return self.column("f") - self.f_star
        stored = self._rows[: self._length][name]
        return stored.astype(np.int64 if name in INTEGER_COLUMNS else np.float64)

    def column_arrays(self) -> dict[str, np.ndarray]:
        """The numeric trace columns (``TRACE_COLUMNS[2:]``) as new arrays (:meth:`column`)."""
        return {name: self.column(name) for name in TRACE_COLUMNS[2:]}

    @property
    def columns(self) -> dict[str, list[Any]]:
        """The numeric trace columns as lists of Python ints and floats.

        Read row-wise (one ``tolist`` of the records, then transposed), which costs a
        tenth of converting each column for the short traces of tiny runs; ``f_gap`` is
        the same subtraction in Python floats (an overflow gives ``inf``, as numpy's).
        """
        rows = self._rows[: self._length].tolist()
        transposed = zip(*rows, strict=True) if rows else ([] for _ in RECORDED_COLUMNS)
        stored = {
            name: list(values) for name, values in zip(RECORDED_COLUMNS, transposed, strict=True)
        }
        f_star = self.f_star
        stored["f_gap"] = (
            [math.nan] * self._length if f_star is None else [f - f_star for f in stored["f"]]
        )
        return {name: stored[name] for name in TRACE_COLUMNS[2:]}

    def to_frame(self, problem: str, optimizer: str) -> pd.DataFrame:
        """The rows as a DataFrame with the trace columns."""
        import pandas as pd

        frame = pd.DataFrame(self.column_arrays())
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
    def step_size(self) -> float:
        """The median step the solver took (:func:`optbench.results_format.used_step_size`
        of the logged iterations' ``step_size``)."""
        return used_step_size(self.recorder.column("step_size").tolist())

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
            "step_size": self.step_size,
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
