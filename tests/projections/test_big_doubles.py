"""Integral doubles of 2**53 and beyond, below 1e21: RFC 8785 writes them as integer digits (1e17 is
`100000000000000000`), orjson reads those back as Python ints, and Arrow will not put such an int in
a float64 column. The readers take them as the doubles they are (columns._as_doubles), so a log that
holds one stays readable: every query, the gate, publish and the TUI's run detail, with exact values,
and a rebuild and a catch-up write the same files. (Before, one such run made every query fail for
good, while `verify` said ok.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog, IntegrityError
from projections.columns import run_tables
from tests.support.cli import cli, ok

from .test_build import contents, digest
from .test_columns import kept

# Each is a double, written by RFC 8785 as integer digits (all but the last two, beyond 1e21, which
# take an exponent and are read back as floats anyway); 2**53 + 2 is the first double above 2**53.
METRICS_A = {"tokens": 1e17, "neg": -9007199254740994.0, "big": 1e20, "top": 18446744073709549568.0,
             "huge": 1e21, "tiny": -1e22, "acc": 0.5}
METRICS_B = {"tokens": 3e17, "neg": -1e17, "big": 1e20, "top": 18446744073709549568.0,
             "huge": 1e21, "tiny": -1e22, "acc": 0.75}


def _run(run_id: str, metrics: dict, scale: float, group: str, version: str) -> dict:
    return {"run_id": run_id, "project_id": "p", "model_id": "m", "model_version": version,
            "experiment": {"id": "e", "group": group}, "metrics": metrics,
            "metric_scopes": {"eval": {"status": "valid", "metrics": {"tok": 2e17 * scale}}},
            "items": [{"item_id": "q", "score": 1.0, "passed": True, "latency_ms": 1e17 * scale,
                       "cost_usd": 1e18 * scale, "tokens": 5},
                      {"item_id": "r", "score": 0.0 if scale == 1 else 1.0, "passed": scale != 1,
                       "latency_ms": 3.0}]}


RUN_A = _run("m::p::a", METRICS_A, 1, "control", "1")
RUN_B = _run("m::p::b", METRICS_B, 3, "treatment", "2")
VERDICT = {"run_id": "m::p::b", "baseline_run_id": "m::p::a", "metric": "tokens", "verdict": "ALLOW",
           "delta": 2e17, "p_value": 0.5, "ci_low": 1e17, "ci_high": 3e17, "computed_by": "evalsig"}


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    """A log, written through the CLI, whose runs and verdict hold integral doubles >= 2**53."""
    db = tmp_path / "big.db"
    for name, doc in (("a", RUN_A), ("b", RUN_B)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        ok("append", "run", tmp_path / f"{name}.json", "--log", db)
    (tmp_path / "v.json").write_text(json.dumps(VERDICT))
    ok("append", "verdict", tmp_path / "v.json", "--log", db)
    with AuditLog.open(db, create=False) as log:
        body = log.event(1).body
    assert b'"tokens":100000000000000000,' in body and b'"latency_ms":100000000000000000,' in body, \
        "the log holds them as RFC 8785 writes them: integer digits"
    return db


def _json(*args: object) -> object:
    return json.loads(ok(*args).out)


def _exactly(found: dict, want: dict) -> None:
    """The same values, each a float (not an int that happens to compare equal)."""
    assert found == want and all(type(v) is float for v in found.values()), found


def test_every_query_reads_a_log_holding_integral_doubles_beyond_2_53(big_log: Path) -> None:
    log = ("--log", big_log)
    assert ok("verify", *log).out.startswith("ok")
    history = {r["run_id"]: r for r in _json("history", "-o", "json", *log)}
    _exactly(history["m::p::a"]["metrics"], METRICS_A)
    _exactly(history["m::p::b"]["metrics"], METRICS_B)
    assert history["m::p::b"]["scoped_metrics"] == {"eval/tok": 6e17} and history["m::p::b"]["verdict"] == "ALLOW"
    table = ok("history", *log).out
    assert "m::p::a" in table and "m::p::b" in table

    shown = _json("show", "m::p::a", "-o", "json", *log)
    _exactly(shown["current"]["metrics"], METRICS_A)
    assert shown["current"]["scoped_metrics"] == {"eval/tok": 2e17}
    assert "tokens" in ok("show", "m::p::b", *log).out

    trend = _json("trend", "--project", "p", "--metric", "tokens", "-o", "json", *log)
    assert [(p["model_version"], p["avg"], p["min"], p["max"]) for p in trend] == [("1", 1e17, 1e17, 1e17),
                                                                                  ("2", 3e17, 3e17, 3e17)]
    scoped = _json("trend", "--project", "p", "--metric", "eval/tok", "-o", "json", *log)
    assert [p["last"] for p in scoped] == [2e17, 6e17]

    compared = _json("compare", "m::p::a", "m::p::b", "-o", "json", *log)
    figures = {f["name"]: f for f in compared["figures"]}
    assert (figures["metrics.tokens"]["a"], figures["metrics.tokens"]["b"]) == (1e17, 3e17)
    assert figures["metrics.tokens"]["delta"] == 2e17 and figures["metrics.neg"]["delta"] == -1e17 + 9007199254740994.0
    assert figures["metrics.eval/tok"]["delta"] == 4e17
    assert ok("compare", "m::p::a", "m::p::b", *log).out

    runs = {r["run_id"]: r for r in _json("export", "--what", "runs", "-o", "json", *log)}
    _exactly(runs["m::p::a"]["metrics"], METRICS_A)
    items = _json("export", "--what", "items", "-o", "json", *log)
    assert [(i["item_id"], i["latency_ms"], i["cost_usd"], i["tokens"]) for i in items] == [
        ("q", 1e17, 1e18, 5), ("r", 3.0, None, None), ("q", 3e17, 3e18, 5), ("r", 3.0, None, None)]
    csv = ok("export", "--what", "runs", "-o", "csv", *log).out
    assert "1e+17" in csv and "-9007199254740994.0" in csv
    verdicts = _json("export", "--what", "verdicts", "-o", "json", *log)
    assert [(v["delta"], v["p_value"], v["ci_low"], v["ci_high"]) for v in verdicts] == [(2e17, 0.5, 1e17, 3e17)]

    ab = _json("ab", "--experiment", "e", "-o", "json", *log)
    assert isinstance(ab, dict) and ab["rows"][0]["improvement"]["metrics.eval/tok"] == 4e17

    gated = cli("gate", "m::p::b", "--baseline", "m::p::a", *log)
    assert gated.code in (0, 10, 11) and "Traceback" not in gated.err, str(gated)  # a verdict, not an error
    assert "verdict.recorded" in gated.out
    assert len(_json("export", "--what", "verdicts", "-o", "json", *log)) == 2


def test_publish_and_the_tui_run_detail_read_it(big_log: Path, tmp_path: Path) -> None:
    from auditlog.tui.data.detail import load_detail

    ok("keygen", "--name", "test", "--out", tmp_path / "log.key")
    assert "published" in ok("publish", "--log", big_log, "--to", tmp_path / "pub", "--key", tmp_path / "log.key").out
    with AuditLog.open(big_log, create=False) as log:
        view = projections.open(log, f"{big_log}.projections")
        detail = load_detail(log, view, "m::p::a")
    _exactly(detail.header["metrics"], METRICS_A)
    assert [(i["item_id"], i["latency_ms"], i["cost_usd"]) for i in detail.items] == [("r", 3.0, None),
                                                                                      ("q", 1e17, 1e18)]


def test_show_reads_the_same_values_as_the_projections(big_log: Path) -> None:
    """app/run_state folds one run from its event (core parse_event: the doubles as floats); the
    projections' row holds the same values."""
    from auditlog.app.run_state import current_state, item_records

    with AuditLog.open(big_log, create=False) as log:
        view = projections.open(log, f"{big_log}.projections")
        frame = projections.load_run(view, "m::p::a")
        sealed = log.event(frame.header["seq"])
        assert current_state(sealed, []) == {**frame.header, "verdict": None, "verdict_seq": None}
        assert item_records(sealed) == frame.item_records()


