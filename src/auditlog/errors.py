"""Typed errors: one root class, a few precise subclasses, each with its CLI exit code.

The CLI catches `AuditLogError`, prints `str(error)` as one line and exits with
`error.exit_code`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_INTEGRITY = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_STORAGE = 4
EXIT_CONFLICT = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a process stopped by Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class AuditLogError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code = EXIT_INTEGRITY


class InvalidInput(AuditLogError):
    """A document, argument or file is not acceptable; nothing was written."""

    exit_code = EXIT_INVALID

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class VerificationError(AuditLogError):
    """Something that should prove itself did not: a chain, a proof, a signature."""

    exit_code = EXIT_INTEGRITY


class IntegrityError(VerificationError):
    """The log is not what it claims to be; `seq` is the first position found wrong."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        super().__init__(f"seq {seq}: {reason}")


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not lead to the expected root."""

    def __init__(self, reason: str, *, expected: bytes | None = None, calculated: bytes | None = None) -> None:
        self.reason = reason
        self.expected = expected
        self.calculated = calculated
        detail = reason
        if expected is not None and calculated is not None:
            detail += f" (expected root {expected.hex()}, calculated {calculated.hex()})"
        super().__init__(detail)


class SignatureError(VerificationError):
    """A signed note or checkpoint does not carry a valid signature by a trusted key."""


class KeyFileError(AuditLogError):
    """A signing or verifier key cannot be used: malformed, unsafe permissions, wrong passphrase."""

    exit_code = EXIT_INVALID


class NotFound(AuditLogError):
    """A log, run, event or file that was named does not exist."""

    exit_code = EXIT_NOT_FOUND


class RunNotFound(NotFound):
    """No run with this id; `closest` are the ids most like it, for a "did you mean" (a typo)."""

    def __init__(self, run_id: str, where: str = "the log", *, field: str = "", closest: Iterable[str] = ()) -> None:
        self.run_id, self.where, self.field, self.closest = run_id, where, field, tuple(closest)
        message = f"no run {run_id!r} in {where}"
        if self.closest:
            message += f"; did you mean {', '.join(repr(c) for c in self.closest)}?"
        super().__init__(f"{field}: {message}" if field else message)

    def suggesting(self, known: Iterable[str]) -> RunNotFound:
        """The same error with the ids of `known` closest to the one asked for."""
        return RunNotFound(self.run_id, self.where, field=self.field, closest=closest_ids(self.run_id, known))


def closest_ids(wanted: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The ids most like `wanted` (difflib's ratio, at least 0.6), else the ones that contain it
    (a version typed alone, "v1.2"), at most `limit`, best first."""
    ids = sorted(set(known) - {wanted})
    close = difflib.get_close_matches(wanted, ids, n=limit, cutoff=0.6)
    if not close and wanted:
        folded = wanted.casefold()
        close = [i for i in ids if folded in i.casefold()][:limit]
    return close


class StorageError(AuditLogError):
    """The storage underneath failed: I/O error, full disk, read-only file, corrupt database."""

    exit_code = EXIT_STORAGE


class LockTimeout(StorageError):
    """Another writer held the log for longer than the lock timeout."""


class UnexpectedLog(AuditLogError):
    """The log at a location is not the one expected (`--expect-log-id`), or there is none and
    creating one was refused: a CI cache or artifact that expired must not start an empty log."""

    exit_code = EXIT_STORAGE

    def __init__(self, location: str, expected: str, found: str | None) -> None:
        self.location = location
        self.expected = expected
        self.found = found
        what = f"is log {found}" if found else "holds no log"
        super().__init__(f"{location} {what}, not the expected log {expected} (--expect-log-id or "
                         f"$AUDITLOG_EXPECT_LOG_ID){'' if found else ': refusing to start a new one'}")


class Conflict(AuditLogError):
    """The append contradicts the log: a run id already recorded with other content."""

    exit_code = EXIT_CONFLICT


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (the CLI's handler raises it): like Ctrl-C, it unwinds the stack, so an open
    transaction rolls back and the writer's lock is released on the way out.

    A KeyboardInterrupt, not an AuditLogError: `except Exception` must not swallow it."""

    exit_code = EXIT_TERMINATED
