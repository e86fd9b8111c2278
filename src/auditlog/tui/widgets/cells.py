"""Values as display text: numbers, times, hashes, verdicts. Data stays data: every string
from the log goes through `literal` (Content, never markup), `option` or a LazyTable cell,
and so through render.safe_text (control and bidirectional characters shown escaped)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.content import Content

from auditlog.render import safe_text

VERDICT_ROLE = {"ALLOW": "good", "BLOCK": "bad", "NEEDS_REVIEW": "warn"}
ROLE_STYLE = {"good": "$text-success", "bad": "bold $text-error", "warn": "$text-warning", "dim": "$text-muted",
              "strong": "bold", "": ""}


def num(value: Any, spec: str = ".4f") -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    return format(value, spec)


def pct(value: Any) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{100 * value:.1f}%"


def signed(value: Any, spec: str = "+.4f") -> str:
    return num(value, spec)


def when(value: Any) -> str:
    """A time as `YYYY-MM-DD HH:MM` (UTC), from a datetime or RFC 3339 text."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and len(value) >= 16:
        return value[:10] + " " + value[11:16]
    return "" if value is None else str(value)


def short(digest: Any, n: int = 12) -> str:
    return str(digest or "")[:n]


def verdict_cell(verdict: Any, computed_by: Any = None) -> tuple[str, str]:
    """"BLOCK", or "BLOCK (evalsig)" when another tool computed the verdict's figures (as `show` says)."""
    if not verdict:
        return ("—", "dim")
    return (f"{verdict} ({computed_by})" if computed_by else verdict), VERDICT_ROLE.get(verdict, "")


def delta_role(delta: Any) -> str:
    if not isinstance(delta, (int, float)) or delta == 0:
        return "dim"
    return "good" if delta > 0 else "bad"


def literal(text: Any, role: str = "", limit: int = 400) -> Content:
    """A value as Content: shown exactly (control characters escaped), never parsed as markup."""
    return Content.assemble((safe_text("" if text is None else str(text), limit=limit), ROLE_STYLE.get(role, role)))


def line(*parts: str | tuple[str, str]) -> Content:
    """Content from pieces: a str is literal text, a (text, role) pair is literal text in a role's colour."""
    pieces: list[str | tuple[str, str]] = []
    for part in parts:
        if isinstance(part, tuple):
            pieces.append((safe_text(part[0], limit=400), ROLE_STYLE.get(part[1], part[1])))
        else:
            pieces.append(safe_text(part, limit=400))
    return Content.assemble(*pieces)


def fields(pairs: Iterable[tuple[str, Any]], width: int | None = None, limit: int = 400) -> Content:
    """Label / value lines; values literal (at most `limit` characters each); a (value, role) pair is coloured."""
    values = field_values(pairs, limit)
    width = width or label_width(values)
    return Content("\n").join(Content.assemble((label.ljust(width), ROLE_STYLE["dim"]), value) for label, value in values)


def label_width(values: Iterable[tuple[str, Any]]) -> int:
    """The width of the labels' column: the longest label and two spaces."""
    return max((len(label) for label, _ in values), default=0) + 2


def field_values(pairs: Iterable[tuple[str, Any]], limit: int = 400) -> list[tuple[str, Content]]:
    """Each label (escaped: a metric's name is the log's text) with its value as `fields` shows it (literal,
    at most `limit` characters, coloured when a (value, role) pair), for a layout that puts them in columns
    of their own (FieldsScreen)."""
    values = []
    for label, value in pairs:
        text, role = value if isinstance(value, tuple) else (value, "")
        values.append((safe_text(label), literal(text, role, limit=limit)))
    return values


def option(text: Any, limit: int = 80) -> Text:
    """A Select option's prompt: literal (a Text, never markup), control characters escaped."""
    return Text(safe_text("" if text is None else str(text), limit=limit))


def block(text: str, role: str = "", limit: int = 20_000) -> Content:
    """Several lines, each shown exactly (control characters other than the line breaks escaped)."""
    return Content("\n").join(literal(part, role, limit=limit) for part in text[:limit].split("\n"))
