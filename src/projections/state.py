"""state.json: which generation of files is current, and the log position it was folded to.

    <dir>/state.json                      the current generation: position, files, counts
    <dir>/manifest.json                   one flat record per run (git-friendly)
    <dir>/runs-<sha256>.parquet           one row per run
    <dir>/verdicts-<sha256>.parquet       one row per verdict
    <dir>/baselines-<sha256>.parquet      one row per baseline pin
    <dir>/items/part-<first>-<last>-<sha256>.parquet   item rows of events first..last

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
from projections.disk import ITEMS, write_bytes
from projections.schema import SCHEMA_VERSION

STATE = "state.json"
MANIFEST = "manifest.json"
STATE_FORMAT = 2  # 1: no root or peaks; such a state is rebuilt on the next catch-up
_RUNS = re.compile(r"runs-[0-9a-f]{64}\.parquet")
_VERDICTS = re.compile(r"verdicts-[0-9a-f]{64}\.parquet")
_BASELINES = re.compile(r"baselines-[0-9a-f]{64}\.parquet")
_PART = re.compile(rf"{ITEMS}/part-\d{{12}}-\d{{12}}-[0-9a-f]{{64}}\.parquet")
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Part:
    """One items file: the item rows of the run.recorded events with first_seq <= seq <= last_seq."""

    path: str
    first_seq: int
    last_seq: int
    rows: int


@dataclass(frozen=True)
class State:
    """What state.json says: the log position applied and the exact files of this generation."""

    log_id: str
    seq: int  # the last event applied; -1 before any
    hash: str  # its event hash
    root: str  # hex RFC 9162 root of events 0..seq, as the fold computed it from their bytes
    peaks: tuple[str, ...]  # hex hashes of the tree's peaks at that size: the fold resumes from them
    runs: str
    verdicts: str
    baselines: str
    items: tuple[Part, ...]
    counts: dict[str, int] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def files(self) -> set[str]:
        return {self.runs, self.verdicts, self.baselines, *(p.path for p in self.items)}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT, "schema_version": self.schema_version, "log_id": self.log_id,
            "position": {"seq": self.seq, "hash": self.hash, "root": self.root, "peaks": list(self.peaks)},
            "files": {"runs": self.runs, "verdicts": self.verdicts, "baselines": self.baselines,
                      "manifest": MANIFEST,
                      "items": [{"path": p.path, "first_seq": p.first_seq, "last_seq": p.last_seq, "rows": p.rows}
                                for p in self.items]},
            "counts": dict(sorted(self.counts.items())),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> State:
        """Parse state.json; every file it names must have one of our names (it is read, and
        later deleted: a doctored state must not make us touch anything else)."""
        files, position = obj["files"], obj["position"]
        if obj.get("format") == 1:  # no tree recorded: catch_up rebuilds (schema_version 0 is older than any)
            position, obj = {**position, "root": "", "peaks": []}, {**obj, "schema_version": 0}
        peaks = tuple(position["peaks"])
        if not all(isinstance(p, str) and _HEX32.match(p) for p in peaks):
            raise ValueError("its tree peaks are not hex hashes")
        state = cls(log_id=obj["log_id"], seq=position["seq"], hash=position["hash"], root=position["root"], peaks=peaks,
                    runs=files["runs"], verdicts=files["verdicts"], baselines=files["baselines"],
                    items=tuple(Part(p["path"], p["first_seq"], p["last_seq"], p["rows"]) for p in files["items"]),
                    counts=dict(obj.get("counts", {})), schema_version=obj["schema_version"])
        named = ((state.runs, _RUNS), (state.verdicts, _VERDICTS), (state.baselines, _BASELINES),
                 *((p.path, _PART) for p in state.items))
        for name, pattern in named:
            if not isinstance(name, str) or not pattern.fullmatch(name):
                raise ValueError(f"it names {name!r}, which is not a projections file name")
        return state


def read_state(directory: Path) -> State | None:
    """The current generation, or None when nothing was built here yet."""
    try:
        text = (directory / STATE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {directory / STATE}: {exc.strerror or exc}") from None
    try:
        obj = json.loads(text)
        if obj.get("format") not in (1, STATE_FORMAT):
            raise InvalidInput(str(directory / STATE), f"unknown state format {obj.get('format')!r}: "
                               "rebuild with `auditlog projections rebuild`")
        return State.from_json(obj)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(str(directory / STATE), f"is not a projections state file ({exc}): "
                           "rebuild with `auditlog projections rebuild`") from None


def write_state(directory: Path, state: State) -> None:
    """Replace state.json: the switch to the new generation (the last file written)."""
    write_bytes(directory / STATE, (json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n").encode())
