"""Records to text: table, json, jsonl, csv. Pure; shared by the CLI (and the TUI).

Strings are data: in a table every control character (an ANSI escape, a newline)
is shown escaped, so a run id cannot repaint a reviewer's terminal. JSON, JSONL
and CSV keep values exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMATS = ("table", "json", "jsonl", "csv")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_CELL = 60


def render(records: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> str:
    """The whole output as one string, ending in a newline unless empty."""
    columns = list(columns or _columns(records))
    if fmt == "json":
        return json.dumps([dict(r) for r in records], indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(dict(r), ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            writer.writerow([_csv_cell(r.get(c)) for c in columns])
        return out.getvalue()
    if fmt == "table":
        return table(records, columns)
    raise ValueError(f"unknown format {fmt!r}")


def table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not records:
        return "(no records)\n"
    cells = [[safe_text(_cell(r.get(c))) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def safe_text(value: str, limit: int = _MAX_CELL) -> str:
    """Escape control characters and cut long values, for display only."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return "" if value is None else value


def _columns(records: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        seen.update(dict.fromkeys(r))
    return list(seen)
