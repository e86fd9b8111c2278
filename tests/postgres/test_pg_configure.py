"""A project's configuration on a PostgreSQL log: runs are checked where they are sealed, under the
writers' lock (services/grouped.py), so a writer that queued a run before the configuration
changed is held to the configuration in force when its run is sealed."""

from __future__ import annotations

from pathlib import Path

from auditlog import AuditLog, Bounds, ProjectConfig
from auditlog.evals.runs import prepare_run
from auditlog.services.grouped import seal_queue
from auditlog.services.writer import encoded_run, transaction
from auditlog.store.protocol import QueuedRun

from . import pg_support as s


def test_configure_then_a_refused_run_names_the_field_and_writes_nothing(pg_admin, pg_url, tmp_path: Path) -> None:
    s.ok("init", "--log", pg_url)
    done = s.cli("project", "configure", "mmlu-pro", "--metric-bounds", "accuracy=0..0.6", "--log", pg_url,
                 process=True)
    assert done.code == 0 and "configured at seq 1" in done.out, str(done)
    bad = s.run_doc("bad", seed=200)  # accuracy 0.7
    line = s.one_line_error(s.cli("append", "run", s.write_json(tmp_path / "bad.json", bad), "--log", pg_url,
                                  process=True), 2)
    assert line.startswith("auditlog: error: $.metrics.accuracy: 0.7 is outside its bounds 0..0.6"), line
    s.ok("append", "run", s.write_json(tmp_path / "good.json", s.run_doc("good")), "--log", pg_url)
    with AuditLog.open(pg_url) as log:
        assert log.store.head().size == 3, "the refused run left nothing, not even a queue row's event"
        assert log.about("good")[0].event.data["config_seq"] == 1
    history = s.ok("history", "--log", pg_url, "--output", "json").json()
    assert [(r["run_id"], r["config_seq"]) for r in history] == [("good", 1)]
    assert "project config: seq 1: metric_bounds=accuracy=0..0.6" in s.ok("show", "good", "--log", pg_url).out


def test_the_lock_holder_checks_each_queued_run_against_the_configuration_in_force(pg_admin, pg_url) -> None:
    """Runs queued by other writers (validated and encoded before the configuration was appended)
    are checked when sealed: the one that breaks it is refused alone, naming the field."""
    with AuditLog.open(pg_url, create=True) as log:
        receipt = log.configure("mmlu-pro", ProjectConfig(metric_bounds=(("accuracy", Bounds(None, 0.6)),)))
        assert receipt is not None
        queued = []
        for ticket, (run_id, seed) in enumerate((("q-good", 0), ("q-bad", 200), ("q-other", 0)), start=1):
            prepared = prepare_run(s.run_doc(run_id, seed=seed))
            queued.append(QueuedRun(ticket, "mmlu-pro", run_id, prepared.document_sha256, b"{}", encoded_run(prepared)))
        with transaction(log.store) as writer:
            outcomes = seal_queue(writer, queued, [])
        assert outcomes[1].refused is None and outcomes[3].refused is None
        assert outcomes[2].refused == "invalid: $.metrics.accuracy: 0.7 is outside its bounds ..0.6 " \
                                      "(configured for project 'mmlu-pro')"
        assert log.about("q-good")[0].event.data["config_seq"] == receipt.seq
        assert log.about("q-bad") == []
    s.ok("verify", "--log", pg_url)
