"""AuditLog: the one place where the pure core meets a store.

Every write goes through a `Writer` (services/writer.py), inside the store's write
transaction: leaving the block commits everything; an exception anywhere commits
nothing. Every read hands out only events whose bytes hash to their stored hash.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlog.core import events as ev
from auditlog.core.chain import envelope_matches
from auditlog.core.encoding import canonical_bytes
from auditlog.core.events import Event, SealedEvent, seal
from auditlog.errors import IntegrityError, InvalidInput, NotFound, RunNotFound, StorageError, UnexpectedLog
from auditlog.evals.config import ProjectConfig
from auditlog.evals.runs import check_identifier
from auditlog.services import tree
from auditlog.services.clock import utc_now
from auditlog.services.configuration import InForce, configuration
from auditlog.services.environment import capture_actor
from auditlog.services.writer import Receipt, Writer, as_row, checked_row, prepare_document, transaction
from auditlog.store import EventStore, Head, open_store
from auditlog.store.protocol import GroupSealing

if TYPE_CHECKING:
    from auditlog.core.checkpoint import Checkpoint
    from auditlog.core.note import Verifier
    from auditlog.services.signing import Signer
    from auditlog.services.verify import VerifyReport

DEFAULT_LOG = "auditlog.db"
EXPECT_LOG_ID_VARIABLE = "AUDITLOG_EXPECT_LOG_ID"


def default_location() -> str:
    """`$AUDITLOG_DB`, else ./auditlog.db."""
    return os.environ.get("AUDITLOG_DB") or DEFAULT_LOG


def expected_log_id(given: str | None = None) -> str | None:
    """`given`, else `$AUDITLOG_EXPECT_LOG_ID`, else None (any log will do)."""
    return given or os.environ.get(EXPECT_LOG_ID_VARIABLE) or None


class AuditLog:
    """A hash-chained log of eval runs and verdicts on any EventStore."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @classmethod
    def open(cls, location: str | os.PathLike[str] | None = None, *, create: bool = True,
             origin: str | None = None, lock_timeout: float = 30.0, synchronous: str = "FULL",
             expect_log_id: str | None = None) -> AuditLog:
        """Open a log, creating it (with its genesis event) when `create` and it does not exist;
        a log file's missing directories are created with it.

        With `expect_log_id` (default: `$AUDITLOG_EXPECT_LOG_ID`) only the log with that id is
        opened: another log, or none at all, is UnexpectedLog and nothing is created, so that a
        CI cache that expired cannot silently start a new, empty history.
        A bad `origin` is refused before anything is opened: a refused creation leaves no file."""
        if origin is not None:
            _check_origin(origin)
        text = os.fspath(location or default_location())
        expected = expected_log_id(expect_log_id)
        if expected is not None:
            return cls(_open_expected(text, expected, lock_timeout, synchronous))
        if create:
            _make_parent_directory(text)
        store = open_store(text, create=create, lock_timeout=lock_timeout, synchronous=synchronous)
        log = cls(store)
        if store.head().size == 0:
            log._create_genesis(origin)
        return log

    def _create_genesis(self, origin: str | None) -> None:
        with self.store.transaction(self.store.lock_timeout) as txn:
            if txn.head().size:
                return  # another process made it while we waited
            log_id = secrets.token_hex(16)  # 128 random bits (a uuid4 has 122)
            origin = _check_origin(origin or f"auditlog.local/{log_id}")
            created = utc_now()
            data = {"log_id": log_id, "created": created, "format": ev.FORMAT, "origin": origin}
            sealed = seal(Event(0, created, ev.LOG_CREATED, "", "", capture_actor(), data, ev.ZERO_HASH))
            txn.append([as_row(sealed)])  # a single leaf completes no stored subtree
            txn.set_meta({"log_id": log_id, "origin": origin, "genesis_hash": sealed.hash, "created": created})

    # -- reading -----------------------------------------------------------------

    def head(self) -> Head:
        return self.store.head()

    def info(self) -> dict[str, str]:
        """log_id, origin, genesis_hash and creation time, as recorded beside the events."""
        return self.store.meta()

    def origin(self) -> str:
        """The log's origin as its genesis event names it, that event read and hash-checked, and the
        metadata beside the events saying the same: what a checkpoint is signed for, or checked against,
        is never a value the file's holder changed in the meta table alone."""
        genesis = self.event(0)
        meta = self.store.meta()
        origin = genesis.event.data.get("origin") if genesis.event.type == ev.LOG_CREATED else None
        if genesis.hash != meta.get("genesis_hash") or not isinstance(origin, str) or origin != meta.get("origin"):
            raise IntegrityError(0, f"the log's metadata (origin {meta.get('origin')!r}) is not what its genesis "
                                    "event says: check the log with `auditlog verify`")
        return origin

    def events(self, after: int = -1, until: int | None = None) -> Iterator[SealedEvent]:
        """Events with after < seq (< until), in order: the read API projections use. `after` is -1
        (from the first) or a seq: below -1 is InvalidInput."""
        _check_after(after)
        for row in self.store.rows(after, until):
            yield SealedEvent(row.seq, row.hash, row.body)

    def events_at(self, seqs: Sequence[int]) -> list[SealedEvent]:
        """The events at these seqs that the log holds, in seq order, in one read (or a few): for
        confirming many runs far apart (projections' `View.confirm`)."""
        return [SealedEvent(row.seq, row.hash, row.body) for row in self.store.rows_at(seqs)]

    def linked_events(self, after: int = -1, until: int | None = None) -> Iterator[SealedEvent]:
        """`events`, each checked as it is read: its bytes hash to its stored hash, and they end with
        the envelope its columns and the previous event's hash give (so it links to the one before).
        IntegrityError at the first that does not: what is handed out is the chain, or nothing more.
        `after` below -1 is InvalidInput (a mistake of the caller's, not a gap in the log)."""
        _check_after(after)
        prev = ev.ZERO_HASH
        if after >= 0:
            before = self.store.get(after)
            if before is None:
                return
            prev = checked_row(before).hash
        expected = after + 1
        for row in self.store.rows(after, until):
            if row.seq != expected:
                raise IntegrityError(expected, "the log has no event at this seq (events were removed): check it "
                                               "with `auditlog verify`")
            sealed = checked_row(row)
            if not envelope_matches(row.body, prev, row.seq, row.ts, row.type, row.project, row.subject):
                raise IntegrityError(row.seq, "the event does not link to the one before it, or its columns disagree "
                                              "with its bytes: check the log with `auditlog verify`")
            prev, expected = row.hash, row.seq + 1
            yield sealed

    def event(self, seq: int) -> SealedEvent:
        row = self.store.get(seq)
        if row is None:
            raise NotFound(f"no event at seq {seq} (the log has {self.head().size})")
        return checked_row(row)

    def about(self, subject: str, *types: str) -> list[SealedEvent]:
        """Every event whose subject is `subject` (a run id), oldest first."""
        return [checked_row(r) for r in self.store.find(subject, types)]

    def about_many(self, subjects: Sequence[str], *types: str) -> list[SealedEvent]:
        """`about` for many subjects in one read (or a few), in seq order: how projections' catch-up asks
        whether new run ids were recorded before, through the store's index."""
        return [checked_row(r) for r in self.store.find_many(subjects, types)]

    def run(self, run_id: str) -> dict[str, Any]:
        """The run document as recorded; NotFound when the log has no such run."""
        found = self.store.find(run_id, (ev.RUN_RECORDED,))
        if not found:
            raise RunNotFound(run_id, self.store.location)
        return checked_row(found[0]).event.data["run"]

    # -- writing -----------------------------------------------------------------

    def writer(self) -> AbstractContextManager[Writer]:
        """A batch: `with log.writer() as w: w.record_run(doc)`; all or nothing on exit."""
        return transaction(self.store)

    def record_run(self, doc: Mapping[str, Any], *, source: Mapping[str, Any] | None = None,
                   environment: Mapping[str, Any] | None = None) -> Receipt:
        """One run, validated and encoded before the writers' lock is asked for; `source` is where it was
        read from (kept in the event, not in the run); `environment`, what that file says of the machine
        it was made on, recorded when `doc` has none instead of this machine's (`ingest.split_environment`).
        On a store whose writers queue (PostgreSQL), the lock holder seals every queued run at once."""
        prepared = prepare_document(doc, environment)
        if isinstance(self.store, GroupSealing):
            from auditlog.services import grouped
            return grouped.record_run(self.store, prepared, canonical_bytes(capture_actor()), source=source)
        with self.writer() as w:
            return w.record_prepared(prepared, source=source)

    def configure(self, project: str, config: ProjectConfig) -> Receipt | None:
        """Make `config` the whole configuration of `project` from now on (Writer.configure)."""
        with self.writer() as w:
            return w.configure(project, config)

    def configuration(self, project: str, before: int | None = None) -> InForce | None:
        """The configuration of `project` in force before seq `before` (None: now), or None."""
        return configuration(self.store, project, before)

    def record_verdict(self, doc: Mapping[str, Any]) -> Receipt:
        with self.writer() as w:
            return w.record_verdict(doc)

    def supersede(self, old_run_id: str, by: str, reason: str) -> Receipt:
        with self.writer() as w:
            return w.supersede(old_run_id, by, reason)

    def annotate(self, run_id: str, *, tags: Mapping[str, str] | None = None, note: str | None = None) -> Receipt:
        with self.writer() as w:
            return w.annotate(run_id, tags=tags, note=note)

    def override_verdict(self, verdict_seq: int, to: str, reason: str) -> Receipt:
        with self.writer() as w:
            return w.override_verdict(verdict_seq, to, reason)

    def pin_baseline(self, run_id: str, *, project: str, model: str | None = None,
                     reason: str | None = None) -> Receipt:
        with self.writer() as w:
            return w.pin_baseline(run_id, project=project, model=model, reason=reason)

    def verify(self, progress: Callable[[int], None] | None = None, checkpoints: Sequence[tuple[str, Checkpoint]] = (),
               verifiers: Sequence[Verifier] = (), processes: int | None = None) -> VerifyReport:
        """A VerifyReport; `checkpoints` are (label, Checkpoint) pairs already signature-checked;
        stored checkpoints signed by one of `verifiers` (trusted keys) count as anchors too.
        `processes`: how many to verify with (None: every core for a long log, one for a short one)."""
        from auditlog.services.verify import verify_log
        return verify_log(self, progress=progress, checkpoints=checkpoints, verifiers=verifiers, processes=processes)

    # -- the Merkle tree -----------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """RFC 9162 root of the first `size` events (default: all)."""
        return tree.root(self.store, self.head().size if size is None else size)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of event `seq` in the tree of `size` events (default: all)."""
        return tree.inclusion_proof(self.store, seq, self.head().size if size is None else size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 proof that the tree of `size1` events is a prefix of the tree of `size2`."""
        return tree.consistency_proof(self.store, size1, self.head().size if size2 is None else size2)

    def checkpoint(self, signer: Signer) -> str:
        """Sign the current tree as a C2SP checkpoint, keep it in the log, return the note."""
        from auditlog.services.checkpoints import make_checkpoint
        return make_checkpoint(self, signer)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_expected(location: str, expected: str, lock_timeout: float, synchronous: str) -> EventStore:
    """The store at `location` if it holds the log `expected`; never creates one."""
    try:
        store = open_store(location, create=False, lock_timeout=lock_timeout, synchronous=synchronous)
    except NotFound:
        raise UnexpectedLog(_shown(location), expected, None) from None
    try:
        check_log_id(store, expected)
    except BaseException:
        store.close()
        raise
    return store


