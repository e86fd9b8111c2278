"""Run documents to the runs and items tables, a chunk of runs at a time, with no per-item work in Python.

A rebuild folds millions of items; turning each run into a row in Python, and each item
into a dict handed to Arrow, cost more than writing the tables. Here a chunk of run
documents, as orjson decoded them, goes to pyarrow's struct conversion in one call (the
run's fields and its items as a list of structs, read from the dicts in C), and the rest
is column arithmetic: the items' run_id and seq repeat the runs', n_items and n_passed
come from the list offsets, pass_rate is one division, timestamps are cast in C. Only
mean_score (math.fsum, exactly rounded, as documented), `extra` (canonical JSON text,
rare) and the metric scope columns (evals.scopes.projected, only in a chunk with a scoped
run) are computed run by run in Python; config_seq and violations come with each run from
the fold (they depend on the configuration in force, an order the fold alone knows). The
values are those of the row-by-row fold (app/run_state.py folds one run that way; tests
in test_columns.py hold the two equal, to the Parquet bytes).

Only a chunk that Arrow refuses is looked at run by run: one holding an integral double of
2**53 or more, which RFC 8785 writes as integer digits and orjson reads back as an int, has
such ints read as the doubles they are (`_as_doubles`), then is converted again in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from math import fsum
from typing import Any

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import IntegrityError
from auditlog.evals.scopes import projected
from projections.fold import RecordedRun, normalize_ts
from projections.schema import arrow_schema

_ITEM_FIELDS = ("item_id", "score", "passed", "latency_ms", "tokens", "cost_usd", "error")
# UTC text that Arrow's cast reads exactly as normalize_ts does; anything else takes normalize_ts.
_UTC_TEXT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)$"


@cache
def _document_type() -> Any:
    """The members of a run document the tables use, as one Arrow struct (every field nullable:
    missing members are found afterwards, by their null counts)."""
    import pyarrow as pa

    runs, items, text = arrow_schema("runs"), arrow_schema("items"), pa.string()
    item = pa.struct([pa.field(n, items.field(n).type) for n in _ITEM_FIELDS])
    return pa.struct([
        *(pa.field(n, text) for n in ("run_id", "project_id", "model_id", "model_version")),
        pa.field("dataset", pa.struct([("name", text), ("version", text), ("sha256", text)])),
        pa.field("experiment", pa.struct([("id", text), ("group", text), ("version", text)])),
        *(pa.field(n, text) for n in ("config_fingerprint", "started_at", "finished_at")),
        pa.field("metrics", runs.field("metrics").type), pa.field("tags", runs.field("tags").type),
        pa.field("items", pa.list_(item)),
    ])


def run_tables(recorded: Sequence[RecordedRun]) -> tuple[Any, Any]:
    """The runs table and the items table (public schemas) of these runs, in order.

    Raises IntegrityError, naming the event's seq, when a document lacks a member the tables
    require or holds a value of another type (a valid log has neither: appends validate)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    docs, seq_list, hashes, times, document_sha256s, extras, config_seqs, found = zip(*recorded)
    try:
        doc = pa.array(docs, type=_document_type())
    except (ValueError, TypeError, OverflowError):  # pyarrow's ArrowInvalid and ArrowTypeError derive from these
        # The rare chunk: most likely a double >= 2**53 that RFC 8785 wrote as integer digits and orjson read
        # back as an int, which Arrow will not put in a float64 column. Read such numbers as the doubles
        # they are (_as_doubles), then convert the chunk again in one call.
        docs = tuple(map(_as_doubles, docs))
        try:
            doc = pa.array(docs, type=_document_type())
        except (ValueError, TypeError, OverflowError):
            raise _first_unreadable(recorded) from None
    (run_id, project_id, model_id, model_version, dataset, experiment, fingerprint, started, finished,
     metrics, tags, items_lists) = doc.flatten()
    _require(recorded, {"project_id": project_id, "model_id": model_id}, None)

    lengths = pc.fill_null(items_lists.value_lengths(), 0).cast(pa.int64())
    owner = items_lists.value_parent_indices()  # the run of each item (a null list has none)
    item_columns = dict(zip(_ITEM_FIELDS, items_lists.flatten().flatten()))
    _require(recorded, {f"items[].{n}": item_columns[n] for n in ("item_id", "score", "passed")}, owner)

    zero = pa.array([0], pa.int64())
    ends = pc.cumulative_sum(lengths)  # each run's items end here, in the items columns
    passed = pa.concat_arrays([zero, pc.cumulative_sum(item_columns["passed"].cast(pa.int64()))])
    n_passed = pc.subtract(passed.take(ends), passed.take(pc.subtract(ends, lengths)))
    empty = pc.equal(lengths, 0)
    pass_rate = pc.if_else(empty, pa.scalar(None, pa.float64()),
                           pc.divide(n_passed.cast(pa.float64()), lengths.cast(pa.float64())))
    scores = item_columns["score"].to_pylist()
    bounds = [0, *ends.to_pylist()]
    mean_score = [fsum(scores[a:b]) / (b - a) if b > a else None for a, b in zip(bounds, bounds[1:])]

    n = len(docs)
    seqs = pa.array(seq_list, pa.int64())
    text = pa.string()
    runs = pa.Table.from_arrays([
        run_id, project_id, model_id, model_version, *dataset.flatten(), *experiment.flatten(), fingerprint,
        _timestamps(started), _timestamps(finished), _timestamps(pa.array(times, text)),
        lengths, n_passed, pass_rate,
        pa.array(mean_score, pa.float64()), _no_nulls(metrics), *_scopes(docs),
        _no_nulls(tags), _empty("notes", n),
        pa.repeat("active", n), pa.nulls(n, text), pa.nulls(n, text),
        pa.nulls(n, text), pa.nulls(n, pa.int64()), pa.nulls(n, pa.int64()), pa.nulls(n, text),
        pa.array(document_sha256s, text), _config_seqs(recorded, config_seqs),
        pa.array([v or [] for v in found], _type("violations")) if any(found) else _empty("violations", n),
        seqs, pa.array(hashes, text),
    ], schema=arrow_schema("runs"))
    items = pa.Table.from_arrays([
        run_id.take(owner), seqs.take(owner), *item_columns.values(),
        _extras(recorded) if any(extras) else pa.nulls(len(owner), text),
    ], schema=arrow_schema("items"))
    return runs, items


