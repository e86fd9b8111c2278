"""Paired statistics and the verdict policy: should a candidate run replace its baseline?

Two runs are compared on the items they share (matched by `item_id`): the mean of
the per-item differences (candidate - baseline), its standard error, a Student t
confidence interval and a two-sided p-value; McNemar's exact test on the pass/fail
flags; optionally cluster-robust (CR1) standard errors when items are not
independent (several epochs of one sample, questions of one passage). Items found
in one run only are reported, never silently dropped.

Standard library only (an auditor reads this without numpy): the t distribution
and McNemar's test are in auditlog.evals.stats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from auditlog.core.encoding import MAX_SAFE_INT
from auditlog.errors import InvalidInput
from auditlog.evals.fields import number_problem
from auditlog.evals.runs import Verdict
from auditlog.evals.stats import mcnemar_exact, t_ppf, t_two_sided_p

ALLOW: Final = "ALLOW"
BLOCK: Final = "BLOCK"
NEEDS_REVIEW: Final = "NEEDS_REVIEW"
NON_INFERIORITY, SUPERIORITY = "non-inferiority", "superiority"
MODES = (NON_INFERIORITY, SUPERIORITY)
METRICS = ("score", "passed")
# What a gate records when there is no baseline yet (a project's first run): --no-baseline.
NO_BASELINE: dict[str, Verdict] = {"allow": ALLOW, "review": NEEDS_REVIEW, "block": BLOCK}

# -- policy and result ---------------------------------------------------------


@dataclass(frozen=True)
class GatePolicy:
    """The rule a verdict is decided by; recorded in the verdict so it can be re-checked.

    mode: "non-inferiority" (default: no regression larger than `tolerance`) or
    "superiority" (must improve; `tolerance` does not enter it). alpha: two-sided
    confidence level 1 - alpha. min_items: fewer paired items give NEEDS_REVIEW.
    cluster_key: an item `extra` field (dotted path for nested objects) whose value
    groups items; standard errors are then cluster-robust. metric: "score" (item scores)
    or "passed" (pass flags as 0/1).
    """

    mode: str = NON_INFERIORITY
    tolerance: float = 0.01
    alpha: float = 0.05
    min_items: int = 10
    cluster_key: str | None = None
    metric: str = "score"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInput("policy.mode", f"must be one of {', '.join(MODES)}, not {self.mode!r}")
        if type(self.tolerance) not in (int, float) or number_problem(self.tolerance) or self.tolerance < 0:
            raise InvalidInput("policy.tolerance", f"must be a finite number >= 0, not {self.tolerance!r}")
        if type(self.alpha) not in (int, float) or not 0.0 < self.alpha < 1.0:
            raise InvalidInput("policy.alpha", f"must be a number strictly between 0 and 1, not {self.alpha!r}")
        if type(self.min_items) is not int or not 2 <= self.min_items <= MAX_SAFE_INT:  # recorded: a JSON number
            raise InvalidInput("policy.min_items", f"must be an integer from 2 to 2**53 - 1, not {self.min_items!r}")
        if self.cluster_key is not None and (not isinstance(self.cluster_key, str) or not self.cluster_key):
            raise InvalidInput("policy.cluster_key", "must be a non-empty string or None")
        if self.metric not in METRICS:
            raise InvalidInput("policy.metric", f"must be one of {', '.join(METRICS)}, not {self.metric!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs: b = passed in the baseline and failed in the candidate, c = the reverse."""

    b: int
    c: int
    p_value: float


@dataclass(frozen=True)
class GateResult:
    """What the gate found and decided. se, df, the CI and p_value are None when they cannot
    be estimated (one paired item, or fewer than two clusters)."""

    n_paired: int
    only_in_candidate: tuple[str, ...]
    only_in_baseline: tuple[str, ...]
    delta: float
    se: float | None
    df: int | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    mcnemar: McNemar | None
    n_clusters: int | None
    verdict: Verdict
    reason: str
    policy: GatePolicy
    run_id: str | None = None
    baseline_run_id: str | None = None


# -- the gate -----------------------------------------------------------------


