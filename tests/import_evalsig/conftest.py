"""Stores written by the real evalsig package (its own writer API), never by hand.

evalsig's telemetry (`evalsig._telemetry`) is opt-in and off unless EVALSIG_TELEMETRY=1; it
writes a local file and sends nothing, but the tests switch it off explicitly all the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

evalsig = pytest.importorskip("evalsig", reason="evalsig is a test dependency (pip install '.[test]')")
from evalsig import ItemResult, RunFrame  # noqa: E402
from evalsig.store import RunStoreWriter  # noqa: E402

DAY = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    monkeypatch.setenv("EVALSIG_TELEMETRY", "0")
    monkeypatch.delenv("EVALSIG_TELEMETRY_PATH", raising=False)


def frame(run_id: str, model: str = "model-a", scores: tuple[float, ...] = (1.0, 0.0, 1.0, 0.5), *,
          epochs: int = 1, task: str = "arith", metric: str = "accuracy") -> RunFrame:
    items = [ItemResult(item_id=f"q{i}", score=s, cluster_id=f"c{i % 2}", epoch=e, metadata={"i": i, "e": e})
             for e in range(epochs) for i, s in enumerate(scores)]
    return RunFrame(run_id=run_id, model_id=model, task_id=task, metric_name=metric, items=items,
                    config_hash="cfg-" + run_id)


def write_store(root: Path) -> Path:
    """Project `proj`: a baseline without a gate result, a candidate evalsig ALLOWed, one it REJECTed
    (two epochs), and project `other` with one run."""
    with RunStoreWriter(root, project_id="proj") as w:
        w.write(frame("base"), ts=DAY)
        w.write(frame("cand", scores=(1.0, 1.0, 1.0, 0.5)), ts=DAY + dt.timedelta(days=1),
                delta=0.25, p_value=0.01, verdict="ALLOW", parent_run_id="base")
        w.write(frame("worse", scores=(0.0, 0.0, 1.0, 0.5), epochs=2), ts=DAY + dt.timedelta(days=40),
                delta=-0.25, p_value=0.2, verdict="REJECT", parent_run_id="base")
    with RunStoreWriter(root, project_id="other") as w:
        w.write(frame("solo", model="model-b", task="qa", metric="f1"), ts=DAY)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "store")
