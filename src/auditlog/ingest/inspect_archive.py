"""Read an inspect_ai `.eval` log: a zip archive of JSON members.

Members: `_journal/start.json` (written first), `samples/<id>_epoch_<n>.json`
(one EvalSample each), `_journal/summaries/<n>.json`, then at the end
`summaries.json`, `reductions.json` and `header.json` (the log without its
samples). A log that never finished has no `header.json` and is refused. A member
name can repeat when inspect rewrote it: the last one in the central directory
wins, as in zipfile's own name lookup. The earliest layout (inspect 0.3.2x,
`start.json` + `results.json` at the root) is read too.

Compression: stored and DEFLATE (inspect up to 0.3.206) through zipfile; zstd (zip
method 93, the default from inspect 0.3.207) through zipfile where the Python has it
(3.14+), else through the `zstandard` package on the member's raw bytes, else a clear
error asking for `pip install zstandard`.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from auditlog.ingest.common import Progress, SourceFile, fail, load_json

ZIP_ZSTANDARD = 93
SAMPLE_MEMBER = re.compile(r"samples/[^/]+\.json\Z")
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")


@dataclass(frozen=True)
class Archive:
    """The header (an EvalLog without samples), the samples, and whether they came from
    summaries.json because the archive holds no sample members."""

    header: dict[str, Any]
    samples: list[dict[str, Any]]
    from_summaries: bool


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def read_archive(source: SourceFile, progress: Progress = None) -> Archive:
    """The header and samples of a .eval archive; `progress` hears the compressed bytes of the samples read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(source.data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise fail(source, "", f"is not a readable .eval (zip) archive: {error}") from None
    with archive:
        members = archive.NameToInfo          # name -> the LAST entry of that name
        if "header.json" in members:
            header = _json(source, archive, members["header.json"])
        elif "start.json" in members and "results.json" in members:
            start, results = (_json(source, archive, members[n]) for n in ("start.json", "results.json"))
            header = {**start, **results} if isinstance(start, dict) and isinstance(results, dict) else None
        else:
            raise fail(source, "header.json", "is missing: the eval never finished (inspect writes header.json "
                                              "last), so there are no results to record")
        if not isinstance(header, dict):  # also an early layout whose parts are not objects
            raise fail(source, "header.json", "must be a JSON object (the eval log header)")
        names = sorted(n for n in members if SAMPLE_MEMBER.match(n))
        samples, done, total = [], 0, sum(members[n].compress_size for n in names)
        for name in names:
            samples.append(_json(source, archive, members[name]))
            done += members[name].compress_size
            if progress is not None:
                progress(done, total)
        from_summaries = False
        if not samples and "summaries.json" in members:
            samples, from_summaries = _json(source, archive, members["summaries.json"]), True
            if not isinstance(samples, list):
                raise fail(source, "summaries.json", "must be a JSON list of sample summaries")
        for name, sample in zip(names or ["summaries.json"] * len(samples), samples):
            if not isinstance(sample, dict):
                raise fail(source, name, "must hold JSON objects (samples)")
    return Archive(header, samples, from_summaries)


def _json(source: SourceFile, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    member = SourceFile(f"{source.name}!{info.filename}", _read(source, archive, info))
    return load_json(member)


def _read(source: SourceFile, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(info)
    except NotImplementedError:
        if info.compress_type != ZIP_ZSTANDARD:
            raise fail(source, info.filename, f"uses zip compression method {info.compress_type}; supported: stored, "
                                              "DEFLATE and zstd") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as error:
        raise fail(source, info.filename, f"cannot be read from the archive: {error}") from None
    return _read_zstd(source, info)


def _read_zstd(source: SourceFile, info: zipfile.ZipInfo) -> bytes:
    """Decode a method-93 member from its raw bytes with the `zstandard` package."""
    try:
        import zstandard  # optional: only zstd-compressed .eval logs need it
    except ImportError:
        raise fail(source, info.filename, "is compressed with zstd (zip method 93, inspect_ai >= 0.3.207), which this "
                                          "Python's zipfile cannot read: pip install zstandard") from None
    start = info.header_offset
    header = source.data[start:start + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise fail(source, info.filename, "has no valid local file header")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[2] & 0x1:
        raise fail(source, info.filename, "is encrypted")
    begin = start + _LOCAL_HEADER.size + fields[9] + fields[10]
    raw = source.data[begin:begin + info.compress_size]
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as reader:
            data = reader.read(info.file_size + 1)
    except zstandard.ZstdError as error:
        raise fail(source, info.filename, f"is not valid zstd data: {error}") from None
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise fail(source, info.filename, "does not match its size or CRC-32 after zstd decoding")
    return data
