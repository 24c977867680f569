"""Steps to target as survival data: Kaplan–Meier curves, restricted means, order-statistic and paired CIs.

Data-flow stage: store -> **analysis** -> report.
A run's *steps to target* (``first_reach``, a logged step, >= 0) is right-censored at the last logged step
``horizon`` when it never gets there or diverges, and arrives as +inf or NaN (a time above the horizon counts
as censored too). All censoring is thus administrative: the Kaplan–Meier curve is the empirical CDF and the
restricted mean is mean(min(t, horizon)), so a plain bootstrap of min(t, horizon) is valid. Paired functions
take (n,) arrays whose entry i comes from the same seed. Thin wrappers around scipy (``ecdf`` on
``CensoredData``, ``bootstrap``, ``binomtest``, ``binom``) with explicit seeds; nothing warns: where scipy
would (a degenerate BCa, an undefined KM bound) a documented fallback takes over.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from scipy import stats as sps

from symjax.analysis.stats import BOOTSTRAP_SEED, CONFIDENCE, N_BOOTSTRAP, SPEED_MARGIN, as_censored

LOSS_DROP_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)
MAX_RESOLUTION = SPEED_MARGIN / 2  # the report refuses "equivalent" above this resolution
_NAN3 = (float("nan"),) * 3
# scipy >= 1.15 seeds bootstrap with ``rng``; 1.11-1.14 only know ``random_state`` (same draws from a
# Generator)
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(sps.bootstrap).parameters else "random_state"


def _split(times: np.ndarray, horizon: float) -> tuple[np.ndarray, int]:
    """(event times (e,) <= horizon, number censored) of times (n,); +inf/NaN/> horizon are censored."""
    times = as_censored(np.ravel(times))
    if (times < 0).any():
        raise ValueError("steps to target must be >= 0")
    reached = times <= horizon
    return times[reached], int((~reached).sum())


def _km(events: np.ndarray, n_censored: int, horizon: float):
    """scipy's ECDFResult (Kaplan–Meier) of events (e,) with n_censored runs right-censored at horizon."""
    return sps.ecdf(sps.CensoredData(uncensored=events, right=np.full(n_censored, float(horizon))))


def _clipped(times: np.ndarray, horizon: float) -> np.ndarray:
    """(n,) min(t, horizon), censored (+inf/NaN) entries at the horizon."""
    return np.minimum(as_censored(np.ravel(times)), float(horizon))


