"""The envelope: seal and parse are inverse, and the verify fast path agrees with a full parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog.core.chain import ChainScan
from auditlog.core.events import ZERO_HASH, Event, envelope_tail, parse_event, seal
from auditlog.errors import InvalidInput
from auditlog.evals.provenance import actor_from_environ, ci_from_environ

TS = "2026-01-01T00:00:00.000000Z"
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def genesis() -> Event:
    return Event(0, TS, "log.created", "", "", {"user": "t"}, {"log_id": "x" * 32, "origin": "o"}, ZERO_HASH)


def chain(n: int, project: str = "p", subject: str = "s") -> list:
    rows, prev = [], None
    for seq in range(n):
        event = genesis() if seq == 0 else Event(seq, TS, "run.recorded", project, subject, {}, {"n": seq}, prev)
        sealed = seal(event)
        rows.append((seq, sealed.hash, event.ts, event.type, event.project, event.subject, sealed.body))
        prev = sealed.hash
    return rows


@given(project=text, subject=text, seq=st.integers(1, 2**40))
def test_seal_parse_round_trip_and_tail(project, subject, seq):
    event = Event(seq, TS, "run.recorded", project, subject, {"user": subject}, {"k": [1.5, project]}, "ab" * 32)
    sealed = seal(event)
    assert parse_event(sealed.body) == event
    assert sealed.body.endswith(envelope_tail("ab" * 32, project, seq, subject, TS, "run.recorded"))
    assert not sealed.body.endswith(envelope_tail("ab" * 32, project + "x", seq, subject, TS, "run.recorded"))


@pytest.mark.parametrize("body, why", [
    (b"[]", "not a JSON object"),
    (b'{"v":1}', "envelope keys"),
    (b'{"actor":{},"data":{},"prev":"' + b"0" * 64
     + b'","project":"","seq":0,"subject":"","ts":"2026-01-01T00:00:00.000000Z","type":"log.created","v":1} ', "canonical"),
    # an integer literal beyond any double: refused as not canonical, never an OverflowError (a traceback in verify)
    (b'{"actor":{},"data":{"x":' + b"9" * 400 + b'},"prev":"' + b"0" * 64
     + b'","project":"","seq":0,"subject":"","ts":"2026-01-01T00:00:00.000000Z","type":"log.created","v":1}',
     r"outside \+-\(2\*\*53 - 1\)"),
])
def test_parse_refuses(body, why):
    with pytest.raises(InvalidInput, match=why):
        parse_event(body)


def test_only_seq_zero_is_genesis():
    with pytest.raises(InvalidInput, match="prev"):
        seal(Event(3, TS, "run.recorded", "p", "s", {}, {}, ZERO_HASH))
    with pytest.raises(InvalidInput, match="genesis"):
        seal(Event(0, TS, "run.recorded", "p", "s", {}, {}, ZERO_HASH))


def test_an_intact_chain_verifies():
    rows = chain(6)
    scan = ChainScan(rows[0][1])
    assert list(scan.scan(rows)) == []
    assert (scan.size, scan.head) == (6, rows[-1][1])


def test_scan_names_the_first_problem_and_counts_the_rest():
    rows = chain(8)
    rows[2] = rows[2][:6] + (rows[2][6].replace(b'"n":2', b'"n":9'),)
    rows[6] = (6, "f" * 64) + rows[6][2:]
    problems = list(ChainScan(rows[0][1]).scan(rows))
    assert [(p.seq, p.kind) for p in problems] == [(2, "bytes-altered"), (6, "hash-altered")]
    assert [(p.seq, p.kind) for p in ChainScan().scan(rows)] == [(2, "bytes-altered"), (6, "hash-altered")]


def test_an_empty_log_has_no_genesis():
    assert [p.kind for p in ChainScan().scan([])] == ["genesis"]


def test_ci_environment_is_read_from_the_variables():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SHA": "abc", "GITHUB_RUN_ID": "42", "GITHUB_ACTOR": "octo"}
    assert ci_from_environ(env) == {"system": "github-actions", "commit": "abc", "run_id": "42", "user": "octo"}
    assert actor_from_environ(env, user="root")["user"] == "octo"
    assert actor_from_environ({"AUDITLOG_ACTOR": "bot"}, user="root") == {"user": "bot"}
    assert actor_from_environ({}, user="root") == {"user": "root"}
    assert ci_from_environ({"GITLAB_CI": "true", "CI_COMMIT_SHA": "d"}) == {"system": "gitlab-ci", "commit": "d"}
