"""The `--where` filter language: a small expression over a run's fields, parsed into a tree.

    metrics.accuracy > 0.8 and tags.branch = 'main'
    metrics.eval/accuracy > 0.8 and scopes.eval = 'valid'
    (model_id in ('claude-x', 'gpt-y') or not tags.suite exists) and recorded_at >= '2026-01-01'

Pure (standard library and the schema's field list): parsing checks every name and every
value's type against the runs table's public schema, so a mistake is refused before anything
is read, with the column where it is (`at column 18: expected a value after '>'`). The tree
is evaluated over the runs table by where_arrow.py. The grammar and the meaning of a missing
value are written down in docs/projections.md.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from auditlog.errors import InvalidInput
from auditlog.evals.scopes import split
from projections.schema import RUNS

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
KEYWORDS = ("and", "or", "not", "in", "exists", "true", "false")
ALIASES = {"experiment.id": "experiment_id", "experiment.group": "experiment_group",
           "experiment.version": "experiment_version", "dataset.name": "dataset_name",
           "dataset.version": "dataset_version", "dataset.sha256": "dataset_sha256",
           "project": "project_id", "model": "model_id"}
KINDS = {"string": "text", "int64": "number", "float64": "number", "timestamp": "time"}
COLUMNS = {f.name: KINDS[f.type] for f in RUNS if f.type in KINDS}
MAPS = {"metrics": "accuracy", "tags": "branch", "scopes": "eval"}  # map fields, each with an example key
MAX_LENGTH = 4096
MAX_DEPTH = 64

Value = str | float | datetime


class WhereError(InvalidInput):
    """A --where expression that cannot be parsed or does not fit the runs table; `column` is 1-based."""

    def __init__(self, column: int, reason: str) -> None:
        self.column = column
        super().__init__("--where", f"at column {column}: {reason}")


@dataclass(frozen=True)
class Field:
    """A run field: a column of the runs table, or one key of its `metrics`, `tags` or `scope_status` map.

    `metrics.<scope>/<name>` is a scoped metric: read from `scoped_metrics` (or, for a run that
    recorded that name outside any scope, from `metrics`); `scopes.<scope>` is a scope's status."""

    column: str
    key: str | None  # the map key for metrics.<key>, tags.<key> and scopes.<key> (column scope_status)
    kind: str  # text | number | time

    @property
    def name(self) -> str:
        if self.key is None:
            return self.column
        return f"{'scopes' if self.column == 'scope_status' else self.column}.{self.key}"

    @property
    def scoped(self) -> bool:
        """Whether this is a metric addressed as scope/name."""
        return self.column == "metrics" and self.key is not None and split(self.key) is not None


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Exists:
    field: Field


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Compare | In | Exists | Not | And | Or


@dataclass(frozen=True)
class Token:
    kind: str  # name | string | number | op | ( | ) | , | . | end
    text: str
    column: int  # 1-based


_TOKEN = re.compile(r"""\s*(?:
    (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<name>[A-Za-z_][\w\-:/@]*)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op>==|!=|<>|<=|>=|<|>|=)
  | (?P<punct>[(),.])
  | (?P<unterminated>['"])
  | (?P<bad>\S)
)""", re.VERBOSE)


def tokens(text: str) -> list[Token]:
    """The expression's tokens; a WhereError at the first character that starts none."""
    out, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:  # only whitespace was left
            break
        kind = match.lastgroup
        start = match.start(kind)
        raw = match.group(kind)
        if kind == "unterminated":
            raise WhereError(start + 1, f"a string opened with {raw} is never closed")
        if kind == "bad":
            raise WhereError(start + 1, f"unexpected character {raw!r}")
        if kind == "string":
            raw = raw[1:-1].replace(raw[0] * 2, raw[0])
        elif kind == "op":
            raw = {"==": "=", "<>": "!="}.get(raw, raw)
        out.append(Token(raw if kind == "punct" else kind, raw, start + 1))  # punctuation: its own kind
        at = match.end()
    out.append(Token("end", "", len(text) + 1))
    return out


def parse(text: str) -> Expr:
    """The expression's tree, every field resolved against the runs schema; WhereError otherwise."""
    if len(text) > MAX_LENGTH:
        raise WhereError(MAX_LENGTH + 1, f"the expression is longer than {MAX_LENGTH} characters")
    return _Parser(tokens(text)).expression()


