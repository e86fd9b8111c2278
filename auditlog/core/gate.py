"""Paired statistics and the verdict policy: should a candidate run replace its baseline?

Two runs are compared on the items they share (matched by `item_id`): the mean of
the per-item differences (candidate - baseline), its standard error, a Student t
confidence interval and a two-sided p-value; McNemar's exact test on the pass/fail
flags; optionally cluster-robust (CR1) standard errors when items are not
independent (several epochs of one sample, questions of one passage). Items found
in one run only are reported, never silently dropped.

Standard library only (an auditor reads this without numpy): the t distribution
comes from the regularized incomplete beta function below, accurate to about
1e-12 relative, and is checked against scipy in tests/unit/test_gate.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from auditlog.errors import InvalidInput

ALLOW, BLOCK, NEEDS_REVIEW = "ALLOW", "BLOCK", "NEEDS_REVIEW"
NON_INFERIORITY, SUPERIORITY = "non-inferiority", "superiority"
MODES = (NON_INFERIORITY, SUPERIORITY)
METRICS = ("score", "passed")

# -- distributions -------------------------------------------------------------

_EPS = 1e-16
_TINY = 1e-300


def _stirling_correction(x: float) -> float:
    """lgamma(x) - ((x - 0.5) ln x - x + ln(2 pi) / 2), for x >= 100 (next term < 1e-17)."""
    x2 = x * x
    return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * x2)) / x2) / x


def _lbeta(a: float, b: float) -> float:
    """ln B(a, b). For a large argument, lgamma(a) - lgamma(a + b) is formed without
    subtracting two huge numbers, so the t tails stay accurate for df in the millions."""
    if a < b:
        a, b = b, a
    if a < 100.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return (math.lgamma(b) - (a - 0.5) * math.log1p(b / a) - b * math.log(a + b) + b
            + _stirling_correction(a) - _stirling_correction(a + b))


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 200_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """Regularized incomplete beta I_x(a, b); y = 1 - x is passed exactly to avoid cancellation."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log(y) - _lbeta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, y) / b


def _check_df(df: float) -> None:
    if not (isinstance(df, (int, float)) and df > 0 and math.isfinite(df)):
        raise ValueError(f"degrees of freedom must be a positive finite number, not {df!r}")


def _t_tail(t: float, df: float) -> float:
    """P(T > |t|) = I_x(df/2, 1/2) / 2 with x = df/(df+t^2): accurate where it is small."""
    tt = t * t
    return 0.0 if math.isinf(tt) else 0.5 * _betainc(df / 2.0, 0.5, df / (df + tt), tt / (df + tt))


