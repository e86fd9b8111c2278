"""The questions users ask of history: which runs, one run in full, two runs side by side.

Every function takes a View (one consistent generation; see view.py) and reads
Parquet; the only reads of the event log are the View's confirmation of every run handed out.
Filters run in Arrow; a page of the newest runs (a limit, newest first: `history`) reads the
runs parts' row groups from the newest back and stops once the page is full, so its cost
does not grow with the history; figures are computed in Python where exactness matters
(math.fsum), so tests can recompute them straightforwardly from the run documents.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from auditlog.errors import IntegrityError, InvalidInput
from auditlog.evals.scopes import mark
from projections.diff import KeyDifference, settings_diff
from projections.direction import direction, recorded_directions
from projections.schema import arrow_schema
from projections.view import View, to_records
from projections.where import Expr
from projections.where import fields as where_fields
from projections.where import parse as parse_where
from projections.where_arrow import mask as where_mask

VERDICTS = ("ALLOW", "BLOCK", "NEEDS_REVIEW")


def query_runs(view: View, *, project_id: str | None = None, model_id: str | None = None,
               since: str | datetime | None = None, until: str | datetime | None = None,
               verdict: str | None = None, tags: Mapping[str, str] | None = None,
               exclude_tags: Mapping[str, Collection[str]] | None = None, before_seq: int | None = None,
               experiment_id: str | None = None, include_superseded: bool = False,
               limit: int | None = None, offset: int = 0, newest_first: bool = True, confirm: bool = True,
               columns: list[str] | None = None, where: str | Expr | None = None) -> Any:
    """The runs table (pyarrow) filtered, newest first (highest seq), then sliced by offset/limit.

    `since`/`until` bound a run's time: its `started_at`, or `recorded_at` when the
    document has none; both bounds are inclusive, and a bare date as `until` means the
    end of that day. `verdict` matches the latest verdict; `tags` must all match the
    current tags (annotations merged in); `exclude_tags` ({key: values}) leaves out the runs whose
    current tag `key` is one of `values`; `before_seq` keeps the runs recorded before that seq (a
    gate's baseline is recorded before its candidate). Superseded runs only with include_superseded.
    Every run returned is confirmed against the log (View.confirm); `confirm=False` leaves
    that to a caller that confirms what it shows, page by page (the TUI). `columns`: only
    these columns are read and returned (besides those the filters and the confirmation need).
    `where` keeps the runs an expression of the filter language holds for (where.py; a string
    is parsed, and refused with the column of its first mistake).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidInput("limit/offset", "must not be negative")
    if verdict is not None and verdict not in VERDICTS:
        raise InvalidInput("verdict", f"must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    since_at = None if since is None else parse_bound("since", since)
    until_at = None if until is None else parse_bound("until", until, end=True)
    condition = parse_where(where) if isinstance(where, str) else where

    def chosen(runs: Any) -> Any:
        keep = []
        for column, value in (("project_id", project_id), ("model_id", model_id), ("experiment_id", experiment_id),
                              ("verdict", verdict), ("status", None if include_superseded else "active")):
            if value is not None:
                keep.append(pc.equal(runs.column(column), value))
        if since_at is not None or until_at is not None:
            when = run_time(runs)
            if since_at is not None:
                keep.append(pc.greater_equal(when, pa.scalar(since_at, when.type)))
            if until_at is not None:
                keep.append(pc.less_equal(when, pa.scalar(until_at, when.type)))
        for key, value in (tags or {}).items():
            keep.append(pc.equal(pc.map_lookup(runs.column("tags"), query_key=key, occurrence="first"), value))
        for key, values in (exclude_tags or {}).items():
            tag = pc.map_lookup(runs.column("tags"), query_key=key, occurrence="first")
            keep.append(pc.invert(pc.fill_null(pc.is_in(tag, value_set=pa.array(sorted(values), pa.string())), False)))
        if before_seq is not None:
            keep.append(pc.less(runs.column("seq"), pa.scalar(before_seq, runs.column("seq").type)))
        if condition is not None:
            keep.append(where_mask(runs, condition))
        return runs.filter(pc.fill_null(functools.reduce(pc.and_kleene, keep), False)) if keep else runs

    if newest_first and limit is not None:  # read the newest row groups until enough runs are found
        chunks, found = [], 0
        for chunk in view.runs_newest_first():
            chunks.append(chosen(chunk).sort_by([("seq", "descending")]))
            found += chunks[-1].num_rows
            if found >= offset + limit:
                break
        selected = pa.concat_tables(chunks) if chunks else arrow_schema("runs").empty_table()
    else:
        if columns is None:
            runs = view.runs
        else:
            needed = {"run_id", "seq", "event_hash", "status", *columns}
            needed |= {c for c, v in (("project_id", project_id), ("model_id", model_id), ("verdict", verdict),
                                      ("experiment_id", experiment_id), ("tags", tags or exclude_tags))
                       if v is not None}
            if since_at is not None or until_at is not None:
                needed |= {"started_at", "recorded_at"}
            if condition is not None:
                needed |= where_fields(condition)
            runs = view.read_runs([name for name in arrow_schema("runs").names if name in needed])
        selected = chosen(runs)
        if newest_first:
            selected = selected.sort_by([("seq", "descending")])
    selected = selected.slice(offset, limit) if limit is not None else selected.slice(offset)
    return view.confirm(selected) if confirm else selected


def list_runs(view: View, **filters: Any) -> list[dict[str, Any]]:
    """query_runs as JSON-ready records (timestamps as RFC 3339 text, maps as dicts)."""
    return to_records(query_runs(view, **filters))


def pinned_baseline(view: View, project_id: str, model_id: str | None = None) -> str | None:
    """The run gates of this project (and model) compare against: the latest pin (highest seq)
    for that project and model, else the latest project-wide pin (one naming no model);
    None when nothing is pinned."""
    pins = [p for p in to_records(view.baselines) if p["project_id"] == project_id]
    for scope in ([model_id] if model_id is not None else []) + [None]:
        scoped = [p for p in pins if p["model_id"] == scope]
        if scoped:
            return max(scoped, key=lambda p: p["seq"])["run_id"]
    return None


def run_time(runs: Any) -> Any:
    """A run's time for filters and trends: started_at, else recorded_at."""
    import pyarrow.compute as pc

    return pc.coalesce(runs.column("started_at"), runs.column("recorded_at"))


def parse_bound(name: str, value: str | date | datetime, *, end: bool = False) -> datetime:
    """A date (YYYY-MM-DD: the start of that day, or its end when `end`) or an RFC 3339 time, in UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time.max if end else time.min)
    else:
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                parsed = datetime.combine(day, time.max if end else time.min)
            else:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(name, f"{value!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def days_ago(days: int, now: datetime | None = None) -> datetime:
    """`days` days before `now` (default: the current time; a naive `now` is UTC)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now - timedelta(days=days)


@dataclass(frozen=True)
class RunFrame:
    """One run: its row in the runs table (a record) and its items (a pyarrow Table, document order)."""

    header: dict[str, Any]
    items: Any

    def item_records(self, failed_only: bool = False) -> list[dict[str, Any]]:
        records = to_records(self.items)
        return [r for r in records if not r["passed"]] if failed_only else records


def load_run(view: View, run_id: str) -> RunFrame:
    """A run's header and items; NotFound when there is no such run."""
    header = view.run_row(run_id)
    return RunFrame(header, view.items(seqs=[header["seq"]]))


@dataclass(frozen=True)
class FigureDelta:
    """One figure of two runs: b - a (None when either side lacks it), and which way is better:
    `improvement` is the delta signed so that + is better (a decrease where lower is better)."""

    name: str
    a: float | None
    b: float | None
    delta: float | None
    lower_is_better: bool | None = False  # None: no direction (a standard error); improvement is then None
    improvement: float | None = None
    # a scoped metric's mark in each run, where its scope is not valid and headline (its status, or
    # non_headline): trends and A/B summaries leave such a value out by default
    mark_a: str | None = None
    mark_b: str | None = None

    @property
    def better(self) -> str | None:
        """"lower", "higher", or None when neither is better (projections.direction)."""
        return None if self.lower_is_better is None else "lower" if self.lower_is_better else "higher"

    def to_json(self) -> dict[str, Any]:
        """Its fields; the marks only when it has one (a log without scopes prints what it always did)."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in ("mark_a", "mark_b")}


@dataclass(frozen=True)
class ItemChange:
    item_id: str
    change: str  # pass->fail | fail->pass | only in a | only in b
    passed_a: bool | None
    passed_b: bool | None
    score_a: float | None
    score_b: float | None


@dataclass(frozen=True)
class ComparisonReport:
    """Run B against run A: every figure's delta (b - a) and what changed per item."""

    run_a: dict[str, Any]
    run_b: dict[str, Any]
    figures: list[FigureDelta]  # pass_rate, mean_score, then metrics.<name> for every metric of either run
    common_items: int  # item ids present in both runs
    changes: list[ItemChange]  # flips and items in one run only, by item_id
    # config and environment keys that differ (diff.py); None when the run documents were not at hand
    differences: list[KeyDifference] | None = None

    def ids(self, change: str) -> list[str]:
        return [c.item_id for c in self.changes if c.change == change]

    @property
    def pass_to_fail(self) -> list[str]:
        return self.ids("pass->fail")

    @property
    def fail_to_pass(self) -> list[str]:
        return self.ids("fail->pass")

    @property
    def only_in_a(self) -> list[str]:
        return self.ids("only in a")

    @property
    def only_in_b(self) -> list[str]:
        return self.ids("only in b")

    def figure(self, name: str) -> FigureDelta:
        return next(f for f in self.figures if f.name == name)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["figures"] = [f.to_json() for f in self.figures]
        out.update(pass_to_fail=self.pass_to_fail, fail_to_pass=self.fail_to_pass,
                   only_in_a=self.only_in_a, only_in_b=self.only_in_b)
        return out


def compare_runs(view: View, a: str, b: str,
                 documents: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
                 lower_is_better_metrics: Collection[str] | None = None) -> ComparisonReport:
    """Compare run `b` with run `a`. A flip is an item (by item_id) in both runs whose `passed`
    differs; items in one run only are listed apart (they count in their own run's figures).

    What differs in their config and environment is read from the two run documents: those
    given (already verified by the caller), else their events in the view's log, each checked
    against the hash the projections folded; a view without a log has no differences (None).
    `lower_is_better_metrics`: the metrics where less is better, the project's configuration; each
    figure's direction then follows projections.direction: that configuration, what the harness
    recorded in the two run documents (lm-eval's higher_is_better), none for a standard error,
    else the guess by name."""
    run_a, run_b = load_run(view, a), load_run(view, b)
    if documents is None and view.log is not None:
        documents = (recorded_document(view, run_a.header), recorded_document(view, run_b.header))
    ha, hb = run_a.header, run_b.header
    ma, mb = ha["metrics"], hb["metrics"]
    scoped = set(ha["scoped_metrics"]) | set(hb["scoped_metrics"])
    pairs: list[tuple[str, Any, Any, str | None, str | None]] = [
        (name, ha[name], hb[name], None, None) for name in ("pass_rate", "mean_score")]
    pairs += [(f"metrics.{name}", ma.get(name), mb.get(name), None, None)
              for name in sorted(set(ma) | set(mb)) if name not in scoped]
    # scoped metrics by address; a run recorded before scopes may hold the same address unscoped
    sa, sb = {**ha["scoped_metrics"], **ma}, {**hb["scoped_metrics"], **mb}
    pairs += [(f"metrics.{name}", sa.get(name), sb.get(name), _scope_mark(ha, name), _scope_mark(hb, name))
              for name in sorted(scoped)]
    figures = []
    recorded = recorded_directions(documents) if documents is not None else None
    for name, value_a, value_b, mark_a, mark_b in pairs:
        way, delta = direction(name, lower_is_better_metrics, recorded), _delta(value_a, value_b)
        lower = None if way is None else way == "lower"
        improvement = None if delta is None or lower is None else -delta if lower else delta
        delta, improvement = _no_negative_zero(delta), _no_negative_zero(improvement)
        figures.append(FigureDelta(name, value_a, value_b, delta, lower, improvement, mark_a, mark_b))
    items_a = {r["item_id"]: r for r in to_records(run_a.items.select(["item_id", "passed", "score"]))}
    items_b = {r["item_id"]: r for r in to_records(run_b.items.select(["item_id", "passed", "score"]))}
    changes = []
    for item_id in sorted(set(items_a) | set(items_b)):
        ia, ib = items_a.get(item_id), items_b.get(item_id)
        if ia is not None and ib is not None:
            if ia["passed"] == ib["passed"]:
                continue
            kind = "pass->fail" if ia["passed"] else "fail->pass"
        else:
            kind = "only in a" if ib is None else "only in b"
        changes.append(ItemChange(item_id, kind, None if ia is None else ia["passed"],
                                  None if ib is None else ib["passed"], None if ia is None else ia["score"],
                                  None if ib is None else ib["score"]))
    return ComparisonReport(ha, hb, figures, len(items_a.keys() & items_b.keys()), changes,
                            None if documents is None else settings_diff(*documents))


def recorded_document(view: View, header: Mapping[str, Any]) -> dict[str, Any]:
    """The run document of a run's run.recorded event, read from the view's log: the very bytes
    the projections folded (their hash checked, as View.confirm checks it), else IntegrityError."""
    import hashlib
    import json

    from projections.build import event_at

    assert view.log is not None
    event = event_at(view.log, header["seq"])
    if event is None or hashlib.sha256(event.body).hexdigest() != header["event_hash"]:
        raise IntegrityError(header["seq"], f"run {header['run_id']!r}: the log no longer holds the event its "
                                            "figures were folded from: check it with `auditlog verify`")
    document: dict[str, Any] = json.loads(event.body)["data"]["run"]
    return document


def _scope_mark(header: Mapping[str, Any], address: str) -> str | None:
    """The mark of scoped metric `address` in a run that has it (evals.scopes.mark), else None."""
    scope = address.partition("/")[0]
    if address not in header["scoped_metrics"]:
        return None
    return mark(header["scope_status"].get(scope), scope in (header["headline_scopes"] or []))


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _no_negative_zero(value: float | None) -> float | None:
    """-0.0 as 0.0: an unchanged lower-is-better figure's improvement is -(0.0), which the table prints as
    "-0.000" and JSON and CSV as -0.0, read as a regression."""
    return 0.0 if isinstance(value, float) and value == 0 else value