class _Parser:
    """Recursive descent: or > and > not > a comparison, `in`, `exists` or a parenthesised expression."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.at = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.at]

    def take(self) -> Token:
        tok = self.toks[self.at]
        self.at += 1
        return tok

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "name" and self.tok.text.lower() == word:
            self.at += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise WhereError(self.tok.column, f"expected {what}, not {describe(self.tok)}")
        return self.take()

    def expression(self) -> Expr:
        if self.tok.kind == "end":
            raise WhereError(self.tok.column, "the expression is empty")
        expr = self.disjunction()
        if self.tok.kind != "end":
            raise WhereError(self.tok.column, f"expected 'and', 'or' or the end, not {describe(self.tok)}")
        return expr

    def disjunction(self) -> Expr:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self) -> Expr:
        parts = [self.negation()]
        while self.keyword("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def negation(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhereError(self.tok.column, f"nested deeper than {MAX_DEPTH} levels")
        try:
            if self.keyword("not"):
                return Not(self.negation())
            return self.primary()
        finally:
            self.depth -= 1

    def primary(self) -> Expr:
        if self.tok.kind == "(":
            self.take()
            expr = self.disjunction()
            self.expect(")", "')'")
            return expr
        return self.predicate()

    def predicate(self) -> Expr:
        start = self.tok
        field = self.field()
        if self.keyword("exists"):
            return Exists(field)
        negated = self.keyword("not")
        if self.keyword("in"):
            self.expect("(", "'(' after 'in'")
            values = [self.value(field, "in")]
            while self.tok.kind == ",":
                self.take()
                values.append(self.value(field, "in"))
            self.expect(")", "',' or ')'")
            found = In(field, tuple(values))
            return Not(found) if negated else found
        if negated:
            raise WhereError(self.tok.column, f"expected 'in' after 'not', not {describe(self.tok)}")
        if self.tok.kind != "op":
            raise WhereError(self.tok.column, f"expected an operator (=, !=, <, <=, >, >=), 'in' or 'exists' "
                                              f"after {start.text!r}, not {describe(self.tok)}")
        op = self.take().text
        return Compare(field, op, self.value(field, op))

    def field(self) -> Field:
        tok = self.tok
        if tok.kind != "name" or tok.text.lower() in KEYWORDS:
            raise WhereError(tok.column, f"expected a field (e.g. metrics.accuracy, tags.branch, model_id), "
                                         f"not {describe(tok)}")
        self.take()
        name = tok.text
        if name in MAPS:
            self.expect(".", f"'.' and a key after {name!r} (e.g. {name}.{MAPS[name]})")
            key = self.take() if self.tok.kind in ("name", "string") else None
            if key is None or key.text == "":
                raise WhereError(self.tok.column if key is None else key.column,
                                 f"expected a key after '{name}.', not {describe(self.tok if key is None else key)}")
            if name == "scopes":
                return Field("scope_status", key.text, "text")
            return Field(name, key.text, "number" if name == "metrics" else "text")
        while self.tok.kind == "." and f"{name}." in {a[:len(name) + 1] for a in ALIASES}:
            self.take()
            name += "." + self.expect("name", f"a name after '{name}.'").text
        column = ALIASES.get(name, name)
        if column not in COLUMNS:
            close = difflib.get_close_matches(name, [*COLUMNS, *ALIASES, *MAPS], n=3)
            hint = f"did you mean {', '.join(close)}?" if close else \
                "fields are metrics.<name>, metrics.<scope>/<name>, scopes.<scope>, tags.<key>, the runs table's " \
                "columns (model_id, pass_rate, ...)"
            raise WhereError(tok.column, f"unknown field {name!r}; {hint}")
        return Field(column, None, COLUMNS[column])

    def value(self, field: Field, after: str) -> Value:
        tok = self.tok
        if tok.kind not in ("string", "number"):
            raise WhereError(tok.column, f"expected a value after {after!r}, not {describe(tok)}")
        self.take()
        if field.kind == "number":
            if tok.kind != "number":
                raise WhereError(tok.column, f"{field.name} is a number: compare it with a number, not {tok.text!r}")
            return float(tok.text)
        if tok.kind != "string":
            raise WhereError(tok.column, f"{field.name} is {'a time' if field.kind == 'time' else 'text'}: "
                                         f"put {tok.text} in quotes")
        if field.kind == "time":
            return timestamp(tok, end=after in ("<=", ">"))
        return tok.text


def timestamp(tok: Token, *, end: bool = False) -> datetime:
    """A date (YYYY-MM-DD: that day's start, or its end for <= and >) or an RFC 3339 time, in UTC."""
    try:
        if len(tok.text) == 10:
            return datetime.combine(date.fromisoformat(tok.text), time.max if end else time.min, UTC)
        parsed = datetime.fromisoformat(tok.text.replace("Z", "+00:00"))
    except ValueError:
        raise WhereError(tok.column, f"{tok.text!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end"
    if tok.kind == "string":
        return f"the string {tok.text!r}"
    return repr(tok.text)


def fields(expr: Expr) -> set[str]:
    """The runs table's columns the expression reads."""
    if isinstance(expr, (Compare, In, Exists)):
        return {expr.field.column, "scoped_metrics"} if expr.field.scoped else {expr.field.column}
    if isinstance(expr, Not):
        return fields(expr.operand)
    return set().union(*(fields(e) for e in expr.operands))