def gate(candidate: Mapping[str, Any], baseline: Mapping[str, Any], policy: GatePolicy | None = None) -> GateResult:
    """Compare two run documents item by item and decide ALLOW, BLOCK or NEEDS_REVIEW.

    Raises InvalidInput when a run has no items, an item is malformed, or the runs share
    no item id: run-level metrics alone carry no estimate of their sampling error, so
    there is nothing honest to gate on.
    """
    policy = policy or GatePolicy()
    cand = _items(candidate, "candidate", policy.metric)
    base = _items(baseline, "baseline", policy.metric)
    shared = sorted(cand.keys() & base.keys())
    only_cand = tuple(sorted(cand.keys() - base.keys()))
    only_base = tuple(sorted(base.keys() - cand.keys()))
    if not shared:
        raise InvalidInput("items", f"the runs share no item ids (candidate {len(cand)} items, baseline "
                                    f"{len(base)}): there is nothing to compare")
    diffs = [cand[i][0] - base[i][0] for i in shared]
    n = len(diffs)
    delta = math.fsum(diffs) / n
    discordant_b = sum(1 for i in shared if base[i][1] and not cand[i][1])
    discordant_c = sum(1 for i in shared if cand[i][1] and not base[i][1])
    mcnemar = McNemar(discordant_b, discordant_c, mcnemar_exact(discordant_b, discordant_c))

    n_clusters = None
    if policy.cluster_key is None:
        se, df = _paired_se(diffs, delta)
    else:
        clusters = [_cluster_of(i, cand[i][2], base[i][2], policy.cluster_key) for i in shared]
        n_clusters = len(set(clusters))
        se, df = _cluster_se(diffs, delta, clusters)
    ci_low = ci_high = p_value = None
    if se is not None and df is not None:
        if se == 0.0:
            ci_low = ci_high = delta
            p_value = 1.0 if delta == 0.0 else 0.0
        else:
            half = t_ppf(1.0 - policy.alpha / 2.0, df) * se
            ci_low, ci_high = delta - half, delta + half
            p_value = t_two_sided_p(delta / se, df)
    verdict, reason = _decide(policy, n, n_clusters, ci_low, ci_high, len(only_cand) + len(only_base))
    return GateResult(n, only_cand, only_base, delta, se, df, ci_low, ci_high, p_value, mcnemar, n_clusters,
                      verdict, reason, policy, *(r.get("run_id") if isinstance(r.get("run_id"), str) else None
                                                  for r in (candidate, baseline)))


def _paired_se(diffs: Sequence[float], mean: float) -> tuple[float | None, int | None]:
    """se = sd(d) / sqrt(n) with the n - 1 denominator; df = n - 1."""
    n = len(diffs)
    if n < 2:
        return None, None
    variance = math.fsum((d - mean) ** 2 for d in diffs) / (n - 1)
    return math.sqrt(variance / n), n - 1


def _cluster_se(diffs: Sequence[float], mean: float, clusters: Sequence[str]) -> tuple[float | None, int | None]:
    """CR1 cluster-robust se of a mean: sqrt(G/(G-1) * sum_g (sum_{i in g} (d_i - mean))^2) / n,
    df = G - 1 (the small-sample correction of Stata's `vce(cluster)` for an intercept-only model)."""
    sums: dict[str, list[float]] = {}
    for d, g in zip(diffs, clusters):
        sums.setdefault(g, []).append(d - mean)
    groups = len(sums)
    if groups < 2:
        return None, None
    meat = math.fsum(math.fsum(r) ** 2 for r in sums.values())
    return math.sqrt(groups / (groups - 1) * meat) / len(diffs), groups - 1


def _decide(policy: GatePolicy, n: int, n_clusters: int | None, low: float | None, high: float | None,
            unmatched: int) -> tuple[Verdict, str]:
    level = f"{100 * (1 - policy.alpha):g}%"
    tail = f" ({unmatched} items in only one run were not compared)" if unmatched else ""
    size = f"n={n} paired items" + (f" in {n_clusters} clusters" if n_clusters is not None else "")
    if n < policy.min_items:
        return NEEDS_REVIEW, f"Only {n} paired item{'s' * (n != 1)}, fewer than the minimum {policy.min_items}{tail}."
    if low is None or high is None:
        return NEEDS_REVIEW, (f"The standard error cannot be estimated from {size} "
                              f"(at least 2 clusters are needed){tail}.")
    ci = f"{level} CI [{low:.4g}, {high:.4g}] of the delta"
    if policy.mode == NON_INFERIORITY:
        margin = f"{-policy.tolerance:.4g} (minus the tolerance)"
        if low > -policy.tolerance:
            return ALLOW, f"The {ci} lies above {margin}: no regression beyond the tolerance ({size}){tail}."
        if high < -policy.tolerance:
            return BLOCK, f"The {ci} lies below {margin}: a regression beyond the tolerance ({size}){tail}."
        return NEEDS_REVIEW, (f"The {ci} straddles {margin}: the data can neither rule in nor rule out a "
                              f"regression beyond the tolerance ({size}){tail}.")
    if low > 0:
        return ALLOW, f"The {ci} lies above 0: the candidate improves ({size}){tail}."
    if high <= 0:
        return BLOCK, f"The {ci} does not reach above 0: no improvement ({size}){tail}."
    return NEEDS_REVIEW, f"The {ci} contains 0: an improvement is neither shown nor ruled out ({size}){tail}."


def check_items(run: Mapping[str, Any], which: str = "candidate") -> None:
    """Raise InvalidInput as `gate` would for this run's items (none, or malformed), without a second
    run: a verdict recorded with no baseline is refused for the same run a comparison refuses."""
    _items(run, which, "score")


