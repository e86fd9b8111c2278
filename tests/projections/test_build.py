"""Rebuilds are deterministic, catch-up is incremental and equals a rebuild, crashes leave a readable generation,
and a log rewritten under the projections is refused."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import projections
from auditlog import AuditLog, IntegrityError, InvalidInput
from projections.disk import LOCK, write_bytes
from projections.state import read_state
from tests.support.cli import cli
from tests.tampering import as_holder

ROOT = Path(__file__).resolve().parents[2]


def digest(directory: Path) -> dict[str, str]:
    """Every file's SHA-256, by path relative to `directory` (the lock file aside)."""
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != LOCK}


def contents(view: projections.View) -> dict[str, list[dict]]:
    return {"runs": projections.to_records(view.runs), "items": projections.to_records(view.items()),
            "verdicts": projections.to_records(view.verdicts)}


def test_rebuild_is_byte_identical_twice_in_place_and_in_another_directory(corpus, log, tmp_path) -> None:
    first = tmp_path / "a"
    projections.rebuild(log, first)
    before = digest(first)
    assert "state.json" in before and len(before) == 6, "state, one part of runs, manifest, verdicts, items; baselines"
    assert sum(name.startswith("runs/manifest-") for name in before) == 1
    projections.rebuild(log, first)
    assert digest(first) == before, "a second rebuild in place writes the same bytes (and leaves nothing else)"
    second = tmp_path / "elsewhere" / "b"
    projections.rebuild(log, second)
    assert digest(second) == before
    state = json.loads((first / "state.json").read_text())
    assert state["position"]["seq"] == log.head().size - 1 and state["log_id"] == log.info()["log_id"]
    assert not any(k in (first / "state.json").read_text() for k in (str(tmp_path), "built_at", "time"))


def test_rebuild_from_two_working_directories_and_out_dirs_is_identical(corpus, view, tmp_path) -> None:
    outs = []
    for name in ("one", "two"):
        cwd = tmp_path / name
        cwd.mkdir()
        done = cli("projections", "rebuild", "--log", corpus.db, "--out", f"out-{name}", cwd=cwd)
        assert done.code == 0, done.err
        assert "rebuilt" in done.out and f"{len(corpus.runs)} runs" in done.out
        outs.append(digest(cwd / f"out-{name}"))
    assert outs[0] == outs[1]
    assert outs[0] == digest(Path(f"{corpus.db}.projections")), "the same bytes as the fixture's own projections"


def test_catch_up_after_many_small_appends_equals_a_rebuild(corpus, log_copy, tmp_path) -> None:
    """Append runs, verdicts, annotations and a supersession a few at a time, catching up in between."""
    inc = tmp_path / "inc"
    docs = [dict(d, run_id=d["run_id"] + "-again") for d in corpus.runs[-40:]]
    with AuditLog.open(log_copy, create=False) as copy:
        projections.catch_up(copy, inc)
        for i, doc in enumerate(docs):
            copy.record_run(doc)
            if i % 4 == 1:
                copy.annotate(docs[i - 1]["run_id"], tags={"batch": str(i)}, note=f"n{i}")
            if i % 6 == 2:
                recent = copy.record_verdict({"run_id": doc["run_id"], "baseline_run_id": corpus.runs[0]["run_id"],
                                              "metric": "accuracy", "verdict": "BLOCK"}).seq
            if i == 30:
                copy.supersede(corpus.runs[1]["run_id"], by=doc["run_id"], reason="rerun")
                copy.annotate(corpus.runs[2]["run_id"], tags={"old": "touched"})
            if i in (7, 20):  # overrule a verdict from before the first catch-up, and a recent one
                copy.override_verdict(corpus.verdicts[0][0] if i == 7 else recent, "ALLOW", "ok")
            if i % 3 == 0:
                projections.catch_up(copy, inc)
        state = projections.catch_up(copy, inc)
        assert 1 < len(state.items) <= 6 and 1 < len(state.runs) <= 6, "parts merged by size as they came"
        assert all(a.rows > 2 * b.rows for a, b in zip(state.runs, state.runs[1:])), "each over twice the next"
        full = tmp_path / "full"
        projections.rebuild(copy, full)
        assert contents(projections.open_built(inc)) == contents(projections.open_built(full))
        assert projections.open_built(inc).manifest() == projections.open_built(full).manifest()
        projections.compact(inc)
        assert digest(inc) == digest(full), "compacted, a caught-up directory is byte-identical to a rebuild"


