"""Shared strategies and helpers for the hostile-input tests (not a conftest: plain imports).

The strategies build run and verdict documents that are mostly well-formed, then break
them in one or more places, so that the fuzzer spends its examples near the edge of
validity (a score of 1.0000001, a tag that is a number, a control character in an id)
rather than on JSON that is refused at its first key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.integration import cli_support  # noqa: F401 - re-exported for the test modules

ROOT = Path(__file__).resolve().parents[2]

EVAL_OUTPUTS = (ROOT / ".." / "shared" / "data" / "eval-outputs").resolve()

# Strings that are data, never code or markup.
NASTY = [
    "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "\x1b[2J\x1b[H", "[red]markup[/red]", "[@click=app.quit]x[/]",
    "[bold]", "'; DROP TABLE events; --", "\" OR 1=1 --", "../../etc/passwd", "..", "a/b\\c", "/abs/path",
    "nul\x00byte", "tab\there", "line\nbreak", "cr\rreturn", "\u202eevil-rtl", "\u200bzero-width", "emoji 🎉",
    "lone \ud800 surrogate", "%s%n%x", "${HOME}", "$(reboot)", "`id`", "c1\x85next\x9bcsi",
    "\u2067isolate\u2069", "mark\u200f", "élan",
]
# Refused in ids (auditlog.evals.runs): C0 controls, DEL, C1 controls, bidirectional controls and
# the direction marks LRM, RLM, ALM. Those strings stay fine as free text (notes, tag values).
REFUSED_IN_IDS = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F,
                                     *range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# ... and the characters that print nothing (attacker review 3): "cand\u200b" displayed as "cand"
INVISIBLE_IN_IDS = frozenset(map(chr, [0x00AD, 0x115F, 0x1160, 0x180E, *range(0x200B, 0x200E), *range(0x2060, 0x2065),
                                       *range(0x206A, 0x2070), 0x3164, 0xFEFF, 0xFFA0, *range(0xFFF9, 0xFFFC),
                                       *range(0x1BCA0, 0x1BCA4), *range(0x1D173, 0x1D17B), 0xE0001,
                                       *range(0xE0020, 0xE0080)]))
REFUSED_IN_IDS = REFUSED_IN_IDS | INVISIBLE_IN_IDS
NASTY_IDS = [s for s in NASTY if not REFUSED_IN_IDS.intersection(s)]

text = st.one_of(st.sampled_from(NASTY), st.text(max_size=20), st.text(alphabet=st.characters(codec="utf-8"), max_size=8))
identifier = st.one_of(st.sampled_from(NASTY_IDS), st.text(min_size=1, max_size=12),
                       st.sampled_from(["", " ", "x" * 513, "ok-id"]))
number = st.one_of(st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(min_value=0, max_value=1), st.sampled_from([0, 1, 0.5, 1.0000001, -0.0, 2**63]))
json_leaf = st.one_of(st.none(), st.booleans(), number, text)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(text, inner, max_size=3)), max_leaves=8)
timestamp = st.one_of(st.sampled_from(["2024-06-01T12:00:00Z", "2024-06-01T12:30:00.5+00:00", "2024-06-01T12:00:00",
                                       "yesterday", "2024-13-01T00:00:00Z", ""]), json_leaf)


def _maybe(strategy: st.SearchStrategy[Any], valid: st.SearchStrategy[Any], odds: int = 3) -> st.SearchStrategy[Any]:
    """Mostly the valid value (`odds` to one), sometimes anything from `strategy`."""
    return st.integers(0, odds).flatmap(lambda pick: valid if pick else strategy)


item = st.fixed_dictionaries(
    {"item_id": _maybe(identifier, st.from_regex(r"q[0-9]{1,3}", fullmatch=True)),
     "score": _maybe(json_value, st.floats(min_value=0, max_value=1)),
     "passed": _maybe(json_value, st.booleans())},
    optional={"latency_ms": _maybe(json_value, st.floats(min_value=0, max_value=1e6)),
              "tokens": _maybe(json_value, st.integers(0, 10**6)),
              "cost_usd": number, "error": st.one_of(st.none(), text), "extra": _maybe(json_value, st.just({})),
              "bogus": json_leaf})
tags = st.dictionaries(_maybe(identifier, st.sampled_from(["suite", "ci", "owner"])), _maybe(json_leaf, text), max_size=3)

run_document = st.fixed_dictionaries(
    {"project_id": _maybe(identifier, st.sampled_from(["mmlu-pro", "gsm8k"])),
     "model_id": _maybe(identifier, st.sampled_from(["acme-7b", "[red]model"]))},
    optional={"run_id": _maybe(identifier, st.from_regex(r"run-[a-z0-9]{1,8}", fullmatch=True)),
              "model_version": _maybe(json_leaf, text),
              "dataset": _maybe(json_value, st.fixed_dictionaries(
                  {"name": text}, optional={"version": text, "sha256": st.sampled_from(
                      [hashlib.sha256(b"x").hexdigest(), "ABC", hashlib.sha256(b"x").hexdigest().upper()])})),
              "experiment": _maybe(json_value, st.fixed_dictionaries({"id": identifier}, optional={"group": text})),
              "config": json_value, "config_fingerprint": json_leaf,
              "environment": _maybe(json_value, st.dictionaries(text, json_value, max_size=2)),
              "started_at": timestamp, "finished_at": timestamp,
              "metrics": _maybe(json_value, st.dictionaries(text, number, max_size=3)),
              "items": _maybe(json_value, st.lists(item, max_size=4)),
              "tags": _maybe(json_value, tags), "unknown_field": json_leaf})
top_level = st.one_of(run_document, run_document, run_document, json_value)

verdict_document = st.fixed_dictionaries(
    {"run_id": _maybe(identifier, st.sampled_from(["base-a", "base-b"]), 8),
     "baseline_run_id": _maybe(identifier, st.sampled_from(["base-a", "base-b"]), 8),
     "metric": _maybe(identifier, st.sampled_from(["accuracy", "score"]), 8),
     "verdict": _maybe(json_leaf, st.sampled_from(["ALLOW", "BLOCK", "NEEDS_REVIEW"]), 8)},
    optional={"delta": _maybe(json_leaf, st.floats(-1, 1), 8), "p_value": _maybe(json_leaf, st.floats(0, 1), 8),
              "ci_low": _maybe(number, st.floats(-1, 0), 8), "ci_high": _maybe(number, st.floats(0, 1), 8),
              "policy": _maybe(json_value, st.dictionaries(text, json_leaf), 8),
              "reason": _maybe(json_leaf, text, 8), "extra": json_leaf.filter(lambda _: False)})


def db_fingerprint(db: Path) -> dict[str, str | None]:
    return cli_support.fingerprint(db)
