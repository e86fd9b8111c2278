"""history, show, compare and trend with --from: the published projections, checked first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli_support import cli, one_line_error
from tests.publish.publish_support import keygen


@pytest.fixture
def demo(tmp_path: Path):
    db = tmp_path / "demo.db"
    assert cli("demo", "--log", db).code == 0
    key, vkey = keygen(tmp_path)
    out = tmp_path / "pub"
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    env_cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    return db, out, vkey, env_cache


def both(db, out, vkey, cache, *args):
    import os
    local = cli(*args, "--log", db)
    published = cli(*args, "--from", out, "--vkey", vkey, env={**os.environ, **cache})
    return local, published


def test_reads_from_the_published_projections_match_the_log(demo):
    db, out, vkey, cache = demo
    for args in [("history", "-o", "json"),
                 ("trend", "--project", "mmlu-pro", "--metric", "accuracy", "-o", "json"),
                 ("compare", "claude-x::mmlu-pro::v1.1", "claude-x::mmlu-pro::v1.2", "-o", "json")]:
        local, published = both(db, out, vkey, cache, *args)
        assert local.code == 0 and published.code == 0, (args, published)
        assert json.loads(published.out) == json.loads(local.out), args
    local, published = both(db, out, vkey, cache, "show", "claude-x::mmlu-pro::v1.2", "-o", "json")
    assert published.code == 0, published
    assert json.loads(published.out)["run"] == json.loads(local.out)["run"]


def test_forged_projections_are_refused(demo):
    import os
    db, out, vkey, cache = demo
    state = out / "projections/state.json"
    state.write_bytes(state.read_bytes().replace(b'"counts"', b'"counts" '))
    done = cli("history", "--from", out, "--vkey", vkey, env={**os.environ, **cache})
    assert done.code == 1 and "projections/state.json" in done.err, done
    done = cli("history", "--from", out, env={**os.environ, **cache})
    assert done.code == 2 and "--vkey" in done.err


@pytest.mark.parametrize("state", [b"[]", b'{"format": 3, "position": {"seq": "20"}}'])
def test_a_signed_state_this_reader_cannot_use_is_one_line_not_a_traceback(demo, state):
    """The key holder signed a state.json no auditlog writes (a list, a seq as text): refused as unusable."""
    import hashlib
    import os

    from auditlog.app.publish import MANIFEST, SIGNED_STATE, STATE, signed_state_body
    from auditlog.core.checkpoint import parse_checkpoint
    from auditlog.core.note import unverified_note
    from auditlog.services.keys import load_signer

    db, out, vkey, cache = demo
    (out / "projections" / STATE).write_bytes(state)
    checkpoint = parse_checkpoint(unverified_note((out / "checkpoint").read_text())[0])
    digests = {STATE: hashlib.sha256(state).hexdigest(),
               MANIFEST: hashlib.sha256((out / "projections" / MANIFEST).read_bytes()).hexdigest()}
    signer = load_signer(out.parent / "log.example.key")
    (out / SIGNED_STATE).write_text(signer.sign(signed_state_body(checkpoint, digests)))
    done = cli("history", "--from", out, "--vkey", vkey, env={**os.environ, **cache})
    assert done.code == 1 and "projections/state.json is not a projections state" in done.err, done
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1, done


def test_show_and_history_from_a_published_log_name_each_runs_configuration_as_on_the_log(tmp_path: Path):
    """A configured project, a run before it, one under each of two configurations, and one chained past the
    Writer's check (its event names no configuration): published, then read back with --from."""
    import os

    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.log import AuditLog
    from auditlog.services.writer import encoded_run
    from tests.integration.cli_support import ok, run_doc

    db = tmp_path / "evals.db"
    ok("append", "run", "-", "--log", db, input=json.dumps(run_doc("before", "qa")))
    ok("project", "configure", "qa", "--lower-is-better", "wall_s", "--log", db)  # seq 2
    ok("append", "run", "-", "--log", db, input=json.dumps(run_doc("first", "qa")))
    ok("project", "configure", "qa", "--metric-bounds", "accuracy=0..1", "--log", db)  # seq 4
    ok("append", "run", "-", "--log", db, input=json.dumps(run_doc("second", "qa")))
    prepared = prepare_run(run_doc("forged", "qa"))
    with AuditLog.open(db) as log, log.writer() as w:
        w._append_encoded(ev.RUN_RECORDED, "qa", "forged", encoded_run(prepared), prepared.document_sha256)
    key, vkey = keygen(tmp_path)
    out = tmp_path / "pub"
    ok("publish", "--log", db, "--to", out, "--key", key)
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def config_line(text: str) -> str:
        return next(x for x in text.splitlines() if x.startswith("project config:"))

    said = {}
    for run in ("before", "first", "second", "forged"):
        local, published = both(db, out, vkey, cache, "show", run)
        assert local.code == 0 and published.code == 0, published
        said[run] = config_line(published.out)
        assert said[run] == config_line(local.out)
        local, published = both(db, out, vkey, cache, "show", run, "-o", "json")
        assert json.loads(published.out)["project_config"] == json.loads(local.out)["project_config"]
    assert said["before"] == "project config: none" and said["first"] == "project config: seq 2: lower_is_better=wall_s"
    assert said["second"] == "project config: seq 4: lower_is_better=wall_s metric_bounds=accuracy=0..1"
    assert said["forged"].startswith("project config: none (NOT CHECKED: config_seq: the run names none;")
    local, published = both(db, out, vkey, cache, "history")
    assert published.code == 0, published
    listed = [x for x in published.out.splitlines() if x.startswith("config seq")]
    assert listed == [x for x in local.out.splitlines() if x.startswith("config seq")]
    assert listed == ["config seq 2 (qa): lower_is_better=wall_s", "config seq 4 (qa): lower_is_better=wall_s metric_bounds=accuracy=0..1"]
    done = cli("history", "--from", out, "--vkey", vkey, "-o", "json", env={**os.environ, **cache})
    assert not any(x.startswith("config seq") for x in done.out.splitlines())  # records only, as on the log


