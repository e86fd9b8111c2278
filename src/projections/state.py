"""state.json: which generation of files is current, and the log position it was folded to.

    <dir>/state.json                                        the current generation: position, files, counts
    <dir>/runs/part-<first>-<last>-<sha256>.parquet         the runs recorded by events first..last
    <dir>/runs/manifest-<first>-<last>-<sha256>.jsonl       their manifest records, one line per run
    <dir>/verdicts/part-<first>-<last>-<sha256>.parquet     the verdicts recorded by events first..last
    <dir>/items/part-<first>-<last>-<sha256>.parquet        the items of the runs recorded by events first..last
    <dir>/baselines-<sha256>.parquet                        every baseline pin
    <dir>/configs-<sha256>.parquet                          every project configuration (none: no file)

Each table is a list of parts in seq order (see layers.py for how they grow and merge).
state.json records the position's Merkle root and the tree's peaks, computed by the fold
from the bodies it hashed, so that a catch-up can check the log still has, at that size,
the tree the projections were built from. It is replaced last, so a reader that reads only
what it names sees one consistent generation, whenever the writer was killed; the previous
generation's files are deleted only after that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog.core.events import ZERO_HASH  # noqa: F401 - re-exported: the position before any event
from auditlog.errors import InvalidInput, StorageError
from projections.disk import write_bytes
from projections.schema import SCHEMA_VERSION

STATE = "state.json"
STATE_FORMAT = 3  # 1: no root or peaks; 2: one runs and one verdicts file; such states are rebuilt
_BASELINES = re.compile(r"baselines-[0-9a-f]{64}\.parquet")
_CONFIGS = re.compile(r"configs-[0-9a-f]{64}\.parquet")
_PARTS = {
    "runs": re.compile(r"runs/part-\d{12}-\d{12}-[0-9a-f]{64}\.parquet"),
    "manifest": re.compile(r"runs/manifest-\d{12}-\d{12}-[0-9a-f]{64}\.jsonl"),
    "verdicts": re.compile(r"verdicts/part-\d{12}-\d{12}-[0-9a-f]{64}\.parquet"),
    "items": re.compile(r"items/part-\d{12}-\d{12}-[0-9a-f]{64}\.parquet"),
}
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Part:
    """One file of a table: its rows from the events first_seq..last_seq (for runs, with the
    manifest part holding the same runs' records)."""

    path: str
    first_seq: int
    last_seq: int
    rows: int
    manifest: str | None = None

    def files(self) -> set[str]:
        return {self.path} if self.manifest is None else {self.path, self.manifest}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "first_seq": self.first_seq, "last_seq": self.last_seq,
                               "rows": self.rows}
        if self.manifest is not None:
            out["manifest"] = self.manifest
        return out