def test_a_rebuild_and_a_catch_up_across_such_runs_write_the_same_files(tmp_path: Path) -> None:
    """Runs with such doubles among plain ones, in one chunk and across catch-ups: the same rows and,
    compacted, the same bytes as a rebuild."""
    inc, full = tmp_path / "inc", tmp_path / "full"
    with AuditLog.open(tmp_path / "log.db") as log:
        projections.catch_up(log, inc)
        for i in range(12):
            metrics = {"acc": i / 12, "n": i} | ({"tokens": 2.0**53 + 2 * i, "cost": -1e18 * i} if i % 3 else {})
            items = [{"item_id": f"x{k}", "score": k / 4, "passed": k > 1,
                      **({"latency_ms": 1e17 + 2**10 * k} if i % 2 else {"latency_ms": k})} for k in range(4)]
            log.record_run({"project_id": "p", "model_id": "m", "run_id": f"r{i}", "metrics": metrics,
                            "items": items})
            if i == 5:
                log.record_verdict({"run_id": "r5", "baseline_run_id": "r4", "metric": "tokens", "verdict": "ALLOW",
                                    "delta": 4e17, "ci_low": -1e18, "ci_high": 1e19, "computed_by": "evalsig"})
            if i % 4 == 3:
                projections.catch_up(log, inc)
        projections.catch_up(log, inc)
        projections.rebuild(log, full)
    caught_up, rebuilt = contents(projections.open_built(inc)), contents(projections.open_built(full))
    assert caught_up == rebuilt
    rows = {r["run_id"]: r for r in rebuilt["runs"]}
    assert rows["r4"]["metrics"] == {"acc": 4 / 12, "cost": -4e18, "n": 4.0, "tokens": 2.0**53 + 8}
    assert rows["r3"]["metrics"] == {"acc": 3 / 12, "n": 3.0}
    assert [i["latency_ms"] for i in rebuilt["items"] if i["run_id"] == "r1"] == [1e17 + 2**10 * k for k in range(4)]
    assert [(v["delta"], v["ci_low"], v["ci_high"]) for v in rebuilt["verdicts"]] == [(4e17, -1e18, 1e19)]
    assert projections.open_built(inc).manifest() == projections.open_built(full).manifest()
    projections.compact(inc)
    assert digest(inc) == digest(full)


