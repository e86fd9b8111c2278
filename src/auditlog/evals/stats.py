"""The distributions the gate needs, from the standard library alone.

Student's t (CDF, survival, two-sided p-value, quantile) from the regularized
incomplete beta function, and McNemar's exact test. Accurate to about 1e-12
relative; checked against scipy in tests/unit/test_gate.py. An auditor can read
the formulas here without numpy.
"""

from __future__ import annotations

import math

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