def _items(run: Mapping[str, Any], which: str, metric: str) -> dict[str, tuple[float, bool, Any]]:
    """item_id -> (value compared, passed, extra), checked enough that the arithmetic cannot go wrong."""
    if not isinstance(run, Mapping):
        raise InvalidInput(which, "must be a run document (an object)")
    items = run.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{which} $.items", "the run has no items: the gate compares per-item results "
                                               "(ingest per-sample files to get them; where they gave none, the "
                                               "run's config.ingest.notes in `auditlog show` say why)")
    found: dict[str, tuple[float, bool, Any]] = {}
    for i, item in enumerate(items):
        where = f"{which} $.items[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("item_id"), str):
            raise InvalidInput(f"{where}.item_id", "every item needs a string item_id")
        score: Any = item.get("score")  # checked below: type() narrows nothing for mypy
        passed: Any = item.get("passed")
        if type(passed) is not bool:
            raise InvalidInput(f"{where}.passed", "must be true or false")
        if type(score) not in (int, float) or not 0.0 <= score <= 1.0:
            raise InvalidInput(f"{where}.score", f"must be a number in [0, 1], not {score!r}")
        if item["item_id"] in found:
            raise InvalidInput(f"{where}.item_id", f"duplicate item id {item['item_id']!r}")
        value = float(passed) if metric == "passed" else float(score)
        found[item["item_id"]] = (value, passed, item.get("extra"))
    return found


def _cluster_of(item_id: str, cand_extra: Any, base_extra: Any, key: str) -> str:
    values = [v for v in (_lookup(cand_extra, key), _lookup(base_extra, key)) if v is not None]
    where = f"items[{item_id!r}].extra.{key}"
    if not values:
        raise InvalidInput(where, "cluster key missing in both runs (--cluster-key names a field of the items' extra)")
    if len(values) == 2 and values[0] != values[1]:
        raise InvalidInput(where, f"differs between the runs ({values[0]!r} vs {values[1]!r})")
    if not isinstance(values[0], (str, int, float, bool)):
        raise InvalidInput(where, "a cluster value must be a string, number or boolean")
    return json.dumps(values[0])


def _lookup(extra: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(extra, Mapping):
            return None
        extra = extra.get(part)
    return extra


def verdict_document(result: GateResult, *, run_id: str | None = None,
                     baseline_run_id: str | None = None) -> dict[str, Any]:
    """The `verdict.recorded` document (accepted by auditlog.evals.runs.normalize_verdict).

    `policy` holds the policy parameters plus `method` and `evidence` (n, se, df, the
    unmatched counts, McNemar): the verdict document has no other place for them, and an
    auditor needs them to re-check the decision.
    """
    run_id = run_id or result.run_id
    baseline_run_id = baseline_run_id or result.baseline_run_id
    if not run_id or not baseline_run_id:
        raise InvalidInput("run_id" if not run_id else "baseline_run_id", "is required for a verdict document")
    se = "CR1 cluster-robust" if result.policy.cluster_key else "paired"
    method = (f"mean of per-item differences (candidate - baseline) with {se} standard error, two-sided Student t "
              f"{100 * (1 - result.policy.alpha):g}% interval and p-value; McNemar exact test on pass flags")
    evidence: dict[str, Any] = {
        "n_paired": result.n_paired, "se": result.se, "df": result.df, "n_clusters": result.n_clusters,
        "only_in_candidate": len(result.only_in_candidate), "only_in_baseline": len(result.only_in_baseline),
        "mcnemar": asdict(result.mcnemar) if result.mcnemar else None,
    }
    return {
        "run_id": run_id, "baseline_run_id": baseline_run_id, "metric": result.policy.metric,
        "delta": result.delta, "p_value": result.p_value, "ci_low": result.ci_low, "ci_high": result.ci_high,
        "verdict": result.verdict,
        "policy": {**result.policy.as_dict(), "method": method, "evidence": evidence},
        "reason": result.reason,
    }


def no_baseline_document(run_id: str, action: str, why: str, policy: GatePolicy | None = None) -> dict[str, Any]:
    """The verdict document of a run that has nothing to be compared with (a project's first run):
    `"baseline_run_id": null`, no figures, the verdict `action` chooses ("allow", "review" or
    "block", see NO_BASELINE) and a reason that says there was no baseline and why.

    The policy is recorded as for any verdict, with `no_baseline` set, so that an auditor sees
    the verdict came from that rule and not from a comparison."""
    if action not in NO_BASELINE:
        raise InvalidInput("--no-baseline", f"must be one of {', '.join(NO_BASELINE)}, not {action!r}")
    policy = policy or GatePolicy()
    verdict = NO_BASELINE[action]
    return {
        "run_id": run_id, "baseline_run_id": None, "metric": policy.metric,
        "delta": None, "p_value": None, "ci_low": None, "ci_high": None, "verdict": verdict,
        "policy": {**policy.as_dict(), "no_baseline": action,
                   "method": "no baseline: nothing was compared; the verdict is the no-baseline rule's"},
        "reason": f"No baseline: {why.rstrip('.')}. Nothing was compared; --no-baseline {action} records {verdict}.",
    }
