"""render.py's pure helpers: numbers for people, plurals, tables cut to a width, the one CSV writer;
and the closest ids a "did you mean" offers."""

from __future__ import annotations

import csv
import io

from auditlog.errors import RunNotFound, closest_ids
from auditlog.render import CUT_MARKER, number, plural, render, table, write_csv


def test_numbers_have_four_significant_digits() -> None:
    assert [number(v) for v in (0.8, 1 / 3, 12.345678, 1e-5, 1234.5, 123456.7, -0.0080175, 1.0)] == \
           ["0.8000", "0.3333", "12.35", "1.000e-05", "1234", "1.235e+05", "-0.008018", "1.000"]
    assert [number(v) for v in (3, 0, True)] == ["3", "0", "True"]  # integers stay as they are


def test_plurals() -> None:
    assert [plural(n, "run") for n in (0, 1, 2)] == ["0 runs", "1 run", "2 runs"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_a_table_wider_than_the_limit_cuts_its_middle_columns() -> None:
    records = [{"id": "run-1", "b": "x" * 10, "c": "y" * 10, "d": "z" * 10, "last": 7}]
    full = table(records, list(records[0]))
    assert table(records, list(records[0]), width=None) == full == table(records, list(records[0]), width=200)
    cut = table(records, list(records[0]), width=30).splitlines()
    assert all(len(line) <= 30 for line in cut), cut
    assert cut[0].split() == ["id", "b", CUT_MARKER, "last"] and cut[2].split()[-1] == "7"
    # Never fewer than the first and the last column, however narrow.
    assert table(records, list(records[0]), width=5).splitlines()[0].split() == ["id", CUT_MARKER, "last"]


def test_csv_has_its_header_without_records_and_quotes_minimally() -> None:
    assert render([], "csv", ["a", "b"]) == "a,b\n"
    out = io.StringIO()
    write_csv([{"a": 'x, "y"', "b": {"k": [1, 2]}, "c": True, "d": 0.1 + 0.2, "e": None}], list("abcde"), out)
    assert out.getvalue() == 'a,b,c,d,e\n"x, ""y""","{""k"":[1,2]}",true,0.30000000000000004,\n'
    assert list(csv.reader(io.StringIO(out.getvalue())))[1][0] == 'x, "y"'
    escaped, exact = io.StringIO(), io.StringIO()
    write_csv([{"a": "\x1b[31m"}], ["a"], escaped)
    write_csv([{"a": "\x1b[31m"}], ["a"], exact, exact=True)
    assert escaped.getvalue() == "a\n\\x1b[31m\n" and exact.getvalue() == "a\n\x1b[31m\n"


def test_closest_ids() -> None:
    known = ["claude-x::mmlu-pro::v1.0", "claude-x::mmlu-pro::v1.1", "gpt-y::mmlu-pro::v2", "other"]
    assert closest_ids("claude-x::mmlu-pro::v1.3", known)[:2] == ["claude-x::mmlu-pro::v1.1", "claude-x::mmlu-pro::v1.0"]
    assert closest_ids("v2", known) == ["gpt-y::mmlu-pro::v2"]  # contained, when nothing is close
    assert closest_ids("zzzz", known) == []
    assert closest_ids("other", known) == []  # never the id asked for itself
    error = RunNotFound("claude-x::mmlu-pro::v1.3", field="--by").suggesting(known)
    assert str(error).startswith("--by: no run 'claude-x::mmlu-pro::v1.3' in the log; did you mean ")
    assert error.exit_code == 3