_SCOPE_COLUMNS = ("scoped_metrics", "scope_status", "scope_reason", "headline_scopes")


def _type(name: str) -> Any:
    return arrow_schema("runs").field(name).type


def _empty(name: str, n: int) -> Any:
    """n empty lists or maps of the runs column `name` (what a run without such members holds)."""
    import pyarrow as pa

    kind, zeros = _type(name), pa.array([0] * (n + 1), pa.int32())
    if pa.types.is_map(kind):
        return pa.MapArray.from_arrays(zeros, pa.array([], kind.key_type), pa.array([], kind.item_type), type=kind)
    return pa.ListArray.from_arrays(zeros, pa.array([], kind.value_type), type=kind)


def _scopes(docs: Sequence[dict[str, Any]]) -> list[Any]:
    """The four metric scope columns (evals.scopes.projected, run by run where a run has scopes: rare)."""
    import pyarrow as pa

    if not any(doc.get("metric_scopes") for doc in docs):
        return [_empty(name, len(docs)) for name in _SCOPE_COLUMNS]
    columns = zip(*(projected(doc) for doc in docs))
    return [pa.array(values, _type(name)) for name, values in zip(_SCOPE_COLUMNS, columns)]


def _config_seqs(recorded: Sequence[RecordedRun], values: Sequence[Any]) -> Any:
    """The config_seq each run's event names, as int64; IntegrityError naming the first event whose
    config_seq is not an integer (the Writer names only seqs)."""
    import pyarrow as pa

    try:
        return pa.array(values, pa.int64())
    except (ValueError, TypeError, OverflowError):
        seq = next((r[1] for r, v in zip(recorded, values) if not _a_seq(v)), recorded[0][1])
        raise IntegrityError(seq, "not a valid run.recorded event (its config_seq is not a seq): check the log "
                                  "with `auditlog verify`") from None


def _a_seq(value: Any) -> bool:
    return value is None or type(value) is int and -(2**63) <= value < 2**63


