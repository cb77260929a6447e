"""Cost of one fused value and gradient: 2-D ROSENBR through S2MPJ vs the native rosenbrock.

Run ``python benchmarks/s2mpj_cost.py`` (needs ``optbench[cutest]``). Median CPU time
(``time.process_time_ns`` around a batch of calls) over repeated batches, BLAS limited to
one thread. Oracle time is therefore not comparable across families; counts are.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from optbench.problems import make_problem


def median_cpu_seconds(
    function: Callable[[np.ndarray], object], x: np.ndarray, batch: int = 2000, repeats: int = 15
) -> float:
    """Median over ``repeats`` batches of the CPU time of one call ``function(x)``."""
    times = []
    for _ in range(repeats):
        started = time.process_time_ns()
        for _ in range(batch):
            function(x)
        times.append((time.process_time_ns() - started) / batch / 1e9)
    return statistics.median(times)


def main() -> None:
    make_problem("rosenbrock", dim=2)  # imports the families first
    started = time.perf_counter()
    cutest = make_problem("s2mpj", name="ROSENBR")
    built = time.perf_counter() - started
    native = make_problem("rosenbrock", dim=2)
    x = np.array([-1.2, 1.0])
    with threadpool_limits(limits=1):
        s2mpj_time = median_cpu_seconds(cutest.value_and_grad, x)
        native_time = median_cpu_seconds(native.value_and_grad, x)
    print(f"first s2mpj ROSENBR build (loads s2mpjlib and the problem file): {built * 1e3:.1f} ms")
    print("value_and_grad, 2-D Rosenbrock, median CPU time per call (BLAS 1 thread):")
    print(f"  s2mpj ROSENBR        {s2mpj_time * 1e6:9.2f} us")
    print(f"  native rosenbrock    {native_time * 1e6:9.2f} us")
    print(f"  ratio s2mpj/native   {s2mpj_time / native_time:9.1f}")


if __name__ == "__main__":
    main()