class Recording:
    """A log that records which events projections ask for."""

    def __init__(self, log: AuditLog) -> None:
        self.log, self.calls = log, []

    def head(self):  # noqa: ANN201
        return self.log.head()

    def events(self, after: int = -1, until: int | None = None):  # noqa: ANN201
        self.calls.append((after, until))
        return self.log.events(after=after, until=until)

    def root(self, size=None):  # noqa: ANN001, ANN201
        return self.log.root(size)


def test_catch_up_reads_only_what_follows_the_saved_position(corpus, log_copy, tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        state = projections.rebuild(copy, directory)
        recording = Recording(copy)
        projections.open(recording, directory)
        assert recording.calls == [(-1, 1), (state.seq - 1, state.seq + 1)], \
            "up to date: only the genesis and the saved position are read (to check them), one event each"
        recording.calls.clear()
        copy.record_run(dict(corpus.runs[0], run_id="one-more"))
        projections.open(recording, directory)
        bounded = [(a, u) for a, u in recording.calls if u is not None]
        streams = [a for a, u in recording.calls if u is None]
        assert streams == [state.seq], "one stream, from the saved position on"
        assert all(u == a + 2 for a, u in bounded) and len(bounded) <= 2, "single-event reads: genesis and position"


def _rewrite(db: Path, seq: int) -> None:
    """Change the event at `seq` behind the library's back: new bytes, and a hash that matches them."""
    with as_holder(db) as con:
        body = con.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        changed = body.replace(b'"subject":"', b'"subject":"x', 1)
        assert changed != body
        con.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?", (changed, hashlib.sha256(changed).hexdigest(), seq))


def test_a_log_rewritten_under_the_projections_is_refused_until_rebuilt(corpus, log_copy) -> None:
    directory = Path(f"{log_copy}.projections")
    with AuditLog.open(log_copy, create=False) as copy:
        saved = projections.rebuild(copy, directory)
    before = digest(directory)
    _rewrite(log_copy, saved.seq)

    for args in (("history",), ("show", corpus.runs[0]["run_id"]), ("trend", "--project", "gsm8k", "--metric", "f1")):
        done = cli(*args, "--log", log_copy)
        assert done.code == 1, done
        assert "rewritten under the projections" in done.err and f"seq {saved.seq}" in done.err
        assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1
    status = cli("projections", "status", "--log", log_copy, "-o", "json")
    assert status.code == 1 and "rewritten" in json.loads(status.out)["problem"]
    assert digest(directory) == before, "a refused catch-up changes nothing"

    assert cli("projections", "rebuild", "--log", log_copy).code == 0
    done = cli("history", "--log", log_copy, "--all", "-o", "json")
    assert done.code == 0 and len(json.loads(done.out)) == len(corpus.runs)


def test_another_log_or_a_truncated_one_is_refused(corpus, log_copy, tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
    with AuditLog.open(tmp_path / "other.db") as other:
        other.record_run(corpus.runs[0])
        with pytest.raises(IntegrityError, match="another log"):
            projections.catch_up(other, directory)
    with as_holder(log_copy) as con:
        con.execute("DELETE FROM events WHERE seq > 100")
    with AuditLog.open(log_copy, create=False) as copy, pytest.raises(IntegrityError, match="truncated"):
        projections.catch_up(copy, directory)


def test_a_killed_rebuild_leaves_the_old_generation_readable(corpus, log_copy, tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        old = projections.rebuild(copy, directory)
        old_contents = contents(projections.open_built(directory))
        with copy.writer() as w:  # more to fold, so the rebuild takes a while and differs
            for k in range(4):
                for doc in corpus.runs:
                    w.record_run(dict(doc, run_id=f"{doc['run_id']}-{k}"))
    code = ("import sys, projections; from auditlog import AuditLog\n"
            "projections.rebuild(AuditLog.open(sys.argv[1], create=False), sys.argv[2])")
    killed = 0
    for delay in (0.0, 0.05, 0.15, 0.3):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", code, str(log_copy), str(directory)], env=env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if list(directory.rglob("*.tmp")):  # mid-write
                time.sleep(delay)
                break
            time.sleep(0.001)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        state = read_state(directory)
        if state.seq == old.seq:  # killed before the switch: the old generation, whole
            assert state == old
            assert contents(projections.open_built(directory)) == old_contents
        else:  # it finished: the new generation, whole
            view = projections.open_built(directory)
            assert view.runs.num_rows == state.counts["runs"] == 5 * len(corpus.runs)
        for name in state.files():
            assert (directory / name).exists()
    assert killed >= 2, "the rebuild was killed mid-write at least twice"
    with AuditLog.open(log_copy, create=False) as copy:
        view = projections.open(copy, directory)  # catch-up carries on from whichever generation is there
        assert view.runs.num_rows == 5 * len(corpus.runs)
        projections.rebuild(copy, directory)
    assert not list(directory.rglob("*.tmp")), "a rebuild sweeps what killed writers left"


def test_schema_versions(corpus, log_copy, tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        state = json.loads((directory / "state.json").read_text())
        older = dict(state, schema_version=0)
        write_bytes(directory / "state.json", json.dumps(older).encode())
        copy.record_run(dict(corpus.runs[0], run_id="after-upgrade"))
        assert projections.catch_up(copy, directory).schema_version == projections.SCHEMA_VERSION, "older projections are rebuilt"
        newer = json.loads((directory / "state.json").read_text())
        write_bytes(directory / "state.json", json.dumps(dict(newer, schema_version=99)).encode())
        copy.record_run(dict(corpus.runs[0], run_id="after-downgrade"))
        with pytest.raises(InvalidInput, match="newer auditlog"):
            projections.catch_up(copy, directory)


def test_empty_log_and_missing_files(tmp_path) -> None:
    with AuditLog.open(tmp_path / "empty.db") as empty:
        view = projections.open(empty, tmp_path / "p")
        assert view.runs.num_rows == 0 and view.items().num_rows == 0 and view.state.seq == 0
        assert projections.list_runs(view) == []
        (tmp_path / "p" / view.state.runs[0].path).unlink()
        empty.record_run({"run_id": "r", "project_id": "p", "model_id": "m",
                          "items": [{"item_id": "a", "score": 1, "passed": True}]})
        with pytest.raises(Exception, match="missing"):
            projections.catch_up(empty, tmp_path / "p")
        projections.rebuild(empty, tmp_path / "p")
        assert projections.list_runs(projections.open(empty, tmp_path / "p"))[0]["pass_rate"] == 1.0


def test_concurrent_catch_ups_agree(corpus, log_copy, tmp_path) -> None:
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        projections.rebuild(copy, directory)
        with copy.writer() as w:
            for doc in corpus.runs[:50]:
                w.record_run(dict(doc, run_id=doc["run_id"] + "-c"))
    code = ("import sys, projections; from auditlog import AuditLog\n"
            "v = projections.open(AuditLog.open(sys.argv[1], create=False), sys.argv[2]); print(v.runs.num_rows)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(log_copy), str(directory)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert {o.strip() for o, _ in outs} == {str(len(corpus.runs) + 50)}
    state = read_state(directory)
    assert {p.relative_to(directory).as_posix() for p in directory.rglob("*.*")} - {"state.json", ".lock"} == state.files()


def test_a_catch_up_killed_before_its_state_switch_leaves_the_old_generation(corpus, log_copy, tmp_path,
                                                                             monkeypatch) -> None:
    """Everything of the new generation written (parquet, manifest), then a crash instead of state.json."""
    directory = tmp_path / "p"
    with AuditLog.open(log_copy, create=False) as copy:
        old = projections.rebuild(copy, directory)
        old_contents = contents(projections.open_built(directory))
        copy.annotate(corpus.runs[3]["run_id"], tags={"late": "yes"})
        copy.record_run(dict(corpus.runs[4], run_id="after-crash"))

        def crash(*args: object) -> None:
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(projections.build, "write_state", crash)  # the name build.py switches generations with
            with pytest.raises(KeyboardInterrupt):
                projections.catch_up(copy, directory)
        assert read_state(directory) == old
        assert contents(projections.open_built(directory)) == old_contents, "the old generation, whole"
        assert len(list(directory.rglob("runs/manifest-*"))) > len(old.runs), "the new manifest part, not named"

        projections.catch_up(copy, directory)
        projections.rebuild(copy, tmp_path / "full")
    assert projections.open_built(directory).manifest() == projections.open_built(tmp_path / "full").manifest()
    assert contents(projections.open_built(directory)) == contents(projections.open_built(tmp_path / "full"))


def test_catch_up_across_project_configurations_equals_a_rebuild(corpus, log_copy, tmp_path) -> None:
    """The configs table and each run's config_seq and violations: the configuration in force is carried
    from one catch-up to the next (read back from the configs table), as a rebuild folds it in one go."""
    from auditlog import Bounds, ProjectConfig
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run

    inc, project = tmp_path / "inc", corpus.runs[0]["project_id"]
    docs = [dict(d, run_id=d["run_id"] + "-configured") for d in corpus.runs if d["project_id"] == project][:6]
    bounds = {"accuracy": Bounds(None, 2.0)}
    with AuditLog.open(log_copy, create=False) as copy:
        projections.catch_up(copy, inc)
        first = copy.configure(project, ProjectConfig().replaced(metric_bounds=bounds, lower_is_better=["cost"]))
        copy.record_run(docs[0])
        projections.catch_up(copy, inc)  # the configuration is folded here, and carried to the next catch-up
        copy.record_run(docs[1])
        forged = prepare_run(dict(docs[2], metrics={**docs[2].get("metrics", {}), "accuracy": 3.0}))
        with copy.writer() as w:  # a run chained without the Writer's check: the fold finds what it breaks
            w._append_encoded(ev.RUN_RECORDED, project, docs[2]["run_id"], encoded_run(forged),
                              forged.document_sha256)
        projections.catch_up(copy, inc)
        second = copy.configure(project, ProjectConfig())
        copy.record_run(docs[3])
        projections.catch_up(copy, inc)
        full = tmp_path / "full"
        projections.rebuild(copy, full)
    built, rebuilt = projections.open_built(inc), projections.open_built(full)
    assert contents(built) == contents(rebuilt)
    assert projections.to_records(built.configs) == projections.to_records(rebuilt.configs)
    assert [(c["seq"], c["project_id"], c["lower_is_better"]) for c in projections.to_records(built.configs)] == [
        (first.seq, project, ["cost"]), (second.seq, project, [])]
    runs = {r["run_id"]: r for r in projections.to_records(built.runs)}
    assert [(runs[d["run_id"]]["config_seq"], len(runs[d["run_id"]]["violations"])) for d in docs[:4]] == [
        (first.seq, 0), (first.seq, 0), (None, 2), (second.seq, 0)]
    assert runs[docs[2]["run_id"]]["violations"][1].startswith("$.metrics.accuracy: 3 is outside its bounds ..2")
    assert all(r["violations"] == [] and r["config_seq"] is None for r in runs.values() if r["project_id"] != project)


def test_runs_with_metric_scopes_catch_up_as_a_rebuild_folds_them(tmp_path) -> None:
    """The scope columns (schema 3) come out the same whichever way the runs were folded."""
    inc, full = tmp_path / "inc", tmp_path / "full"
    statuses = ("valid", "invalid", "not_applicable", "diagnostic")
    with AuditLog.open(tmp_path / "log.db") as log:
        projections.catch_up(log, inc)
        for i in range(12):
            status = statuses[i % 4]
            scope: dict = {"status": status, "metrics": {"accuracy": i / 12, "z-last": i}}
            if status in ("invalid", "not_applicable"):
                scope["reason"] = f"reason {i}"
            log.record_run({"project_id": "p", "model_id": "m", "run_id": f"r{i}", "metrics": {"n": i},
                            "metric_scopes": {"judge": scope, "b-side": {"status": "valid", "headline": i % 2 == 0,
                                                                         "metrics": {"\u00e9": 1.5}}}})
            if i % 5 == 0:
                projections.catch_up(log, inc)
        projections.catch_up(log, inc)
        projections.rebuild(log, full)
    caught_up, rebuilt = contents(projections.open_built(inc)), contents(projections.open_built(full))
    assert caught_up == rebuilt
    row = rebuilt["runs"][1]
    assert list(row["scoped_metrics"]) == ["b-side/\u00e9", "judge/accuracy", "judge/z-last"]
    assert (row["scope_status"], row["scope_reason"], row["headline_scopes"]) == (
        {"b-side": "valid", "judge": "invalid"}, {"judge": "reason 1"}, ["judge"])
    assert projections.open_built(inc).manifest() == projections.open_built(full).manifest()


class _PlainLog:
    """An EventLog with only the three methods projections require (no index to ask)."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    def events(self, after: int = -1, until: int | None = None):  # noqa: ANN201
        return self._log.events(after, until)

    def head(self):  # noqa: ANN201
        return self._log.head()

    def root(self, size: int | None = None) -> bytes:
        return self._log.root(size)


@pytest.mark.parametrize("through", ["the store's index", "the parts"])
def test_a_run_id_recorded_again_is_left_out_by_catch_up_as_by_a_rebuild(corpus, log_copy, tmp_path,
                                                                           through: str) -> None:
    """A second run.recorded for a run id (chained past the Writer, which refuses it) is not a second row:
    the first counts. A catch-up finds the earlier one through the log's index (few new runs) or the parts'
    run ids, and agrees with a rebuild either way."""
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run

    inc, full = tmp_path / "inc", tmp_path / "full"
    old = corpus.runs[0]
    with AuditLog.open(log_copy, create=False) as copy:
        reader = copy if through == "the store's index" else _PlainLog(copy)
        projections.catch_up(reader, inc)
        again = prepare_run(dict(old, metrics={"accuracy": 0.123}))
        fresh = dict(corpus.runs[1], run_id=corpus.runs[1]["run_id"] + "-new")
        with copy.writer() as w:
            w._append_encoded(ev.RUN_RECORDED, old["project_id"], old["run_id"], encoded_run(again),
                              again.document_sha256)
        copy.record_run(fresh)
        projections.catch_up(reader, inc)
        projections.rebuild(copy, full)
    built, rebuilt = projections.open_built(inc), projections.open_built(full)
    assert contents(built) == contents(rebuilt)
    rows = [r for r in projections.to_records(built.runs) if r["run_id"] == old["run_id"]]
    assert len(rows) == 1 and rows[0]["metrics"].get("accuracy") != 0.123
    assert any(r["run_id"] == fresh["run_id"] for r in projections.to_records(built.runs))


@pytest.mark.parametrize("start", ["an empty log", "a log with runs"])
def test_compacted_after_a_catch_up_that_added_no_rows_is_byte_identical_to_a_rebuild(corpus, tmp_path,
                                                                                      start: str) -> None:
    """A rebuild names each table's one part for the whole log (0 to its last seq); a compaction must too,
    also when the last catch-ups added no run, item or verdict (an annotation only), or the log was empty."""
    path, inc, full = tmp_path / "log.db", tmp_path / "inc", tmp_path / "full"
    with AuditLog.open(path) as log:
        if start == "a log with runs":
            log.record_run(corpus.runs[0])
        projections.catch_up(log, inc)
        log.record_run(corpus.runs[1])
        log.record_verdict({"run_id": corpus.runs[1]["run_id"], "baseline_run_id": None, "metric": "accuracy",
                            "verdict": "ALLOW", "reason": "the project's first run"})
        projections.catch_up(log, inc)
        log.annotate(corpus.runs[1]["run_id"], note="looked at")
        projections.catch_up(log, inc)
        projections.compact(inc)
        projections.rebuild(log, full)
    assert digest(inc) == digest(full)
    assert read_state(inc) == read_state(full)
