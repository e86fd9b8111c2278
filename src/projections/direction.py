"""Which way is better for a figure: more (pass rate, accuracy), less (latency, cost), or neither
(a standard error).

The order of precedence for a metric (docs/configure.md), first that speaks:

1. the project's configuration declares it lower-is-better (`auditlog project configure
   --lower-is-better`, docs/configure.md; `compare` and `ab` use the configuration in force now);
2. the harness recorded its direction in the runs compared: lm-eval's `higher_is_better`
   ({task: {metric: bool}}, kept in the run document as `config.lm_eval.higher_is_better`);
3. a standard error (`<metric>_stderr`, lm-eval's spelling) has no direction: neither more nor
   less of it is a better model;
4. a project with a configuration: every metric it does not declare is higher-is-better;
5. without one, a metric whose name says latency, cost, tokens and the like is taken as
   lower-is-better, any other as higher-is-better (a guess by name).

The items' latency, tokens and cost are always lower-is-better.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

ITEM_FIGURES = ("latency_ms", "tokens", "cost_usd")  # per item; lower is better
LOWER_IS_BETTER_WORDS = ("latency", "cost", "token", "duration", "seconds", "error", "loss")
LOWER, HIGHER = "lower", "higher"


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
        return _declared(metric, declared)
    return any(word in metric.lower() for word in LOWER_IS_BETTER_WORDS)


def direction(name: str, declared: Collection[str] | None = None,
              recorded: Mapping[str, bool] | None = None) -> str | None:
    """"lower", "higher" or None (no direction) for figure `name`, by the order of precedence in
    the module's docstring. `recorded` is what the harness recorded ({metric address without its
    filter: higher_is_better}, see recorded_directions)."""
    if not name.startswith("metrics."):
        return LOWER if lower_is_better(name) else HIGHER
    metric = name.removeprefix("metrics.")
    if declared is not None and _declared(metric, declared):
        return LOWER
    address = metric.split(",", 1)[0]  # lm-eval's "<task>/<metric>,<filter>": the filter does not change it
    if recorded is not None and address in recorded:
        return HIGHER if recorded[address] else LOWER
    if address.endswith("_stderr"):
        return None
    return LOWER if lower_is_better(name, declared) else HIGHER


def recorded_directions(documents: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """What the harness recorded of its metrics' direction in these run documents: lm-eval's
    `config.lm_eval.higher_is_better` as {"<task>/<metric>": bool}. A metric the documents disagree
    on is left out (the next rule decides it)."""
    found: dict[str, bool] = {}
    disputed: set[str] = set()
    for document in documents:
        config = document.get("config")
        lm_eval = config.get("lm_eval") if isinstance(config, Mapping) else None
        table = lm_eval.get("higher_is_better") if isinstance(lm_eval, Mapping) else None
        if not isinstance(table, Mapping):
            continue
        for task, metrics in table.items():
            if not isinstance(metrics, Mapping):
                continue
            for metric, higher in metrics.items():
                if type(higher) is not bool:
                    continue
                address = f"{task}/{metric}"
                if found.setdefault(address, higher) != higher:
                    disputed.add(address)
    return {k: v for k, v in found.items() if k not in disputed}


def _declared(metric: str, declared: Collection[str]) -> bool:
    return metric in declared or metric.rpartition("/")[2] in declared
