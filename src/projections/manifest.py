"""The manifest: one flat record per run, friendly to git and jq; kept as parts, merged on demand.

    {"format":1,"log_id":"…","position":{"hash":"…","seq":41},"runs":[
    {"dataset_name":"mmlu-pro",…,"metrics.accuracy":0.5,…,"tags.suite":"nightly",…},
    …
    ]}

One run per line, in seq order, keys sorted, values flat (metrics and tags become
`metrics.<name>` and `tags.<key>` keys), a newline at the end: committing it after
each CI run gives a diff of one line per run added or changed (and the first line,
which names the log position it shows).

On disk it is kept beside the runs parts: one JSON Lines file per runs part
(runs/manifest-<first>-<last>-<sha256>.jsonl), holding that part's records, so that a
catch-up writes the lines of the runs it added or changed and never the whole manifest.
The document above is their merged view (`View.manifest()`, `auditlog projections
manifest`): the first line, then every part's lines in order. Lines are stable (the same
bytes whichever path, rebuild or catch-up, writes a line), so merged parts equal a
rebuild's. It is derived data for people and tools; queries never read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from projections.tables import timestamp_text

FORMAT = 1
FIELDS = (  # sorted: metrics.<name> keys go after mean_score, tags.<key> after superseded_by
    "dataset_name", "event_hash", "experiment_group", "experiment_id", "experiment_version", "mean_score",
    "model_id", "model_version", "n_items", "pass_rate", "project_id", "recorded_at", "run_id", "seq",
    "started_at", "status", "superseded_by", "verdict",
)
_BEFORE_METRICS = FIELDS[:FIELDS.index("model_id")]
_BEFORE_TAGS = FIELDS[FIELDS.index("model_id"):FIELDS.index("verdict")]
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def lines(table: Any) -> list[bytes]:
    """The manifest line of every row of a runs table (timestamps as timestamps, or already as
    their text), in order.

    Built column by column in Arrow's compute kernels (C++), not row by row in Python: a
    rebuild writes one line per run, and JSON-encoding 100k dicts in Python costs a second.
    Strings are escaped as json.dumps(ensure_ascii=False) escapes them; numbers are written
    in their shortest round-trip form (1 for 1.0, 1e-7): the same bytes whichever path
    (rebuild, catch-up) writes a line.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    parts = [_pair(name, table.column(name), "{" if name == FIELDS[0] else "") for name in _BEFORE_METRICS]
    parts.append(_map_pairs("metrics.", table.column("metrics")))
    parts += [_pair(name, table.column(name)) for name in _BEFORE_TAGS]
    parts.append(_map_pairs("tags.", table.column("tags")))
    parts.append(_pair("verdict", table.column("verdict"), after="}"))
    body = pc.binary_join_element_wise(*parts, ",", null_handling="skip")  # "{" and "}" come with the first and last
    return body.cast(pa.binary()).to_pylist()


def _json_text(column: Any) -> Any:
    """Each value as JSON text (null as null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        column, kind = timestamp_text(column), pa.string()
    if pa.types.is_string(kind):
        text = pc.binary_join_element_wise('"', _escaped(column), '"', "")
    else:
        text = column.cast(pa.string())
    return pc.fill_null(text, "null")


def _escaped(strings: Any) -> Any:
    import pyarrow.compute as pc

    if not pc.any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)).as_py():
        return strings
    for char, escape in _SHORT_ESCAPES.items():  # the backslash first
        strings = pc.replace_substring(strings, char, escape)
    for code in range(0x20):
        if chr(code) not in _SHORT_ESCAPES:
            strings = pc.replace_substring(strings, chr(code), f"\\u{code:04x}")
    return strings


def _pair(name: str, column: Any, before: str = "", after: str = "") -> Any:
    """`"<name>":<value as JSON>` per row, between `before` and `after`; never null (a null is `null`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        column, kind = timestamp_text(column), pa.string()
    if pa.types.is_string(kind):  # one join for name, quotes and value: nulls stay null until the fill
        text = pc.binary_join_element_wise(f'{before}"{name}":"', _escaped(column), f'"{after}', "")
    else:
        text = pc.binary_join_element_wise(f'{before}"{name}":', column.cast(pa.string()), after, "")
    return pc.fill_null(text, f'{before}"{name}":null{after}')


def _map_pairs(prefix: str, column: Any) -> Any:
    """`"<prefix><key>":<value>,...` per row; null for an empty map (skipped when joining)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    maps = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    entry = maps.type.key_field.type, maps.type.item_field.type
    maps = maps.cast(pa.list_(pa.struct([("key", entry[0]), ("value", entry[1])])))  # list_flatten takes no maps
    entries = pc.list_flatten(maps)
    keys = pc.binary_join_element_wise('"', _escaped(pc.binary_join_element_wise(prefix, entries.field("key"), "")),
                                       '":', "")
    pairs = pc.binary_join_element_wise(keys, _json_text(entries.field("value")), "")
    lengths = pc.list_value_length(maps).cast(pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, pairs), ",")
    return pc.if_else(pc.equal(lengths, 0), pa.scalar(None, pa.string()), joined)


def header(log_id: str, seq: int, hash_: str) -> bytes:
    """The first line: what the manifest is a view of (its own check that it is current)."""
    head = json.dumps({"format": FORMAT, "log_id": log_id, "position": {"hash": hash_, "seq": seq}},
                      sort_keys=True, separators=(",", ":"))
    return f'{head[:-1]},"runs":['.encode()


def render(head: bytes, lines: Sequence[bytes]) -> list[bytes]:
    """The merged manifest document, as chunks to write one after the other."""
    return [head, b"\n", b",\n".join(lines), b"\n" if lines else b"", b"]}\n"]


def part_chunks(lines: Sequence[bytes]) -> list[bytes]:
    """A manifest part file: its records, one per line, each line ending with a newline (JSON Lines)."""
    return [b"\n".join(lines), b"\n"] if lines else []


def part_lines(data: bytes) -> list[bytes]:
    """The records of a manifest part file."""
    return data.split(b"\n")[:-1] if data else []


def load(data: bytes | str) -> dict[str, Any]:
    """Parse a manifest (it is plain JSON)."""
    return json.loads(data)
