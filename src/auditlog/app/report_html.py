"""ReportData to one self-contained HTML page. Pure: no I/O.

Offline by construction: inline CSS and inline SVG only; no script, no external font,
image or stylesheet, no link out of the page (links are anchors within it). Every value
from the log is data: control and bidirectional characters are shown escaped
(`render.safe_text`), then markup is escaped (`render_svg.escape`), so a run id such as
`<script>` reads as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from auditlog.app.report import ReportData, TrendChart
from auditlog.render import number, plural, runs_by_status, safe_text
from auditlog.render_svg import Mark, Series, escape, line_chart, timeline

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #1b1b1b; background: #fff; max-width: 1240px; }
h1 { font-size: 24px; margin: 0 0 4px 0; } h2 { font-size: 19px; margin: 28px 0 8px 0; border-bottom: 2px solid #ddd; }
h3 { font-size: 15px; margin: 14px 0 6px 0; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0 12px 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: monospace; font-size: 11px; word-break: break-all; }
.status { padding: 10px 14px; border-radius: 6px; font-size: 14px; margin: 8px 0; }
.ok { background: #e3f4ea; border: 2px solid #009e73; } .failed { background: #fbe5dc; border: 2px solid #d55e00; }
.badge { padding: 1px 6px; border-radius: 4px; color: #fff; font-weight: bold; font-size: 11px; }
.ALLOW { background: #00795a; } .BLOCK { background: #b34700; } .NEEDS_REVIEW { background: #a86b00; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .chart-box { border: 1px solid #ddd; padding: 6px; }
.muted { color: #555; font-size: 12px; } details { font-size: 12px; }
.used { color: #8a5a00; font-size: 12px; font-weight: bold; }
"""


