"""Test helpers: results directories in the per-run layout written before batches.

Before batches, ``runs/`` held one ``<run_id>.parquet`` (its trace rows) and one
``<run_id>.json`` (its summary row, a JSON object) per finished run. These helpers
turn a directory written today into that layout, so that tests can check that such
directories still load, verify and resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq


def batch_rows(runs: Path) -> dict[str, list[dict[str, Any]]]:
    """Summary rows of every batch in ``runs``, by batch name."""
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines() if line]
        for path in sorted(runs.glob("batch-*.jsonl"))
    }


def finished_run_ids(out: Path) -> list[str]:
    """Ids of the runs in the complete batches (and run files) of ``out/runs``."""
    runs = out / "runs"
    if not runs.is_dir():
        return []
    ids = [row["run_id"] for rows in batch_rows(runs).values() for row in rows]
    return ids + [path.stem for path in sorted(runs.glob("*.json"))]


def to_per_run_layout(
    out: Path, row: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row
) -> list[str]:
    """Rewrite the batches of ``out/runs`` as one file pair per run (the older layout);
    ``row`` changes each summary row on the way (e.g. drops a later column). Returns the
    run ids, in the order the batches held them."""
    runs = out / "runs"
    ids = []
    for name, rows in batch_rows(runs).items():
        traces = pq.read_table(runs / f"{name}.parquet")
        for summary in rows:
            run_id = summary["run_id"]
            mine = traces.filter(pc.equal(traces.column("run_id"), run_id))
            pq.write_table(mine, runs / f"{run_id}.parquet")
            (runs / f"{run_id}.json").write_text(json.dumps(row(summary)) + "\n")
            ids.append(run_id)
        (runs / f"{name}.jsonl").unlink()
        (runs / f"{name}.parquet").unlink()
    return ids


def rewrite_batch_rows(out: Path, row: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Apply ``row`` to every summary row of the batches of ``out/runs`` (in place)."""
    runs = out / "runs"
    for name, rows in batch_rows(runs).items():
        text = "".join(json.dumps(row(summary)) + "\n" for summary in rows)
        (runs / f"{name}.jsonl").write_text(text)
