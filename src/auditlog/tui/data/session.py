"""Opening what the screens read: the log (never created here) and its projections."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import projections
from auditlog.errors import AuditLogError, IntegrityError, InvalidInput, NotFound, StorageError
from auditlog.render import plural, safe_text
from auditlog.services.log import AuditLog


@dataclass(frozen=True)
class Loaded:
    """A projections View ready to query, and how it got there."""

    view: Any
    caught_up: int  # events folded into the projections just now
    stale: str | None = None  # why the view lags the log, when it could not catch up


@dataclass(frozen=True)
class Failure:
    """A problem worth a whole screen or panel: what happened, the detail, what to do."""

    title: str
    detail: str
    advice: str


def open_log(location: str | os.PathLike[str], expect_log_id: str | None = None) -> AuditLog:
    """Open an existing log; NotFound when there is none (the TUI never creates one), UnexpectedLog
    when it is not the log `expect_log_id` (default: $AUDITLOG_EXPECT_LOG_ID) names."""
    return AuditLog.open(location, create=False, expect_log_id=expect_log_id)


def display_name(location: str | os.PathLike[str]) -> str:
    """The log's name for titles: a file's base name, a URL without its password."""
    text = os.fspath(location)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"
    return os.path.basename(text) or text


def projections_directory(log: AuditLog, location: str | os.PathLike[str], directory: str | None) -> str:
    return directory or projections.default_directory(location, log.info().get("log_id"))


def behind(log: AuditLog, directory: str) -> int:
    """Events the projections have not folded yet (0 when they cannot tell)."""
    try:
        return projections.status(log, directory).behind
    except AuditLogError:
        return 0


def load_view(log: AuditLog, directory: str) -> Loaded:
    """Catch the projections up and open them. When they cannot be written (a read-only
    directory, another writer holding the lock), open what is there and say it is stale.
    IntegrityError (the log was rewritten under them) and other errors propagate."""
    lag = behind(log, directory)
    try:
        return Loaded(projections.open(log, directory), lag)
    except StorageError as exc:
        try:
            view = projections.open_built(directory)
        except AuditLogError:
            raise exc from None
        return Loaded(view, 0, f"could not catch up ({exc}); showing the projections as they were built, "
                               f"{plural(lag, 'event')} behind the log")


def describe(error: BaseException, failed: str) -> Failure:
    """A typed error as a title, its detail and advice; never a traceback. `failed` says what could not be
    done ("Run X cannot be shown"): the title of invalid input, which every screen can meet for a reason of
    its own (a query's argument, projections of a newer auditlog), so that no screen says one generic thing."""
    detail = safe_text(str(error), limit=2000)
    if isinstance(error, NotFound):
        return Failure("Not found", detail, "Check --log (or $AUDITLOG_DB); `auditlog demo` makes a demo log.")
    if isinstance(error, IntegrityError):
        return Failure("Integrity problem: the runs cannot be shown", detail,
                       "Press v to verify the whole log (it names the first bad seq). If the log is intact, the "
                       "projections were built from another history: rebuild them with `auditlog projections rebuild`.")
    if isinstance(error, InvalidInput):
        return Failure(failed, detail, "Where it names the projections or a file of theirs, rebuild them with "
                                       "`auditlog projections rebuild`.")
    if isinstance(error, StorageError):
        return Failure("Cannot read", detail, "Check the file and its permissions, then press r to retry.")
    if isinstance(error, AuditLogError):
        return Failure("Cannot open", detail, "Press v to verify the log.")
    return Failure(f"Unexpected {type(error).__name__}", detail, "This is a bug: please report it with this message.")
