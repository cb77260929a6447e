"""Shared pytest set-up: a non-interactive matplotlib backend for every test process,
the ``--update-golden`` option of ``tests/test_golden_counts.py``, the
``certify_calls`` fixture that records every f* certification, and the
``workers_spy`` fixture that watches the workers of the automatic executor backend."""

import functools
import os
import signal
import time

import pytest

# Plots in tests are written to files only; Agg needs no display. Set before any test
# imports matplotlib (subprocesses started by tests inherit it).
os.environ.setdefault("MPLBACKEND", "Agg")

# A test run started as a background job (``cmd &`` without job control, or under
# /usr/bin/time) inherits an ignored SIGINT, and so would every process it starts: the
# Ctrl-C tests need the disposition a terminal gives, so the test process takes it back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--update-golden``: rewrite ``tests/golden/counts.csv`` and print the diff."""
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/counts.csv from a fresh computation and print the diff "
        "of changed rows (same as python tests/golden_counts.py --update)",
    )


@pytest.fixture
def certify_calls(monkeypatch):
    """The problems that :func:`optbench.problems.certify.certify` is called on."""
    from optbench.problems import certify as certify_module

    calls = []
    original = certify_module.certify

    def counting_certify(problem, *args, **kwargs):
        calls.append(problem)
        return original(problem, *args, **kwargs)

    monkeypatch.setattr(certify_module, "certify", counting_certify)
    return calls


@pytest.fixture
def isolated_plugins(monkeypatch):
    """Undo after the test what plugins register and import in this process.

    The registries (built-ins loaded first), the set of imported plugins and the modules
    of plugin files are restored; worker processes keep what they imported, so tests
    give their plugins' solvers and problems distinct names.
    """
    import sys

    from optbench.registry import PROBLEMS, SOLVERS
    from optbench.run import plugins

    plugins.load_registries()
    for registry in (PROBLEMS, SOLVERS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(plugins, "_imported", set())
    modules = set(sys.modules)
    yield
    for name in set(sys.modules) - modules:
        if name.startswith("_optbench_plugin_"):
            del sys.modules[name]


class WorkersSpy:
    """Watches the workers of the automatic backend: how many tasks they were handed.

    ``up_after`` replaces the empty call a worker answers when it is up by a sleep of
    that many seconds (it runs in the worker); ``wait_for_workers`` holds this process's
    first task until a worker has been handed one. The workers are stopped at the end.
    """

    def __init__(self, monkeypatch, up_after: float = 0.0, wait_for_workers: bool = False):
        from optbench.run import executor

        self.handed: list[int] = []  # tasks handed to the workers, per experiment
        self.instances: list = []
        spy = self

        class Spied(executor._Workers):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                spy.instances.append(self)

            def close(self):
                super().close()
                spy.handed.append(self._handed)

        monkeypatch.setattr(executor, "_Workers", Spied)
        if up_after:
            monkeypatch.setattr(executor, "_worker_up", functools.partial(time.sleep, up_after))
        if wait_for_workers:
            original = executor._timed_batches

            def after_a_worker_task(*args):
                deadline = time.monotonic() + 60
                while spy.instances[-1]._handed == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
                yield from original(*args)

            monkeypatch.setattr(executor, "_timed_batches", after_a_worker_task)

    def stop(self):
        for workers in self.instances:
            workers._executor.shutdown(wait=True, kill_workers=True)


@pytest.fixture
def workers_spy(monkeypatch):
    """``workers_spy(up_after=..., wait_for_workers=...)``: a :class:`WorkersSpy`."""
    spies: list[WorkersSpy] = []

    def make(**kwargs):
        spies.append(WorkersSpy(monkeypatch, **kwargs))
        return spies[-1]

    yield make
    for spy in spies:
        spy.stop()
