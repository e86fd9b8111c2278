"""Issue 12 on PostgreSQL: what a role made by `auditlog db setup-roles` can do with the rights it has,
against the real server, logged in as that role (trust authentication lets any role log in).

The writer may INSERT into events, merkle and checkpoints: the schema's row triggers refuse anything
outside the chain's domain (an event not at the head, a wrong hash, a body whose envelope names
another predecessor, a Merkle row or a checkpoint that does not match the events), so the log keeps
working afterwards. The reader cannot take the writers' lock. What only the tables' owner can do
(an extra trigger, a rule, a policy, a disabled trigger) `schema_problems` names.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from json.encoder import encode_basestring

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from auditlog.core.events import envelope_tail
from auditlog.core.merkle import TreeBuilder, leaf_hash
from auditlog.services.log import AuditLog
from auditlog.services.signing import Signer, sign_note
from auditlog.store.postgres.schema import TABLES, Statements
from auditlog.store.postgres.store import PostgresStore

from . import pg_support as s

TS = "2026-02-03T04:05:06.000007Z"
NASTY = ["", "plain", '"quoted"', "back\\slash", "/slash", "\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f", "\x7f",
         "\u0080\u009f\u00a0", "\u2028\u2029", "é ü ß", "\ufeff\ufffe\uffff", "\ud7ff\ue000", "𝄞🙂\U0010ffff",
         "<script>&amp;</script>", "{\"k\": [1, 2]}"]


@pytest.fixture
def hostile(pg_admin, pg_url) -> Iterator[dict]:
    """A log of 20 events owned by the superuser, fresh writer and reader roles (set up by auditlog) and
    a login as each; roles are dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    writer, reader = f"auditlog_hw_{suffix}", f"auditlog_hr_{suffix}"
    with AuditLog.open(pg_url, origin="example.org/hostile") as log:
        with log.writer() as w:
            for i in range(19):
                w.record_run(s.run_doc(f"run-{i}", seed=i))
        log.store.setup_roles(writer, reader)
    conns = {name: psycopg.connect(s.as_role(pg_url, role).split("?")[0], autocommit=True)
             for name, role in (("writer", writer), ("reader", reader))}
    schema = s.schema_of(pg_url)
    try:
        yield {"url": pg_url, "schema": schema, "q": f'"{schema}"', "writer_role": writer, "reader_role": reader,
               **conns}
    finally:
        for conn in conns.values():
            conn.close()
        pg_admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for role in (writer, reader):
            pg_admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE IF EXISTS "{role}"')


def _head(conn, q: str) -> tuple[int, str]:  # noqa: ANN001
    seq, hash_ = conn.execute(f"SELECT seq, hash FROM {q}.events ORDER BY seq DESC LIMIT 1").fetchone()
    return seq + 1, hash_


def _row(seq: int, prev: str, subject: str = "forged", project: str = "mmlu-pro") -> tuple:
    """An events row as a writer could send it: any seq, the body ending with the envelope tail it names."""
    body = b'{"actor":{"user":"mallory"},"data":{"note":"x"}' + envelope_tail(prev, project, seq, subject, TS,
                                                                             "run.annotated")
    return (seq, hashlib.sha256(body).hexdigest(), TS, "run.annotated", project, subject, body)


INSERT = "INSERT INTO {q}.events (seq, hash, ts, type, project, subject, body) VALUES (%s, %s, %s, %s, %s, %s, %s)"


def _refused(conn, sql: str, args: tuple = ()) -> str:  # noqa: ANN001
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, args)
    assert not isinstance(caught.value, psycopg.errors.InsufficientPrivilege), caught.value  # the schema refused it
    return str(caught.value)


