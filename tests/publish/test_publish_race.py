"""Two publishes to one destination at once (attacker review 3): the smaller one, finishing last, wrote its
checkpoint over the larger one's, rolling the publication back (and its projections with it). A publish now
checks, before it writes its projections and again before its checkpoint, that the destination's checkpoint
is still the one it started from; otherwise it stops (exit 5) and leaves the other publish's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlog.errors import Conflict
from auditlog.services import publish as tiles
from auditlog.services.keys import load_signer
from auditlog.services.log import AuditLog
from auditlog.services.targets import open_target
from tests.integration.cli_support import cli
from tests.publish.publish_support import keygen, make_log


def test_a_smaller_publish_finishing_last_does_not_roll_the_checkpoint_back(tmp_path: Path) -> None:
    db, out = tmp_path / "evals.db", tmp_path / "pub"
    make_log(db, 99)
    key, vkey = keygen(tmp_path)
    assert cli("publish", "--log", db, "--to", out, "--key", key).code == 0  # size 100
    make_log(db, 50, start=99)
    signer = load_signer(key)
    with AuditLog.open(db, create=False) as log:
        small = tiles.start(log, open_target(str(out)), signer, size=120)  # both start from size 100
        large = tiles.start(log, open_target(str(out)), signer, size=150)
        tiles.write_tiles(log, large)
        tiles.write_checkpoint(large, tiles.final_note(large))
        tiles.write_tiles(log, small)
        with pytest.raises(Conflict, match="changed while this publish ran"):
            tiles.write_checkpoint(small, tiles.final_note(small))
    assert (out / "checkpoint").read_text().split("\n")[1] == "150"
    done = cli("verify", "--from", out, "--vkey", vkey)
    assert done.code == 0 and " 150 events " in done.out, done
