"""The narrow interface every event store implements, and nothing more.

A store keeps rows: the exact bytes of each event, the hash it was stored with and
the few columns it indexes. It knows SQL (or memory), never runs or verdicts.
Writing happens inside a `transaction()`: the store serialises writers, the
transaction sees its own appends, and it commits all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

# (seq, hash, ts, type, project, subject, body): the same shape as auditlog.core.chain.Row
Row = tuple[int, str, str, str, str, str, bytes]

EMPTY_HASH = "0" * 64


@dataclass(frozen=True)
class Head:
    """Where the log ends: its size (next seq) and the hash of its last event."""

    size: int
    hash: str = EMPTY_HASH


class Reader(Protocol):
    def head(self) -> Head: ...

    def get(self, seq: int) -> Row | None: ...

    def find(self, subject: str, types: Sequence[str] = ()) -> list[Row]:
        """Events about `subject` (optionally of these types), in seq order."""
        ...

    def meta(self) -> dict[str, str]:
        """Facts recorded beside the events at creation: log_id, origin, genesis_hash."""
        ...


class WriteTransaction(Reader, Protocol):
    def append(self, rows: Sequence[Row]) -> Head:
        """Append rows that continue the head exactly (first seq == head().size).

        Raises StorageError if they do not; the store never renumbers.
        """
        ...

    def set_meta(self, values: dict[str, str]) -> None: ...


class EventStore(Reader, Protocol):
    location: str

    def rows(self, after: int = -1, until: int | None = None) -> Iterator[Row]:
        """Stream rows with after < seq (< until), in seq order, in bounded memory."""
        ...

    def transaction(self, timeout: float) -> AbstractContextManager[WriteTransaction]:
        """Exclusive write access; raises LockTimeout after `timeout` seconds of waiting."""
        ...

    def close(self) -> None: ...
