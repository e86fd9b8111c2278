"""history, show, compare and trend with --from: the published projections, checked first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli_support import cli
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
