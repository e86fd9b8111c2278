"""Run detail: header, figures, the event and its inclusion proof, history with overrides, items."""

from __future__ import annotations

from textual.widgets import Input

from auditlog.services.log import AuditLog
from auditlog.tui.screens.fields import FieldsScreen
from auditlog.tui.screens.run import RunScreen
from auditlog.tui.widgets.lazy_table import LazyTable

from .tui_support import SIZE, app_for, pilot_test, screen_text, settle, small_run


async def open_run(pilot, run_id: str) -> RunScreen:
    """Search for the run, then open it with enter, as a user would."""
    await settle(pilot)
    app = pilot.app
    app.screen.query_one("#search", Input).value = run_id
    await settle(pilot, 0.3)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, RunScreen) and app.screen.run_id == run_id
    return app.screen


@pilot_test
async def test_a_run_in_full_with_its_proof_and_history(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(pilot, "claude-x::mmlu-pro::v1.2")
        text = screen_text(app)
        for expected in ("claude-x::mmlu-pro::v1.2  ·  active", "mmlu-pro", "claude-x 1.2", "exp-demo-001",
                         "group claude-x", "platform=demo python=3.11", "reviewed=yes", "note 1",
                         "checked by the eval team", "2026-01-04 09:00 → 2026-01-04 09:42", "71.7%",
                         "ALLOW (overridden)", "in the verified tree ✔",
                         "✔ proven in checkpoint of size 23; its note names ci.example.org, signature not checked",
                         "verdict.recorded", "NEEDS_REVIEW against claude-x::mmlu-pro::v1.1",
                         "verdict.overridden", "NEEDS_REVIEW → ALLOW", "run.annotated"):
            assert expected in text, expected
        assert f"seq {screen.detail.seq} · hash {screen.detail.event_hash}" in text
        items = screen.query_one("#items", LazyTable)
        first = [items.row(i)[0][0] for i in range(len(items.source))]
        assert first == ["FAIL"] * screen.detail.failed + ["pass"] * (60 - screen.detail.failed)


@pilot_test
async def test_items_failed_only_and_filtered(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(pilot, "claude-x::mmlu-pro::v1.2")
        items = screen.query_one("#items", LazyTable)
        assert len(items.source) == 60
        await pilot.press("f")
        await settle(pilot)
        assert len(items.source) == screen.detail.failed == 17
        assert "17 shown of 60 · 17 failed · failed only" in screen_text(app)
        await pilot.press("f", "slash", *"0059")
        await settle(pilot)
        assert [items.source.key(i) for i in range(len(items.source))] == ["mmlu-pro/0059"]
        await pilot.press("escape")  # leaves the filter
        assert isinstance(app.focused, LazyTable)
        await pilot.press("escape")  # back to the runs
        await settle(pilot)
        assert not isinstance(app.screen, RunScreen)


@pilot_test
async def test_an_event_after_the_last_checkpoint_is_not_proven_yet(demo_log):
    app = app_for(demo_log)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, "claude-x::mmlu-pro::v1.3-rc1")
        assert "⚠ no checkpoint covers this event yet" in screen_text(app)


@pilot_test
async def test_a_log_without_checkpoints_says_so(markup_log):
    with AuditLog.open(markup_log) as log:
        assert not log.store.checkpoints()
    app = app_for(markup_log)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, "plain-run")
        assert "no checkpoint covers this event yet" in screen_text(app)


@pilot_test
async def test_scoped_metrics_show_with_the_mark_of_scopes_left_out(tmp_path):
    path = tmp_path / "scopes.db"
    with AuditLog.open(path) as log:
        log.record_run(small_run("scoped", metric_scopes={
            "eval": {"status": "valid", "metrics": {"accuracy": 0.75}},
            "judge": {"status": "invalid", "reason": "judge timed out", "metrics": {"accuracy": 0.25}}}))
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, "scoped")
        text = screen_text(app)
        judge = text[text.index("judge/accuracy"):].split("│")[0].split()  # the figures pane's line
        scoped = text[text.index("eval/accuracy"):].split("│")[0].split()
        assert judge == ["judge/accuracy", "0.2500", "(invalid)"] and scoped == ["eval/accuracy", "0.7500"]