def _timestamps(column: Any) -> Any:
    """RFC 3339 text as timestamp[us, UTC]: cast in C when all of it is UTC text, else by normalize_ts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = pa.timestamp("us", tz="UTC")
    if column.null_count == len(column) or pc.all(pc.match_substring_regex(column, _UTC_TEXT)).as_py():
        return column.cast(kind)
    return pa.array([normalize_ts(v) for v in column.to_pylist()], pa.string()).cast(kind)


def _no_nulls(maps: Any) -> Any:
    """A map column with an empty map where the document had none (the tables' maps are never null)."""
    import pyarrow as pa

    if maps.null_count == 0:
        return maps
    return pa.MapArray.from_arrays(maps.offsets, maps.keys, maps.items, type=maps.type)


def _extras(recorded: Sequence[RecordedRun]) -> Any:
    """The items' `extra` as canonical JSON text (null where an item has none), in order."""
    import pyarrow as pa

    values: list[str | None] = []
    for run, _, _, _, _, has_extra, *_ in recorded:
        items = run.get("items") or []
        if has_extra:
            values += [None if i.get("extra") is None else canonical_bytes(i["extra"]).decode("utf-8") for i in items]
        else:
            values += [None] * len(items)
    return pa.array(values, pa.string())


def _require(recorded: Sequence[RecordedRun], columns: dict[str, Any], owner: Any) -> None:
    """IntegrityError at the first run whose document lacks one of these members."""
    import pyarrow.compute as pc

    for name, column in columns.items():
        if column.null_count:
            index = pc.index(pc.is_null(column), True).as_py()
            seq = recorded[owner[index].as_py() if owner is not None else index][1]
            raise IntegrityError(seq, f"not a valid run.recorded event (no {name}): check the log with "
                                      "`auditlog verify`")


def _as_doubles(run: Any) -> Any:
    """A run document with every integer where the tables hold a double (a metric's value; an item's score,
    latency_ms, cost_usd) read as a double: float(n), the double nearest n.

    A JSON number is a double (RFC 8785, I-JSON), and RFC 8785 writes an integral double below 1e21
    as integer digits (1e17 as 100000000000000000), which orjson reads back as an int: for every such
    number float() gives back that very double, exactly. (An integer literal no double is written as
    is not canonical: `verify` refuses its event; read here, it is the nearest double, as any reader
    that parses JSON numbers as doubles reads it.) Returns `run` itself when nothing changes, a copy
    otherwise; anything else (a bool, a string, an int too large for a double) is left for Arrow to
    refuse."""
    if type(run) is not dict:
        return run
    changed: dict[str, Any] = {}
    metrics = run.get("metrics")
    if type(metrics) is dict and any(type(v) is int for v in metrics.values()):
        changed["metrics"] = {k: _double(v) for k, v in metrics.items()}
    items = run.get("items")
    if type(items) is list and any(type(i) is dict and any(type(i.get(n)) is int for n in _DOUBLE_ITEM_FIELDS)
                                   for i in items):
        changed["items"] = [{**i, **{n: _double(i[n]) for n in _DOUBLE_ITEM_FIELDS if type(i.get(n)) is int}}
                            if type(i) is dict else i for i in items]
    return {**run, **changed} if changed else run


_DOUBLE_ITEM_FIELDS = ("score", "latency_ms", "cost_usd")


def _double(value: Any) -> Any:
    if type(value) is not int:
        return value
    try:
        return float(value)
    except OverflowError:  # beyond any double: no double was written so; Arrow names it
        return value


def _first_unreadable(recorded: Sequence[RecordedRun]) -> IntegrityError:
    """The error naming the first run whose document Arrow cannot read in the tables' types
    (integers where a double is expected read as doubles, as run_tables reads them)."""
    import pyarrow as pa

    for run, seq, *_ in recorded:
        try:
            pa.array([_as_doubles(run)], type=_document_type())
        except (ValueError, TypeError, OverflowError) as exc:
            return IntegrityError(seq, f"not a valid run.recorded event ({exc}): check the log with "
                                         "`auditlog verify`")
    return IntegrityError(recorded[0][1], "not a valid run.recorded event: check the log with `auditlog verify`")
