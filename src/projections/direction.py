"""Which way is better for a figure: more (pass rate, accuracy) or less (latency, cost).

A project's configuration may declare its lower-is-better metrics (`auditlog project configure
--lower-is-better`, docs/configure.md); `compare` and `ab` use that of the configuration in force
now. Without a declaration, a metric whose name says latency, cost, tokens and the like is taken
as lower-is-better; the items' latency, tokens and cost always are.
"""

from __future__ import annotations

from collections.abc import Collection

ITEM_FIGURES = ("latency_ms", "tokens", "cost_usd")  # per item; lower is better
LOWER_IS_BETTER_WORDS = ("latency", "cost", "token", "duration", "seconds", "error", "loss")


def lower_is_better(name: str, declared: Collection[str] | None = None) -> bool:
    """Whether less of figure `name` is better: the items' latency, tokens and cost always; a metric
    (`metrics.<m>`) when `declared` names it, or, with nothing declared, when its name has one of
    LOWER_IS_BETTER_WORDS in it (latency_ms, cost_usd, error_rate, ...). A scoped
    metric (`metrics.<scope>/<m>`) is lower-is-better when `<m>` is declared."""
    if name in ITEM_FIGURES:
        return True
    if not name.startswith("metrics."):
        return False
    metric = name.removeprefix("metrics.")
    if declared is not None:  # a declared name holds in every scope too (judge/latency_ms)
        return metric in declared or metric.rpartition("/")[2] in declared
    return any(word in metric.lower() for word in LOWER_IS_BETTER_WORDS)