def test_the_writer_cannot_insert_an_event_outside_the_head(hostile) -> None:
    w, q = hostile["writer"], hostile["q"]
    size, top = _head(w, q)
    original = w.execute(f"SELECT seq, hash, ts, type, project, subject, body FROM {q}.events WHERE seq = 5").fetchone()
    insert = INSERT.format(q=q)
    # The attack: a forged copy of a run at a negative seq (verify reads seq > -1 and never sees it).
    _refused(w, insert, (-1, *original[1:]))
    _refused(w, insert, _row(-1, top))
    _refused(w, insert, _row(size + 3, top))  # a future seq: a gap
    _refused(w, insert, _row(size - 1, top))  # a seq that is there (the primary key, or the trigger)
    forged = _row(size, top)
    _refused(w, insert, (forged[0], "0" * 64, *forged[2:]))  # at the head, with a wrong hash
    other_prev = _row(size, original[1])  # at the head, its envelope naming another predecessor
    assert "does not end with the envelope" in _refused(w, insert, other_prev)
    lying = _row(size, top)  # the columns say one thing, the hashed bytes another
    assert "does not end with the envelope" in _refused(w, insert, (*lying[:5], "another-subject", lying[6]))
    with w.cursor() as cur:  # row triggers fire for COPY too
        with pytest.raises(psycopg.Error, match="head only"):
            with cur.copy(f"COPY {q}.events (seq, hash, ts, type, project, subject, body) FROM STDIN") as copy:
                copy.write_row(_row(-5, top))
    assert _head(w, q) == (size, top)

    # What a writer may insert, it still can, and the log verifies.
    w.execute(insert, forged)
    with AuditLog.open(s.as_role(hostile["url"], hostile["writer_role"]), create=False) as log:
        receipt = log.record_run(s.run_doc("after-the-attack"))
        assert receipt.seq == size + 1
        assert [r[0] for r in log.store.find("forged")] == [size]
        assert log.verify().ok


def test_envelope_strings_are_escaped_as_rfc_8785_escapes_them(pg_admin, pg_url) -> None:
    # Every code point PostgreSQL text can hold (all but NUL and the surrogates), in one string.
    every = "".join(chr(c) for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000)
    assert pg_admin.execute("SELECT to_json(%s::text)::text", (every,)).fetchone()[0] == encode_basestring(every)
    with AuditLog.open(pg_url, origin="example.org/escapes") as log:
        store = log.store
        tree = TreeBuilder.from_peaks(1, [leaf_hash(store.get(0)[6])])
        for text in NASTY:
            with store.transaction(5) as txn:
                head = txn.head()
                row = _row(head.size, head.hash, subject=text, project=text[::-1])
                txn.append([row], tree.extend([leaf_hash(row[6])], min_level=4))
        assert log.verify().ok
        for text in NASTY:
            assert store.find(text)[-1][4:6] == (text[::-1], text)
        # A tail escaped any other way (\u escapes of what RFC 8785 keeps raw, or upper-case hex) is refused.
        for text, wrong in (("é", '"\\u00e9"'), ("\u2028", '"\\u2028"'), ("\x7f", '"\\u007f"'), ("\x1f", '"\\u001F"')):
            head = store.head()
            body = (b'{"actor":{},"data":{}' + envelope_tail(head.hash, "p", head.size, "x", TS, "run.annotated")
                    .replace(b'"subject":"x"', b'"subject":' + wrong.encode()))
            assert encode_basestring(text) != wrong
            row = (head.size, hashlib.sha256(body).hexdigest(), TS, "run.annotated", "p", text, body)
            with pytest.raises(Exception, match="does not end with the envelope"), store.transaction(5) as txn:
                txn.append([row])


