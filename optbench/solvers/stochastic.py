r"""What the stochastic solvers share: the base class, the run's generator, minibatches.

A stochastic solver works on a finite sum :math:`f = \frac1n\sum_i \ell_i + R`
(:class:`~optbench.problems.base.FiniteSum`) through the Oracle's minibatch evaluations,
counted in sample gradients: one data pass costs 1, as one full gradient. It derives
from :class:`StochasticSolver`, whose ``init`` also takes the run's seeded generator
(:func:`run_generator`; the runner passes it), so the same seed gives the same iterates
and counts. Its state carries no full ``f`` or ``g``: the runner evaluates them itself,
uncounted and untimed, at its log points (every data pass by default).

- :class:`StochasticSolver`: ``stochastic = True``, refusal of problems that are not
  finite sums, ``init(oracle, x0, rng)``.
- :class:`BatchSampler`: minibatch indices with replacement, or without replacement
  through a fresh permutation each pass (random reshuffling).
- :class:`StepSizeOption`, :class:`MinibatchOptions`, :class:`ScheduleOptions`: the
  fields (with their validation) of the base step, of batch size and sampling, and of
  the step schedule (constant, :math:`\alpha/\sqrt{k+1}`, step decay by data passes),
  shared by the solvers.
- :func:`resolve_base_step`: a number, ``"c/L"`` or ``"c/L_max"`` turned into a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from optbench.problems.base import is_finite_sum
from optbench.problems.oracle import Oracle
from optbench.scalars import is_finite_number, is_integer
from optbench.solvers.base import Solver, State, StateT

#: Step schedules of :class:`ScheduleOptions`.
SCHEDULES = ("constant", "inv_sqrt", "step_decay")


def run_generator(seed: int) -> np.random.Generator:
    """The random generator of a run with ``seed``.

    A child stream of ``SeedSequence(seed)``, independent of the start-point perturbation
    that ``default_rng(seed)`` draws for seeds > 0 (:class:`~optbench.run.spec.RunSpec`).
    """
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


@dataclass
class StochasticState(State):
    """State of a stochastic solver: the iterate, its generator and minibatch sampler.

    ``f`` and ``g`` stay None (the runner evaluates the full ones at its log points).

    Attributes
    ----------
    sampler : BatchSampler
        Draws the minibatches (it holds the run's generator).
    iteration : int
        Steps taken so far.
    """

    sampler: BatchSampler | None = None
    iteration: int = 0


class StochasticSolver(Solver[StateT]):
    """Base class of solvers on minibatches of finite sums.

    ``init`` takes the run's generator as well (the runner passes
    :func:`run_generator` of the run's seed; None means seed 0). Problems that are not
    finite sums are refused in :meth:`incompatibility` with one line.
    """

    stochastic: ClassVar[bool] = True

    def init(
        self, oracle: Oracle, x0: np.ndarray, rng: np.random.Generator | None = None
    ) -> StateT:
        """Return the state at ``x0``; draw every random choice from ``rng``."""
        raise NotImplementedError

    def incompatibility(self, problem: Any) -> str | None:
        if is_finite_sum(problem):
            return None
        return (
            f"{self.registry_name or type(self).__name__} needs a finite sum with minibatch "
            f"evaluations (logistic, softmax, least_squares), got problem {problem.name!r}"
        )


class BatchSampler:
    """Minibatch row indices of a finite sum of ``n_samples`` terms.

    With replacement each batch is ``batch_size`` indices drawn uniformly; without it
    (random reshuffling), each pass over the data is a fresh permutation cut into
    consecutive batches, the last one of a pass shorter when ``batch_size`` does not
    divide ``n_samples``.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    batch_size : int
        Indices per batch (capped at ``n_samples`` without replacement).
    replacement : bool
        Draw with replacement.
    rng : numpy.random.Generator
        The run's generator.
    """

    def __init__(
        self, n_samples: int, batch_size: int, replacement: bool, rng: np.random.Generator
    ) -> None:
        self.n_samples = n_samples
        self.batch_size = batch_size if replacement else min(batch_size, n_samples)
        self.replacement = replacement
        self.rng = rng
        self._order = np.empty(0, dtype=np.intp)
        self._position = 0

    def next(self) -> np.ndarray:
        """The indices of the next batch."""
        if self.replacement:
            return self.rng.integers(0, self.n_samples, size=self.batch_size)
        if self._position >= self._order.size:
            self._order = self.rng.permutation(self.n_samples)
            self._position = 0
        stop = self._position + self.batch_size
        batch = self._order[self._position : stop]
        self._position = stop
        return batch


@dataclass(frozen=True)
class StepSizeOption:
    """The base-step field of a stochastic solver, listed first (a base of its dataclass;
    a solver redefines the default, which keeps the field's place).

    Attributes
    ----------
    step_size : float or str
        The base step: a number > 0, ``"c/L"`` or ``"c/L_max"`` (:func:`resolve_base_step`).
    """

    step_size: float | str = "1/L_max"


@dataclass(frozen=True)
class MinibatchOptions:
    """The minibatch fields of a stochastic solver (a base of its dataclass).

    Attributes
    ----------
    batch_size : int
        Samples per minibatch, an integer >= 1.
    replacement : bool
        Draw each batch with replacement; otherwise (random reshuffling) each data pass
        is a fresh permutation cut into consecutive batches (:class:`BatchSampler`).
    """

    batch_size: int = 1
    replacement: bool = False

    def check_minibatch_options(self) -> None:
        """Raise ``ValueError`` naming the first invalid field (call in ``__post_init__``)."""
        if not is_integer(self.batch_size) or int(self.batch_size) < 1:
            raise ValueError(f"batch_size: must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.replacement, bool):
            raise ValueError(f"replacement: must be True or False, got {self.replacement!r}")

    def sampler(self, oracle: Oracle, rng: np.random.Generator | None) -> BatchSampler:
        """A :class:`BatchSampler` over the oracle's samples drawing from ``rng`` (``None``:
        the generator of seed 0, for a solver called outside the runner)."""
        n_samples = oracle.n_samples
        if n_samples is None:
            raise ValueError(f"problem {oracle.problem.name!r} is not a finite sum")
        rng = run_generator(0) if rng is None else rng
        return BatchSampler(n_samples, int(self.batch_size), self.replacement, rng)


@dataclass(frozen=True)
class ScheduleOptions:
    r"""The step-schedule fields of a stochastic solver (Bottou, Curtis & Nocedal 2018, §4).

    :math:`\alpha_k` from the base step :math:`\alpha`:

    - ``"constant"``: :math:`\alpha_k = \alpha` (SGD then converges only to a
      neighbourhood of the minimiser whose size grows with :math:`\alpha` and the
      gradient noise, their Theorem 4.6);
    - ``"inv_sqrt"``: :math:`\alpha_k = \alpha/\sqrt{k+1}`, :math:`k` the step number;
    - ``"step_decay"``: :math:`\alpha_k = \alpha\,\gamma^{\lfloor p_k/e \rfloor}`, with
      :math:`p_k` the data passes done (the oracle cost), :math:`\gamma` =
      ``decay_factor`` and :math:`e` = ``decay_every``.
    """

    schedule: str = "constant"
    decay_factor: float = 0.5
    decay_every: float = 1.0

    def check_schedule_options(self) -> None:
        """Raise ``ValueError`` naming the first invalid field (call in ``__post_init__``)."""
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule: must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}"
            )
        if not (is_finite_number(self.decay_factor) and 0 < self.decay_factor <= 1):
            raise ValueError(f"decay_factor: must be a number in (0, 1], got {self.decay_factor!r}")
        if not (is_finite_number(self.decay_every) and self.decay_every > 0):
            raise ValueError(
                f"decay_every: must be a number of data passes > 0, got {self.decay_every!r}"
            )

    def scheduled_step(self, base: float, iteration: int, passes: float) -> float:
        r""":math:`\alpha_k` at step ``iteration`` after ``passes`` data passes."""
        if self.schedule == "inv_sqrt":
            return base / math.sqrt(iteration + 1)
        if self.schedule == "step_decay":
            return base * self.decay_factor ** math.floor(passes / self.decay_every + 1e-9)
        return base


def minibatch_gradient(oracle: Oracle, state: StochasticState) -> np.ndarray:
    """The gradient on the next minibatch of ``state.sampler`` (counted by the oracle)."""
    if state.sampler is None:
        raise ValueError("the state has no sampler: start it with the solver's init")
    return oracle.grad_batch(state.x, state.sampler.next())


def moved(state: StateT, gradient: np.ndarray, **changes: Any) -> StateT:
    """``state`` with ``changes`` and one more step; failed when ``gradient`` is not finite."""
    assert isinstance(state, StochasticState)
    new = state.replace(iteration=state.iteration + 1, **changes)
    if not np.isfinite(gradient).all():
        return new.failed(f"non-finite minibatch gradient at step {state.iteration}")
    return new


def smoothness_multiple(step_size: object) -> tuple[float, Literal["L", "L_max"]] | None:
    """``(c, "L")`` for ``"c/L"``, ``(c, "L_max")`` for ``"c/L_max"`` (``c`` a finite
    number > 0), else None."""
    if not isinstance(step_size, str):
        return None
    constant: Literal["L", "L_max"]
    if step_size.endswith("/L_max"):
        constant, text = "L_max", step_size[: -len("/L_max")]
    elif step_size.endswith("/L"):
        constant, text = "L", step_size[: -len("/L")]
    else:
        return None
    try:
        multiple = float(text)
    except ValueError:
        return None
    return (multiple, constant) if math.isfinite(multiple) and multiple > 0 else None


def check_base_step(step_size: object) -> None:
    """Raise ``ValueError`` unless ``step_size`` is a number > 0, ``"c/L"`` or ``"c/L_max"``."""
    if smoothness_multiple(step_size) is not None:
        return
    if is_finite_number(step_size) and float(step_size) > 0:  # type: ignore[arg-type]
        return
    raise ValueError(
        "step_size: must be a number > 0, 'c/L' or 'c/L_max' with a number c > 0 "
        f"(e.g. '0.5/L'); got {step_size!r}"
    )


def resolve_base_step(step_size: float | str, oracle: Oracle) -> float:
    """The numeric base step: the number itself, :math:`c/L` or :math:`c/L_{\\max}`.

    Raises
    ------
    ValueError
        When the problem does not provide the constant named (raised from ``init``: the
        runner records the run as ``error``).
    """
    relative = smoothness_multiple(step_size)
    if relative is None:
        return float(step_size)
    multiple, constant = relative
    smoothness = oracle.smoothness()
    value = smoothness.L if constant == "L" else smoothness.L_max
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"step_size: {step_size!r} needs {constant}, which problem "
            f"{oracle.problem.name!r} does not provide ({constant} = {value}); give a number"
        )
    return multiple / value
