"""What every parser shares: the source file, positioned errors, JSON loading, the finished document.

Errors name the file and the position (line and column, a JSON path, or an XML
element), so that a CI log says exactly what to fix; nothing is appended then.
The document a parser returns is already checked by `normalize_run`, so a caller
never learns of a problem only when it appends.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.evals.runs import check_tags, config_fingerprint, normalize_run

Progress = Callable[[int, int], None] | None
"""`progress(done, total)` in bytes of the input files parsed so far: long ingests report it so that
the CLI can draw a bar; the parsers themselves stay pure (no terminal, no clock)."""


@dataclass(frozen=True)
class SourceFile:
    """A file as the caller read it: its name (for messages, and because tools encode the
    task or the date in it) and its bytes. Parsers never open files themselves."""

    name: str
    data: bytes

    @property
    def basename(self) -> str:
        return PurePath(self.name.replace("\\", "/")).name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def fail(source: SourceFile, where: str, reason: str) -> InvalidInput:
    """InvalidInput whose field is "<file> <position>", e.g. "results.json line 3 column 7"."""
    return InvalidInput(f"{source.name} {where}".rstrip(), reason)


def check_given(*, run_id: str | None, project_id: str | None = None, model_id: str | None = None) -> None:
    """An id given empty (or only spaces) is refused, not read as "not given": `--run-id "$RUN_ID"` with
    the variable unset would otherwise record the run under a derived id, exit 0, and the gate of
    "$RUN_ID" after it fails. None is "not given" (derived, or read from the file)."""
    for value, option, name, instead in (
            (run_id, "--run-id", "run_id", "give a run id, or leave --run-id out to derive one from the file"),
            (project_id, "--project", "project_id", "give one, or leave it out to read it from the file"),
            (model_id, "--model", "model_id", "give one, or leave it out to read it from the file")):
        if isinstance(value, str) and not value.strip():
            raise InvalidInput(option, f"is empty (a variable that expanded to nothing?): {instead} ({name} in Python)")


@dataclass
class Notes:
    """What a parser changed or left out, recorded in config.ingest.notes of the run."""

    items: list[str] = field(default_factory=list)

    def add(self, note: str) -> None:
        if note not in self.items:
            self.items.append(note)


def text_of(source: SourceFile) -> str:
    """UTF-8 text (a byte-order mark is dropped); other bytes are refused with their offset."""
    try:
        return source.data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise fail(source, f"byte {error.start}", "is not UTF-8 text") from None


def load_json(source: SourceFile, text: str | None = None, *, line_offset: int = 0) -> Any:
    """json.loads with the error placed at its line and column. Bare NaN and Infinity are
    accepted here (Python writers emit them); `clean` deals with them afterwards."""
    if text is None and not source.data.strip():
        raise fail(source, "", "is empty: nothing was written to it (an interrupted run?)")
    try:
        return json.loads(text_of(source) if text is None else text)
    except json.JSONDecodeError as error:
        raise fail(source, f"line {error.lineno + line_offset} column {error.colno}",
                   f"is not valid JSON: {error.msg}") from None
    except RecursionError:
        raise fail(source, "", "is nested too deeply to read") from None
    except ValueError as error:  # an integer of more than 4,300 digits: Python will not read it
        where = "" if text is None else f"line {line_offset + 1}"
        raise fail(source, where, f"cannot be read: {str(error).split(';')[0]}") from None


def json_lines(source: SourceFile) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON Lines file."""
    for number, line in enumerate(text_of(source).splitlines(), start=1):
        if line.strip():
            yield number, load_json(source, line, line_offset=number - 1)


