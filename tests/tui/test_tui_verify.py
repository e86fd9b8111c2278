"""Verify in a worker: intact, tampered (the first bad seq on screen), cancelled; `--verify`."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import ProgressBar

from auditlog.services.log import AuditLog
from auditlog.tui.data import chain
from auditlog.tui.screens import verify as verify_screen
from auditlog.tui.screens.runs import RunsScreen
from auditlog.tui.screens.verify import VerifyScreen

from .tui_support import SIZE, app_for, flip_score, pilot_test, screen_text, settle, small_run, tamper


@pilot_test
async def test_verify_an_intact_log(demo_log):
    with AuditLog.open(demo_log, create=False) as log:
        report = log.verify()
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen) and screen.verification.report.ok
        text = screen_text(app)
        assert "✔ INTERNALLY CONSISTENT" in text and "24 / 24 events checked" in text and "24 events" in text
        assert "INTACT" not in text, "no checkpoint from outside was checked: it does not say more"
        assert "truncation or a rewrite by its holder cannot be" in text and "excluded" in text
        assert report.root in text and report.head in text
        assert "0 with a signature a trusted key checked; 1 stored whose signatures were not checked" in text
        assert "ci.example.org" not in text, "a signer is not named as if its signature were checked"
        bar = screen.query_one(ProgressBar)
        assert bar.progress == bar.total == 24
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


@pilot_test
async def test_verify_a_tampered_log_names_the_first_bad_seq(demo_log):
    tamper(demo_log, 7, flip_score)
    app = app_for(demo_log, verify=True)  # `auditlog tui --verify`
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert screen.verification.report.first.seq == 7
        text = screen_text(app)
        assert "✘ TAMPERED" in text and "first bad seq 7" in text
        assert "seq 7: bytes-altered" in text and "the event bytes were changed" in text
        assert "Events around seq 7" in text
        around = [line for line in text.splitlines() if "run.recorded" in line]
        assert [line.split()[0] for line in around] == ["5", "6", "7", "8", "9"]
        assert "✘ bytes" in next(line for line in around if line.split()[0] == "7")


@pilot_test
async def test_verify_can_be_cancelled(demo_log, monkeypatch):
    started = threading.Event()

    def slow_verify(location, progress, cancelled, trust=None):
        done = 0
        while not cancelled():
            done += 4096
            progress(done, 10**9)
            started.set()
            threading.Event().wait(0.01)
        raise chain.Cancelled(done)

    monkeypatch.setattr(verify_screen.chain, "verify", slow_verify)
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await pilot.pause()
        assert started.wait(5)
        await pilot.pause(0.3)
        screen = app.screen
        assert screen.running and "events checked" in screen_text(app)
        assert 0 < screen.query_one(ProgressBar).progress < 10**9
        await pilot.press("escape")  # cancels; a second escape goes back
        await settle(pilot)
        assert isinstance(app.screen, VerifyScreen) and not screen.running
        assert "cancelled after" in screen_text(app) and "nothing was concluded" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


def test_the_verification_stops_when_asked(tmp_path):
    path = tmp_path / "long.db"
    with AuditLog.open(path, synchronous="OFF") as log, log.writer() as w:
        for i in range(5000):
            w.record_run(small_run(f"run-{i}"))
    seen: list[int] = []
    with pytest.raises(chain.Cancelled) as stopped:
        chain.verify(path, lambda done, total: seen.append(done), lambda: bool(seen))
    assert seen == [0] and stopped.value.done == 4096  # stopped at the first progress report
    seen.clear()
    outcome = chain.verify(path, lambda done, total: seen.append(done), lambda: False)
    assert outcome.report.ok and seen == [0, 4096, 5001]


def test_a_tampered_log_can_still_be_browsed_when_its_projections_were_built_before(demo_log):
    import projections

    with AuditLog.open(demo_log, create=False) as log:
        projections.open(log, f"{demo_log}.projections")
    tamper(demo_log, 3, flip_score)

    async def scenario():
        app = app_for(demo_log)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert "16 of 17 runs" in text  # nothing after seq 23 changed
            row = next(line for line in text.splitlines() if "claude-x::mmlu-pro::v1.2" in line)
            assert "NOT VERIFIED" in row and "%" not in row, "the altered run's figures are not shown"
            await pilot.press("v")
            await settle(pilot)
            assert "first bad seq 3" in screen_text(app)

    import asyncio
    asyncio.run(scenario())


def _trust(checkpoint_text: str | None = None) -> chain.Trust:
    """What `auditlog tui --vkey K [--checkpoint F]` hands the app: the fixture's genuine key."""
    from auditlog.core.checkpoint import open_checkpoint
    from auditlog.services.signing import Signer

    from .tui_support import SIGNER_SEED
    verifier = Signer.from_seed("ci.example.org", SIGNER_SEED).verifier()
    anchors = () if checkpoint_text is None else (("checkpoint cp.txt", open_checkpoint(checkpoint_text, [verifier])),)
    return chain.Trust(anchors, (verifier,))


