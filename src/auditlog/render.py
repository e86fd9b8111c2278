"""Records to text: table, json, jsonl, csv. Pure; shared by the CLI (and the TUI).

Strings are data. Some characters are never written raw, so that a value can neither
repaint a reviewer's terminal nor display as another: C0 controls (an ANSI escape, a
newline), DEL, C1 controls (U+0080..U+009F, U+009B is a CSI), the bidirectional
controls U+202A..U+202E and U+2066..U+2069, the direction marks U+200E, U+200F and
U+061C ("safe\u202egnp.exe" would show as "safeexe.png"), and the characters that print
nothing (zero-width spaces and joiners, U+2060..U+2064, the soft hyphen, the BOM, Hangul
fillers, tag characters...: "cand\u200b" would show as "cand"; `_INVISIBLE`).

- table and CSV (read by people, in terminals and spreadsheets): shown escaped, as
  `\x1b`, `\n`, `\x85`, `\u202e`; a table also cuts long values, and its middle columns
  when it is wider than the terminal. (`export` writes CSV with `exact=True`: every string
  byte for byte, for the tools that read it.)

Numbers in tables and text have four significant digits (`number`); JSON, JSONL and CSV keep
full precision. CSV is written by one writer (`write_csv`): a header row always, even with no
records, then minimal quoting (only fields with a comma, quote or line break), `\n` line ends.
- JSON and JSONL: written as JSON escapes (`\u202e`), so the values stay exact
  (`json.loads` gives them back) while every other character, "é" or an emoji, stays raw.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

FORMATS = ("table", "json", "jsonl", "csv")
# The characters never written raw (keep in step with auditlog.evals.runs, which refuses them in ids):
# controls, bidirectional controls and direction marks, and the characters that print nothing.
_INVISIBLE = ("\u00ad\u115f\u1160\u180e\u200b-\u200d\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
              "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069" + _INVISIBLE + "]")
# What json.dumps(ensure_ascii=False) leaves raw of them (it escapes C0 itself)...
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069" + _INVISIBLE + "]")
# ... and the same characters as UTF-8 in JSON bytes (each pattern a whole character: in valid
# UTF-8 a pattern's first byte only ever starts one).
_JSON_RAW_UTF8 = re.compile(
    rb"\x7f|\xc2[\x80-\x9f\xad]|\xd8\x9c|\xe1\x85[\x9f\xa0]|\xe1\xa0\x8e|\xe2\x80[\x8b-\x8f\xaa-\xae]"
    rb"|\xe2\x81[\xa0-\xa4\xa6-\xaf]|\xe3\x85\xa4|\xef\xbb\xbf|\xef\xbe\xa0|\xef\xbf[\xb9-\xbb]"
    rb"|\xf0\x9b\xb2[\xa0-\xa3]|\xf0\x9d\x85[\xb3-\xba]|\xf3\xa0\x80[\x81\xa0-\xbf]|\xf3\xa0\x81[\x80-\xbf]")
_MAX_CELL = 60
SIGNIFICANT_DIGITS = 4
CUT_MARKER = "…"  # stands in a table for the middle columns cut to fit the width
_GAP = "  "


def render(records: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None, *,
           width: int | None = None) -> str:
    """The whole output as one string, ending in a newline unless empty.

    `columns` are the table's and the CSV header's (default: every key, in first-seen order);
    give them whenever the records may be none, so that CSV still has its header. `width` is
    the table's limit (None: as wide as it takes)."""
    columns = list(columns or _columns(records))
    if fmt == "json":
        return json_text([dict(r) for r in records], indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json_text(dict(r), separators=(",", ":")) + "\n" for r in records)
    if fmt == "csv":
        out = io.StringIO()
        write_csv(records, columns, out)
        return out.getvalue()
    if fmt == "table":
        return table(records, columns, width=width)
    raise ValueError(f"unknown format {fmt!r}")


def write_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str], stream: IO[str], *,
              exact: bool = False, header: bool = True) -> None:
    """The one CSV writer: the header (unless `header` is False: a later batch of the same file),
    then one row per record. Maps and lists are JSON text; strings (column names too: a metric's or
    a tag's name is one in flat CSV) are escaped as in a table unless `exact`; numbers keep full precision."""
    writer = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(columns if exact else [_csv_cell(c, exact) for c in columns])
    for r in records:
        writer.writerow([_csv_cell(r.get(c), exact) for c in columns])