def test_a_reader_refuses_another_log_signed_by_the_same_key_or_an_older_publication(tmp_path: Path):
    """Whoever can write to the bucket holds no key, but can put back an older publication or another log that
    the same key signed: the reader's cache remembers what it read there (same log id, a tree that extends)."""
    import os
    import shutil

    from tests.publish.publish_support import make_log

    key, vkey = keygen(tmp_path)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def read(out: Path, *extra: str):  # noqa: ANN202
        return cli("history", "--from", out, "--vkey", vkey, "-o", "json", *extra, env=env)

    db, out = tmp_path / "evals.db", tmp_path / "pub"
    make_log(db, 3)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    shutil.copytree(out, tmp_path / "old")
    assert read(out).code == 0
    make_log(db, 2, start=3)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0
    assert len(json.loads(read(out).out)) == 5, "a longer tree that extends the one read before is read"

    shutil.rmtree(out)
    shutil.copytree(tmp_path / "old", out)  # the older publication, put back
    done = read(out)
    assert done.code == 1 and "now holds 4 events, fewer than the 6 read here before" in done.err, done
    link = tmp_path / "link"
    link.symlink_to(out)
    for spelling in (f"{out}/", f"file://{out}", str(link), os.path.relpath(out)):  # one place, however spelled
        done = cli("history", "--from", spelling, "--vkey", vkey, "-o", "json", env=env)
        assert done.code == 1 and "fewer than the 6 read here before" in done.err, (spelling, done)

    other = tmp_path / "other.db"
    make_log(other, 7, origin="test.example/evals")  # the same origin and key: only the log id tells them apart
    shutil.rmtree(out)
    assert cli("publish", "--log", other, "--to", out, "--key", key).code == 0
    done = read(out)
    assert done.code == 1 and "now holds another log" in done.err and "Traceback" not in done.err, done
    assert read(out, "--projections", str(tmp_path / "fresh")).code == 0, "a reader that means to read it, can"


def test_origin_pins_the_log_a_published_read_must_be(demo):
    import os
    db, out, vkey, cache = demo
    env = {**os.environ, **cache}
    done = cli("history", "--from", out, "--vkey", vkey, "--origin", "other.example/evals", env=env)
    assert done.code == 1 and "other.example/evals" in done.err, done
    origin = json.loads(cli("verify", "--log", db, "-o", "json").out)["origin"]
    for args in (("history",), ("show", "claude-x::mmlu-pro::v1.2"), ("trend", "--project", "mmlu-pro", "--metric",
                 "accuracy"), ("compare", "claude-x::mmlu-pro::v1.1", "claude-x::mmlu-pro::v1.2")):
        assert cli(*args, "--from", out, "--vkey", vkey, "--origin", origin, env=env).code == 0, args
        done = cli(*args, "--log", db, "--origin", origin)
        assert done.code == 2 and "--origin" in done.err and "--from" in done.err, (args, done)
    assert cli("verify", "--from", out, "--vkey", vkey, "--origin", origin).code == 0
    done = cli("verify", "--from", out, "--vkey", vkey, "--origin", "other.example/evals")
    assert done.code == 1 and "other.example/evals" in done.err, done
    done = cli("verify", "--log", db, "--origin", origin)
    assert done.code == 2 and "--origin" in done.err and "--from" in done.err, done


@pytest.mark.parametrize("command", [["verify"], ["history"], ["show", "claude-x::mmlu-pro::v1.2"]])
def test_from_and_a_log_typed_together_are_refused(demo, command):
    """`verify --from URI --log LOG` checked the publication alone and said ok: it looked like a check of
    the log against it (new-user review 3). $AUDITLOG_DB, a job's default, is not a --log typed."""
    import os
    db, out, vkey, cache = demo
    done = cli(*command, "--from", out, "--vkey", vkey, "--log", db, env={**os.environ, **cache})
    line = one_line_error(done, 2, "--from: reads a published log instead of --log")
    assert "--checkpoint" in line
    done = cli(*command, "--from", out, "--vkey", vkey, env={**os.environ, **cache, "AUDITLOG_DB": str(db)})
    assert done.code == 0, done
    published = out / "checkpoint"
    assert cli("verify", "--log", db, "--checkpoint", published, "--vkey", vkey).code == 0
