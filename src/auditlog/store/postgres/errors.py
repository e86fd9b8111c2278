"""psycopg's errors become ours here, as one line each: StorageError, or LockTimeout.

Kept apart from the store so that what a user reads when the server, the network or a
privilege fails is in one place: each message says what happened, and whether anything
of the transaction was written (never, unless the connection died during COMMIT, which
the store reports itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg

from auditlog.errors import LockTimeout, StorageError


def one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _lost(exc: psycopg.Error) -> bool:
    state = exc.sqlstate or ""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03") or (
        not state and isinstance(exc, psycopg.OperationalError))


def translate(exc: psycopg.Error, doing: str) -> StorageError:
    """One error of ours, one line, for one of psycopg's."""
    text = one_line(exc)
    if isinstance(exc, pg.LockNotAvailable):
        return LockTimeout(f"{doing}: waited longer than the lock timeout for another writer (or another session "
                           f"holding a lock on the log's tables): {text}")
    if isinstance(exc, pg.QueryCanceled):
        return StorageError(f"{doing}: the server cancelled a statement ({text}; see statement_timeout): "
                            "nothing of this transaction was written")
    if isinstance(exc, pg.InsufficientPrivilege):
        return StorageError(f"{doing}: {text} (this role may not do that: see `auditlog db setup-roles`)")
    if isinstance(exc, pg.CheckViolation):
        why = {"events_in_domain": "an event's seq must not be negative",
               "meta_known_keys": "meta takes only the keys log_id, origin, genesis_hash and created",
               "merkle_in_tree": "a Merkle subtree must be of a stored level (4 to 62) with an index >= 0",
               "checkpoints_in_tree": "a checkpoint's size must be at least 1"}.get(exc.diag.constraint_name or "", text)
        return StorageError(f"{doing}: {why}; nothing of this transaction was written")
    if isinstance(exc, pg.RaiseException) and (primary := exc.diag.message_primary or "").startswith("auditlog: "):
        # Our schema's triggers refuse what would leave the chain's domain; their message is one line.
        return StorageError(f"{doing}: {one_line(primary[len('auditlog: '):])}; nothing of this "
                            "transaction was written")
    if isinstance(exc, pg.UniqueViolation):
        table = exc.diag.table_name or ""
        why = {"events": "another writer stored an event at this seq without taking auditlog's lock",
               "meta": "meta is append-only: a key is already set",
               "merkle": "a Merkle subtree hash is already stored"}.get(table, text)
        return StorageError(f"{doing}: {why}; nothing of this transaction was written")
    if _lost(exc):
        return StorageError(f"{doing}: the connection to the server was lost ({text}): nothing of this "
                            "transaction was written")
    return StorageError(f"{doing}: {text}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """The one place where psycopg's errors become ours."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, doing) from None
