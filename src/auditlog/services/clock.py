"""The writer's clock: the one spelling of `ts` (RFC 3339 UTC, microseconds, "Z")."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Formatted by hand: three times cheaper than isoformat() and a slice, once per event sealed."""
    d = datetime.now(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest of the spellings
        d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond)
