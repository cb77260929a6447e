"""Shared pytest set-up: a non-interactive matplotlib backend for every test process,
the ``--update-golden`` option of ``tests/test_golden_counts.py``, and the
``certify_calls`` fixture that records every f* certification."""

import os
import signal

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
