"""Run detail: who, what and where; the figures; the event and its inclusion proof; the
history (verdicts, overrides, annotations); the items, failed first, filterable.

The run panel shows one line per field, cut with "…" where it is longer than the panel, so that
every field (tags and notes too) stays in view whatever one value's length; `i` shows every field
in full (FieldsScreen): a `NOT CHECKED` configuration's whole reason, long notes, the environment."""

from __future__ import annotations

import json
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from auditlog.tui.data.detail import RunDetail, load_detail
from auditlog.tui.data.session import describe, open_log
from auditlog.tui.messages import DetailFailed, DetailReady
from auditlog.tui.screens.fields import FieldsScreen
from auditlog.tui.widgets.cells import VERDICT_ROLE, field_values, fields, line, literal, num, pct, when
from auditlog.tui.widgets.lazy_table import LazyTable
from auditlog.tui.widgets.sources import ItemsSource

FULL_LIMIT = 20_000  # characters of one field kept for the full view (the panel cuts each row to its width)


class RunScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "failed", "Failed only"),
        Binding("slash", "filter", "Filter items"),
        Binding("i", "fields", "Fields in full"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self._about: list[tuple[str, Content]] = []  # the run panel's fields, in full, for the `i` view
        self.failed_only = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(literal(self.run_id, "strong"), id="run-title")
        with Horizontal(id="run-top"):
            with VerticalScroll(id="run-about", classes="panel"):
                yield Static(literal("loading…", "dim"), id="run-about-lines")
            yield Static(id="run-figures", classes="panel")
        yield Static(id="run-event", classes="panel")
        with VerticalScroll(id="run-history", classes="panel"):
            yield Static(id="run-history-lines")
        with Horizontal(id="items-bar"):
            yield Static(id="items-title")
            yield Input(placeholder="filter items by id or error (/)", id="item-filter")
        yield LazyTable(empty="no items", id="items")
        yield Footer()

    def on_mount(self) -> None:
        for selector, title in (("#run-about", "Run"), ("#run-figures", "Figures"), ("#run-event", "Event and proof"),
                                ("#run-history", "History")):
            self.query_one(selector).border_title = title
        self.query_one("#items", LazyTable).loading = True
        self.query_one("#items", LazyTable).focus()
        self.load()

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self) -> None:
        app: Any = self.app
        try:
            with open_log(app.location, app.expect_log_id) as log:
                detail = load_detail(log, app.view, self.run_id, app.trust.verifiers if app.trust else ())
        except Exception as exc:  # shown on screen, by type
            self.post_message(DetailFailed(describe(exc, f"Run {self.run_id} cannot be shown")))
            return
        self.post_message(DetailReady(detail))

    def on_detail_failed(self, message: DetailFailed) -> None:
        self.query_one("#items", LazyTable).loading = False
        self.query_one("#run-about-lines", Static).update(Content("\n").join([
            line(("✘ ", "bad"), (message.failure.title, "bad")), literal(message.failure.detail),
            literal(message.failure.advice, "dim")]))

    def on_detail_ready(self, message: DetailReady) -> None:
        self.detail = d = message.detail
        h = d.header
        status = ("active", "good") if h["status"] == "active" else (
            f"superseded by {h['superseded_by']}: {h['superseded_reason'] or ''}", "warn")
        self.query_one("#run-title", Static).update(line((self.run_id, "strong"), ("  ·  ", "dim"), status))
        pairs: list[tuple[str, Any]] = [
            ("project", h["project_id"]),
            ("model", f"{h['model_id']} {h['model_version'] or ''}".strip()),
            ("dataset", _join(h["dataset_name"], h["dataset_version"], h["dataset_sha256"] and
                              f"sha256 {h['dataset_sha256'][:16]}…")),
            ("experiment", _join(h["experiment_id"], h["experiment_group"] and f"group {h['experiment_group']}",
                                 h["experiment_version"] and f"version {h['experiment_version']}")),
            ("fingerprint", f"{h['config_fingerprint'][:32]}…" if h["config_fingerprint"] else "—"),
            ("config", _config(d.config)),
            ("ran", f"{when(h['started_at'])} → {when(h['finished_at'])}" if h["started_at"] else "—"),
            ("recorded", when(h["recorded_at"])),
            ("environment", _compact(d.environment)),
            ("actor", _compact(d.actor)),
            ("tags", " ".join(f"{k}={v}" for k, v in sorted(h["tags"].items())) or "—"),
            *((f"note {i + 1}", note) for i, note in enumerate(h["notes"])),
        ]
        self._about = field_values(pairs, limit=FULL_LIMIT)
        about = self.query_one("#run-about-lines", Static)
        about.add_class("one-line-rows")
        about.update(fields(pairs, limit=FULL_LIMIT))
        self.query_one("#run-about").border_subtitle = "i: every field in full"
        verdict = h["verdict"]
        overridden = " (overridden)" if h.get("override_seq") is not None else ""
        computed = f", computed by {h['verdict_computed_by']}" if h.get("verdict_computed_by") else ""
        self.query_one("#run-figures", Static).update(fields([
            ("items", f"{h['n_items']} ({h['n_passed']} passed, {h['n_items'] - h['n_passed']} failed)"),
            ("pass rate", pct(h["pass_rate"])),
            ("mean score", num(h["mean_score"])),
            *((name, num(value)) for name, value in sorted(h["metrics"].items())),
            *_scoped_figures(h),
            ("verdict", (f"{verdict}{overridden}{computed}", VERDICT_ROLE.get(verdict, "")) if verdict else ("—", "dim")),
        ]))
        proof_role = {"proven": "good", "uncovered": "warn"}.get(d.proof.status, "bad")
        self.query_one("#run-event", Static).update(Content("\n").join([
            line(("event  ", "dim"), f"seq {d.seq} · hash {d.event_hash} · ",
                 ("in the verified tree ✔", "good")),
            line(("proof  ", "dim"), (("✔ " if d.proof.status == "proven" else "⚠ ") + d.proof.describe(), proof_role)),
        ]))
        history = [line((f"{e.seq:>6}  ", "dim"), (f"{e.type:<19}", "strong"), " ",
                        (e.summary, VERDICT_ROLE.get(e.verdict or "", ""))) for e in d.history]
        self.query_one("#run-history-lines", Static).update(Content("\n").join(history))
        items = self.query_one("#items", LazyTable)
        items.loading = False
        if not isinstance(self.focused, Input):
            items.focus()
        self._show_items()

    def _show_items(self) -> None:
        if self.detail is None:
            return
        text = self.query_one("#item-filter", Input).value
        source = ItemsSource(self.detail.items, text, self.failed_only)
        self.query_one("#items", LazyTable).set_source(source)
        shown = "failed only" if self.failed_only else "failed first"
        self.query_one("#items-title", Static).update(line(
            ("Items ", "strong"), f"{len(source)} shown of {len(self.detail.items)} · {self.detail.failed} failed · "
                                  f"{shown} (f toggles)"))

    @on(Input.Changed, "#item-filter")
    def _filter_changed(self) -> None:
        self._show_items()

    @on(Input.Submitted, "#item-filter")
    def _filter_submitted(self) -> None:
        self.query_one("#items", LazyTable).focus()

    def action_failed(self) -> None:
        self.failed_only = not self.failed_only
        self._show_items()

    def action_filter(self) -> None:
        self.query_one("#item-filter", Input).focus()

    def action_fields(self) -> None:
        """Every field of the run panel, unabridged and wrapped (the panel cuts long ones to one line)."""
        if self._about:
            self.app.push_screen(FieldsScreen(f"Run {self.run_id}", self._about))

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#items", LazyTable).focus()
        else:
            self.app.pop_screen()


def _config(config: Any) -> Any:
    """The configuration the run was recorded under, as `show` says it (RunConfig.describe); in the warning
    colour when the run was not recorded under it as the Writer checks."""
    if config is None:
        return ("—", "dim")
    return (config.describe(), "warn") if config.problem else config.describe()


def _join(*parts: Any) -> str:
    return " · ".join(str(p) for p in parts if p) or "—"


def _compact(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return " ".join(f"{k}={v}" for k, v in sorted(value.items())) or "—"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _scoped_figures(h: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each scoped metric (`scope/name`); one whose scope trends and A/B leave out by default is marked."""
    from auditlog.evals.scopes import marks

    marked = marks(h.get("scope_status"), h.get("headline_scopes"))
    out: list[tuple[str, Any]] = []
    for name, value in (h.get("scoped_metrics") or {}).items():
        scope = name.partition("/")[0]
        out.append((name, (f"{num(value)}  ({marked[scope]})", "warn") if scope in marked else num(value)))
    return out