def check_log_id(store: EventStore, expected: str | None) -> None:
    """UnexpectedLog unless `store` holds the log `expected` (None: any log will do)."""
    if expected is None:
        return
    found = store.meta().get("log_id") if store.head().size else None
    if found != expected:
        raise UnexpectedLog(store.location, expected, found)


def migrate(location: str | os.PathLike[str], *, expect_log_id: str | None = None) -> list[str]:
    """Migrate the log's schema forward (auditlog.store.migrate), once it is known to be the
    expected log (`expect_log_id`, default $AUDITLOG_EXPECT_LOG_ID)."""
    from auditlog import store as stores
    text = os.fspath(location)
    expected = expected_log_id(expect_log_id)
    if expected is not None:
        from auditlog.store.postgres.location import is_postgres
        try:
            if is_postgres(text):
                from auditlog.store.postgres.store import PostgresStore
                old: EventStore = PostgresStore.for_migration(text)
            else:
                from auditlog.store.sqlite.store import SQLiteStore
                old = SQLiteStore.for_migration(text)
        except NotFound:
            raise UnexpectedLog(_shown(text), expected, None) from None
        try:
            check_log_id(old, expected)
        finally:
            old.close()
    return stores.migrate(text)


def _make_parent_directory(location: str) -> None:
    """A log file's directory, created when missing (CI's first run writes into a fresh workspace)."""
    from auditlog.store.postgres.location import is_postgres
    if location == ":memory:" or is_postgres(location):
        return
    parent = Path(location).parent
    if parent.exists():
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory {parent} for the log: {exc.strerror or exc}") from None


def _shown(location: str) -> str:
    """A location as messages show it: a PostgreSQL URL without its password."""
    from auditlog.store.postgres.location import is_postgres, parse_location
    return parse_location(location).display if is_postgres(location) else location


def _check_origin(origin: str) -> str:
    check_identifier(origin, "--origin")
    if any(c.isspace() for c in origin):
        raise InvalidInput("--origin", "must not contain white space (it is a checkpoint's first line)")
    return origin


def write_run(doc: Mapping[str, Any], log: str | os.PathLike[str] | None = None) -> Receipt:
    """Record one run in the log at `log` (default: $AUDITLOG_DB, then ./auditlog.db)."""
    with AuditLog.open(log) as opened:
        return opened.record_run(doc)


def _check_after(after: int) -> None:
    """`after` of events/linked_events: -1 (from the first event) or a seq, never below -1."""
    if type(after) is not int or after < -1:
        raise InvalidInput("after", f"must be -1 (from the first event) or a seq >= 0, not {after!r}")
