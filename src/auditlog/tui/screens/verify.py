"""Verify: recompute every hash, link, body and Merkle subtree, account for every row and
check the schema, the metadata and the checkpoints, in a thread worker on a connection of
its own, with a progress bar and a live count.

Escape (or x) cancels a running verification; r runs it again. The result says what the
CLI's `auditlog verify` says, in substance: internally consistent, and anchored only by
checkpoints kept outside the log whose signatures a trusted key checked (`auditlog tui
--checkpoint --vkey`; stored ones signed by that key are checked and named, but do not anchor); or
where it is not: the first bad seq, what is wrong there, every problem found, and the
events around the first one with their hashes and links.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from auditlog.render import plural
from auditlog.tui.data import chain
from auditlog.tui.data.session import describe, display_name
from auditlog.tui.messages import VerifyDone, VerifyProgress, VerifyStopped
from auditlog.tui.widgets.cells import fields, line, literal
from auditlog.tui.widgets.lazy_table import Column, LazyTable
from auditlog.tui.widgets.sources import EVENT_COLUMNS, ListSource, event_cells

PROBLEM_COLUMNS = (Column("seq", "seq", 7, "right"), Column("kind", "what", 16), Column("detail", "detail"))
PROGRESS_EVERY = 0.1  # seconds between progress messages


class VerifyScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back / cancel"),
        Binding("x", "cancel", "Cancel"),
        Binding("r", "rerun", "Run again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker[None] | None = None
        self.verification: chain.Verification | None = None
        self.done = 0

    def compose(self) -> ComposeResult:
        yield Header()
        app: Any = self.app
        what = ": recompute every event's hash, link and body and every Merkle subtree; account for every row"
        yield Static(line(("Verify ", "strong"), (display_name(app.location), "strong"), what), id="verify-title")
        yield ProgressBar(total=None, show_eta=False, id="verify-progress")
        yield Static(id="verify-count")
        yield Static(id="verify-result", classes="panel")
        yield Static(id="verify-problems-title")
        yield LazyTable(empty="no problems", id="verify-problems")
        yield Static(id="verify-around-title")
        yield LazyTable(id="verify-around")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#verify-result").border_title = "Result"
        self.action_rerun()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def action_rerun(self) -> None:
        if self.running:
            return
        self.verification = None
        for selector in ("#verify-problems-title", "#verify-problems", "#verify-around-title", "#verify-around"):
            self.query_one(selector).display = False
        self.query_one("#verify-result").display = False
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._count(line(("starting…", "dim")))
        self.worker = self.verify()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def verify(self) -> None:
        worker = get_current_worker()
        app: Any = self.app
        last = [0.0]
        done_lock = threading.Lock()

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            with done_lock:
                if now - last[0] >= PROGRESS_EVERY or done in (0, total):
                    last[0] = now
                    self.post_message(VerifyProgress(done, total))

        try:
            outcome = chain.verify(app.location, progress, lambda: worker.is_cancelled, app.trust)
        except chain.Cancelled as stop:
            self.post_message(VerifyStopped(stop.done))
            return
        except Exception as exc:  # the log cannot be read at all: said on screen
            self.post_message(VerifyStopped(0, describe(exc, "The log cannot be verified")))
            return
        self.post_message(VerifyDone(outcome))

    def on_verify_progress(self, message: VerifyProgress) -> None:
        self.done = message.done
        self.query_one(ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self._count(line((f"{message.done:,}", "strong"), f" / {message.total:,} events checked"))

    def on_verify_stopped(self, message: VerifyStopped) -> None:
        result = self.query_one("#verify-result", Static)
        result.display = True
        if message.failure is None:
            self._count(line((f"cancelled after {message.done:,} events", "warn"), " · r runs it again"))
            result.update(literal("Verification was cancelled: nothing was concluded.", "warn"))
        else:
            self._count(line(("could not verify", "bad")))
            result.update(Content("\n").join([line(("✘ ", "bad"), (message.failure.title, "bad")),
                                              literal(message.failure.detail), literal(message.failure.advice, "dim")]))

    def on_verify_done(self, message: VerifyDone) -> None:
        self.verification = v = message.verification
        report = v.report
        self.query_one(ProgressBar).update(total=max(report.size, 1), progress=max(report.size, 1))
        self._count(line((f"{report.size:,}", "strong"), f" / {report.size:,} events checked"))
        result = self.query_one("#verify-result", Static)
        result.display = True
        stored = v.checkpoints.count
        checkpoints = (f"{report.checkpoints_checked} with a signature a trusted key checked; "
                       f"{report.stored_unchecked} stored whose signatures were not checked" if stored or report.anchored
                       else "none")
        common = [("size", f"{report.size:,} events"), ("root", report.root), ("head", report.head),
                  ("checkpoints", checkpoints)]
        if report.ok:
            checked = ": every hash, link, body, Merkle subtree, row, schema and metadata checks out"
            inside = [a for a in report.anchors if a not in report.outside_anchors]  # stored in the log
            anchors: list[tuple[str, Any]] = [("checked against", "; ".join(inside))] if inside else []
            if report.outside_size is not None and report.outside_size >= report.size:
                verdict = line(("✔ INTACT, ANCHORED", "good"), checked)
                anchors.append(("anchored by", "; ".join(report.outside_anchors)))
            elif report.outside_size is not None:
                verdict = line((f"✔ INTACT, ANCHORED UP TO SIZE {report.outside_size:,}", "good"), checked)
                anchors += [("anchored by", "; ".join(report.outside_anchors)),
                            ("not anchored", (f"the {plural(report.size - report.outside_size, 'event')} after size "
                                              f"{report.outside_size:,}: covered by no checkpoint from outside the "
                                              "log, so their rewrite or truncation cannot be excluded", "warn"))]
            else:
                verdict = line(("✔ INTERNALLY CONSISTENT", "good"), checked)
                stored = " (those stored in it can be deleted by its holder)" if inside else ""
                covered = "covers any event" if report.outside_anchors else "was checked"  # size 0 covers none
                anchors.append(("not anchored", (f"no checkpoint from outside the log {covered}{stored}, so "
                                                 "truncation or a rewrite by its holder cannot be excluded: run "
                                                 "with --checkpoint FILE --vkey KEY", "warn")))
            result.update(Content("\n").join([verdict, fields(common + anchors)]))
            return
        first = report.first
        verdict = line(("✘ TAMPERED", "bad"), f": {plural(report.problem_count, 'problem')}; first bad seq ",
                       (str(first.seq), "bad"))
        result.update(Content("\n").join([verdict, fields([("first bad", (f"seq {first.seq}: {first.kind}", "bad")),
                                                           ("what", first.detail), *common[:1], *common[3:4]])]))
        problems = [[str(p.seq), (p.kind, "bad"), p.detail] for p in report.problems]
        self._table("#verify-problems", ListSource(PROBLEM_COLUMNS, problems),
                    f"Problems ({report.problem_count}, the first {len(problems)} kept)")
        around = [event_cells(row) for row in v.around]
        index = next((i for i, row in enumerate(v.around) if row.seq == first.seq), 0)
        self._table("#verify-around", ListSource(EVENT_COLUMNS, around), f"Events around seq {first.seq}", index)

    def _table(self, selector: str, source: ListSource, title: str, cursor: int = 0) -> None:
        table = self.query_one(selector, LazyTable)
        table.display = True
        table.set_source(source, cursor=cursor)
        heading = self.query_one(f"{selector}-title", Static)
        heading.display = True
        heading.update(line((title, "strong")))

    def _count(self, content: Content) -> None:
        self.query_one("#verify-count", Static).update(content)

    def action_cancel(self) -> None:
        if self.worker is not None and self.running:
            self.worker.cancel()

    def action_back(self) -> None:
        if self.running:
            self.action_cancel()
        else:
            self.app.pop_screen()
