"""Messages between workers and screens: small dataclasses, posted from any thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ProjectionsLoading(Message):
    """A catch-up began: `behind` events to fold."""

    behind: int


@dataclass
class ProjectionsReady(Message):
    loaded: Any  # auditlog.tui.data.session.Loaded


@dataclass
class ProjectionsFailed(Message):
    failure: Any  # auditlog.tui.data.session.Failure


@dataclass
class DetailReady(Message):
    detail: Any  # auditlog.tui.data.detail.RunDetail


@dataclass
class DetailFailed(Message):
    failure: Any


@dataclass
class VerifyProgress(Message):
    done: int
    total: int


@dataclass
class VerifyDone(Message):
    verification: Any  # auditlog.tui.data.chain.Verification


@dataclass
class VerifyStopped(Message):
    """Cancelled (failure is None) or failed before a report."""

    done: int
    failure: Any = None
