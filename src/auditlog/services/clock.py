"""The writer's clock: the one spelling of `ts` (RFC 3339 UTC, microseconds, "Z")."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # +00:00 -> Z
