"""The gate's baseline is chosen from the log's verified events and must agree with the projections' fold:
whoever can write the projections directory (a CI cache), or hide a row from the log's index, cannot steer a
gate to a weak baseline; the gate refuses instead (attacker reviews F1 and 2.2)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.cli_support import cli, ok, write_json


def run(run_id: str, score: float, **extra: object) -> dict:
    return {"run_id": run_id, "project_id": "p", "model_id": "m", "environment": {}, **extra,
            "items": [{"item_id": f"q{i}", "score": score, "passed": score >= 0.5} for i in range(40)]}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    db = tmp_path / "g.db"
    ok("init", "--log", db, "--origin", "example.org/g")
    for name, score in (("weak", 0.1), ("good", 0.9), ("bad", 0.3)):
        ok("append", "run", write_json(tmp_path / f"{name}.json", run(f"m::{name}", score)), "--log", db)
    ok("history", "--log", db)  # the projections are built, as any read does
    return db


def rewrite_part(directory: Path, name: str, change) -> None:  # noqa: ANN001
    """Rewrite one Parquet file of the projections under a name of its own SHA-256, as the format wants, and
    point state.json at it: what someone who can write only the projections directory can do."""
    state_path = directory / "state.json"
    text = state_path.read_text()
    table = pq.read_table(directory / name)
    rows = [change(row) for row in table.to_pylist()]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buffer)
    data = buffer.getvalue()
    forged = name.rsplit("-", 1)[0] + f"-{hashlib.sha256(data).hexdigest()}.parquet"
    (directory / forged).write_bytes(data)
    state_path.write_text(text.replace(name, forged))


def files(directory: Path, prefix: str) -> list[str]:
    state = json.loads((directory / "state.json").read_text())
    return sorted({name for name in json.dumps(state).split('"') if name.startswith(prefix) and
                   name.endswith(".parquet")})


def test_a_forged_pin_in_the_projections_does_not_choose_the_baseline(log: Path) -> None:
    ok("baseline", "pin", "m::good", "--project", "p", "--log", log)
    ok("history", "--log", log)
    directory = Path(f"{log}.projections")
    [baselines] = files(directory, "baselines-")
    rewrite_part(directory, baselines, lambda row: {**row, "run_id": "m::weak"})
    refused_then_rebuilt(log, "--baseline", "pinned", said="m::good (pinned)")


def test_a_run_marked_superseded_in_the_projections_is_still_the_latest_baseline(log: Path) -> None:
    directory = Path(f"{log}.projections")
    parts = files(directory, "runs/part-")
    assert parts
    for part in parts:
        rewrite_part(directory, part, lambda row: {**row, "status": "superseded"} if row["run_id"] == "m::good"
                     else row)
    refused_then_rebuilt(log, "--baseline-latest", said="baseline: m::good")


def refused_then_rebuilt(log: Path, *args: str, said: str) -> None:
    """The gate refuses (exit 1, nothing recorded) while the projections disagree with the log; once they
    are rebuilt from the log, it gates against the genuine baseline: BLOCK."""
    done = cli("gate", "m::bad", *args, "--log", log)
    assert done.code == 1 and "one of them was altered" in done.err, done
    assert "verdict.recorded" not in cli("events", "--log", log).out
    ok("projections", "rebuild", "--log", log)
    done = cli("gate", "m::bad", *args, "--log", log)
    assert done.code == 10 and said in done.out, done


@pytest.mark.parametrize("column", ["project", "type"])
def test_a_row_hidden_from_the_index_makes_the_gate_fail_loudly(log: Path, column: str) -> None:
    """The file's holder changes an indexed column of the strong baseline's row, so that the index by project
    and type no longer finds it: the projections (folded from the bytes) still do, and the gate refuses."""
    from tests.tampering import as_holder

    ok("baseline", "pin", "m::good", "--project", "p", "--log", log)
    ok("history", "--log", log)
    with as_holder(log) as conn:
        conn.execute(f"UPDATE events SET {column} = 'elsewhere' WHERE subject = 'm::good'")
    for args in (("--baseline-latest",), ("--baseline", "pinned")):
        done = cli("gate", "m::bad", *args, "--log", log)
        assert done.code == 1 and "one of them was altered" in done.err, (args, done)
    assert cli("verify", "--log", log).code == 1


def test_the_report_does_not_say_forged_figures_were_checked(log: Path, tmp_path: Path) -> None:
    """Whoever writes the projections directory can rewrite a run's figures under its genuine event hash (the
    list views' documented limit). The report showed them under VERIFIED, saying "every run and verdict shown was
    confirmed against the log's bytes" (attacker review 3, finding 4): it now says what was checked, and how
    to fold the figures again from the log."""
    directory = Path(f"{log}.projections")
    for part in files(directory, "runs/part-"):
        rewrite_part(directory, part, lambda row: {**row, "pass_rate": 0.987654} if row["run_id"] == "m::weak"
                     else row)
    page = tmp_path / "report.html"
    ok("report", "--log", log, "--out", page)
    html = page.read_text()
    assert "VERIFIED" in html and "0.9877" in html  # the forged figure is shown: the report reads the projections
    assert "confirmed against the log's bytes" not in html
    assert "figures are the projections'" in html and "auditlog projections rebuild" in html