@dataclass(frozen=True)
class State:
    """What state.json says: the log position applied and the exact files of this generation."""

    log_id: str
    seq: int  # the last event applied; -1 before any
    hash: str  # its event hash
    root: str  # hex RFC 9162 root of events 0..seq, as the fold computed it from their bytes
    peaks: tuple[str, ...]  # hex hashes of the tree's peaks at that size: the fold resumes from them
    runs: tuple[Part, ...]  # at least one (the first may hold no row)
    verdicts: tuple[Part, ...]  # at least one
    baselines: str
    items: tuple[Part, ...]
    counts: dict[str, int] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    configs: str = ""  # "": no project was configured yet

    def files(self) -> set[str]:
        names = {self.baselines, self.configs, *(f for p in (*self.runs, *self.verdicts, *self.items) for f in p.files())}
        return names - {""}  # an older layout's state names nothing (its files are swept)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT, "schema_version": self.schema_version, "log_id": self.log_id,
            "position": {"seq": self.seq, "hash": self.hash, "root": self.root, "peaks": list(self.peaks)},
            "files": {"runs": self.runs[0].path, "verdicts": self.verdicts[0].path, "baselines": self.baselines,
                      **({"configs": self.configs} if self.configs else {}),
                      "parts": {"runs": [p.to_json() for p in self.runs],
                                "verdicts": [p.to_json() for p in self.verdicts]},
                      "items": [p.to_json() for p in self.items]},
            "counts": dict(sorted(self.counts.items())),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> State:
        """Parse state.json; every field must have its type, and every file it names one of our
        names (it is read, and later deleted: a doctored state must not make us touch anything
        else). Each table's parts must follow one another and hold the rows counted: a part
        listed twice would be read twice."""
        files, position = _object(obj["files"], "files"), _object(obj["position"], "position")
        if obj.get("format") in (1, 2):  # an older layout: catch_up rebuilds (schema_version 0 is older than any)
            return cls(log_id=obj.get("log_id", ""), seq=-1, hash=ZERO_HASH, root="", peaks=(), runs=(), verdicts=(),
                       baselines="", items=(), schema_version=0)
        peaks = position["peaks"]
        if not isinstance(peaks, list) or not all(isinstance(p, str) and _HEX32.match(p) for p in peaks):
            raise ValueError("its tree peaks are not hex hashes")
        seq = _number(position["seq"], "position.seq", least=-1)
        parts = _object(files["parts"], "files.parts")
        counts = _object(obj.get("counts", {}), "counts")
        state = cls(log_id=_text(obj["log_id"], "log_id"), seq=seq, hash=_text(position["hash"], "position.hash", _HEX32),
                    root=_text(position["root"], "position.root", _HEX32), peaks=tuple(peaks),
                    runs=_parts(parts["runs"], "runs", seq), verdicts=_parts(parts["verdicts"], "verdicts", seq),
                    baselines=files["baselines"], items=_parts(files["items"], "items", seq),
                    counts={k: _number(v, f"counts.{k}") for k, v in counts.items()},
                    schema_version=_number(obj["schema_version"], "schema_version"), configs=files.get("configs", ""))
        if not state.runs or not state.verdicts or files["runs"] != state.runs[0].path \
                or files["verdicts"] != state.verdicts[0].path:
            raise ValueError("its runs or verdicts parts are missing")
        named: list[tuple[Any, re.Pattern[str]]] = [(state.baselines, _BASELINES)]
        if "configs" in files:
            named.append((state.configs, _CONFIGS))
        for kind, table in (("runs", state.runs), ("verdicts", state.verdicts), ("items", state.items)):
            named += [(p.path, _PARTS[kind]) for p in table]
            if kind == "runs":
                named += [(p.manifest, _PARTS["manifest"]) for p in table]
            elif any(p.manifest is not None for p in table):
                raise ValueError(f"its {kind} parts name a manifest")
            if state.counts.get(kind) != (rows := sum(p.rows for p in table)):
                raise ValueError(f"it counts {state.counts.get(kind)} {kind}, its parts hold {rows}")
        for name, pattern in named:
            if not isinstance(name, str) or not pattern.fullmatch(name):
                raise ValueError(f"it names {name!r}, which is not a projections file name")
        return state


def _parts(entries: Any, kind: str, seq: int) -> tuple[Part, ...]:
    """A table's parts, each for events after the previous one's, none after `seq`."""
    if not isinstance(entries, list):
        raise ValueError(f"its {kind} parts are not a list")
    parts: list[Part] = []
    for entry in entries:
        entry = _object(entry, f"{kind} part")
        part = Part(entry["path"], _number(entry["first_seq"], f"{kind} part first_seq"),
                    _number(entry["last_seq"], f"{kind} part last_seq", least=-1),
                    _number(entry["rows"], f"{kind} part rows"), entry.get("manifest"))
        after = parts[-1].last_seq if parts else -1
        if part.first_seq <= after or not part.first_seq - 1 <= part.last_seq <= seq:
            raise ValueError(f"its {kind} part for events {part.first_seq}..{part.last_seq} overlaps another, "
                             f"is out of order or is past seq {seq}")
        parts.append(part)
    return tuple(parts)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"its {what} is not an object")
    return value


def _number(value: Any, what: str, least: int = 0) -> int:
    """An int of at least `least`; not a bool (json's true is an int to Python), nor a float."""
    if type(value) is not int or value < least:
        raise ValueError(f"its {what} is {value!r:.40}, not an integer >= {least}")
    return value


def _text(value: Any, what: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise ValueError(f"its {what} is {value!r:.40}, not " + ("a hex hash" if pattern else "a string"))
    return value


def read_state(directory: Path) -> State | None:
    """The current generation, or None when nothing was built here yet."""
    try:
        text = (directory / STATE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {directory / STATE}: {exc.strerror or exc}") from None
    try:
        return parse_state(text)
    except UnknownFormat as exc:
        raise InvalidInput(str(directory / STATE), f"unknown state format {exc}: "
                           "rebuild with `auditlog projections rebuild`") from None
    except ValueError as exc:
        raise InvalidInput(str(directory / STATE), f"is not a projections state file ({exc}): "
                           "rebuild with `auditlog projections rebuild`") from None


class UnknownFormat(ValueError):
    """A state.json of a format this code does not read (its format, as written)."""


def parse_state(text: str | bytes) -> State:
    """A state from the text of a state.json; ValueError, saying why, for anything else (UnknownFormat for
    a format this code does not read)."""
    try:
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ValueError("it is not a JSON object")
        if type(obj.get("format")) is not int or obj["format"] not in (1, 2, STATE_FORMAT):
            raise UnknownFormat(repr(obj.get("format")))
        return State.from_json(obj)
    except (KeyError, TypeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def write_state(directory: Path, state: State) -> None:
    """Replace state.json: the switch to the new generation (the last file written)."""
    write_bytes(directory / STATE, (json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n").encode())