def _paired(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 (n,) copies with NaN -> +inf; ValueError unless both have the same shape (n,)."""
    values, reference = as_censored(values), as_censored(reference)
    if values.shape != reference.shape or values.ndim != 1:
        raise ValueError(f"paired arrays must both be (n,), got {values.shape} and {reference.shape}")
    return values, reference


def km_curve(times: np.ndarray, horizon: float, confidence: float = CONFIDENCE):
    """Kaplan–Meier fraction of runs that have reached the target by each event step, with a pointwise CI.

    Args:
        times: (n,) steps to target; +inf/NaN = censored at ``horizon`` (the last logged step).
    Returns:
        (steps, cdf, lo, hi), each (k,): the distinct steps at which some run reaches the target, scipy's
        ``ecdf(CensoredData(...)).cdf`` there and its pointwise ``confidence_interval`` (default Greenwood
        "linear", clipped to [0, 1]). Where the curve reaches 1 that bound is undefined: there ``hi`` = 1 and
        ``lo`` = the previous step's (still valid, the CDF only rises), 0 if none. k = 0 if no run reaches.

    >>> km_curve(np.array([10, 20, 20, np.inf]), horizon=40)[:2]
    (array([10., 20.]), array([0.25, 0.75]))
    """
    events, n_censored = _split(times, horizon)
    if events.size == 0:
        return tuple(np.empty(0) for _ in range(4))
    result, steps = _km(events, n_censored, horizon), np.unique(events)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "The confidence interval is undefined at ..."
        ci = result.cdf.confidence_interval(confidence)
    lo, hi = ci.low.evaluate(steps), ci.high.evaluate(steps)
    for i in np.flatnonzero(np.isnan(lo)):  # carry the last defined lower bound forward
        lo[i] = lo[i - 1] if i else 0.0
    return steps, result.cdf.evaluate(steps), lo, np.where(np.isnan(hi), 1.0, hi)


def restricted_mean(times: np.ndarray, horizon: float) -> float:
    """Restricted mean time to target (RMST): the area under the KM survival curve from 0 to ``horizon``.

    times (n,), +inf/NaN = censored. The exact integral of scipy's ``ecdf(...).sf`` step function, equal to
    mean(min(t, horizon)) as all censoring is at the horizon; ``horizon`` if no run reaches, NaN for n = 0.

    >>> round(restricted_mean(np.array([10, 20, np.inf]), horizon=40), 4)
    23.3333
    """
    events, n_censored = _split(times, horizon)
    if events.size == 0:
        return float(horizon) if n_censored else float("nan")
    sf = _km(events, n_censored, horizon).sf
    knots = np.concatenate([[0.0], sf.quantiles, [float(horizon)]])  # S = levels[j] on [knots[j], knots[j+1])
    levels = np.concatenate([[1.0], sf.probabilities])
    return float(np.sum(levels * np.diff(knots)))


def _bootstrap_ci(data: tuple, statistic, confidence: float, n_resamples: int, seed: int):
    """(point, lo, hi) of statistic(*data, axis=-1) (vectorized; data: one or two (n,) arrays, paired).

    BCa when the point, every bootstrap and jackknife value is finite and the bootstrap values differ (and
    BCa's bounds are finite), else the percentile interval of the same resamples (``inverted_cdf``: +inf stays
    +inf). NaN bounds when the point or any resample is NaN; all NaN for n = 0; n = 1: (point, point, point).
    """
    n = len(data[0])
    if n == 0:
        return _NAN3
    options = dict(vectorized=True, paired=len(data) > 1, confidence_level=confidence)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # includes scipy's DegenerateDataWarning
        point = float(statistic(*data, axis=-1))
        if n == 1:
            return point, point, point  # the only resample is the sample itself
        result = sps.bootstrap(
            data,
            statistic,
            n_resamples=n_resamples,
            method="percentile",
            **{_RNG_KEYWORD: np.random.default_rng(seed)},
            **options,
        )
        samples = result.bootstrap_distribution  # (n_resamples,)
        if np.isnan(point) or np.isnan(samples).any():
            return point, float("nan"), float("nan")
        keep = ~np.eye(n, dtype=bool)  # row i leaves observation i out
        jackknife = statistic(*(np.broadcast_to(d, (n, n))[keep].reshape(n, n - 1) for d in data), axis=-1)
        if (
            np.isfinite(point)
            and np.isfinite(samples).all()
            and np.ptp(samples) > 0
            and np.isfinite(jackknife).all()
        ):
            bca = sps.bootstrap(
                data, statistic, n_resamples=0, bootstrap_result=result, method="BCa", **options
            ).confidence_interval
            if np.isfinite([bca.low, bca.high]).all():
                return point, float(bca.low), float(bca.high)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha], method="inverted_cdf")
    return point, float(lo), float(hi)


def rmst_ci(
    times: np.ndarray,
    horizon: float,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(RMST, lo, hi): restricted mean time to target with a BCa bootstrap CI.

    times (n,), +inf/NaN = censored. The vectorized statistic is mean(min(t, horizon)), the RMST because the
    censoring is administrative (all at the horizon), so resamples need no KM refit. All values equal (also
    n = 1): (v, v, v) without a warning; n = 0: NaN. Deterministic for a fixed ``seed``.
    """
    return _bootstrap_ci((_clipped(times, horizon),), np.mean, confidence, n_resamples, seed)


def paired_bca_ci(
    values: np.ndarray,
    reference: np.ndarray,
    statistic,
    combine,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(point, lo, hi) of combine(statistic(values), statistic(reference)), seeds resampled in pairs.

    Args:
        values, reference: (n,) floats paired by seed; +inf allowed (NaN is read as +inf).
        statistic: vectorized, ``statistic(x, axis=-1)`` (e.g. ``np.median``).
        combine: elementwise, e.g. ``np.divide`` (ratio; x/0 = inf, 0/0 = NaN) or ``np.subtract``.
    ``scipy.stats.bootstrap(..., paired=True, vectorized=True)``, BCa when the point and every jackknife and
    bootstrap value is finite, else the percentile interval of the same resamples with +inf kept. NaN bounds
    when any resample is NaN (inf/inf, inf - inf); (point, point) when all resamples are equal.
    """
    values, reference = _paired(values, reference)

    def paired_statistic(x, y, axis=-1):
        return combine(statistic(x, axis=axis), statistic(y, axis=axis))

    return _bootstrap_ci((values, reference), paired_statistic, confidence, n_resamples, seed)


def paired_rmst_ratio_ci(
    times: np.ndarray,
    reference: np.ndarray,
    horizon: float,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(ratio, lo, hi) of RMST(times) / RMST(reference), (n,) each, paired by seed (``paired_bca_ci``).

    Percentile fallback when BCa is undefined; the ratio is inf when every reference run reaches the target at
    step 0 and NaN (bounds too) when both sides do.
    """
    return paired_bca_ci(
        _clipped(times, horizon),
        _clipped(reference, horizon),
        np.mean,
        np.divide,
        confidence,
        n_resamples,
        seed,
    )


def _rank(null_cdf: np.ndarray, confidence: float) -> int:
    """Largest k with P(S < k) = null_cdf[k - 1] <= (1 - confidence) / 2; 0 if none (null_cdf[j] = P(S <=
    j))."""
    return int(np.count_nonzero(null_cdf <= (1 - confidence) / 2))


def median_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median, lo, hi): distribution-free order-statistic CI of the median of values (n,).

    With k the largest rank such that P(Binomial(n, 1/2) < k) <= alpha/2, [x_(k), x_(n-k+1)] (1-based) covers
    the median with probability 1 - 2 P(Binomial(n, 1/2) < k) >= ``confidence`` for any continuous law.
    +inf/NaN (censored) sort last, so bounds may be inf. NaN bounds when no k >= 1 qualifies (n < 6 at 95%),
    all NaN for n = 0. No randomness.

    >>> median_ci(np.arange(1.0, 11.0))  # n = 10: k = 2
    (5.5, 2.0, 9.0)
    """
    x = np.sort(as_censored(np.ravel(values)))
    n = x.size
    if n == 0:
        return _NAN3
    k = min(_rank(sps.binom.cdf(np.arange(n + 1), n, 0.5), confidence), (n + 1) // 2)
    point = float(np.median(x))
    return (point, float("nan"), float("nan")) if k == 0 else (point, float(x[k - 1]), float(x[n - k]))


def _signed_rank_cdf(n: int) -> np.ndarray:
    """(n(n+1)/2 + 1,) exact null CDF P(T+ <= j) of the Wilcoxon signed-rank statistic for n pairs."""
    pmf = np.zeros(n * (n + 1) // 2 + 1)
    pmf[0] = 1.0
    for r in range(1, n + 1):  # rank r joins the positive set or not, each with probability 1/2
        pmf = (pmf + np.concatenate([np.zeros(r), pmf[:-r]])) / 2
    return np.cumsum(pmf)


def hodges_lehmann(times: np.ndarray, reference: np.ndarray, confidence: float = CONFIDENCE):
    """(estimate, lo, hi, pairs): Hodges–Lehmann ratio of steps to target, scheme / reference, paired by seed.

    Over the ``pairs`` of (n,) entries where both are finite and > 0, d_i = log(times_i / reference_i); with
    the M Walsh averages W = (d_i + d_j) / 2, i <= j: estimate = exp(median W), CI = exp([W_(K), W_(M-K+1)]),
    K the largest rank with P(T+ < K) <= alpha/2 under the exact null law of the Wilcoxon signed-rank T+
    (Hollander & Wolfe, no normal approximation; exact coverage for continuous d without ties). 2.0: the
    scheme needs twice the reference's steps. All NaN when pairs = 0; NaN CI when no K >= 1 qualifies (pairs <
    6 at 95%).

    >>> hodges_lehmann(np.array([20.0, 40, np.inf]), np.array([10.0, 20, 30]))
    (2.0, nan, nan, 2)
    """
    times, reference = _paired(times, reference)
    both = np.isfinite(times) & np.isfinite(reference) & (times > 0) & (reference > 0)
    d = np.log(times[both] / reference[both])
    n = d.size
    if n == 0:
        return (*_NAN3, 0)
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)  # (M,)
    m = walsh.size
    k = min(_rank(_signed_rank_cdf(n), confidence), (m + 1) // 2)
    estimate = float(np.exp(np.median(walsh)))
    if k == 0:
        return estimate, float("nan"), float("nan"), n
    return estimate, float(np.exp(walsh[k - 1])), float(np.exp(walsh[m - k])), n


def reached_ci(reached: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(fraction, lo, hi) of runs reaching the target, reached (n,) boolean; all NaN for n = 0.

    Wilson interval, ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.

    >>> tuple(round(v, 4) for v in reached_ci(np.array([True] * 3 + [False] * 7)))
    (0.3, 0.1078, 0.6032)
    """
    reached = np.asarray(reached, dtype=bool).ravel()
    if reached.size == 0:
        return _NAN3
    k = int(reached.sum())
    ci = sps.binomtest(k, reached.size).proportion_ci(confidence_level=confidence, method="wilson")
    return k / reached.size, float(ci.low), float(ci.high)