def number(value: float | int, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number for people: integers as they are, floats to `digits` significant digits,
    trailing zeros kept so that a column reads evenly (0.8000, 12.35, 1.000e-05)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    text = f"{value:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 run", "2 runs", "0 runs"; `many` for irregular words ("1 entry", "3 entries")."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def runs_by_status(counted: Mapping[str, int]) -> str:
    """Runs counted by their scope's status, in words: `2 runs invalid, 1 run diagnostic` (what a
    trend, a chart or the TUI left out or used of scoped metrics)."""
    return ", ".join(f"{plural(n, 'run')} {status}" for status, n in counted.items())


def table(records: Sequence[Mapping[str, Any]], columns: Sequence[str], *, width: int | None = None) -> str:
    """Aligned columns under a header. Wider than `width`: the middle columns are cut (the first
    and the last stay, a `…` column marks the cut), so the row's name and its last figures stay
    side by side; `width=None` shows every column."""
    if not records:
        return "(no records)\n"
    columns = list(columns)
    cells = [[safe_text(_cell(r.get(c))) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    keep = _fitting(widths, width)
    if len(keep) < len(columns):
        cut_at = next(i for i, k in enumerate(keep) if k != i)
        order: list[int | None] = [*keep[:cut_at], None, *keep[cut_at:]]
    else:
        order = list(keep)

    def line(values: list[str]) -> str:
        return _GAP.join(CUT_MARKER if i is None else values[i].ljust(widths[i]) for i in order).rstrip()

    lines = [line(columns), _GAP.join("-" * (1 if i is None else widths[i]) for i in order)]
    lines += [line(row) for row in cells]
    return "\n".join(lines) + "\n"


def _fitting(widths: list[int], limit: int | None) -> list[int]:
    """The indexes of the columns to show: all if they fit, else the middle ones dropped (nearest
    the middle first) until the rest and the marker fit, keeping at least the first and the last."""
    keep = list(range(len(widths)))

    def total(indexes: list[int], cut: bool) -> int:
        return sum(widths[i] for i in indexes) + len(_GAP) * (len(indexes) - 1) + (len(_GAP) + 1 if cut else 0)

    if limit is None or total(keep, False) <= limit:
        return keep
    while len(keep) > 2 and total(keep, True) > limit:
        middle = keep[1:-1]
        keep.remove(middle[len(middle) // 2])
    return keep


def safe_text(value: str, limit: int = _MAX_CELL) -> str:
    """Escape control, bidirectional and invisible characters and cut long values, for display only."""
    text = escape_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_text(value: str) -> str:
    """`value` with the characters that are never written raw shown as `\x1b`, `\x85`, `\u202e`."""
    return _CONTROL.sub(_escape, value) if _CONTROL.search(value) else value


def json_text(value: Any, **options: Any) -> str:
    """json.dumps(value, ensure_ascii=False, **options), with C1, DEL, bidirectional controls and
    invisible characters written as \\u escapes: exact for json.loads, and harmless on a terminal."""
    return escape_json(json.dumps(value, ensure_ascii=False, **options))


def escape_json(text: str) -> str:
    """JSON text with the raw C1, DEL, bidirectional and invisible characters in it written as \\u escapes
    (same value)."""
    return _JSON_RAW.sub(_json_escape, text) if _JSON_RAW.search(text) else text


def escape_json_bytes(body: bytes) -> bytes:
    """escape_json for UTF-8 JSON bytes (an event's canonical bytes): the same JSON value, other bytes
    only where such a character was."""
    if not _JSON_RAW_UTF8.search(body):
        return body
    return _JSON_RAW_UTF8.sub(lambda m: _json_escape_char(m.group().decode("utf-8")).encode("ascii"), body)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _json_escape(match: re.Match[str]) -> str:
    return _json_escape_char(match.group())


def _json_escape_char(char: str) -> str:
    # Inside a JSON string only (JSON's own syntax is ASCII), and never after a lone backslash
    # (json.dumps writes a backslash as two), so the escape decodes to the same character
    # (beyond U+FFFF, as JSON spells it: the UTF-16 surrogate pair).
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, int)):
        return number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def _csv_cell(value: Any, exact: bool = False) -> Any:
    """A CSV field: strings escaped as in a table (a spreadsheet or `cat` shows them), not cut;
    `exact` keeps them byte for byte (export, for tools)."""
    keep = (lambda text: text) if exact else escape_text
    if isinstance(value, (dict, list)):
        return keep(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
    if isinstance(value, str):
        return keep(value)
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes them, and every CSV reader of ours before
    return "" if value is None else value


def _columns(records: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        seen.update(dict.fromkeys(r))
    return list(seen)
