"""Shared pytest set-up: a non-interactive matplotlib backend for every test process."""

import os

# Plots in tests are written to files only; Agg needs no display. Set before any test
# imports matplotlib (subprocesses started by tests inherit it).
os.environ.setdefault("MPLBACKEND", "Agg")