def _as_floats(run: dict) -> dict:
    """The document as a reader of JSON numbers as doubles would hold it."""
    return {**run, "metrics": {k: float(v) for k, v in run.get("metrics", {}).items()},
            "items": [{**i, **{n: float(i[n]) for n in ("score", "latency_ms", "cost_usd") if n in i}}
                      for i in run.get("items", [])]}


def test_a_chunk_holding_such_ints_gives_the_tables_of_the_doubles(tmp_path: Path) -> None:
    """Converted as orjson reads them (ints) or as the doubles they are: the same Parquet bytes. The
    documents are not changed; a plain chunk takes the one-call path as before."""
    from projections.disk import write_table

    plain = {"run_id": "p0", "project_id": "p", "model_id": "m", "metrics": {"acc": 0.5, "n": 3},
             "items": [{"item_id": "i", "score": 1, "passed": True, "latency_ms": 2}]}
    big = {"run_id": "b1", "project_id": "p", "model_id": "m",
           "metrics": {"tokens": 10**17, "neg": -(2**53 + 2), "top": 2**64 - 2**11, "low": -(2**63)},
           "items": [{"item_id": "i", "score": 0, "passed": False, "latency_ms": 10**17, "cost_usd": 2**60,
                      "tokens": 2**62}]}
    before = json.dumps(big)
    tables = run_tables([kept(plain, 1), kept(big, 2), kept(plain | {"run_id": "p3"}, 3)])
    assert json.dumps(big) == before, "the decoded document is left as it was"
    want = run_tables([kept(_as_floats(plain), 1), kept(_as_floats(big), 2),
                       kept(_as_floats(plain) | {"run_id": "p3"}, 3)])
    for table, expected, name in ((tables[0], want[0], "runs"), (tables[1], want[1], "items")):
        (tmp_path / f"a-{name}").mkdir(), (tmp_path / f"b-{name}").mkdir()
        assert write_table(tmp_path / f"a-{name}", name, table) == write_table(tmp_path / f"b-{name}", name, expected)
    row = projections.to_records(tables[0])[1]
    assert row["metrics"] == {"tokens": 1e17, "neg": -9007199254740994.0, "top": 18446744073709549568.0,
                              "low": -9223372036854775808.0}
    item = projections.to_records(tables[1])[1]
    assert (item["latency_ms"], item["cost_usd"], item["tokens"]) == (1e17, 2.0**60, 2**62), "tokens stays int64"