def _t_central(t: float, df: float) -> float:
    """P(0 < T < |t|) = I_y(1/2, df/2) / 2, y = t^2/(df+t^2): accurate near the centre, where 0.5 - tail is not."""
    tt = t * t
    return 0.5 if math.isinf(tt) else 0.5 * _betainc(0.5, df / 2.0, tt / (df + tt), df / (df + tt))


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t with `df` degrees of freedom."""
    _check_df(df)
    return 0.5 - math.copysign(_t_central(t, df), t) if abs(t) < 1.0 else (
        _t_tail(t, df) if t > 0 else 1.0 - _t_tail(t, df))


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution P(T <= t) of Student's t with `df` degrees of freedom."""
    return t_sf(-t, df)


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|), computed directly (not 2 * (1 - cdf)) so tiny p-values keep their digits."""
    _check_df(df)
    return min(1.0, 2.0 * _t_tail(t, df))


def _t_pdf(t: float, df: float) -> float:
    log_norm = -_lbeta(df / 2.0, 0.5) - 0.5 * math.log(df)
    return math.exp(log_norm - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def _normal_upper_quantile(q: float) -> float:
    """Rough z with P(Z > z) = q (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4): a starting point only."""
    r = math.sqrt(-2.0 * math.log(q))
    return r - (2.515517 + 0.802853 * r + 0.010328 * r * r) / (1.0 + 1.432788 * r + 0.189269 * r * r
                                                                + 0.001308 * r ** 3)


def _t_upper_quantile(q: float, df: float) -> float:
    """The t > 0 with P(T > t) = q, for 0 < q < 0.5.

    Closed forms for df 1 and 2. Otherwise Newton's method on (ln t, ln F) kept inside a
    bracket, where F is the tail (q <= 1/4) or the central mass 1/2 - q (q > 1/4), so the
    target is always an exactly known small number; from a Cornish-Fisher start it
    converges in a few steps, far in the tails too."""
    if df == 1:
        return math.tan(math.pi * (0.5 - q)) if q > 0.25 else 1.0 / math.tan(math.pi * q)
    if df == 2:
        return (1.0 - 2.0 * q) / math.sqrt(2.0 * q * (1.0 - q))
    central = q > 0.25
    target, mass, sign = (0.5 - q, _t_central, 1.0) if central else (q, _t_tail, -1.0)
    z = _normal_upper_quantile(q)
    guess = z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df)
    lo, hi = 0.0, max(guess, 1.0)
    while sign * (mass(hi, df) - target) < 0:
        lo, hi = hi, hi * 4.0
    t = min(max(guess, lo), hi) if guess > 0 else hi
    log_target = math.log(target)
    for _ in range(200):
        value = mass(t, df)
        if sign * (value - target) < 0:
            lo = t
        else:
            hi = t
        slope = sign * t * _t_pdf(t, df) / value if value > 0.0 else 0.0  # d ln F / d ln t
        step = (math.log(value) - log_target) / slope if slope != 0.0 else math.inf
        candidate = t * math.exp(-step) if abs(step) < 700 else math.inf
        if not lo < candidate < hi:
            candidate = math.sqrt(lo * hi) if lo > 0 else hi / 2.0
        if abs(candidate - t) <= 4e-16 * t:
            return candidate
        t = candidate
    return t


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t: the t with P(T <= t) = p (-inf at 0, +inf at 1)."""
    _check_df(df)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], not {p!r}")
    if p in (0.0, 0.5, 1.0):
        return math.copysign(math.inf, p - 0.5) if p != 0.5 else 0.0
    return -_t_upper_quantile(p, df) if p < 0.5 else _t_upper_quantile(1.0 - p, df)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of b successes in b + c trials at 1/2.

    Equal to min(1, 2 P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2), as scipy's binomtest
    gives for p = 1/2. Exact integer arithmetic up to 5000 discordant pairs, the incomplete
    beta function above that."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must not be negative")
    n, k = b + c, min(b, c)
    if 2 * k >= n:
        return 1.0
    if n <= 5000:
        term, total = 1, 1
        for i in range(k):
            term = term * (n - i) // (i + 1)
            total += term
        return min(1.0, (2 * total) / (1 << n))
    return min(1.0, 2.0 * _betainc(n - k, k + 1.0, 0.5, 0.5))


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
        if type(self.tolerance) not in (int, float) or not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise InvalidInput("policy.tolerance", f"must be a finite number >= 0, not {self.tolerance!r}")
        if type(self.alpha) not in (int, float) or not 0.0 < self.alpha < 1.0:
            raise InvalidInput("policy.alpha", f"must be a number strictly between 0 and 1, not {self.alpha!r}")
        if type(self.min_items) is not int or self.min_items < 2:
            raise InvalidInput("policy.min_items", f"must be an integer >= 2, not {self.min_items!r}")
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
    verdict: str
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
            unmatched: int) -> tuple[str, str]:
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


def _items(run: Mapping[str, Any], which: str, metric: str) -> dict[str, tuple[float, bool, Any]]:
    """item_id -> (value compared, passed, extra), checked enough that the arithmetic cannot go wrong."""
    if not isinstance(run, Mapping):
        raise InvalidInput(which, "must be a run document (an object)")
    items = run.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{which} $.items", "the run has no items: the gate compares per-item results "
                                               "(ingest per-sample files to get them)")
    found: dict[str, tuple[float, bool, Any]] = {}
    for i, item in enumerate(items):
        where = f"{which} $.items[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("item_id"), str):
            raise InvalidInput(f"{where}.item_id", "every item needs a string item_id")
        score, passed = item.get("score"), item.get("passed")
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
        raise InvalidInput(where, "cluster key missing in both runs")
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
    """The `verdict.recorded` document (accepted by auditlog.core.runs.normalize_verdict).

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
