"""The projections directory on disk: generations of files, named by state.json, written crash-safely.

    <dir>/state.json                      the current generation: position, files, counts
    <dir>/manifest.json                   one flat record per run (git-friendly)
    <dir>/runs-<sha256>.parquet           one row per run
    <dir>/verdicts-<sha256>.parquet       one row per verdict
    <dir>/baselines-<sha256>.parquet      one row per baseline pin
    <dir>/items/part-<first>-<last>-<sha256>.parquet   item rows of events first..last

Parquet files are named by the SHA-256 of their bytes: a file is never overwritten
with other content, so the previous generation stays readable while the next one is
written, and two rebuilds of the same log name the same files. Readers hash every file
before they use it and refuse one whose bytes are not those its name says (a file
rewritten in place). state.json also records the position's Merkle root and the tree's
peaks, computed by the fold from the bodies it hashed, so that a catch-up can check the
log still has, at that size, the tree the projections were built from. Every file is written
to a temporary name, flushed and renamed; state.json is replaced last, so a reader
that reads only what state.json names sees one consistent generation, whenever the
writer was killed. The previous generation's files are deleted only after that.
Writers take a lock file; readers take none.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog.core.encoding import canonical_bytes
from auditlog.errors import InvalidInput, LockTimeout, StorageError, VerificationError
from projections.schema import ROW_GROUP_ROWS, SCHEMA_VERSION, WRITE_OPTIONS, arrow_schema

STATE = "state.json"
MANIFEST = "manifest.json"
ITEMS = "items"
LOCK = ".lock"
STATE_FORMAT = 2  # 1: no root or peaks; such a state is rebuilt on the next catch-up
ZERO_HASH = "0" * 64
_TMP = ".tmp"
_RUNS = re.compile(r"runs-[0-9a-f]{64}\.parquet")
_VERDICTS = re.compile(r"verdicts-[0-9a-f]{64}\.parquet")
_BASELINES = re.compile(r"baselines-[0-9a-f]{64}\.parquet")
_PART = re.compile(rf"{ITEMS}/part-\d{{12}}-\d{{12}}-[0-9a-f]{{64}}\.parquet")
_DIGEST = re.compile(r"-([0-9a-f]{64})\.parquet\Z")
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")
_LOG_ID = re.compile(r"[0-9a-f]{32}\Z")


def default_directory(log_location: str | os.PathLike[str], log_id: str | None = None) -> str:
    """Where a log's projections live unless told otherwise: `<log>.projections`, beside a log file;
    for a log at a URL (a database server), `$XDG_CACHE_HOME/auditlog/projections/<log id>`
    (default ~/.cache/...), since there is no file to put them beside."""
    location = os.fspath(log_location)
    if "://" not in location:
        return f"{location}.projections"
    if log_id is None or not _LOG_ID.match(log_id):
        # The id comes from the database: a hostile value ("../../x") must not steer files anywhere.
        raise InvalidInput("log_id", f"{log_id!r} is not a log id (32 hex digits): check the log with "
                           "`auditlog verify`, or name the directory with --projections")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "auditlog", "projections", log_id)


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


def write_bytes(path: Path, data: bytes | list[Any], *, durable: bool = True) -> None:
    """Write, flush to disk, rename over `path`: a reader sees the old file or the new one, never half.

    `data` is bytes or a list of chunks (bytes, memoryviews) written in order.
    `durable=False` skips the fsyncs, for derived files that are checked before reuse
    (the manifest: after a power cut it may be empty, and is then rewritten whole)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_TMP}")
    with _storage_errors(path):
        with open(tmp, "wb") as out:
            for chunk in [data] if isinstance(data, bytes) else data:
                out.write(chunk)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)


def write_table(directory: Path, prefix: str, table: Any) -> str:
    """Write a pyarrow Table as `<prefix>-<sha256:16>.parquet`; returns that name, relative to `directory`."""
    import pyarrow.parquet as pq

    tmp = directory / f".{prefix}.{uuid.uuid4().hex}{_TMP}"
    with _storage_errors(tmp):
        pq.write_table(table.combine_chunks(), tmp, row_group_size=ROW_GROUP_ROWS, **WRITE_OPTIONS)
        return _settle(tmp, directory, prefix)