def test_junk_merkle_rows_are_refused_and_later_appends_still_work(hostile) -> None:
    w, q, url = hostile["writer"], hostile["q"], hostile["url"]
    size, top = _head(w, q)  # 20: (4, 0) is stored, (4, 1) will be complete at 32
    insert = f"INSERT INTO {q}.merkle (level, idx, hash) VALUES (%s, %s, %s)"
    for level, idx in ((4, 1), (5, 0), (4, 1 << 40), (3, 0), (0, 0), (63, 0), (4, -1)):
        _refused(w, insert, (level, idx, b"\x00" * 32))  # a future position, a level never stored, ...
    # At a position that is complete (the writer inserts events 20..31 first, in one transaction):
    with w.transaction():
        rows = []
        for seq in range(size, 32):
            rows.append(_row(seq, rows[-1][1] if rows else top))
            w.execute(INSERT.format(q=q), rows[-1])
        leaves = [leaf_hash(bytes(r[0])) for r in w.execute(f"SELECT body FROM {q}.events ORDER BY seq")]
        nodes = {(level, idx): h for level, idx, h in TreeBuilder().extend(leaves, min_level=4)}
        with pytest.raises(psycopg.Error, match="its hash is not the subtree's"):
            with w.transaction():  # a savepoint: the wrong hash refused, the transaction goes on
                w.execute(insert, (4, 1, b"\x07" * 32))
        with pytest.raises(psycopg.Error, match="its two halves are not stored"):
            with w.transaction():
                w.execute(insert, (5, 0, nodes[(5, 0)]))  # its right half (4, 1) is not stored yet
        w.execute(insert, (4, 1, nodes[(4, 1)]))
        w.execute(insert, (5, 0, nodes[(5, 0)]))  # children first: the order a tree builder completes them
    with AuditLog.open(s.as_role(url, hostile["writer_role"]), create=False) as log:
        with log.writer() as batch:
            for i in range(40):  # on through (4, 2), (4, 3) and (5, 1), (6, 0), 64 events and more
                batch.record_run(s.run_doc(f"later-{i}", seed=i))
        assert log.head().size == 72 and log.verify().ok