def loss_drop_targets(curves0: float, curves_end: float, fractions=LOSS_DROP_FRACTIONS) -> np.ndarray:
    """(q,) training losses at which the reference has made each fraction of its loss drop.

    L0 - f (L0 - Lend) per fraction f (q,) (default ``LOSS_DROP_FRACTIONS``), with L0 = ``curves0`` and Lend =
    ``curves_end`` the reference's median training loss at step 0 and at the last step: f = 0 is L0, f = 1 is
    Lend. No check that the loss dropped (Lend > L0 puts the targets above L0).

    >>> loss_drop_targets(2.0, 1.0, (0.1, 0.5, 0.9)).tolist()
    [1.9, 1.5, 1.1]
    """
    return float(curves0) - np.asarray(fractions, np.float64) * (float(curves0) - float(curves_end))


def first_reach(curves: np.ndarray, steps: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n, q) first logged step at which each run's training loss is <= each target; +inf if never.

    curves (n, T): training losses logged at ``steps`` (T,), ascending; non-finite losses never reach.

    >>> first_reach(np.array([[3.0, 2.0, 1.0], [3.0, np.nan, 0.5]]), np.array([0, 10, 20]),
    ...             np.array([2.0, 0.8]))
    array([[10., inf],
           [20., 20.]])
    """
    curves, steps = np.asarray(curves, np.float64), np.asarray(steps, np.float64)
    targets = np.atleast_1d(np.asarray(targets, np.float64))
    if curves.ndim != 2 or steps.shape != (curves.shape[1],) or targets.ndim != 1:
        raise ValueError(
            f"need curves (n, T), steps (T,), targets (q,); got {curves.shape}, {steps.shape}, "
            f"{targets.shape}"
        )
    if steps.size == 0:
        return np.full((curves.shape[0], targets.size), np.inf)
    hit = np.isfinite(curves)[:, :, None] & (curves[:, :, None] <= targets)  # (n, T, q)
    return np.where(hit.any(axis=1), steps[hit.argmax(axis=1)], np.inf)


def resolution(log_every: float, reference_times: np.ndarray) -> float:
    """The log interval as a fraction of the reference's median steps to target.

    log_every / median(reference_times (n,)), censored (+inf/NaN) runs sorting last; +inf if that median is
    censored (at least half censored, or n = 0) or zero. Steps to target are known only to within one log
    interval, so the report refuses the verdict "equivalent" when this exceeds half the speed band,
    ``MAX_RESOLUTION = stats.SPEED_MARGIN / 2``.

    >>> resolution(10, np.array([80.0, 100, 100, np.inf])), resolution(10, np.array([80.0, np.inf]))
    (0.1, inf)
    """
    times = as_censored(np.ravel(reference_times))
    median = float(np.median(times)) if times.size else float("inf")
    return float(log_every) / median if np.isfinite(median) and median > 0 else float("inf")