class PartWriter:
    """Item rows as they are folded, in exact row groups of ROW_GROUP_ROWS, into one new part file.

    Items are kept as the decoded dicts until about a row group's worth is pending, then
    converted to Arrow in one call (pyarrow reads the dicts in C). Row groups depend
    only on the sequence of items, not on how events were batched, so a compacted
    items file is byte-identical to the one a rebuild writes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows = 0
        self._writer = None
        self._tmp = directory / ITEMS / f".part.{uuid.uuid4().hex}{_TMP}"
        self._pending: list[tuple[str, int, list[dict[str, Any]], bool]] = []
        self._pending_rows = 0
        self._tables: list[Any] = []

    def add(self, run_id: str, seq: int, items: list[dict[str, Any]], has_extra: bool) -> None:
        """A run's items (`has_extra`: some item may carry `extra`; False means none does)."""
        self._pending.append((run_id, seq, items, has_extra))
        self._pending_rows += len(items)
        self.rows += len(items)
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._convert()

    def _convert(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        schema = arrow_schema("items")
        struct = pa.struct([schema.field(name) for name in schema.names[2:-1]])
        flat = [item for _, _, items, _ in self._pending for item in items]
        run_ids: list[str] = []
        seqs: list[int] = []
        for run_id, seq, items, _ in self._pending:
            run_ids += [run_id] * len(items)
            seqs += [seq] * len(items)
        if any(has_extra for *_, has_extra in self._pending):
            extra = pa.array([_extra(i) if has_extra else None for _, _, items, has_extra in self._pending
                              for i in items], pa.string())
        else:
            extra = pa.nulls(len(flat), pa.string())
        columns = [pa.array(run_ids, pa.string()), pa.array(seqs, pa.int64()),
                   *pa.array(flat, type=struct).flatten(), extra]
        self._pending, self._pending_rows = [], 0
        self._push(pa.Table.from_arrays(columns, schema=schema))

    def add_table(self, table: Any) -> None:
        """Append rows already in the items schema (compaction)."""
        self.rows += table.num_rows
        self._push(table)

    def _push(self, table: Any) -> None:
        """Queue Arrow rows; write every complete row group (exact ROW_GROUP_ROWS slices)."""
        import pyarrow as pa

        self._tables.append(table)
        pending = sum(t.num_rows for t in self._tables)
        if pending >= ROW_GROUP_ROWS:
            combined = pa.concat_tables(self._tables)
            cut = pending - pending % ROW_GROUP_ROWS
            for start in range(0, cut, ROW_GROUP_ROWS):
                self._write(combined.slice(start, ROW_GROUP_ROWS).combine_chunks())
            self._tables = [combined.slice(cut)]

    def _write(self, table: Any) -> None:
        import pyarrow.parquet as pq

        with _storage_errors(self._tmp):
            if self._writer is None:
                self._tmp.parent.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self._tmp, arrow_schema("items"), **WRITE_OPTIONS)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def finish(self, first_seq: int, last_seq: int) -> Part | None:
        """Close the file and give it its final name; None when no item was added."""
        if self.rows == 0:
            return None
        import pyarrow as pa

        self._convert()
        if sum(t.num_rows for t in self._tables):
            self._write(pa.concat_tables(self._tables).combine_chunks())
        with _storage_errors(self._tmp):
            self._writer.close()
            self._writer = None
            name = _settle(self._tmp, self.directory / ITEMS, f"part-{first_seq:012d}-{last_seq:012d}")
        return Part(f"{ITEMS}/{name}", first_seq, last_seq, self.rows)

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def _extra(item: dict[str, Any]) -> str | None:
    value = item.get("extra")
    return None if value is None else canonical_bytes(value).decode("utf-8")