@pilot_test
async def test_verify_with_a_trusted_key_checks_the_stored_checkpoint_but_is_not_anchored_by_it(demo_log):
    """The holder can delete the latest stored checkpoints with the events after them: only a checkpoint
    kept outside the log anchors it."""
    app = app_for(demo_log, verify=True, trust=_trust())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "✔ INTERNALLY CONSISTENT" in text and "signed by ci.example.org" in text, text
        assert "cannot be excluded" in text and "ANCHORED" not in text


@pilot_test
async def test_a_rewritten_log_with_a_forged_stored_checkpoint_is_not_intact(demo_log, tmp_path):
    """The holder rewrites the whole log and signs a stored checkpoint with a key of their own.
    Alone, the TUI says no more than "internally consistent, not anchored"; with the auditor's
    checkpoint and key, it says the log was rewritten."""
    from auditlog.services.signing import Signer
    with AuditLog.open(demo_log, create=False) as log:
        genuine = next(c.note for c in log.store.checkpoints())
    forged = tmp_path / "forged.db"
    with AuditLog.open(forged, origin="demo.auditlog.local/evals") as log:
        for i in range(24):
            log.record_run(small_run(f"forged-{i}"))
        log.checkpoint(Signer.from_seed("ci.example.org", bytes(32)))  # same name, the forger's key
    app = app_for(forged, verify=True, trust=_trust())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "INTACT" not in text and "✔ INTERNALLY CONSISTENT" in text and "cannot be" in text, text
    app = app_for(forged, verify=True, trust=_trust(genuine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "✘ TAMPERED" in text and "INTACT" not in text, text
        assert "history was rewritten after it was checkpointed" in text or "origin" in text, text


@pilot_test
async def test_an_outside_checkpoint_anchors_the_log_only_up_to_its_size(demo_log):
    """Anchored by a checkpoint kept outside the log: "up to size N" with the rest named while the log holds
    more events than it covers, in full once it covers every event; a stored one is listed as checked
    against, never as an anchor."""
    from auditlog.services.signing import Signer

    from .tui_support import SIGNER_SEED
    with AuditLog.open(demo_log, create=False) as log:
        older = next(c.note for c in log.store.checkpoints())  # covers 23 of the fixture's 24 events
    app = app_for(demo_log, verify=True, trust=_trust(older))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "✔ INTACT, ANCHORED UP TO SIZE 23" in text and "the 1 event after size 23" in text, text
    with AuditLog.open(demo_log, create=False) as log:
        whole = log.checkpoint(Signer.from_seed("ci.example.org", SIGNER_SEED))
    app = app_for(demo_log, verify=True, trust=_trust(whole))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "✔ INTACT, ANCHORED:" in text and "anchored by" in text and "checked against" in text, text
