"""Issue 12 on PostgreSQL, as the schema's owner (or a superuser) would attack it: bodies that
parse two ways, appends that vanish, reads after an event changed, metadata that lies; and what
verify, prove, verify-proof and append say of a PostgreSQL log (classes 5, 7, 8).

The writer role's side (what the server refuses it) is test_pg_hostile.py; here the attacker
can disable triggers, so it is detection that is tested, through the real CLI.
"""

from __future__ import annotations

import hashlib

from auditlog import AuditLog

from . import pg_support as s


def _log(pg_url: str, tmp_path) -> None:  # noqa: ANN001
    """base (seq 1), cand (seq 2), and 18 more runs: both inside the first stored Merkle subtree."""
    with AuditLog.open(pg_url) as log:
        log.record_run(s.run_doc("base", seed=0, n_items=20))
        log.record_run(s.run_doc("cand", seed=1, n_items=20))
        with log.writer() as w:
            for i in range(18):
                w.record_run(s.run_doc(f"other-{i}", project="other", seed=i))
    s.ok("history", "--log", pg_url, env=_env(tmp_path))  # builds the projections


def _env(tmp_path) -> dict[str, str]:  # noqa: ANN001
    import os
    return {**{k: v for k, v in os.environ.items() if k != "AUDITLOG_DB"}, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _body(pg_admin, pg_url: str, seq: int) -> bytes:  # noqa: ANN001
    schema = s.schema_of(pg_url)
    return bytes(pg_admin.execute(f'SELECT body FROM "{schema}".events WHERE seq = %s', (seq,)).fetchone()[0])


def test_a_body_that_parses_two_ways_is_caught_by_verify(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    schema, last = s.schema_of(pg_url), 20
    body = _body(pg_admin, pg_url, last)
    bad = b'{"actor":{},"data":{"run":{}},' + body[1:]  # two data members; the chain still links
    with s.tampering(pg_admin, pg_url, "events"):
        pg_admin.execute(f'UPDATE "{schema}".events SET body = %s, hash = %s WHERE seq = %s',
                         (bad, hashlib.sha256(bad).hexdigest(), last))
    result = s.cli("verify", "--log", pg_url)
    assert result.code == 1 and f"seq {last}: malformed" in result.out, str(result)


def test_a_trigger_that_drops_verdicts_fails_the_gate_and_verify(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    schema = s.schema_of(pg_url)
    pg_admin.execute(f'CREATE FUNCTION "{schema}".evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                     "IF NEW.type = 'verdict.recorded' THEN RETURN NULL; END IF; RETURN NEW; END $$")
    pg_admin.execute(f'CREATE TRIGGER a_evil BEFORE INSERT ON "{schema}".events FOR EACH ROW '
                     f'EXECUTE FUNCTION "{schema}".evil()')
    before = pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0]
    gated = s.cli("gate", "cand", "--baseline", "base", "--log", pg_url, env=_env(tmp_path))
    line = s.one_line_error(gated, 1)
    assert "did not keep what was written" in line and "nothing was written" in line, line
    assert "recorded at seq" not in gated.out
    assert pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0] == before
    verified = s.cli("verify", "--log", pg_url)
    assert verified.code == 1 and "a_evil" in verified.out and "schema" in verified.out, str(verified)


def test_reads_and_the_gate_fail_once_a_run_changed(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    schema = s.schema_of(pg_url)
    body = _body(pg_admin, pg_url, 1)
    changed = body.replace(b'"passed":false', b'"passed":true', 1)
    assert changed != body
    with s.tampering(pg_admin, pg_url, "events"):
        pg_admin.execute(f'UPDATE "{schema}".events SET body = %s WHERE seq = 1', (changed,))
    before = pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0]
    for args in (("history",), ("show", "base"), ("compare", "base", "cand"), ("gate", "cand", "--baseline", "base")):
        result = s.cli(*args, "--log", pg_url, env=_env(tmp_path))
        line = s.one_line_error(result, 1)
        assert "seq 1" in line or "not included in the verified tree" in line, (args, line)
    assert pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0] == before, "no verdict recorded"


def test_metadata_is_checked_against_the_genesis(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    schema = s.schema_of(pg_url)
    with s.tampering(pg_admin, pg_url, "meta"):
        pg_admin.execute(f"""UPDATE "{schema}".meta SET value = '../../../../tmp/x' WHERE key = 'log_id'""")
    result = s.cli("verify", "--log", pg_url)
    assert result.code == 1 and "metadata" in result.out and "log_id" in result.out, str(result)
    history = s.cli("history", "--log", pg_url, env=_env(tmp_path))  # the cache path is never built from it
    assert history.code == 2 and "is not a log id" in history.err, str(history)
    assert not (tmp_path / "tmp").exists()


def test_verify_says_what_it_proved_and_trusts_only_a_given_key(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    out = s.ok("verify", "--log", pg_url).out
    assert "internally consistent" in out and "cannot be excluded" in out
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key")
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "forger.key")  # the same name, another key
    s.ok("checkpoint", "--key", tmp_path / "forger.key", "--log", pg_url)
    out = s.ok("verify", "--log", pg_url, "--vkey", tmp_path / "ci.vkey").out
    assert "signed by" not in out and "cannot be excluded" in out and "no key given (ci.example.org) signed it" in out
    refused = s.cli("prove", "base", "--log", pg_url, "--vkey", tmp_path / "ci.vkey", "--out", tmp_path / "ev")
    assert refused.code == 1 and "stored checkpoint" in refused.err, str(refused)


def test_evidence_needs_the_expected_origin(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    s.ok("keygen", "--name", "ci.example.org", "--out", tmp_path / "ci.key")
    note = s.ok("checkpoint", "--key", tmp_path / "ci.key", "--log", pg_url).out
    s.ok("prove", "base", "--log", pg_url, "--vkey", tmp_path / "ci.vkey", "--out", tmp_path / "ev")
    event, proof = sorted((tmp_path / "ev").iterdir(), key=lambda p: p.suffix)
    assert s.cli("verify-proof", event, proof, "--vkey", tmp_path / "ci.vkey").code == 2
    assert s.cli("verify-proof", event, proof, "--vkey", tmp_path / "ci.vkey", "--origin", "other.example/log").code == 1
    s.ok("verify-proof", event, proof, "--vkey", tmp_path / "ci.vkey", "--origin", note.splitlines()[0])


def test_a_deceptive_run_id_is_refused_and_nothing_written(pg_admin, pg_url, tmp_path) -> None:
    _log(pg_url, tmp_path)
    schema = s.schema_of(pg_url)
    before = pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0]
    doc = s.write_json(tmp_path / "bidi.json", s.run_doc("safe\u202egnp.exe"))
    line = s.one_line_error(s.cli("append", "run", doc, "--log", pg_url), 2)
    assert "U+202E" in line and "run_id" in line, line
    assert pg_admin.execute(f'SELECT count(*) FROM "{schema}".events').fetchone()[0] == before