@pilot_test
async def test_the_configuration_a_run_was_recorded_under_and_who_computed_its_verdict(tmp_path):
    import json

    from tests.integration.cli_support import ok

    path = tmp_path / "configured.db"
    ok("append", "run", "-", "--log", path, input=json.dumps(small_run("before")))
    ok("project", "configure", "proj", "--lower-is-better", "wall_s", "--log", path)  # seq 2
    ok("append", "run", "-", "--log", path, input=json.dumps(small_run("after")))
    ok("append", "verdict", "-", "--log", path, input=json.dumps(
        {"run_id": "after", "baseline_run_id": "before", "metric": "accuracy", "delta": -0.25, "p_value": 0.2,
         "verdict": "BLOCK", "computed_by": "evalsig"}))
    said = {run: next(x for x in ok("show", run, "--log", path).out.splitlines() if x.startswith("project config: "))
            for run in ("before", "after")}
    assert said == {"before": "project config: none", "after": "project config: seq 2: lower_is_better=wall_s"}
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, "after")
        text = screen_text(app)
        about = [" ".join(row.split("│")[1].split()) for row in text.splitlines() if row.count("│") >= 2]
        assert "config " + said["after"].removeprefix("project config: ") in about, about  # as show says it
        assert "BLOCK, computed by evalsig" in text
        assert "BLOCK against before, accuracy Δ -0.2500, p=0.2 (computed by evalsig)" in text
        await pilot.press("escape")
        await open_run(pilot, "before")
        about = [" ".join(row.split("│")[1].split()) for row in screen_text(app).splitlines() if row.count("│") >= 2]
        assert "config none" in about and not any("computed by" in row for row in about)


@pilot_test
async def test_a_run_chained_past_its_configuration_is_shown_not_checked_as_show_says(tmp_path):
    from auditlog.core import events as ev
    from auditlog.evals.runs import prepare_run
    from auditlog.services.writer import encoded_run
    from tests.integration.cli_support import ok

    path = tmp_path / "forged.db"
    ok("project", "configure", "proj", "--groups", "baseline", "--log", path)
    long_value = " ".join(f"finding-{i:03d}" for i in range(60))  # 719 characters: more than any cell keeps
    prepared = prepare_run(small_run("forged", experiment={"id": "exp", "group": "elsewhere"},
                                     environment={"python": "3.11", "audit": long_value}))
    with AuditLog.open(path) as log, log.writer() as w:  # sealed without the Writer's check of the configuration
        w._append_encoded(ev.RUN_RECORDED, "proj", "forged", encoded_run(prepared), prepared.document_sha256)
    said = next(x for x in ok("show", "forged", "--log", path).out.splitlines() if x.startswith("project config: "))
    assert said.startswith("project config: none (NOT CHECKED: config_seq: the run names none;")
    ok("annotate", "forged", "--tag", "reviewer=kim", "--tag", "ticket=AUD-7", "--note", "seen by compliance",
       "--log", path)
    full = said.removeprefix("project config: ")
    assert len(full) > 100, full  # longer than the panel is wide at this size
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, "forged")
        about = [" ".join(row.split("│")[1].split()) for row in screen_text(app).splitlines() if row.count("│") >= 2]
        config = next(row for row in about if row.startswith("config "))
        assert config.endswith("…") and full.startswith(config.removeprefix("config ").removesuffix("…")), about
        assert "tags reviewer=kim ticket=AUD-7" in about and "note 1 seen by compliance" in about, about  # in view
        assert "i: every field in full" in screen_text(app)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, FieldsScreen)
        rows = screen_text(app).splitlines()
        top = next(i for i, row in enumerate(rows) if "╭─ Run forged" in row)
        left = rows[top].index("╭─ Run forged")
        right = rows[top].index("╮", left)
        inside = [row[left + 1:right] for row in rows[top + 1:] if row[left] == "│"]  # the modal's panel, wrapped
        shown = " ".join(" ".join(inside).split())
        for expected in ("config " + full, "tags reviewer=kim ticket=AUD-7", "note 1 seen by compliance",
                         long_value):  # in full, not cut at a cell's 400 characters
            assert " ".join(expected.split()) in shown, expected
        first = next(i for i, row in enumerate(inside) if row.lstrip().startswith("config "))
        column = inside[first].index(full[:12])  # where the value starts, right of its label
        wrapped = inside[first + 1]
        assert wrapped[:column].strip() == "" and wrapped[column] != " ", inside[first:first + 2]  # under the value
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
