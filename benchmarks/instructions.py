"""The runner's cost per iteration in machine instructions (callgrind), not in time.

Time on a shared virtual machine drifts by tens of per cent from one hour to the next,
and the per-iteration overhead of :mod:`overhead`'s ``iteration`` section is a few
microseconds on a step of ten; instructions do not depend on the load or on the VM's
speed. This script counts them with valgrind's callgrind for the three loops of that
section on 2-D Rosenbrock, gradient descent at a fixed step: the hand loop
(``x = x - s*g; f, g = problem.value_and_grad(x)``), the floor (the hand loop with the
runner's bookkeeping written inline) and the runner
(:func:`~optbench.run.runner.run_solver`, a trace row every iteration). Each loop runs
in a fresh interpreter under callgrind twice, for two iteration counts; the difference
of the two totals divided by the difference of the counts is the cost of one
iteration, start-up and imports cancelling out (a plain run first writes the bytecode
caches, so that no counted run compiles a module). ``PYTHONHASHSEED`` is fixed (hash
randomisation moves the counts by about 3,000 instructions an iteration) and BLAS is
pinned to one thread; a count then repeats to within a few hundred instructions. The
target of 15 % on Rosenbrock (of the hand loop's time) is printed beside the runner's
share, as a guide: instructions and time need not agree (the interpreter's
bookkeeping runs fewer instructions a cycle than numpy's calls).

Needs ``valgrind`` on the PATH; each run under callgrind takes half a minute or more.
Run from the repository root::

    PYTHONPATH=. python benchmarks/instructions.py [--iterations 2000,12000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from machine import fresh_environment, machine_lines
from threadpoolctl import threadpool_limits

#: The loops counted, as :mod:`overhead` names its functions.
LOOPS = {"loop": "hand_loop", "floor": "bookkeeping_loop", "runner": "harness"}
#: Step of gradient descent on 2-D Rosenbrock, as in :mod:`overhead`.
STEP_SIZE = 1e-3
#: Share of the hand loop the runner may add on 2-D Rosenbrock (the time target).
TARGET_PERCENT = 15.0
#: The children's environment: hash seed fixed, BLAS on one thread, bytecode cached.
ENVIRONMENT = fresh_environment(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")


def child(loop: str, iterations: int) -> None:
    """Run ``loop`` for ``iterations`` gradient steps on 2-D Rosenbrock (under callgrind)."""
    import overhead

    import optbench

    problem = optbench.make_problem("rosenbrock", dim=2)
    getattr(overhead, LOOPS[loop])(problem, STEP_SIZE, iterations)


def child_command(loop: str, iterations: int) -> list[str]:
    """The command of a fresh interpreter running ``loop`` for ``iterations`` steps."""
    return [sys.executable, str(Path(__file__).resolve()), "--child", loop, str(iterations)]


def instructions(loop: str, iterations: int) -> int:
    """Instructions callgrind counts for a fresh interpreter running ``loop``."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    done = subprocess.run(
        command + child_command(loop, iterations), env=ENVIRONMENT, capture_output=True, text=True
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"callgrind of {loop} failed ({done.returncode}): {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", default="2000,12000", help="two iteration counts")
    parser.add_argument("--child", nargs=2, metavar=("LOOP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found on the PATH: this benchmark counts with callgrind")
    low, high = sorted(int(n) for n in args.iterations.split(","))
    threadpool_limits(1)  # as in the children (OPENBLAS_NUM_THREADS=1), for the BLAS line
    # One plain run first writes the bytecode caches of every module the loops import,
    # so that no counted run compiles one (that would not cancel out between the two).
    subprocess.run(child_command("runner", 1), env=ENVIRONMENT, check=True)
    print("optbench instructions per iteration: gd at a fixed step on 2-D Rosenbrock")
    print("\n".join(machine_lines()))
    print(f"callgrind; PYTHONHASHSEED=0; ({high:,} - {low:,} iterations) / {high - low:,}\n")
    per = {
        loop: (instructions(loop, high) - instructions(loop, low)) / (high - low) for loop in LOOPS
    }
    hand = per["loop"]
    print(f"{'loop':<8} {'instructions':>12} {'above the hand loop':>20} {'% of it':>8}")
    for loop, count in per.items():
        above, share = (
            ("", "")
            if loop == "loop"
            else (f"{count - hand:,.0f}", f"{100 * (count - hand) / hand:.1f}")
        )
        print(f"{loop:<8} {count:12,.0f} {above:>20} {share:>8}".rstrip())
    runner = 100 * (per["runner"] - hand) / hand
    verdict = "ok" if runner <= TARGET_PERCENT else "MISSED"
    print(
        f"\nrunner above the hand loop: {runner:.1f} % (target <= {TARGET_PERCENT:g} %: {verdict})"
    )


if __name__ == "__main__":
    main()
