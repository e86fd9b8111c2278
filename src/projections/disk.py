"""The projections directory on disk: crash-safe, content-addressed writes, verified reads, one writer.

Parquet files are named by the SHA-256 of their bytes: a file is never overwritten with
other content, so the previous generation stays readable while the next one is written,
and two rebuilds of the same log name the same files. Readers hash every file before they
use it and refuse one whose bytes are not those its name says (a file rewritten in place).
Every file is written to a temporary name, flushed and renamed. Writers take a lock file;
readers take none.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditlog.errors import InvalidInput, StorageError, VerificationError
from auditlog.filelock import FileLock
from projections.schema import ROW_GROUP_ROWS, SCHEMA_VERSION, WRITE_OPTIONS, arrow_schema

ITEMS = "items"
RUNS = "runs"
VERDICTS = "verdicts"
PART_DIRS = (RUNS, VERDICTS, ITEMS)
LOCK = ".lock"
TMP = ".tmp"
_DIGEST = re.compile(r"-([0-9a-f]{64})\.(?:parquet|jsonl)\Z")
_LOG_ID = re.compile(r"[0-9a-f]{32}\Z")


def default_directory(log_location: str | os.PathLike[str], log_id: str | None = None) -> str:
    """Where a log's projections live unless told otherwise: `<log>.projections`, beside a log file;
    for a log at a URL (a database server), or a log file in a directory that cannot be written
    (read-only media), `$XDG_CACHE_HOME/auditlog/projections/<log id>` (default ~/.cache/...),
    since there is nowhere to put them beside it."""
    location = os.fspath(log_location)
    if "://" not in location and not _beside_is_read_only(location):
        return f"{location}.projections"
    if log_id is None or not _LOG_ID.match(log_id):
        # The id comes from the database: a hostile value ("../../x") must not steer files anywhere.
        raise InvalidInput("log_id", f"{log_id!r} is not a log id (32 hex digits): check the log with "
                           "`auditlog verify`, or name the directory with --projections")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "auditlog", "projections", log_id)


def _beside_is_read_only(location: str) -> bool:
    """The log file's directory exists and cannot be written (access(2) says EROFS on read-only
    media, even to root). Projections found there are not used: a catch-up could not write them."""
    parent = os.path.dirname(os.path.abspath(location))
    return os.path.isdir(parent) and not os.access(parent, os.W_OK | os.X_OK)


def write_bytes(path: Path, data: bytes | list[Any], *, durable: bool = True) -> None:
    """Write, flush to disk, rename over `path`: a reader sees the old file or the new one, never half.

    `data` is bytes or a list of chunks (bytes, memoryviews) written in order.
    `durable=False` skips the fsyncs, for derived files that are checked before reuse
    (the manifest: after a power cut it may be empty, and is then rewritten whole)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TMP}")
    with storage_errors(path):
        with open(tmp, "wb") as out:
            for chunk in [data] if isinstance(data, bytes) else data:
                out.write(chunk)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)


def write_table(directory: Path, prefix: str, table: Any, row_group_rows: int = ROW_GROUP_ROWS) -> str:
    """Write a pyarrow Table as `<prefix>-<sha256>.parquet` (`prefix` may name a subdirectory);
    returns that name, relative to `directory`. Encoded in memory, so the bytes are hashed
    as they are written rather than read back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table.combine_chunks(), sink, row_group_size=row_group_rows, **WRITE_OPTIONS)
    return write_named(directory, prefix, [memoryview(sink.getvalue())], ".parquet")


def write_named(directory: Path, prefix: str, data: list[Any], suffix: str) -> str:
    """Write chunks of bytes as `<prefix>-<sha256><suffix>` (durably, content-addressed); returns the name."""
    folder, _, stem = prefix.rpartition("/")
    tmp = directory / folder / f".{stem}.{uuid.uuid4().hex}{TMP}"
    digest = hashlib.sha256()
    with storage_errors(tmp):
        with open(tmp, "wb") as out:
            for chunk in data:
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        name = _place(tmp, directory / folder, f"{stem}-{digest.hexdigest()}{suffix}")
    return f"{folder}/{name}" if folder else name


def read_table(path: Path, table: str, data: Any = None) -> Any:
    """A whole Parquet file of `table` as a pyarrow Table in exactly the public schema.

    The cast matters for byte-identical output: Parquet gives nested types back with its
    own child names (a map's entries are named after the column), which would otherwise
    end up in the Arrow schema stored in the next file written from these rows.
    """
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(verified_bytes(path, data)) as pf:
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


def verified_bytes(path: Path, data: Any = None) -> Any:
    """The file's bytes (a pyarrow buffer; `data` when given: the bytes of a file mapped earlier) once
    they hash to the digest in its name; VerificationError (exit 1) if not: a file rewritten in place
    is never served. FileNotFoundError passes through."""
    import pyarrow as pa

    named = _DIGEST.search(path.name)
    if data is None:
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


def settle(tmp: Path, directory: Path, prefix: str, suffix: str = ".parquet") -> str:
    """Flush `tmp` (written by someone else: a Parquet writer) to disk and rename it to its content-addressed name."""
    digest = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        os.fsync(f.fileno())
    return _place(tmp, directory, f"{prefix}-{digest.hexdigest()}{suffix}")


def _place(tmp: Path, directory: Path, name: str) -> str:
    """Rename a flushed `tmp` to `name` in `directory`, unless a previous generation holds these bytes there."""
    target = directory / name
    if target.exists() and _sha256_of(target) == _DIGEST.search(name)[1]:  # type: ignore[index]
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
        try:
            (directory / name).unlink(missing_ok=True)
        except PermissionError:  # where a file a reader maps cannot be deleted (Windows): the next sweep does
            continue


def sweep(directory: Path, keep: set[str]) -> None:
    """Under the lock: delete leftovers of killed writers and files no generation names."""
    ours = [*directory.glob("runs-*.parquet"), *directory.glob("verdicts-*.parquet"),  # and of older layouts
            *directory.glob("manifest.json"), *directory.glob(".manifest.json.*"),
            *directory.glob("baselines-*.parquet"), *directory.glob("configs-*.parquet"), *directory.glob(f".*{TMP}"),
            *(p for d in PART_DIRS for p in (directory / d).glob("part-*.parquet")),
            *(directory / RUNS).glob("manifest-*.jsonl"), *(p for d in PART_DIRS for p in (directory / d).glob(f".*{TMP}"))]
    for path in ours:
        if path.relative_to(directory).as_posix() not in keep:
            path.unlink(missing_ok=True)


@contextmanager
def locked(directory: Path, timeout: float = 60.0) -> Iterator[None]:
    """One writer at a time per projections directory (readers never wait)."""
    with storage_errors(directory):
        directory.mkdir(parents=True, exist_ok=True)
        for folder in PART_DIRS:
            (directory / folder).mkdir(exist_ok=True)
    with FileLock(directory / LOCK, f"another process kept {directory} locked").held(timeout):
        yield


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
