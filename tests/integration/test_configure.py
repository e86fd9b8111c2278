"""`auditlog project configure`: a project's configuration is history too (docs/configure.md).

Through the real command (a process of its own where the refusal and its exit code are the
point), on real SQLite logs: configure, refuse, idempotence, what history and show display,
what compare and ab take from it, and what a tampered or forged event looks like."""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path

import pytest

from auditlog import AuditLog, InvalidInput, ProjectConfig
from auditlog.core import events as ev
from auditlog.evals.runs import prepare_run
from auditlog.services.writer import encoded_run
from tests.integration.cli_support import cli, fingerprint, ok, one_line_error, run_doc, write_json
from tests.tampering import as_holder

process = functools.partial(cli, process=True)


def _doc(run_id: str, group: str | None = "baseline", **metrics: float) -> dict:
    doc = run_doc(run_id, project="qa")
    if group is not None:
        doc["experiment"] = {"id": "exp", "group": group}
    doc["metrics"] = {"accuracy": 0.5, "wall_s": 10.0, **metrics}
    return doc


def _configured(tmp_path: Path, *options: str) -> Path:
    db = tmp_path / "evals.db"
    ok("project", "configure", "qa", *options, "--log", db)
    return db


def _events(db: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT seq, type, project FROM events ORDER BY seq"))


def test_a_run_in_an_undeclared_group_or_out_of_bounds_is_refused_naming_the_field(tmp_path: Path) -> None:
    db = _configured(tmp_path, "--groups", "baseline,candidate", "--metric-bounds", "accuracy=0..1,wall_s=0..")
    ok("append", "run", write_json(tmp_path / "good.json", _doc("good")), "--log", db)
    before = fingerprint(db)
    cases = [(_doc("g", group="treatment"), "$.experiment.group", "'treatment' is not a group"),
             (_doc("a", accuracy=1.5), "$.metrics.accuracy", "outside its bounds 0..1"),
             (_doc("w", wall_s=-0.5), "$.metrics.wall_s", "outside its bounds 0..")]
    for doc, field, reason in cases:
        done = process("append", "run", write_json(tmp_path / f"{doc['run_id']}.json", doc), "--log", db)
        line = one_line_error(done, 2, field, reason)
        assert line.startswith(f"auditlog: error: {field}: "), line
    assert fingerprint(db) == before, "a refused run writes nothing"
    ok("append", "run", write_json(tmp_path / "n.json", _doc("no-group", group=None)), "--log", db)  # no group: allowed
    doc = _doc("no-wall")
    del doc["metrics"]["wall_s"]
    ok("append", "run", write_json(tmp_path / "nw.json", doc), "--log", db)  # a bounded metric left out: allowed


def test_bounds_hold_for_a_scoped_metric_by_its_address(tmp_path: Path) -> None:
    """`judge/accuracy` bounds the metric `accuracy` of scope `judge` (docs/documents.md), whatever
    its scope's status: a value out of bounds is refused, naming its path in the document."""
    db = _configured(tmp_path, "--metric-bounds", "judge/accuracy=0..1")

    def scoped(run_id: str, value: float, status: str = "valid") -> Path:
        doc = _doc(run_id, group=None)
        doc["metric_scopes"] = {"judge": {"status": status, "metrics": {"accuracy": value}, "reason": "r"}}
        return write_json(tmp_path / f"{run_id}.json", doc)

    ok("append", "run", scoped("in", 0.75), "--log", db)
    before = fingerprint(db)
    for status in ("valid", "diagnostic"):
        done = process("append", "run", scoped(f"out-{status}", 1.25, status), "--log", db)
        one_line_error(done, 2, "$.metric_scopes.judge.metrics.accuracy", "outside its bounds 0..1")
    assert fingerprint(db) == before, "a refused run writes nothing"
    ok("append", "run", write_json(tmp_path / "unscoped.json", _doc("unscoped", group=None)), "--log", db)


def test_every_option_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "evals.db"
    bad = [(["--metric-bounds", "accuracy=1..0"], "--metric-bounds", "lower bound 1 is above the upper bound 0"),
           (["--metric-bounds", "accuracy=.."], "--metric-bounds", "give at least one bound"),
           (["--metric-bounds", "accuracy=0..inf"], "--metric-bounds", "not a finite number"),
           (["--metric-bounds", "accuracy=0..nan"], "--metric-bounds", "not a finite number"),
           (["--metric-bounds", "accuracy=low..1"], "--metric-bounds", "'low' is not a number"),
           (["--metric-bounds", "accuracy"], "--metric-bounds", "is not NAME=LO..HI"),
           (["--metric-bounds", "accuracy=0..1", "--metric-bounds", "accuracy=0..2"], "--metric-bounds",
            "bounded twice"),
           (["--groups", "a,,b"], "--groups", "must not be empty"),
           (["--groups", "a,a"], "--groups", "given twice"),
           (["--lower-is-better", "lat\x07ency"], "--lower-is-better", "control character"),
           ([], "PROJECT", "give --groups")]
    for options, field, reason in bad:
        one_line_error(process("project", "configure", "qa", *options, "--log", db), 2, field, reason)
    assert not db.exists(), "bad input never writes anything, not even a new log"


def test_configuring_the_same_configuration_again_appends_nothing(tmp_path: Path) -> None:
    db = _configured(tmp_path, "--groups", "candidate,baseline", "--lower-is-better", "wall_s")
    again = ok("project", "configure", "qa", "--groups", "baseline,candidate", "--lower-is-better", "wall_s",
               "--log", db)
    assert "already configured so at seq 1" in again.out, again.out
    assert [t for _, t, _ in _events(db)] == ["log.created", ev.PROJECT_CONFIGURED]
    shown = ok("project", "show", "qa", "--log", db, "--output", "json").json()
    assert shown["seq"] == 1 and shown["config"] == {"groups": ["baseline", "candidate"],
                                                     "lower_is_better": ["wall_s"], "metric_bounds": {}}
    # the parts not given are kept; the event carries the whole configuration
    ok("project", "configure", "qa", "--metric-bounds", "accuracy=0..1", "--log", db)
    assert ok("project", "show", "qa", "--log", db, "--output", "json").json()["config"] == {
        "groups": ["baseline", "candidate"], "lower_is_better": ["wall_s"],
        "metric_bounds": {"accuracy": {"min": 0, "max": 1}}}
    cleared = ok("project", "configure", "qa", "--clear", "--log", db)
    assert "configured at seq 3" in cleared.out and "(none)" in cleared.out, cleared.out
    assert "already configured so" in ok("project", "configure", "qa", "--clear", "--log", db).out
    assert "nothing appended" in ok("project", "configure", "other", "--clear", "--log", db).out
    assert len(_events(db)) == 4
    ok("append", "run", write_json(tmp_path / "t.json", _doc("t", group="treatment", accuracy=7.0)), "--log", db)


def test_history_and_show_display_the_configuration_each_run_was_recorded_under(tmp_path: Path) -> None:
    db = tmp_path / "evals.db"
    ok("append", "run", write_json(tmp_path / "before.json", _doc("before")), "--log", db)
    ok("project", "configure", "qa", "--groups", "baseline", "--log", db)  # seq 2
    ok("append", "run", write_json(tmp_path / "first.json", _doc("first")), "--log", db)
    ok("project", "configure", "qa", "--groups", "baseline,candidate", "--metric-bounds", "accuracy=0..1",
       "--log", db)  # seq 4
    ok("append", "run", write_json(tmp_path / "second.json", _doc("second", group="candidate")), "--log", db)

    shown = process("show", "second", "--log", db)
    assert shown.code == 0, str(shown)
    assert "project config: seq 4: groups=baseline,candidate metric_bounds=accuracy=0..1\n" in shown.out, shown.out
    assert "project config: seq 2: groups=baseline\n" in ok("show", "first", "--log", db).out
    assert "project config: none\n" in ok("show", "before", "--log", db).out
    as_json = ok("show", "first", "--log", db, "--output", "json").json()["project_config"]
    assert as_json == {"seq": 2, "config": {"groups": ["baseline"], "lower_is_better": [], "metric_bounds": {}},
                       "problem": None}

    history = ok("history", "--log", db).out
    rows = {line.split()[0]: line.split()[-2] for line in history.splitlines()[2:] if not line.startswith("config")}
    assert rows["second"] == "4" and rows["first"] == "2", history
    assert "config seq 2 (qa): groups=baseline\n" in history
    assert "config seq 4 (qa): groups=baseline,candidate metric_bounds=accuracy=0..1\n" in history
    records = {r["run_id"]: r for r in ok("history", "--log", db, "--output", "json").json()}
    assert (records["before"]["config_seq"], records["first"]["config_seq"], records["second"]["config_seq"]) == (
        None, 2, 4)


def test_compare_and_ab_know_which_metrics_are_better_when_lower(tmp_path: Path) -> None:
    db = _configured(tmp_path, "--lower-is-better", "wall_s")  # a name no guess takes for lower-is-better
    ok("append", "run", write_json(tmp_path / "a.json", _doc("a", accuracy=0.5, wall_s=10.0)), "--log", db)
    ok("append", "run", write_json(tmp_path / "b.json", _doc("b", group="candidate", accuracy=0.6, wall_s=8.0)),
       "--log", db)
    figures = {f["name"]: f for f in ok("compare", "a", "b", "--log", db, "--output", "json").json()["figures"]}
    assert figures["metrics.wall_s"]["lower_is_better"] and figures["metrics.wall_s"]["improvement"] == 2.0
    assert not figures["metrics.accuracy"]["lower_is_better"]
    assert figures["metrics.accuracy"]["improvement"] == pytest.approx(0.1)
    table = ok("compare", "a", "b", "--log", db).out
    assert [line.split()[4:] for line in table.splitlines() if line.startswith("metrics.wall_s")] == [["lower", "2.000"]]
    ab = ok("ab", "--experiment", "exp", "--log", db, "--output", "json").json()
    wall = next(f for f in ab["rows"][0]["figures"] if f["name"] == "metrics.wall_s")
    assert wall["lower_is_better"] and wall["improvement"] == 2.0 and wall["improvement_pct"] == 20.0
    assert "metrics.wall_s reduction" in ok("ab", "--experiment", "exp", "--log", db).out
    # without the configuration, wall_s is taken as higher-is-better (its name says nothing)
    ok("project", "configure", "qa", "--clear", "--log", db)
    figures = {f["name"]: f for f in ok("compare", "a", "b", "--log", db, "--output", "json").json()["figures"]}
    assert not figures["metrics.wall_s"]["lower_is_better"] and figures["metrics.wall_s"]["improvement"] == -2.0


def test_lm_eval_metric_names_are_taken_whole_commas_included(tmp_path: Path) -> None:
    """lm-eval's metrics are recorded as `<task>/<metric>,<filter>` (docs/ingest.md). Such a name is
    one metric for --lower-is-better (of configure and of ab), and the name of a --metric-bounds term
    is what comes before its last `=`; the repeated options add up, and the earlier lists still work."""
    mae, acc = "polymer_tg_prediction/mae,none", "negotiationtom/acc,none"
    db = tmp_path / "evals.db"
    done = process("project", "configure", "qa", "--lower-is-better", mae, "--lower-is-better", "wall_s,cost_usd",
                   "--groups", "baseline,candidate", "--groups", "treatment",
                   "--metric-bounds", f"{acc}=0..1,accuracy=0..1", "--metric-bounds", "gsm8k/exact_match,strict-match=0..",
                   "--log", db, "--output", "json")
    assert done.code == 0, str(done)
    assert done.json()["config"] == {
        "groups": ["baseline", "candidate", "treatment"], "lower_is_better": ["cost_usd", mae, "wall_s"],
        "metric_bounds": {acc: {"min": 0, "max": 1}, "accuracy": {"min": 0, "max": 1},
                          "gsm8k/exact_match,strict-match": {"min": 0, "max": None}}}
    before = fingerprint(db)
    refused = process("append", "run", write_json(tmp_path / "r.json", _doc("r", **{acc: 1.5})), "--log", db)
    one_line_error(refused, 2, '$.metrics["negotiationtom/acc,none"]', "outside its bounds 0..1")
    assert fingerprint(db) == before, "a refused run writes nothing"

    ok("append", "run", write_json(tmp_path / "a.json", _doc("a", **{mae: 30.0, acc: 0.5})), "--log", db)
    ok("append", "run", write_json(tmp_path / "b.json", _doc("b", group="candidate", **{mae: 20.0, acc: 0.6})),
       "--log", db)
    figures = {f["name"]: f for f in ok("compare", "a", "b", "--log", db, "--output", "json").json()["figures"]}
    assert figures[f"metrics.{mae}"]["lower_is_better"] and figures[f"metrics.{mae}"]["improvement"] == 10.0
    assert not figures[f"metrics.{acc}"]["lower_is_better"]
    ab = ok("ab", "--experiment", "exp", "--lower-is-better", acc, "--log", db, "--output", "json").json()
    named = {f["name"]: f["lower_is_better"] for f in ab["rows"][0]["figures"]}
    assert named[f"metrics.{acc}"] and not named[f"metrics.{mae}"]  # given on the command line: only those


def test_a_value_that_could_name_other_metrics_is_refused_and_nothing_written(tmp_path: Path) -> None:
    db = tmp_path / "evals.db"
    bad = [(["--lower-is-better", "judge/latency,judge/cost"], "--lower-is-better",
            "'judge/latency,judge/cost' is ambiguous", "give each metric its own --lower-is-better"),
           (["--lower-is-better", "wall_s,polymer_tg_prediction/mae,none"], "--lower-is-better", "is ambiguous"),
           (["--lower-is-better", "t/mae,none", "--lower-is-better", "t/mae,none"], "--lower-is-better",
            "'t/mae,none' is given twice"),
           (["--metric-bounds", "negotiationtom/acc,none=0..1,negotiationtom/acc,none=0..2"], "--metric-bounds",
            "'negotiationtom/acc,none' is bounded twice"),
           (["--metric-bounds", "accuracy=0..1,wall_s,cost_usd=0.."], "--metric-bounds", "'wall_s' has no =LO..HI"),
           (["--metric-bounds", "negotiationtom/acc,none"], "--metric-bounds", "is not NAME=LO..HI")]
    for options, field, *reasons in bad:
        line = one_line_error(process("project", "configure", "qa", *options, "--log", db), 2, *reasons)
        assert line.startswith(f"auditlog: error: {field}: "), line
    assert not db.exists(), "bad input never writes anything, not even a new log"


def test_a_batch_and_the_evalsig_drop_in_are_refused_whole(tmp_path: Path) -> None:
    db = _configured(tmp_path, "--metric-bounds", "accuracy=0..0.55")
    before = fingerprint(db)
    with AuditLog.open(db) as log:
        with pytest.raises(InvalidInput) as refused, log.writer() as w:
            w.record_runs([_doc("ok-1"), _doc("bad", accuracy=0.9), _doc("ok-2")])
        assert refused.value.field == "$.metrics.accuracy"
    assert fingerprint(db) == before
    import auditlog.evalsig as dropin
    from tests.import_evalsig.conftest import frame
    ok("project", "configure", "arith", "--metric-bounds", "accuracy=0..0.5", "--log", db)
    before = fingerprint(db)
    with pytest.raises(InvalidInput, match=r"\$\.metrics\.accuracy: 0\.625 is outside"):
        dropin.write_run(db, frame("r1"), project_id="arith")  # mean score 0.625
    assert fingerprint(db) == before
    dropin.write_run(db, frame("r2", scores=(0.0, 1.0)), project_id="arith")


def test_a_configuration_in_the_same_batch_applies_to_the_runs_after_it(tmp_path: Path) -> None:
    db = tmp_path / "evals.db"
    with AuditLog.open(db) as log, log.writer() as w:
        w.record_run(_doc("free", group="anything"))
        configured = w.configure("qa", ProjectConfig(groups=("baseline",)))
        assert configured is not None and configured.new
        w.record_run(_doc("checked"))
        with pytest.raises(InvalidInput, match="experiment.group"):
            w.record_run(_doc("refused", group="anything"))
    assert [(seq, type_) for seq, type_, _ in _events(db)] == [  # the refusal was caught: the rest committed
        (0, ev.LOG_CREATED), (1, ev.RUN_RECORDED), (2, ev.PROJECT_CONFIGURED), (3, ev.RUN_RECORDED)]
    with AuditLog.open(db) as log:
        assert "config_seq" not in log.about("free")[0].event.data
        assert log.about("checked")[0].event.data["config_seq"] == 2


def test_tampering_with_a_configuration_is_found_by_verify(tmp_path: Path) -> None:
    db = _configured(tmp_path, "--metric-bounds", "accuracy=0..1")
    ok("append", "run", write_json(tmp_path / "r.json", _doc("r")), "--log", db)
    ok("verify", "--log", db)
    with as_holder(db) as conn:  # widen the bounds in place: the bytes no longer hash to the chain's
        (body,) = conn.execute("SELECT body FROM events WHERE seq = 1").fetchone()
        conn.execute("UPDATE events SET body = ? WHERE seq = 1", (body.replace(b'"max":1', b'"max":9'),))
    done = process("verify", "--log", db)
    assert done.code == 1 and "seq 1" in done.out + done.err, str(done)
    one_line_error(cli("show", "r", "--log", db), 1)


def test_a_run_that_bypassed_its_configuration_is_shown_as_not_checked(tmp_path: Path) -> None:
    """A writer other than auditlog's (here: its sealing machinery called without the check) can chain a run
    that breaks the configuration: the chain verifies, and show says the run was not checked."""
    db = _configured(tmp_path, "--groups", "baseline")
    prepared = prepare_run(_doc("forged", group="elsewhere"))
    with AuditLog.open(db) as log, log.writer() as w:
        w._append_encoded(ev.RUN_RECORDED, "qa", "forged", encoded_run(prepared), prepared.document_sha256)
    ok("verify", "--log", db)
    line = next(x for x in ok("show", "forged", "--log", db).out.splitlines() if x.startswith("project config:"))
    assert line == ("project config: none (NOT CHECKED: config_seq: the run names none; the configuration in force "
                    "when it was recorded was seq 1; $.experiment.group: 'elsewhere' is not a group of project 'qa' "
                    "(configured: baseline))"), line
    shown = json.loads(ok("show", "forged", "--log", db, "--output", "json").out)
    assert shown["project_config"]["problem"] and shown["project_config"]["seq"] is None
    assert len(shown["current"]["violations"]) == 2
    [row] = ok("history", "--log", db, "--output", "json").json()
    assert row["violations"] == shown["current"]["violations"], "the projections find what show finds"
    ok("append", "run", write_json(tmp_path / "fine.json", _doc("fine")), "--log", db)
    assert ok("show", "fine", "--log", db, "--output", "json").json()["current"]["violations"] == []
    configs = ok("export", "--what", "configs", "--log", db, "--output", "json").json()
    assert [(c["seq"], c["project_id"], c["groups"]) for c in configs] == [(1, "qa", ["baseline"])]


def test_a_forged_configuration_event_fails_every_read_and_write_that_needs_it(tmp_path: Path) -> None:
    """A project.configured event chained past the Writer's checks (bounds the wrong way round): the chain
    verifies it, but nothing decides from it: appending a run of that project, and the projections' fold,
    fail loudly naming its seq (exit 1), and nothing is written."""
    db = tmp_path / "evals.db"
    with AuditLog.open(db) as log, log.writer() as w:
        w._append(ev.PROJECT_CONFIGURED, "qa", "", {"groups": [], "lower_is_better": [],
                                                    "metric_bounds": {"accuracy": {"min": 1, "max": 0}}}, "")
    ok("verify", "--log", db)
    before = fingerprint(db)
    line = one_line_error(process("append", "run", write_json(tmp_path / "r.json", _doc("r")), "--log", db), 1)
    assert "seq 1: not a valid project.configured event" in line and "above the upper bound" in line, line
    assert fingerprint(db) == before
    line = one_line_error(cli("history", "--log", db), 1)
    assert "seq 1: not a valid project.configured event" in line, line
    ok("append", "run", write_json(tmp_path / "o.json", dict(_doc("o"), project_id="other")), "--log", db)
