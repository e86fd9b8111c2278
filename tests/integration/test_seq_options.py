"""Seq-like options below their range are the user's mistake, never a sign of tampering: `events
--after` below -1 was read as "the log has no event at this seq (events were removed)", exit 1 on a
healthy log (new-user review). They are exit 2 naming the option, and the Python API refuses
the same `after` with InvalidInput, not IntegrityError."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlog.errors import InvalidInput
from auditlog.services.log import AuditLog
from tests.support.cli import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("seq")
    assert cli("demo", "--log", "after.db", cwd=where).code == 0
    return where


@pytest.mark.parametrize("after", ["-2", "-5"])
def test_events_after_below_minus_one_is_a_usage_error(demo, after):
    done = cli("events", "--log", "after.db", "--after", after, cwd=demo)
    assert done.code == 2 and "Invalid value for '--after'" in done.err and "-1<=x<=" in done.err, done
    assert done.out == "" and "removed" not in done.err and "Traceback" not in done.err
    assert cli("verify", "--log", "after.db", cwd=demo).code == 0  # the log is healthy


def test_events_after_minus_one_is_from_the_first(demo):
    done = cli("events", "--log", "after.db", "--after", "-1", "--limit", "1", cwd=demo)
    assert done.code == 0 and done.out.startswith('{"seq":0,'), done


def test_override_of_a_negative_seq_is_a_usage_error(demo):
    done = cli("override", "--to", "ALLOW", "--reason", "x", "--log", "after.db", "--", "-3", cwd=demo)
    assert done.code == 2 and "Invalid value for 'VERDICT_SEQ'" in done.err, done


@pytest.mark.parametrize("read", ["events", "linked_events"])
def test_the_python_api_refuses_after_below_minus_one(demo, read):
    with AuditLog.open(demo / "after.db", create=False) as log:
        with pytest.raises(InvalidInput) as refused:
            list(getattr(log, read)(after=-5))
        assert refused.value.field == "after" and "not -5" in refused.value.reason
        assert [e.seq for e in getattr(log, read)(after=-1, until=2)] == [0, 1]