def render_report(data: ReportData) -> str:
    """The whole page."""
    body = [f"<h1>auditlog report</h1><p class=\"muted\">log {_t(data.log, 400)} · generated {_t(data.generated_at)}"
            + (f" · {plural(data.total_runs, 'run')}, {plural(len(data.verdicts), 'verdict')}" if data.ok else "")
            + "</p>", _verification(data), _checkpoints(data)]
    if data.ok:
        body += [_verdicts(data), _trends(data.trends, data.include_status), _ab(data.ab), _runs(data)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>auditlog report: {_t(data.log, 120)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _t(value: Any, limit: int = 200) -> str:
    """A value as display text in markup."""
    return escape(safe_text("" if value is None else str(value), limit=limit))


def _n(value: Any) -> str:
    return "" if value is None else escape(number(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table of cells that are markup already."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = ["".join(f"<td class=\"n\">{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
             for row in rows]
    return f"<table><tr>{head}</tr>" + "".join(f"<tr>{line}</tr>" for line in lines) + "</table>"


def _verification(data: ReportData) -> str:
    v = data.verification
    state = "ok" if v.ok else "failed"
    out = ["<h2 id=\"verification\">Verification</h2>",
           f"<div class=\"status {state}\"><b>{'VERIFIED' if v.ok else 'VERIFICATION FAILED'}</b>: "
           f"<code>auditlog verify</code> said, when this report was made:<br>{_t(v.summary(), 4000)}</div>",
           f"<p class=\"muted\">log id {_t(v.log_id)} · origin {_t(v.origin)} · {plural(v.size, 'event')} · root "
           f"<code>{_t(v.root)}</code> · head <code>{_t(v.head)}</code></p>"]
    if not v.ok:
        out.append(_table(["seq", "problem", "detail"], ([str(p.seq), _t(p.kind), _t(p.detail, 400)]
                                                         for p in v.problems), numeric=[0]))
        out.append("<p><b>Nothing else from this log is shown</b>: its tables would not reflect a verified chain. "
                   "Run <code>auditlog verify</code> for the details.</p>")
    elif data.shown_size > v.size:
        out.append(f"<p class=\"muted\">The tables below were folded from {plural(data.shown_size, 'event')}: the "
                   f"{data.shown_size - v.size} appended after verify ran were hashed and linked by the projections' "
                   "catch-up, not checked by this run of verify.</p>")
    else:
        out.append(f"<p class=\"muted\">The tables below were folded from these {plural(data.shown_size, 'event')}; "
                   "every run and verdict shown is, at its seq, the event the projections folded (its hash checked "
                   "against the log's bytes), but the figures are the projections', which whoever can write their "
                   "directory could rewrite under the genuine hashes: <code>auditlog projections rebuild</code> "
                   "folds them again from the log.</p>")
    return "\n".join(out)


def _checkpoints(data: ReportData) -> str:
    out = ["<h2 id=\"checkpoints\">Checkpoints kept in the log</h2>"]
    if not data.checkpoints:
        return out[0] + "<p>None. A checkpoint (<code>auditlog checkpoint --key KEY</code>) signs the tree so far; " \
                        "kept elsewhere, it anchors the log against a rewrite by its holder.</p>"
    rows = [[str(c.id), str(c.size), f"<code>{_t(c.root)}</code>", _t(c.created), _t(", ".join(c.claimed_signers)),
             _t(", ".join(c.checked_by)) if c.checked_by else "not checked (no trusted key given verified it)"]
            for c in data.checkpoints]
    out.append(_table(["id", "size", "root", "created", "signers the note names", "signature checked by"], rows,
                      numeric=[0, 1]))
    return "\n".join(out)


def _run_anchor(data: ReportData, run_id: str) -> str:
    shown = {r["run_id"]: r["seq"] for r in data.runs}
    if run_id in shown:
        return f"<a href=\"#run-{shown[run_id]}\">{_t(run_id, 80)}</a>"
    return _t(run_id, 80)


def _verdicts(data: ReportData) -> str:
    out = ["<h2 id=\"verdicts\">Verdict timeline</h2>"]
    if not data.verdicts:
        return out[0] + "<p>No verdict recorded.</p>"
    times = [datetime.fromisoformat(v["ts"].replace("Z", "+00:00")).timestamp() for v in data.verdicts]
    low, span = min(times), (max(times) - min(times)) or 1.0
    marks = [Mark((t - low) / span if len(times) > 1 else 0.5, v["verdict"], v["overridden_to"],
                  safe_text(f"{v['ts']} {v['run_id']}: {v['verdict']}"
                            + (f" computed by {v['computed_by']}" if v["computed_by"] else "")
                            + (f" overridden to {v['overridden_to']}" if v["overridden_to"] else ""), limit=300))
             for t, v in zip(times, data.verdicts)]
    out.append(timeline(marks, start=data.verdicts[0]["ts"], end=data.verdicts[-1]["ts"]))
    out.append("<p class=\"muted\">A dot per verdict, in its colour (ALLOW green, BLOCK red, NEEDS_REVIEW amber); "
               "a ring in another colour: a person overrode it to that verdict.</p>")
    rows = []
    for v in reversed(data.verdicts):
        override = ""
        if v["overridden_to"]:
            override = (f"<span class=\"badge {escape(v['overridden_to'])}\">{_t(v['overridden_to'])}</span> "
                        f"{_t(v['override_reason'], 300)} (seq {v['override_seq']})")
        rows.append([_t(v["ts"]), _t(v["project_id"], 80), _run_anchor(data, v["run_id"]), _t(v["baseline_run_id"], 80),
                     _t(v["metric"]), _n(v["delta"]), _n(v["p_value"]),
                     _verdict_badge(v["verdict"], v["computed_by"]), override,
                     _t(v["reason"], 300), str(v["seq"])])
    out.append(_table(["time", "project", "run", "baseline", "metric", "delta", "p-value", "verdict", "override",
                       "reason", "seq"], rows, numeric=[5, 6, 10]))
    return "\n".join(out)


def _verdict_badge(verdict: str, computed_by: str | None) -> str:
    """The verdict's badge; "computed by evalsig" under it when another tool computed its figures."""
    badge = f"<span class=\"badge {escape(verdict)}\">{_t(verdict)}</span>"
    return badge + (f"<br><span class=\"muted\">computed by {_t(computed_by, 80)}</span>" if computed_by else "")


def _trends(charts: list[TrendChart], include: tuple[str, ...] = ()) -> str:
    out = ["<h2 id=\"trends\">Trends</h2>"]
    if not charts:
        return out[0] + "<p>No runs.</p>"
    also = (f" and of scopes whose status is {_t(', '.join(include), 200)} (<code>--include-status</code>; each "
            "chart says how many runs' values it used so)") if include else ""
    out.append("<p class=\"muted\">Per project and metric: the average of each model's runs per model version, "
               "in the order the versions first appear in the log (<code>auditlog trend</code>); superseded runs "
               f"left out. A scoped metric (<code>scope/name</code>) is charted on the values of valid headline "
               f"scopes{also} only; each chart says how many runs' values it left out, by their scope's status.</p>")
    by_project: dict[str, list[TrendChart]] = {}
    for chart in charts:
        by_project.setdefault(chart.project, []).append(chart)
    for project, mine in by_project.items():
        out.append(f"<h3>{_t(project, 120)}</h3><div class=\"charts\">")
        out += [_chart(chart) for chart in mine if chart.versions]
        out.append("</div>")
        hidden = [f"<code>{_t(c.metric, 120)}</code> ({runs_by_status(c.left_out)})" for c in mine if not c.versions]
        if hidden:
            out.append("<p class=\"muted left-out\">Not charted, recorded only in scopes that trends leave out: "
                       + "; ".join(hidden) + " (<code>--include-status</code> charts them).</p>")
    return "\n".join(out)


def _chart(chart: TrendChart) -> str:
    """One metric's chart, what it left out, and its values in a table that opens."""
    series = [Series(safe_text(model, limit=60), tuple(values)) for model, values in chart.lines.items()]
    uses = f" (uses {', '.join(chart.included)})" if chart.included else ""  # the picture itself is marked
    svg = line_chart([safe_text(v, limit=60) for v in chart.versions], series,
                     title=safe_text(f"{chart.project}: {chart.metric}{uses}", limit=100))
    marks = [(word, key) for word, key in (("used", "included"), ("left out", "left_out"))
             if any(p.get(key) for p in chart.points)]
    rows = [[_t(p["key"] if p["key"] is not None else "(none)"), str(p["samples"]), _n(p["avg"]), _n(p["min"]),
             _n(p["max"]), _n(p["last"]), _t(p["last_run_id"], 80),
             *(_t(runs_by_status(p.get(key) or {})) for _word, key in marks)]
            for p in chart.points]
    header = ["version", "runs", "avg", "min", "max", "last", "last run", *(word for word, _key in marks)]
    note = (f"<p class=\"left-out used\">used: {_t(runs_by_status(chart.included))} (scope not valid and headline, "
            "included by <code>--include-status</code>)</p>") if chart.included else ""
    note += (f"<p class=\"muted left-out\">left out: {_t(runs_by_status(chart.left_out))} (scope not valid and "
             "headline)</p>") if chart.left_out else ""
    return (f"<div class=\"chart-box\">{svg}{note}<details><summary>values</summary>"
            + _table(header, rows, numeric=[1, 2, 3, 4, 5]) + "</details></div>")


def _ab(summaries: list[Any]) -> str:
    out = ["<h2 id=\"ab\">Latest A/B summaries</h2>"]
    if not summaries:
        return out[0] + "<p>No experiment with two groups or more.</p>"
    out.append("<p class=\"muted\">Per task: item wins, losses and ties of each group against the baseline group, "
               "and each figure's improvement (group mean minus baseline mean), as <code>auditlog ab</code> "
               "reports them.</p>")
    for summary in summaries:
        figures = list(dict.fromkeys(k for row in summary.rows for k in row.improvement))
        rows = [[_t(r.task, 80), _t(r.group, 60), str(r.runs), str(r.baseline_runs), str(r.items), str(r.wins),
                 str(r.losses), str(r.ties), *(_n(r.improvement.get(f)) for f in figures)] for r in summary.rows]
        out.append(f"<h3>{_t(summary.experiment_id, 120)} <span class=\"muted\">baseline group "
                   f"{_t(summary.baseline, 60)}</span></h3>")
        out.append(_table(["task", "group", "runs", "baseline runs", "items", "wins", "losses", "ties",
                           *(f"Δ {f}" for f in figures)], rows, numeric=list(range(2, 8 + len(figures)))))
    return "\n".join(out)


def _runs(data: ReportData) -> str:
    out = [f"<h2 id=\"runs\">Runs and their evidence</h2><p class=\"muted\">The {plural(len(data.runs), 'newest run')}"
           f" of {data.total_runs}. Each run's evidence is its event (seq, hash) with an inclusion proof in a signed "
           "checkpoint: the command under it writes the two files named there, which "
           "<code>auditlog verify-proof</code> checks offline with only the log's verifier key.</p>"]
    rows = []
    for r in data.runs:
        link = data.links[r["run_id"]]
        rows.append([f"<a id=\"run-{int(r['seq'])}\" href=\"#run-{int(r['seq'])}\">{_t(r['run_id'], 80)}</a>",
                     _t(r["project_id"], 60), _t(r["model_id"], 60), _t(r["model_version"], 40), str(r["n_items"]),
                     _n(r["pass_rate"]), _n(r["mean_score"]),
                     _verdict_badge(r["verdict"], r["verdict_computed_by"]) if r["verdict"] else "",
                     _t(r["status"]), _t(r["recorded_at"]), str(r["seq"]),
                     f"<span class=\"mono\">{_t(r['event_hash'])}</span>",
                     f"<code>{_t(link.command, 2000)}</code><br><span class=\"muted\">writes "
                     f"{_t(link.files[0], 400)}, {_t(link.files[1], 400)}</span>"])
    out.append(_table(["run", "project", "model", "version", "items", "pass rate", "mean score", "verdict", "status",
                       "recorded", "seq", "event hash", "evidence"], rows, numeric=[4, 5, 6, 10]))
    return "\n".join(out)
