"""The configuration in force for each project, as one write transaction (or one read) sees it.

The configuration in force for a run is the latest `project.configured` event of its project
before the run: the store finds it through its (project, type) index (`Reader.latest`), once per
project and transaction; a configuration appended in the same transaction replaces it here. A
run recorded under a configuration names it in its event (`config_seq`), so that the history
says which configuration each run was checked against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditlog.core import events as ev
from auditlog.core.events import SealedEvent
from auditlog.errors import IntegrityError, InvalidInput
from auditlog.evals.config import ProjectConfig, from_data
from auditlog.store.protocol import Reader, StoredEvent


@dataclass(frozen=True)
class InForce:
    """A project's configuration and the event that set it."""

    project: str
    seq: int
    hash: str
    config: ProjectConfig


def read_configuration(row: StoredEvent) -> InForce:
    """The configuration a stored project.configured event carries, once its bytes hash to its stored
    hash (IntegrityError otherwise: a decision is never made from bytes the chain does not vouch for)."""
    if hashlib.sha256(row.body).hexdigest() != row.hash:
        raise IntegrityError(row.seq, "the stored event's bytes do not hash to its stored hash: the log was "
                                      "altered; nothing was written; check it with `auditlog verify`")
    return in_force_of(SealedEvent(row.seq, row.hash, row.body))


def in_force_of(sealed: SealedEvent) -> InForce:
    """The configuration a project.configured event puts in force; IntegrityError when it is not one."""
    event = sealed.event
    if event.type != ev.PROJECT_CONFIGURED:
        raise IntegrityError(sealed.seq, f"a {event.type} event where a project.configured event was expected")
    try:
        config = from_data(event.data)
    except InvalidInput as exc:
        raise IntegrityError(sealed.seq, f"not a valid project.configured event ({exc})") from None
    return InForce(event.project, sealed.seq, sealed.hash, config)


def configuration(reader: Reader, project: str, before: int | None = None) -> InForce | None:
    """The configuration of `project` in force before seq `before` (None: now), or None if it has none."""
    row = reader.latest(project, ev.PROJECT_CONFIGURED, before)
    return None if row is None else read_configuration(row)


class Configurations:
    """The configurations one write transaction enforces: looked up once per project, replaced
    by those it appends."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._known: dict[str, InForce | None] = {}

    def of(self, project: str) -> InForce | None:
        if project not in self._known:
            self._known[project] = configuration(self._reader, project)
        return self._known[project]

    def appended(self, in_force: InForce) -> None:
        self._known[in_force.project] = in_force

    def check(self, run: Mapping[str, Any]) -> int | None:
        """The seq of the configuration `run` is recorded under (None: its project has none), once the
        run obeys it; InvalidInput naming the field it refuses otherwise."""
        in_force = self.of(run["project_id"])
        if in_force is None:
            return None
        in_force.config.check_run(run)
        return in_force.seq


def with_config_seq(data: bytes, config_seq: int | None) -> bytes:
    """A run event's canonical `data` bytes with `config_seq` as its first member (RFC 8785 orders
    "config_seq" before "document_sha256"), or as they are when None."""
    if config_seq is None:
        return data
    assert data.startswith(b'{"document_sha256":'), "a run event's data begins with its document hash"
    return b'{"config_seq":%d,%s' % (config_seq, data[1:])