def read_table(path: Path, table: str) -> Any:
    """A whole Parquet file of `table` as a pyarrow Table in exactly the public schema.

    The cast matters for byte-identical output: Parquet gives nested types back with its
    own child names (a map's entries are named after the column), which would otherwise
    end up in the Arrow schema stored in the next file written from these rows.
    """
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(verified_bytes(path)) as pf:
            data = pf.read()
    except FileNotFoundError:
        raise StorageError(f"{path} is missing (deleted by hand, or a compaction or rebuild ran meanwhile): "
                           "run the command again, or rebuild with `auditlog projections rebuild`") from None
    except (OSError, ValueError) as exc:  # pyarrow's errors for a file that is not Parquet derive from these
        raise StorageError(f"{path} is not readable Parquet ({exc}): rebuild with `auditlog projections rebuild`") from None
    try:
        return data.cast(arrow_schema(table))
    except (ValueError, TypeError, NotImplementedError):
        raise InvalidInput(str(path), f"does not have the {table} schema of this auditlog (schema version "
                           f"{SCHEMA_VERSION}): rebuild with `auditlog projections rebuild`") from None


def verified_bytes(path: Path) -> Any:
    """The file's bytes (a pyarrow buffer) once they hash to the digest in its name; VerificationError
    (exit 1) if not: a file rewritten in place is never served. FileNotFoundError passes through."""
    import pyarrow as pa

    named = _DIGEST.search(path.name)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    # Read by Arrow into memory it owns (a Python bytes object under Arrow tables can outlive the
    # interpreter's teardown and abort the process at exit), hashed in place.
    with pa.OSFile(str(path)) as f:
        data = f.read_buffer()
    if named is None or hashlib.sha256(memoryview(data)).hexdigest() != named[1]:
        raise VerificationError(f"{path} does not hash to the digest in its name: it was changed after it was "
                           "written; rebuild with `auditlog projections rebuild` (and check the log with "
                           "`auditlog verify`)")
    return data


def _settle(tmp: Path, directory: Path, prefix: str) -> str:
    """Flush `tmp` to disk and rename it to its content-addressed name."""
    digest = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        os.fsync(f.fileno())
    name = f"{prefix}-{digest.hexdigest()}.parquet"
    target = directory / name
    if target.exists() and _sha256_of(target) == digest.hexdigest():  # a previous generation holds these bytes
        tmp.unlink()
    else:
        os.replace(tmp, target)
        _fsync_dir(directory)
    return name


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def remove_files(directory: Path, names: set[str]) -> None:
    """Delete files of a previous generation (never one the current state names)."""
    for name in sorted(names):
        (directory / name).unlink(missing_ok=True)


def sweep(directory: Path, keep: set[str]) -> None:
    """Under the lock: delete leftovers of killed writers and files no generation names."""
    ours = [*directory.glob("runs-*.parquet"), *directory.glob("verdicts-*.parquet"),
            *directory.glob("baselines-*.parquet"), *directory.glob(f".*{_TMP}"),
            *(directory / ITEMS).glob("part-*.parquet"), *(directory / ITEMS).glob(f".*{_TMP}")]
    for path in ours:
        if path.relative_to(directory).as_posix() not in keep:
            path.unlink(missing_ok=True)


@contextmanager
def locked(directory: Path, timeout: float = 60.0) -> Iterator[None]:
    """One writer at a time per projections directory (readers never wait)."""
    with _storage_errors(directory):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ITEMS).mkdir(exist_ok=True)
        handle = open(directory / LOCK, "a+b")
    try:
        _acquire(handle, timeout, directory)
        yield
    finally:
        handle.close()  # closing releases the lock


def _acquire(handle: Any, timeout: float, directory: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: writers are not serialised (documented)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StorageError(f"cannot lock {directory}: {exc.strerror}") from None
            if time.monotonic() > deadline:
                raise LockTimeout(f"another process kept {directory} locked for {timeout:g}s") from None
            time.sleep(0.02)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
