"""The PostgreSQL store itself: its schema and version, the server's append-only triggers,
the writers' lock across connections, the read snapshot, and errors that stay one line."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from auditlog import AuditLog
from auditlog.errors import EXIT_STORAGE, LockTimeout, NotFound, StorageError
from auditlog.store.postgres import store as postgres
from auditlog.store.postgres.location import parse_location
from auditlog.store.postgres.schema import TABLES
from auditlog.store.postgres.store import PostgresStore
from tests.support.cli import cli, one_line_error

from . import pg_support as s


def test_location_parameters_and_hidden_password() -> None:
    where = parse_location("postgresql://ci:s3cret@db.internal:5433/evals?sslmode=require&schema=team%20a&password=x")
    assert where.schema == "team a"
    assert where.conninfo == "postgresql://ci:s3cret@db.internal:5433/evals?sslmode=require&password=x"
    assert "s3cret" not in where.display and "password=x" not in where.display
    assert where.display == "postgresql://ci:***@db.internal:5433/evals?sslmode=require&schema=team%20a&password=***"
    assert parse_location("postgres://h/db").schema is None


@pytest.mark.parametrize("name", ["a%b", "a%25sb", "{s}", "team}"])
def test_a_schema_name_the_statements_would_misread_is_refused(pg_admin, pg_url, name: str) -> None:
    """The quoted schema is written into statements read by psycopg (`%`) and str.format (`{}`):
    such a name is refused on the command line, one line, nothing created; as the connection's
    current schema (search_path) too."""
    from urllib.parse import quote
    base = pg_url.split("?")[0]
    done = cli("verify", "--log", f"{base}?schema={quote(name, safe='')}")
    one_line_error(done, 2, "--log", "a schema name may not contain")
    assert pg_admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchall() == []
    pg_admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        with pytest.raises(StorageError, match="may not contain"):
            PostgresStore(f"{base}?options=" + quote('-csearch_path="' + name + '"', safe=""))
    finally:
        pg_admin.execute(f'DROP SCHEMA "{name}"')


def test_first_open_creates_the_schema_with_its_version(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url, origin="example.org/pg") as log:
        assert log.head().size == 1 and log.info()["origin"] == "example.org/pg"
    schema = s.schema_of(pg_url)
    assert pg_admin.execute(f'SELECT version FROM "{schema}".auditlog_schema ORDER BY version').fetchall() == [(2,), (3,)]
    triggers = {r[0] for r in pg_admin.execute(
        "SELECT event_object_table FROM information_schema.triggers WHERE trigger_schema = %s", (schema,))}
    assert triggers == set(TABLES)
    with AuditLog.open(pg_url) as log:  # a second open finds it, creates nothing
        assert log.head().size == 1


def test_server_refuses_update_delete_truncate_even_for_a_superuser(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        log.record_run(s.run_doc("r1"))
    schema = s.schema_of(pg_url)
    column = {"events": "seq", "meta": "value", "merkle": "hash", "checkpoints": "note", "auditlog_schema": "version",
              "auditlog_writer_lock": "id"}
    for table in TABLES:
        name = f'"{schema}".{table}'
        for sql in (f"UPDATE {name} SET {column[table]} = {column[table]}", f"DELETE FROM {name}", f"TRUNCATE {name}"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                pg_admin.execute(sql)
    with AuditLog.open(pg_url, create=False) as log:
        assert log.head().size == 2 and log.verify().ok


def test_search_path_names_the_schema_without_our_parameter(pg_admin, pg_url) -> None:
    schema = s.schema_of(pg_url)
    pg_admin.execute(f'CREATE SCHEMA "{schema}"')
    url = pg_url.split("?")[0] + f"?options=-csearch_path%3D{schema}"
    with AuditLog.open(url) as log:
        assert log.store.schema == schema and log.head().size == 1
    with AuditLog.open(pg_url, create=False) as log:  # the same log, named the other way
        assert log.head().size == 1
    with pytest.raises(StorageError, match="no current schema"):
        PostgresStore(pg_url.split("?")[0] + "?options=-csearch_path%3Dno_such_schema_here")


def test_open_without_create_finds_no_log_and_makes_nothing(pg_admin, pg_url) -> None:
    with pytest.raises(NotFound, match="no log"):
        PostgresStore(pg_url, create=False)
    found = pg_admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (s.schema_of(pg_url),)).fetchall()
    assert found == []


def test_newer_and_older_schema_versions_are_refused(pg_admin, pg_url, monkeypatch) -> None:
    PostgresStore(pg_url).close()
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", 4)
    with pytest.raises(StorageError, match="schema version 3, this auditlog needs 4: .*auditlog migrate"):
        PostgresStore(pg_url)
    monkeypatch.undo()
    pg_admin.execute(f'INSERT INTO "{s.schema_of(pg_url)}".auditlog_schema (version) VALUES (4)')
    with pytest.raises(StorageError, match="newer than this auditlog understands"):
        PostgresStore(pg_url)


def test_a_schema_holding_other_tables_is_not_taken_over(pg_admin, pg_url) -> None:
    schema = s.schema_of(pg_url)
    pg_admin.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".events (x int)')
    with pytest.raises(StorageError, match="already holds objects auditlog did not make"):
        PostgresStore(pg_url)


def test_writers_on_two_connections_queue_on_the_lock(pg_url) -> None:
    holder, waiter = PostgresStore(pg_url, lock_timeout=5), PostgresStore(pg_url, lock_timeout=5)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction(5):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(5)
        start = time.monotonic()
        with pytest.raises(LockTimeout, match="lock timeout"), waiter.transaction(0.3):
            pass
        assert 0.25 < time.monotonic() - start < 3
        with pytest.raises(LockTimeout), waiter.transaction(0):  # 0: do not wait at all
            pass
    finally:
        release.set()
        thread.join()
    with waiter.transaction(1) as txn:  # and free again
        assert txn.head().size == 0
    holder.close()
    waiter.close()


def test_streams_read_one_moment_and_writes_wait_for_them(pg_url) -> None:
    with AuditLog.open(pg_url) as log, AuditLog.open(pg_url) as other:
        with log.writer() as w:
            for i in range(5):
                w.record_run(s.run_doc(f"r{i}"))
        events = log.events()
        first = next(events)
        with pytest.raises(StorageError, match="while reading it"):
            log.record_run(s.run_doc("blocked"))
        other.record_run(s.run_doc("late"))  # committed while the stream is open
        assert [first.seq, *(e.seq for e in events)] == list(range(6))
        assert log.head().size == 7  # the stream is done: reads see the present again
        log.record_run(s.run_doc("after"))
        assert log.verify().ok


def test_server_going_away_mid_batch_writes_nothing_and_the_next_append_works(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        size = log.head().size
        with pytest.raises(StorageError) as caught:
            with log.writer() as w:
                for i in range(3):
                    w.record_run(s.run_doc(f"batch-{i}"))
                pid = log.store._conn.info.backend_pid
                pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                w.record_run(s.run_doc("batch-3"))
        message = str(caught.value)
        assert caught.value.exit_code == EXIT_STORAGE and "\n" not in message
        assert "connection" in message and "nothing of this transaction was written" in message, message
        receipt = log.record_run(s.run_doc("batch-0"))  # the same object reconnects; the retry is new
        assert receipt.new and receipt.seq == size
        assert not log.record_run(s.run_doc("batch-0")).new  # and a second retry is idempotent
        assert log.head().size == size + 1 and log.verify().ok


def test_statement_timeout_is_one_line_and_writes_nothing(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url) as log:
        size = log.head().size
    url = pg_url + "&options=-cstatement_timeout%3D300"
    with AuditLog.open(url) as log, psycopg.connect(s.as_role(pg_url, "postgres").split("?")[0]) as locker:
        locker.execute(f'LOCK TABLE "{s.schema_of(pg_url)}".events IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(StorageError, match="statement timeout") as caught:
            log.record_run(s.run_doc("slow"))
        assert "\n" not in str(caught.value) and "nothing of this transaction was written" in str(caught.value)
        locker.rollback()
        assert log.head().size == size
        log.record_run(s.run_doc("slow"))
        assert log.head().size == size + 1


def test_catch_up_asks_the_postgresql_index_about_new_run_ids_as_a_rebuild_folds_them(pg_url, tmp_path) -> None:
    """The catch-up's question "was this run id recorded before?" goes to the store's index
    (AuditLog.about_many, find_many on PostgreSQL); a run id recorded again, chained past the
    Writer, is left out by the catch-up as by a rebuild."""
    import projections
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run

    def run(run_id: str, accuracy: float) -> dict:
        return {"run_id": run_id, "project_id": "p", "model_id": "m", "metrics": {"accuracy": accuracy},
                "items": [{"item_id": "q1", "score": 1.0, "passed": True}]}

    inc, full = tmp_path / "inc", tmp_path / "full"
    with AuditLog.open(pg_url) as log:
        log.record_run(run("first", 0.5))
        projections.catch_up(log, inc)
        assert [e.event.subject for e in log.about_many(["first", "nobody"], ev.RUN_RECORDED)] == ["first"]
        again = prepare_run(run("first", 0.9))
        with log.writer() as w:
            w._append_encoded(ev.RUN_RECORDED, "p", "first", encoded_run(again), again.document_sha256)
        log.record_run(run("second", 0.7))
        projections.catch_up(log, inc)
        projections.rebuild(log, full)
    built, rebuilt = projections.open_built(inc), projections.open_built(full)
    assert projections.to_records(built.runs) == projections.to_records(rebuilt.runs)
    assert [(r["run_id"], r["metrics"]["accuracy"]) for r in projections.to_records(built.runs)] == [
        ("first", 0.5), ("second", 0.7)]