def test_an_integer_no_double_writes_is_read_as_the_nearest_double(tmp_path: Path) -> None:
    """100000000000000001 is not a double, so RFC 8785 never writes it: `verify` refuses such a body as
    not canonical, and the projections read it as a reader of JSON numbers as doubles does: 1e17."""
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run

    run = {"run_id": "x", "project_id": "p", "model_id": "m", "metrics": {"odd": 10**17 + 1, "half": 2**53 + 1}}
    runs, _ = run_tables([kept(run, 4)])
    assert projections.to_records(runs)[0]["metrics"] == {"odd": 1e17, "half": 2.0**53}

    db = tmp_path / "forged.db"
    with AuditLog.open(db) as log:
        prepared = prepare_run({"run_id": "r", "project_id": "p", "model_id": "m", "metrics": {"odd": 1e17}})
        data = encoded_run(prepared)
        assert b'"odd":100000000000000000}' in data
        with log.writer() as w:  # chained past the Writer's encoding: a literal no double is written as
            w._append_encoded(ev.RUN_RECORDED, "p", "r", data.replace(b"100000000000000000", b"100000000000000001"),
                              prepared.document_sha256)
        assert projections.list_runs(projections.open(log, tmp_path / "p"))[0]["metrics"] == {"odd": 1e17}
    refused = cli("verify", "--log", db)
    assert refused.code != 0 and "canonical" in refused.out + refused.err


@pytest.mark.parametrize(("metrics", "item"), [
    ({"tokens": 10**17, "bad": "high"}, {}),
    ({"tokens": 10**17}, {"latency_ms": "slow"}),
    ({"tokens": 10**17}, {"tokens": 2**64}),  # tokens is int64: ints are not made doubles there
    ({"tokens": 10**400}, {}),  # beyond every double: no RFC 8785 writer wrote it
])
def test_a_chunk_with_such_ints_still_refuses_what_the_tables_cannot_hold(metrics: dict, item: dict) -> None:
    good = {"run_id": "g", "project_id": "p", "model_id": "m", "metrics": {"tokens": 10**17},
            "items": [{"item_id": "i", "score": 0.5, "passed": True, "cost_usd": 10**18}]}
    bad = {"run_id": "b", "project_id": "p", "model_id": "m", "metrics": metrics,
           "items": [{"item_id": "i", "score": 0.5, "passed": True, **item}]}
    with pytest.raises(IntegrityError) as caught:
        run_tables([kept(good, 3), kept(bad, 9), kept(good | {"run_id": "h"}, 11)])
    assert caught.value.seq == 9 and "not a valid run.recorded event" in str(caught.value)
