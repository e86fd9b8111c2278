"""The gate: its numbers against scipy (the reference, a test-only extra), its degenerate
cases, its verdict policy, and properties that must hold for any data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from auditlog.errors import InvalidInput
from auditlog.evals.gate import ALLOW, BLOCK, NEEDS_REVIEW, GatePolicy, gate, verdict_document
from auditlog.evals.runs import normalize_verdict
from auditlog.evals.stats import mcnemar_exact, t_cdf, t_ppf, t_sf, t_two_sided_p

RTOL = 1e-9


def run(scores, *, run_id="r", ids=None, passed=None, extra=None):
    ids = ids or [f"q{i}" for i in range(len(scores))]
    items = []
    for i, (item_id, score) in enumerate(zip(ids, scores)):
        item = {"item_id": item_id, "score": float(score),
                "passed": bool(passed[i]) if passed is not None else float(score) >= 1.0}
        if extra is not None:
            item["extra"] = extra[i]
        items.append(item)
    return {"run_id": run_id, "items": items}


# -- the t distribution and the binomial, against scipy ------------------------

DFS = [*range(1, 31), 35, 40, 50, 60, 75, 100, 120, 150, 200, 300, 500, 750, 1000, 2.5, 7.25]
TS = [1e-3, 0.1, 0.5, 0.99, 1.0, 1.5, 1.96, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e5]
PS = [1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.45,
      0.55, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-6, 1 - 1e-9]


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_and_sf_match_scipy_in_both_tails(df):
    for t in TS + [-t for t in TS] + [0.0]:
        for ours, ref in ((t_cdf(t, df), stats.t.cdf(t, df)), (t_sf(t, df), stats.t.sf(t, df))):
            if ref > 1e-300:
                assert ours == pytest.approx(ref, rel=RTOL, abs=0), (t, df)
        assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=RTOL)


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_matches_scipy_and_inverts_the_cdf(df):
    for p in PS:
        ours = t_ppf(p, df)
        assert ours == pytest.approx(stats.t.ppf(p, df), rel=RTOL), (p, df)
        assert t_cdf(ours, df) == pytest.approx(p, rel=1e-9), (p, df)


def test_the_quantile_the_gate_uses_matches_scipy_for_every_df_up_to_1000():
    for df in range(1, 1001):
        for p in (0.95, 0.975, 0.995):
            assert t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=RTOL), (p, df)


def test_cdf_and_sf_match_scipy_for_every_df_up_to_1000():
    for df in range(1, 1001):
        for t in (-25.0, -4.0, -1.3, 0.4, 2.2, 8.0, 60.0):
            assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=RTOL), (t, df)
            assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=RTOL), (t, df)


def test_extreme_arguments_stay_finite_or_are_exact_limits():
    assert t_ppf(0.5, 7) == 0.0
    assert t_ppf(0.0, 3) == -math.inf and t_ppf(1.0, 3) == math.inf
    assert t_sf(math.inf, 4) == 0.0 and t_cdf(-math.inf, 4) == 0.0
    assert t_cdf(t_ppf(1e-300, 3), 3) == pytest.approx(1e-300, rel=RTOL)   # scipy says -inf here
    assert t_sf(40.0, 1e6) == pytest.approx(stats.t.sf(40.0, 1e6), rel=1e-8)
    with pytest.raises(ValueError):
        t_cdf(1.0, 0)
    with pytest.raises(ValueError):
        t_ppf(1.5, 3)


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (0, 1), (3, 3), (5, 2), (2, 9), (10, 30), (40, 10), (100, 130),
                                  (700, 650), (2500, 2600), (4000, 4300), (6000, 6400)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    expected = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=RTOL)


# -- the paired analysis, against scipy.stats.ttest_rel ---------------------------

@pytest.mark.parametrize("seed, n, alpha", [(1, 12, 0.05), (2, 50, 0.05), (3, 200, 0.1), (4, 31, 0.01), (5, 2, 0.05),
                                            (6, 1000, 0.05)])
def test_paired_t_matches_ttest_rel(seed, n, alpha):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, n)
    cand = np.clip(base + rng.normal(-0.02, 0.15, n), 0, 1)
    result = gate(run(cand, run_id="c"), run(base, run_id="b"), GatePolicy(alpha=alpha, min_items=2))
    ref = stats.ttest_rel(cand, base)
    low, high = ref.confidence_interval(confidence_level=1 - alpha)
    assert result.n_paired == n and result.df == n - 1
    assert result.delta == pytest.approx(float(np.mean(cand - base)), rel=1e-12)
    assert result.se == pytest.approx(result.delta / ref.statistic, rel=RTOL)
    assert result.p_value == pytest.approx(ref.pvalue, rel=RTOL)
    assert (result.ci_low, result.ci_high) == (pytest.approx(low, rel=RTOL), pytest.approx(high, rel=RTOL))


def test_mcnemar_counts_discordant_pass_flags():
    base = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1]
    cand = [0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0]
    result = gate(run(cand), run(base))
    assert (result.mcnemar.b, result.mcnemar.c) == (5, 1)      # passed -> failed, failed -> passed
    assert result.mcnemar.p_value == pytest.approx(stats.binomtest(5, 6, 0.5).pvalue, rel=RTOL)


def test_cluster_robust_se_is_cr1_with_g_minus_1_df():
    rng = np.random.default_rng(7)
    n, groups = 60, 8
    cluster = rng.integers(0, groups, n)
    base = rng.uniform(0, 1, n)
    cand = np.clip(base + rng.normal(0, 0.2, n) + 0.05 * (cluster - 4) / 4, 0, 1)
    extra = [{"meta": {"subject": f"s{g}"}} for g in cluster]
    policy = GatePolicy(cluster_key="meta.subject")
    result = gate(run(cand, extra=extra), run(base, extra=extra), policy)
    # Independent sandwich: V = (X'X)^-1 [sum_g X_g' e_g e_g' X_g] (X'X)^-1 * G/(G-1) * (N-1)/(N-K), X = 1, K = 1.
    d = cand - base
    e = d - d.mean()
    meat = sum(e[cluster == g].sum() ** 2 for g in np.unique(cluster))
    g = len(np.unique(cluster))
    se = math.sqrt(meat / n ** 2 * g / (g - 1) * (n - 1) / (n - 1))
    half = stats.t.ppf(0.975, g - 1) * se
    assert result.n_clusters == g and result.df == g - 1
    assert result.se == pytest.approx(se, rel=RTOL)
    assert (result.ci_low, result.ci_high) == (pytest.approx(d.mean() - half, rel=RTOL),
                                               pytest.approx(d.mean() + half, rel=RTOL))
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(d.mean() / se), g - 1), rel=RTOL)


def test_one_item_per_cluster_gives_the_paired_standard_error():
    rng = np.random.default_rng(8)
    base, cand = rng.uniform(0, 1, 25), rng.uniform(0, 1, 25)
    extra = [{"c": i} for i in range(25)]
    plain = gate(run(cand, extra=extra), run(base, extra=extra))
    clustered = gate(run(cand, extra=extra), run(base, extra=extra), GatePolicy(cluster_key="c"))
    assert clustered.se == pytest.approx(plain.se, rel=1e-12) and clustered.df == plain.df


def test_cluster_key_problems_are_named():
    a = run([1, 0, 1], extra=[{"c": "x"}, {}, {"c": "y"}])
    with pytest.raises(InvalidInput, match="cluster key missing"):
        gate(a, a, GatePolicy(cluster_key="c", min_items=2))
    b = run([1, 0, 1], extra=[{"c": "x"}, {"c": "x"}, {"c": "z"}])
    c = run([1, 0, 1], extra=[{"c": "x"}, {"c": "x"}, {"c": "y"}])
    with pytest.raises(InvalidInput, match="differs between the runs"):
        gate(b, c, GatePolicy(cluster_key="c", min_items=2))


def test_one_cluster_cannot_estimate_a_standard_error():
    extra = [{"c": "same"}] * 12
    result = gate(run([1] * 12, extra=extra), run([0] * 12, extra=extra), GatePolicy(cluster_key="c"))
    assert result.verdict == NEEDS_REVIEW and result.se is None and result.ci_low is None
    assert "2 clusters" in result.reason


# -- degenerate cases -------------------------------------------------------------

def test_identical_runs_allow_with_zero_delta_and_p_one():
    a = run([1, 0, 0.5, 1, 1, 0, 1, 1, 0.25, 1])
    result = gate(a, a)
    assert (result.delta, result.se, result.ci_low, result.ci_high, result.p_value) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert result.verdict == ALLOW
    assert gate(a, a, GatePolicy(tolerance=0)).verdict == NEEDS_REVIEW    # 0 is not above -0


def test_equal_nonzero_differences_give_a_point_interval_and_p_zero():
    base = run([0.5] * 10)
    down = gate(run([0.4] * 10), base)
    assert down.se == 0.0 and down.ci_low == down.ci_high == down.delta and down.p_value == 0.0
    assert down.delta == pytest.approx(-0.1) and down.verdict == BLOCK
    up = gate(run([0.6] * 10), base, GatePolicy(mode="superiority"))
    assert up.verdict == ALLOW and up.p_value == 0.0


def test_one_paired_item_reports_the_delta_but_no_interval():
    result = gate(run([1.0], ids=["a"], run_id="cand"), run([0.0], ids=["a"], run_id="base"))
    assert result.n_paired == 1 and result.delta == 1.0
    assert result.se is None and result.ci_low is None and result.p_value is None
    assert result.verdict == NEEDS_REVIEW and "fewer than the minimum" in result.reason
    assert normalize_verdict(verdict_document(result))[0]["ci_low"] is None


def test_too_few_items_need_review_whatever_the_data():
    result = gate(run([0] * 5), run([1] * 5))
    assert result.verdict == NEEDS_REVIEW and "Only 5 paired items" in result.reason
    assert result.ci_high == -1.0                 # still computed and reported


def test_items_in_one_run_only_are_reported_not_dropped():
    cand = run([1] * 12, ids=[f"q{i}" for i in range(12)])
    base = run([1] * 11, ids=[f"q{i}" for i in range(2, 13)])
    result = gate(cand, base)
    assert result.n_paired == 10
    assert result.only_in_candidate == ("q0", "q1") and result.only_in_baseline == ("q12",)
    assert "3 items in only one run" in result.reason
    evidence = verdict_document(result)["policy"]["evidence"]
    assert (evidence["only_in_candidate"], evidence["only_in_baseline"]) == (2, 1)


def test_no_shared_items_is_an_error_not_a_verdict():
    with pytest.raises(InvalidInput, match="share no item ids"):
        gate(run([1, 1], ids=["a", "b"]), run([1, 1], ids=["c", "d"]))
    with pytest.raises(InvalidInput, match="has no items"):
        gate({"run_id": "c", "metrics": {"acc": 0.9}}, run([1]))


@pytest.mark.parametrize("bad, match", [
    ({"item_id": "a", "score": 1.5, "passed": True}, r"\$\.items\[0\]\.score"),
    ({"item_id": "a", "score": float("nan"), "passed": True}, "score"),
    ({"item_id": "a", "score": 1.0, "passed": 1}, "passed"),
    ({"score": 1.0, "passed": True}, "item_id"),
])
def test_malformed_items_are_refused(bad, match):
    with pytest.raises(InvalidInput, match=match):
        gate({"items": [bad]}, run([1]))


def test_duplicate_item_ids_are_refused():
    with pytest.raises(InvalidInput, match="duplicate"):
        gate(run([1, 0], ids=["a", "a"]), run([1]))


def test_the_passed_metric_compares_pass_flags():
    cand = run([0.9] * 10, passed=[True] * 10)
    base = run([0.9] * 10, passed=[False] * 10)
    assert gate(cand, base).delta == 0.0
    assert gate(cand, base, GatePolicy(metric="passed")).delta == 1.0


# -- policy -------------------------------------------------------------------

def test_non_inferiority_verdicts():
    base = run([0.8] * 20 + [0.6] * 20)
    assert gate(run([0.79] * 20 + [0.61] * 20), base, GatePolicy(tolerance=0.05)).verdict == ALLOW
    rng = np.random.default_rng(3)
    noisy = np.clip(np.array([0.8] * 20 + [0.6] * 20) + rng.normal(-0.02, 0.2, 40), 0, 1)
    assert gate(run(noisy), base, GatePolicy(tolerance=0.01)).verdict == NEEDS_REVIEW
    assert gate(run([0.5] * 40), base, GatePolicy(tolerance=0.05)).verdict == BLOCK


def test_superiority_verdicts():
    base = run([0.5] * 20)
    policy = GatePolicy(mode="superiority")
    assert gate(run([0.6] * 20), base, policy).verdict == ALLOW
    assert gate(base, base, policy).verdict == BLOCK            # no improvement: at best equal
    mixed = run([0.6, 0.4] * 10)
    assert gate(mixed, base, policy).verdict == NEEDS_REVIEW


@pytest.mark.parametrize("kwargs, field", [
    ({"mode": "better"}, "policy.mode"), ({"tolerance": -0.1}, "policy.tolerance"),
    ({"tolerance": math.inf}, "policy.tolerance"), ({"alpha": 0}, "policy.alpha"), ({"alpha": 1.0}, "policy.alpha"),
    ({"min_items": 1}, "policy.min_items"), ({"min_items": 2.0}, "policy.min_items"),
    ({"cluster_key": ""}, "policy.cluster_key"), ({"metric": "accuracy"}, "policy.metric"),
    # beyond a float's range (OverflowError, not InvalidInput) or a JSON number (new-user review 3)
    ({"tolerance": 10**400}, "policy.tolerance"), ({"min_items": 2**53}, "policy.min_items"),
])
def test_bad_policies_are_refused(kwargs, field):
    with pytest.raises(InvalidInput) as error:
        GatePolicy(**kwargs)
    assert error.value.field == field


def test_the_verdict_document_is_accepted_and_records_the_policy():
    rng = np.random.default_rng(11)
    base = rng.uniform(0, 1, 40)
    result = gate(run(np.clip(base - 0.01, 0, 1), run_id="cand"), run(base, run_id="base"),
                  GatePolicy(tolerance=0.02, alpha=0.1))
    doc = verdict_document(result)
    verdict, _ = normalize_verdict(doc)
    assert verdict["run_id"] == "cand" and verdict["baseline_run_id"] == "base" and verdict["metric"] == "score"
    assert verdict["verdict"] == result.verdict and verdict["reason"] == result.reason
    policy = verdict["policy"]
    assert {k: policy[k] for k in ("mode", "tolerance", "alpha", "min_items", "cluster_key", "metric")} == \
        {"mode": "non-inferiority", "tolerance": 0.02, "alpha": 0.1, "min_items": 10, "cluster_key": None,
         "metric": "score"}
    assert policy["evidence"]["n_paired"] == 40 and "Student t 90%" in policy["method"]
    assert verdict_document(result, run_id="x", baseline_run_id="y")["run_id"] == "x"
    with pytest.raises(InvalidInput):
        verdict_document(gate({"items": run([1]).get("items")}, run([1])))


# -- properties -------------------------------------------------------------------

scores = st.floats(0, 1, allow_nan=False)
score_lists = st.lists(scores, min_size=10, max_size=60)


def all_finite(result) -> bool:
    values = [result.delta, result.se, result.ci_low, result.ci_high, result.p_value]
    return all(v is None or math.isfinite(v) for v in values)


@given(score_lists, st.floats(0.001, 0.2))
def test_identical_runs_always_allow_with_delta_zero(values, tolerance):
    a = run(values)
    result = gate(a, a, GatePolicy(tolerance=tolerance))
    assert result.verdict == ALLOW and result.delta == 0.0 and result.p_value == 1.0


@given(st.lists(st.floats(0.6, 1.0), min_size=10, max_size=60), st.data())
def test_a_clear_regression_blocks(values, data):
    noise = data.draw(st.lists(st.floats(-0.05, 0.05), min_size=len(values), max_size=len(values)))
    worse = [max(0.0, v - 0.5 + e) for v, e in zip(values, noise)]
    assert gate(run(worse), run(values), GatePolicy(tolerance=0.02)).verdict == BLOCK


@given(st.lists(scores, min_size=1, max_size=9), st.data())
def test_tiny_samples_need_review(values, data):
    other = data.draw(st.lists(scores, min_size=len(values), max_size=len(values)))
    assert gate(run(other), run(values)).verdict == NEEDS_REVIEW


@settings(max_examples=200)
@given(st.lists(st.tuples(scores, scores), min_size=2, max_size=80), st.floats(0.001, 0.5))
def test_the_interval_contains_the_delta_and_swapping_negates_it(pairs, alpha):
    cand, base = run([c for c, _ in pairs]), run([b for _, b in pairs])
    policy = GatePolicy(alpha=alpha, min_items=2)
    forward, backward = gate(cand, base, policy), gate(base, cand, policy)
    assert all_finite(forward) and all_finite(backward)
    assert forward.ci_low <= forward.delta <= forward.ci_high
    assert backward.delta == -forward.delta
    assert (backward.ci_low, backward.ci_high) == (-forward.ci_high, -forward.ci_low)
    assert backward.p_value == forward.p_value and 0.0 <= forward.p_value <= 1.0
    assert (backward.mcnemar.b, backward.mcnemar.c) == (forward.mcnemar.c, forward.mcnemar.b)
