"""The Parquet schemas of the projections: public, versioned, documented field by field.

Whoever reads `runs`, `items` or `verdicts` with another tool (DuckDB, polars, pandas)
depends on these names and types, so they are declared once, here, as plain data, and
docs/projections.md describes every field; tests pin both. Changing a field is a
deliberate act: bump SCHEMA_VERSION, update the docs, and projections built with the
old version are rebuilt on their next catch-up.

The writer options live here too: they are part of what makes a rebuild byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

SCHEMA_VERSION = 3  # 2: runs, verdicts and the manifest in parts (state format 3); verdicts.baseline_run_id may be null
# 3: runs.config_seq and runs.violations, the project configuration each run was recorded under; configs
#    and runs.scoped_metrics, scope_status, scope_reason, headline_scopes (metric scopes, evals/scopes.py)
#    and runs.verdict_computed_by and verdicts.computed_by (a verdict whose figures another tool computed)
TABLES = ("runs", "items", "verdicts", "baselines", "configs")
ROW_GROUP_ROWS = 65_536

# Fixed, explicit writer options: nothing here depends on the machine, the clock or the
# pyarrow defaults of the day. Files written with the same auditlog and pyarrow versions
# from the same log are byte-identical.
WRITE_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "write_batch_size": 1024,
    "dictionary_pagesize_limit": 1 << 20,
    "store_schema": True,
    "write_page_index": False,
    "write_page_checksum": False,
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | int64 | float64 | bool | timestamp | map<string,float64> | map<string,string> | list<string>
    nullable: bool
    doc: str


def _f(name: str, type_: str, doc: str, *, nullable: bool = True) -> Field:
    return Field(name, type_, nullable, doc)


RUNS = (
    _f("run_id", "string", "The run's id, unique in the log.", nullable=False),
    _f("project_id", "string", "The project (task, benchmark) the run evaluates.", nullable=False),
    _f("model_id", "string", "The model evaluated.", nullable=False),
    _f("model_version", "string", "The model's version, as recorded."),
    _f("dataset_name", "string", "`dataset.name` of the run document."),
    _f("dataset_version", "string", "`dataset.version`."),
    _f("dataset_sha256", "string", "`dataset.sha256`."),
    _f("experiment_id", "string", "`experiment.id`: runs of one experiment share it."),
    _f("experiment_group", "string", "`experiment.group`: the arm of an A/B experiment."),
    _f("experiment_version", "string", "`experiment.version`: the iteration within the experiment."),
    _f("config_fingerprint", "string", "SHA-256 of the canonical config (given or computed on append)."),
    _f("started_at", "timestamp", "`started_at`, converted to UTC."),
    _f("finished_at", "timestamp", "`finished_at`, converted to UTC."),
    _f("recorded_at", "timestamp", "When the run entered the log: the `ts` of its run.recorded event.",
       nullable=False),
    _f("n_items", "int64", "Number of items in the run.", nullable=False),
    _f("n_passed", "int64", "Number of items with `passed` true.", nullable=False),
    _f("pass_rate", "float64", "n_passed / n_items; null when the run has no items."),
    _f("mean_score", "float64", "math.fsum(item scores) / n_items; null when the run has no items."),
    _f("metrics", "map<string,float64>", "The run's metrics (those outside any scope), keys sorted.", nullable=False),
    _f("scoped_metrics", "map<string,float64>", "The metrics of the run's `metric_scopes`, keyed `scope/name`, "
       "whatever their scope's status; keys sorted.", nullable=False),
    _f("scope_status", "map<string,string>", "Each scope's status: valid, invalid, not_applicable or diagnostic.",
       nullable=False),
    _f("scope_reason", "map<string,string>", "The reason each scope gives, for those that give one.", nullable=False),
    _f("headline_scopes", "list<string>", "The scopes whose metrics are headline metrics (`headline` not false), "
       "sorted.", nullable=False),
    _f("tags", "map<string,string>", "The run's tags with every annotation's tags merged in, in log order; "
       "keys sorted.", nullable=False),
    _f("notes", "list<string>", "Notes from annotations, in log order.", nullable=False),
    _f("status", "string", "`active`, or `superseded` once a run.superseded event names this run.",
       nullable=False),
    _f("superseded_by", "string", "The run that supersedes this one."),
    _f("superseded_reason", "string", "Why, as recorded in the run.superseded event."),
    _f("verdict", "string", "The run's current verdict: that of the latest verdict recorded on it (highest seq), "
       "or the override's when a person overrode that verdict: ALLOW, BLOCK or NEEDS_REVIEW."),
    _f("verdict_seq", "int64", "The seq of that latest verdict.recorded event."),
    _f("override_seq", "int64", "The seq of the verdict.overridden event that set `verdict`, if one did."),
    _f("verdict_computed_by", "string", "The latest verdict's `computed_by`: the tool that computed its figures "
       "elsewhere (e.g. evalsig), or null when auditlog's gate did."),
    _f("document_sha256", "string", "SHA-256 of the run document as submitted (the idempotency key)."),
    _f("config_seq", "int64", "The seq of the project.configured event in force when the run was recorded (the "
       "`config_seq` its event names); null when its project had no configuration."),
    _f("violations", "list<string>", "What is wrong with the run against the configuration in force when it was "
       "recorded (a field it breaks, or its event naming another configuration), one line each; empty for every "
       "run auditlog recorded: a run written past auditlog's checks.", nullable=False),
    _f("seq", "int64", "The seq of the run.recorded event.", nullable=False),
    _f("event_hash", "string", "The SHA-256 of that event's bytes.", nullable=False),
)

ITEMS = (
    _f("run_id", "string", "The run the item belongs to.", nullable=False),
    _f("seq", "int64", "The seq of the run's run.recorded event (rows are ordered by seq, then document order).",
       nullable=False),
    _f("item_id", "string", "The item's id, unique within its run.", nullable=False),
    _f("score", "float64", "The item's score, in [0, 1].", nullable=False),
    _f("passed", "bool", "Whether the item passed.", nullable=False),
    _f("latency_ms", "float64", "`latency_ms`, when recorded."),
    _f("tokens", "int64", "`tokens`, when recorded."),
    _f("cost_usd", "float64", "`cost_usd`, when recorded."),
    _f("error", "string", "`error`, when recorded."),
    _f("extra", "string", "`extra` as RFC 8785 canonical JSON text (the exact bytes in the event), or null."),
)

VERDICTS = (
    _f("seq", "int64", "The seq of the verdict.recorded event.", nullable=False),
    _f("ts", "timestamp", "The event's `ts`: when the verdict entered the log.", nullable=False),
    _f("project_id", "string", "The project of the judged run.", nullable=False),
    _f("run_id", "string", "The judged (candidate) run.", nullable=False),
    _f("baseline_run_id", "string", "The run it was compared with; null when there was none (a project's first "
       "run, gated with `--no-baseline`)."),
    _f("metric", "string", "The metric the gate compared.", nullable=False),
    _f("delta", "float64", "The measured difference, candidate minus baseline."),
    _f("p_value", "float64", "The test's p-value."),
    _f("ci_low", "float64", "Lower bound of the confidence interval of the difference."),
    _f("ci_high", "float64", "Upper bound of that interval."),
    _f("verdict", "string", "ALLOW, BLOCK or NEEDS_REVIEW, as the gate recorded it (never changed).",
       nullable=False),
    _f("policy", "string", "The policy applied, as RFC 8785 canonical JSON text, or null."),
    _f("reason", "string", "Why, in words."),
    _f("computed_by", "string", "The tool that computed the figures and the verdict elsewhere (e.g. evalsig), "
       "or null when auditlog's gate did."),
    _f("actor", "string", "Who appended the event (the envelope's `actor`), as canonical JSON text.",
       nullable=False),
    _f("document_sha256", "string", "SHA-256 of the verdict document as submitted."),
    _f("event_hash", "string", "The SHA-256 of the event's bytes.", nullable=False),
    _f("overridden_to", "string", "The verdict a person replaced it with (the latest verdict.overridden of it), "
       "if any."),
    _f("override_reason", "string", "Why, as recorded in that event."),
    _f("override_seq", "int64", "The seq of that verdict.overridden event."),
)

BASELINES = (
    _f("seq", "int64", "The seq of the baseline.pinned event.", nullable=False),
    _f("ts", "timestamp", "The event's `ts`: when the pin entered the log.", nullable=False),
    _f("project_id", "string", "The project whose gates compare against the run from then on.", nullable=False),
    _f("model_id", "string", "The model the pin is for; null: every model of the project."),
    _f("run_id", "string", "The pinned baseline run.", nullable=False),
    _f("reason", "string", "Why, as recorded."),
    _f("actor", "string", "Who appended the event, as canonical JSON text.", nullable=False),
    _f("event_hash", "string", "The SHA-256 of the event's bytes.", nullable=False),
)

CONFIGS = (
    _f("seq", "int64", "The seq of the project.configured event.", nullable=False),
    _f("ts", "timestamp", "The event's `ts`: when the configuration took effect.", nullable=False),
    _f("project_id", "string", "The project configured.", nullable=False),
    _f("groups", "list<string>", "The experiment groups its runs may name, sorted; empty: any.", nullable=False),
    _f("lower_is_better", "list<string>", "The metrics declared better when lower, sorted.", nullable=False),
    _f("metric_bounds", "string", "The bounds of its metrics, `{metric: {\"max\": x, \"min\": y}}`, as RFC 8785 "
       "canonical JSON text (null: that side open).", nullable=False),
    _f("actor", "string", "Who appended the event, as canonical JSON text.", nullable=False),
    _f("event_hash", "string", "The SHA-256 of the event's bytes.", nullable=False),
)

FIELDS: dict[str, tuple[Field, ...]] = {"runs": RUNS, "items": ITEMS, "verdicts": VERDICTS, "baselines": BASELINES,
                                        "configs": CONFIGS}


def _arrow_type(name: str):  # noqa: ANN202 - a pyarrow DataType
    import pyarrow as pa

    types = {
        "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "map<string,float64>": pa.map_(pa.string(), pa.float64()),
        "map<string,string>": pa.map_(pa.string(), pa.string()),
        "list<string>": pa.list_(pa.field("element", pa.string())),  # the name Parquet gives it
    }
    return types[name]


@cache
def arrow_schema(table: str):  # noqa: ANN201 - a pyarrow Schema
    """The pyarrow schema of `table` (runs | items | verdicts), with the schema version in its metadata."""
    import pyarrow as pa

    fields = [pa.field(f.name, _arrow_type(f.type), nullable=f.nullable) for f in FIELDS[table]]
    return pa.schema(fields, metadata={b"auditlog.projection": table.encode(),
                                       b"auditlog.schema_version": str(SCHEMA_VERSION).encode()})


def names(table: str) -> list[str]:
    return [f.name for f in FIELDS[table]]