def _note(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n\n— someone AAAA\n"


def test_junk_checkpoints_are_refused_and_verify_stays_ok(hostile, tmp_path) -> None:
    w, q, url = hostile["writer"], hostile["q"], hostile["url"]
    size, _ = _head(w, q)
    with AuditLog.open(url, create=False) as log:
        root = bytes.fromhex(log.verify().root)
    insert = f"INSERT INTO {q}.checkpoints (size, root, note, created) VALUES (%s, %s, %s, %s)"
    wrong = bytes(32)
    for cp_size, cp_root, note in (
            (size, wrong.hex(), _note("example.org/hostile", size, wrong)),  # a wrong root
            (size, root.hex(), _note("example.org/hostile", size, wrong)),  # the note's root another
            (size + 1, root.hex(), _note("example.org/hostile", size + 1, root)),  # beyond the head
            (0, bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").hex(),
             _note("example.org/hostile", 0, wrong)),  # the empty tree
            (size, root.hex(), _note("example.org/other", size, root)),  # another log's origin
            (size, root.hex(), _note("example.org/hostile", size - 1, root))):  # another size
        _refused(w, insert, (cp_size, cp_root, note, TS))
    signer = Signer.generate("ci.example.org")
    body = _note("example.org/hostile", size, root).split("\n\n")[0] + "\n"
    w.execute(insert, (size, root.hex(), sign_note(body, [signer]), TS))  # it matches: taken (signatures: verify's)
    with AuditLog.open(s.as_role(url, hostile["writer_role"]), create=False) as log:
        log.record_run(s.run_doc("after"))
        log.checkpoint(signer)  # auditlog's own checkpoints pass (the trailing < 16 events included)
        assert len(log.store.checkpoints()) == 2
        assert log.verify().ok


def test_the_reader_cannot_hold_up_the_writers(hostile) -> None:
    r, q, url = hostile["reader"], hostile["q"], hostile["url"]
    lock = Statements(hostile["schema"])
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        r.execute(lock.lock_nowait)  # FOR UPDATE needs UPDATE: writers only
    for sql in (f"LOCK TABLE {lock.lock_table} IN EXCLUSIVE MODE", f"SELECT 1 FROM {lock.lock_table} FOR KEY SHARE",
                f"LOCK TABLE {q}.events IN SHARE MODE"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), r.transaction():
            r.execute(sql)
    # The writer's UPDATE privilege there is for FOR UPDATE only (which fires no trigger): an UPDATE is refused.
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        hostile["writer"].execute(f"UPDATE {lock.lock_table} SET id = 1")

    # The reader takes everything it can: the advisory lock version 1 writers queued on, and every table.
    k1, k2 = lock.lock_key
    r.autocommit = False
    r.execute(f"SELECT pg_advisory_xact_lock({k1}, {k2}), pg_advisory_lock({k1}, {k2})")
    r.execute(f"LOCK TABLE {', '.join(f'{q}.{t}' for t in TABLES)} IN ACCESS SHARE MODE")
    r.execute(f"SELECT count(*) FROM {q}.events")
    holding = threading.Event()
    holding.set()

    def release_later() -> None:
        time.sleep(3)
        holding.clear()
        r.rollback()

    releaser = threading.Thread(target=release_later)
    releaser.start()
    try:
        with AuditLog(PostgresStore(s.as_role(url, hostile["writer_role"]), create=False, lock_timeout=10)) as log:
            receipt = log.record_run(s.run_doc("while-the-reader-holds"))
            still_held = holding.is_set() and r.info.transaction_status == TransactionStatus.INTRANS
        assert receipt.new and still_held, "the append waited for the reader"
    finally:
        releaser.join()
        r.execute("SELECT pg_advisory_unlock_all()")
        r.commit()


def test_schema_problems_name_what_the_owner_changed(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url, origin="example.org/owner") as log:
        log.record_run(s.run_doc("r1"))
        assert log.store.schema_problems() == []
    q = f'"{s.schema_of(pg_url)}"'
    pg_admin.execute(f"""
        CREATE FUNCTION {q}.vanish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER swallow BEFORE INSERT ON {q}.events FOR EACH ROW EXECUTE FUNCTION {q}.vanish();
        CREATE RULE no_nodes AS ON INSERT TO {q}.merkle DO INSTEAD NOTHING;
        ALTER TABLE {q}.checkpoints ENABLE ROW LEVEL SECURITY;
        CREATE POLICY some_only ON {q}.checkpoints USING (size < 10);
        ALTER TABLE {q}.merkle DISABLE TRIGGER merkle_in_tree;
        CREATE VIEW {q}.runs AS SELECT * FROM {q}.events;
    """)
    store = PostgresStore(pg_url, create=False)
    try:
        problems = store.schema_problems()
    finally:
        store.close()
    text = "\n".join(problems)
    for name in ("trigger events.swallow", "function vanish()", "rule merkle.no_nodes",
                 "row-level security policy checkpoints.some_only", "the table checkpoints is not as auditlog created "
                 "it (ordinary table, row security on", "the trigger merkle.merkle_in_tree is disabled",
                 "view runs"):
        assert name in text, text
    assert all("\n" not in p for p in problems) and len(problems) == 7, problems


def test_look_ups_never_see_a_row_outside_the_chain(pg_admin, pg_url) -> None:
    with AuditLog.open(pg_url, origin="example.org/owner") as log:
        log.record_run(s.run_doc("victim"))
        genuine = log.store.find("victim")
    q = f'"{s.schema_of(pg_url)}"'
    with pg_admin.transaction():  # the owner, past every guard of the schema
        pg_admin.execute(f"ALTER TABLE {q}.events DROP CONSTRAINT events_in_domain")
        pg_admin.execute(f"ALTER TABLE {q}.events DISABLE TRIGGER events_at_head")
        pg_admin.execute(f"INSERT INTO {q}.events SELECT -1, hash, ts, type, project, subject, body "
                         f"FROM {q}.events WHERE subject = 'victim'")
    with AuditLog.open(pg_url, create=False) as log:
        assert log.store.find("victim") == genuine and log.store.get(-1) is None
        assert log.store.tally().events == 3 and log.store.tally(None, 0).events == 1  # the database still counts it
        problems = log.store.schema_problems()
    assert any("constraint events.events_in_domain is missing" in p for p in problems), problems
    assert any("trigger events.events_at_head is disabled" in p for p in problems), problems