def clean(value: Any, path: str, notes: Notes) -> Any:
    """A copy that the run document accepts: NaN and Infinity become null, lone surrogates
    become U+FFFD, and each change is noted with its path."""
    if isinstance(value, float) and not math.isfinite(value):
        notes.add(f"{path}: {json_spelling(value)} is not a finite number; recorded as null")
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            notes.add(f"{path}: lone surrogate replaced by U+FFFD")
            return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
        return value
    if isinstance(value, Mapping):
        return {str(k): clean(v, f"{path}.{k}", notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    return value


def json_spelling(value: float) -> str:
    """NaN and Infinity as Python's json module writes them (and as the files show them)."""
    return json.dumps(value)


def number(value: Any) -> float | int | None:
    """A finite int or float (not a boolean), else None."""
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    return None


def object_at(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    """mapping[key] when it is a JSON object (the same dict), else a new empty one."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def list_at(mapping: Mapping[str, Any], key: str) -> list[Any]:
    """mapping[key] when it is a JSON array (the same list), else a new empty one."""
    value = mapping.get(key)
    return value if isinstance(value, list) else []


def derived_run_id(model_id: str, project_id: str, source_key: str) -> str:
    """`<model_id>::<project_id>::<source_key>`: the same shape as generated run ids, but a
    function of the source, so that ingesting the same file again is an idempotent retry."""
    return f"{model_id}::{project_id}::{source_key}"


def source_provenance(sources: Sequence[SourceFile]) -> dict[str, Any]:
    """Where a run was read from: {"files": [{"name", "sha256"}, ...]}, the base name and SHA-256
    of each file in the order given. Kept with the run.recorded event (its `source`), outside the
    run document, so that the run does not depend on the file it was read from."""
    return {"files": [{"name": s.basename, "sha256": s.sha256} for s in sources]}


def finish(doc: dict[str, Any], *, fmt: str, notes: Notes,
           tags: Mapping[str, str] | None, main: SourceFile,
           provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Attach how the run was read (config.ingest: the format, notes) and tags, fingerprint the
    tool's own configuration (config without `ingest`, so that two runs made the same way compare
    equal), and check the document with normalize_run (its errors are re-raised naming the file).

    The files themselves (names and SHA-256) are not part of the run: the same inspect eval read
    from its .eval or its .json is the same run. They are `source_provenance`, which the writer
    keeps beside the run in its event."""
    config = doc.get("config") or {}
    if config:
        doc["config_fingerprint"] = config_fingerprint(config)
    ingest: dict[str, Any] = {"format": fmt, **(provenance or {})}
    if notes.items:
        ingest["notes"] = list(notes.items)
    doc["config"] = {**config, "ingest": ingest}
    if tags:
        doc["tags"] = {**doc.get("tags", {}), **check_tags(tags, "tags")}
    try:
        normalize_run(doc)
    except InvalidInput as error:
        raise fail(main, f"(as a run document, {error.field})", error.reason) from None
    return doc


_FIRST_KEY = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*(\[\s*)?\{\s*"([^"]{1,40})"')
_KINDS_BY_FIRST_KEY = {b"results": "lm-eval", b"version": "inspect", b"doc_id": "lm-eval samples"}
_READ_BY = {"lm-eval": "an lm-eval results file: auditlog ingest lm-eval",
            "lm-eval samples": "an lm-eval samples file: auditlog ingest lm-eval RESULTS --samples FILE",
            "inspect": "an inspect_ai log: auditlog ingest inspect",
            "junit": "XML, a JUnit report?: auditlog ingest junit"}


def looks_like(source: SourceFile) -> str | None:
    """What kind of file `source` plainly is, from its first bytes (None when it is not plain): a zip is
    an inspect .eval archive, `<` XML, and a JSON object is told by its first key as the harnesses write
    it (`results` lm-eval, `version` inspect, `doc_id` an lm-eval sample)."""
    data = source.data
    if data[:4] == b"PK\x03\x04":
        return "inspect"
    if data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "junit"
    found = _FIRST_KEY.match(data[:4096])
    return _KINDS_BY_FIRST_KEY.get(found.group(2)) if found else None


def read_by(source: SourceFile, kind: str = "") -> str:
    """' (it looks like <kind>: <the command that reads it>)' when `source` is plainly not a `kind` file,
    else ''. A file given to another harness's parser failed somewhere inside it (an inspect log as
    lm-eval: "$.results['total_samples']: must be an object of metrics"), naming no command that reads it."""
    guess = looks_like(source)
    return "" if guess is None or guess == kind else f" (it looks like {_READ_BY[guess]})"
