"""Statistics over runs: median, IQM, bootstrap CIs, paired comparisons, verdicts, profiles.

Data-flow stage: metrics (stored) -> **analysis** -> report.
Small numpy/scipy functions on ``(runs,)`` arrays with an explicit seeded
``np.random.Generator`` (rliable style). Censored values (a run that never reached the
target, a diverged loss) enter as ``+inf``: they sort last, so a median stays finite
while fewer than half the runs are censored and becomes ``inf`` after that.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

N_BOOTSTRAP = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


def median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median along ``axis``; +inf entries count as larger than everything."""
    return np.median(values, axis=axis)


def mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Plain mean along ``axis`` (a ``statistic`` like median/iqm); any +inf makes it inf."""
    return np.mean(values, axis=axis)


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean(x, 0.25)``)."""
    return sps.trim_mean(values, 0.25, axis=axis)


def _quantiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap samples; no interpolation, so +inf stays +inf."""
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha], method="inverted_cdf")
    return float(lo), float(hi)


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng``, or a fresh generator seeded with BOOTSTRAP_SEED (so every call is reproducible)."""
    return np.random.default_rng(BOOTSTRAP_SEED) if rng is None else rng


def resample_indices(n: int, rng: np.random.Generator, n_boot: int = N_BOOTSTRAP) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_ci(
    values: np.ndarray,
    statistic=median,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``statistic(values)`` for values (n,)."""
    rng = _generator(rng)
    values = np.asarray(values, dtype=np.float64)
    samples = statistic(values[resample_indices(len(values), rng, n_boot)], axis=1)
    return _quantiles(samples, confidence)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with inf/inf and 0/0 as NaN (undefined), x/0 as inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)


ratio = _ratio  # public name: a ``combine`` for paired CIs of ratios


def _paired(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 copies of two (n,) arrays paired by seed; ValueError if the shapes differ."""
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    if values.shape != reference.shape:
        raise ValueError(f"paired arrays must have the same shape, got {values.shape} and {reference.shape}")
    return values, reference


def _paired_bootstrap(
    values, reference, statistic, combine, rng, n_boot, confidence
) -> tuple[float, float, float]:
    """(combine(stat(values), stat(reference)), low, high), resampling seeds jointly; NaN bounds if any sample
    is NaN."""
    values, reference = _paired(values, reference)
    index = resample_indices(len(values), _generator(rng), n_boot)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = combine(statistic(values[index], axis=1), statistic(reference[index], axis=1))
        point = float(combine(statistic(values), statistic(reference)))
    if np.isnan(samples).any():
        return point, float("nan"), float("nan")
    return (point, *_quantiles(samples, confidence))


def paired_ratio_ci(
    values: np.ndarray,
    reference: np.ndarray,
    statistic=median,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(ratio, low, high) of statistic(values) / statistic(reference), paired by position (seed).

    Both arrays are (n,) with entry i from the same seed; each bootstrap sample resamples
    seeds and keeps the pairs together. NaN bounds mean the ratio is undefined (both inf).
    """
    return _paired_bootstrap(values, reference, statistic, _ratio, rng, n_boot, confidence)


def as_censored(values: np.ndarray) -> np.ndarray:
    """float64 copy with NaN/None (never reached, diverged) replaced by +inf."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.inf, values)


def paired_difference_ci(
    values: np.ndarray,
    reference: np.ndarray,
    statistic=median,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(diff, low, high) of statistic(values) - statistic(reference), paired by position (seed).

    Args:
        values, reference: (n,) arrays, entry i of both from the same seed.
    Seeds are resampled jointly (pairs kept). Infinite differences are allowed; if any bootstrap
    sample is NaN (inf - inf: both statistics censored) the bounds are NaN (undefined).
    """
    return _paired_bootstrap(values, reference, statistic, np.subtract, rng, n_boot, confidence)


def probability_of_improvement(
    values: np.ndarray,
    reference: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(p, low, high): paired P(values_i < reference_i), ties (also inf == inf) counting 1/2.

    Args:
        values, reference: (n,) arrays paired by seed; lower is better, censored = +inf
            (pass NaN through ``as_censored`` first: a NaN compares neither less nor equal).
    Returns:
        p = mean_i(1[a_i < b_i] + 0.5 * 1[a_i == b_i]); p > 0.5 means ``values`` is better.
        (low, high) is a percentile-bootstrap CI resampling seeds.
    """
    values, reference = _paired(values, reference)
    wins = (values < reference) + 0.5 * (values == reference)  # (n,)
    rng = _generator(rng)
    samples = wins[resample_indices(len(wins), rng, n_boot)].mean(axis=1)
    return (float(wins.mean()), *_quantiles(samples, confidence))


SPEED_MARGIN = 0.25
LOSS_MARGIN = 0.05
MIN_PAIRS = 6  # fewer seed pairs: no 95% interval of a median exists (order statistics need 6), so no verdict
VERDICT_RULES: dict[str, str] = {
    "no target": "most of the reference's runs diverged, so the setting has no target loss to compare "
    "against",
    "too few runs": (
        f"fewer than {MIN_PAIRS} seed pairs: at this sample size no 95% interval of a median exists, so no "
        "verdict is given"
    ),
    "fails": (
        "the 95% Wilson interval of the share of its runs that ever reach the target lies entirely below "
        "one half: most runs never get there"
    ),
    "equivalent": (
        "the CI of the steps-to-target ratio (scheme / reference) lies within "
        f"[{1 / (1 + SPEED_MARGIN):.2f}, {1 + SPEED_MARGIN:.2f}] and the CI of the final-loss difference "
        f"(scheme - reference) lies within ±{LOSS_MARGIN:g}, and the log interval is at most "
        f"{100 * SPEED_MARGIN / 2:g}% of the reference's median steps to target (half the band; coarser logs "
        "cannot resolve the band)"
    ),
    "slower": (
        "the median steps-to-target ratio is finite and its CI lies entirely above 1: the scheme needs more "
        "steps"
    ),
    "worse": (
        "not slower, but the CI of the final-loss difference lies entirely above 0: the scheme ends at a "
        "higher loss (even where it reaches the early target sooner)"
    ),
    "faster": (
        "the CI of the steps-to-target ratio lies entirely below 1 and the scheme does not end worse: it "
        "needs fewer steps"
    ),
    "better": (
        "the CI of the steps-to-target ratio contains 1, but the CI of the final-loss difference lies "
        "entirely below 0: the scheme ends at a lower loss"
    ),
    "inconclusive": (
        "none of the above is established: the CIs are too wide or undefined (e.g. half or more of the runs "
        "never reach the target, yet not clearly most)"
    ),
}


def equivalence_verdict(
    reached: float,
    ratio_lo: float,
    ratio_hi: float,
    loss_diff_lo: float,
    loss_diff_hi: float,
    margin: float = SPEED_MARGIN,
    loss_margin: float = LOSS_MARGIN,
    *,
    reached_hi: float | None = None,
    n: int | None = None,
    resolution: float = float("nan"),
    ratio: float | None = None,
) -> str:
    """Verdict (a key of ``VERDICT_RULES``) of one scheme against the reference in one setting.

    Args:
        reached: fraction of the scheme's runs that reach the target, in [0, 1].
        ratio_lo, ratio_hi: CI of the steps-to-target ratio scheme / reference.
        loss_diff_lo, loss_diff_hi: CI of the final-loss difference scheme - reference.
        margin: speed equivalence band [1 / (1 + margin), 1 + margin] (bounds inclusive).
        loss_margin: loss equivalence band [-loss_margin, loss_margin] (bounds inclusive).
        reached_hi: upper bound of the Wilson interval of ``reached``: "fails" when it is below 0.5; without
        it,
            when ``reached`` itself is.
        n: seed pairs behind the CIs ("too few runs" below MIN_PAIRS); None: not checked.
        resolution: log interval / the reference's median steps to target; "equivalent" needs it at most
            margin / 2 (NaN: unknown, not checked).
        ratio: the point ratio; "slower" needs it finite (None: not checked).
    Checked in order: too few runs, fails, equivalent, slower, worse, faster, better, else inconclusive, so a
    verdict names a shortcoming (slower, worse) before a strength.
    Any NaN bound (or NaN ``reached``) gives "inconclusive" once "fails" is ruled out.
    """
    if n is not None and n < MIN_PAIRS:
        return "too few runs"
    if (reached if reached_hi is None or np.isnan(reached_hi) else reached_hi) < 0.5:
        return "fails"
    if np.isnan([reached, ratio_lo, ratio_hi, loss_diff_lo, loss_diff_hi]).any():
        return "inconclusive"
    if (
        1 / (1 + margin) <= ratio_lo
        and ratio_hi <= 1 + margin
        and -loss_margin <= loss_diff_lo
        and loss_diff_hi <= loss_margin
        and not resolution > margin / 2
    ):
        return "equivalent"
    slower = ratio_lo > 1 and (ratio is None or np.isfinite(ratio))
    for verdict, holds in (
        ("slower", slower),
        ("worse", loss_diff_lo > 0),
        ("faster", ratio_hi < 1),
        ("better", loss_diff_hi < 0),
    ):
        if holds:
            return verdict
    return "inconclusive"


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Dolan–Moré / AlgoPerf performance profile: fraction of settings within tau of the best.

    Args:
        scores: (n_settings, n_schemes), lower is better, >= 0; +inf = never reached.
        taus: (n_taus,) ratio thresholds (>= 1 to be meaningful).
    Returns:
        (n_taus, n_schemes): fraction of settings where score / best score of that setting <= tau.
        A setting whose best is inf gives every scheme ratio inf; a best of 0 gives 1 for the zeros
        and inf for the rest. An infinite ratio never counts, not even for tau = inf.
    """
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or np.isnan(scores).any() or (scores < 0).any():
        raise ValueError("scores must be (n_settings, n_schemes), >= 0, without NaN (use as_censored)")
    best = scores.min(axis=1, keepdims=True)  # (n_settings, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(scores == best, 1.0, scores / best)  # 0/0 -> 1, x/0 -> inf
    ratios = np.where(np.isinf(best), np.inf, ratios)  # inf/inf -> inf, not 1
    taus = np.asarray(taus, np.float64).reshape(-1, 1, 1)
    return ((ratios <= taus) & np.isfinite(ratios)).mean(axis=1)


def stratified_bootstrap_ci(
    groups: list[np.ndarray],
    statistic=iqm,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(point, low, high) of statistic over all settings pooled, rliable-style stratified bootstrap.

    Args:
        groups: one (n_g,) array per setting; lengths may differ, none may be empty.
    Each bootstrap sample resamples with replacement within every group separately (so group g
    keeps n_g values), concatenates to (sum n_g,), and applies ``statistic``.
    point = statistic(concatenation of the original groups).
    """
    groups = [np.asarray(g, np.float64).ravel() for g in groups]
    if not groups or min(len(g) for g in groups) == 0:
        raise ValueError("stratified_bootstrap_ci needs at least one group and no empty group")
    rng = _generator(rng)
    samples = np.concatenate([g[resample_indices(len(g), rng, n_boot)] for g in groups], axis=1)
    point = float(statistic(np.concatenate(groups)))
    return (point, *_quantiles(statistic(samples, axis=1), confidence))


def ecdf(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Empirical CDF: fraction of values (n,) <= each grid point, shaped like ``grid``.

    +inf (and NaN) values are never counted but stay in the denominator, so the curve of
    steps to target levels off at the fraction of runs that reached the target.
    """
    values = np.asarray(values, np.float64).ravel()
    if values.size == 0:
        raise ValueError("ecdf needs at least one value")
    finite = np.sort(values[np.isfinite(values)])
    return np.searchsorted(finite, np.asarray(grid, np.float64), side="right") / values.size


def _crossing(curves: np.ndarray, steps: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(...,) first step where the median over runs of ``curves`` (..., n, T) is <= ``target`` (...,); +inf if
    never."""
    hit = np.median(curves, axis=-2) <= np.asarray(target)[..., None]  # (..., T)
    return np.where(hit.any(axis=-1), np.asarray(steps, np.float64)[hit.argmax(axis=-1)], np.inf)


def paired_catch_up_ci(
    values: np.ndarray,
    reference: np.ndarray,
    steps: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(multiple, low, high): how many times the reference's steps a scheme needs to reach the late target.

    Args:
        values, reference: (n, T) training-loss curves paired by seed (row i of both from the same seed),
            logged at ``steps`` (T,); non-finite losses (a diverged run) count as +inf.
    The late target is the reference's median final loss; each side's step is the first logged step at which
    its median curve (median over runs at each step) is at or below it, +inf if never. The reference's median
    curve reaches it by the last step at the latest, so the multiple is finite unless the scheme never gets
    there. Each bootstrap sample resamples seeds in pairs and recomputes the target; NaN bounds when a sample
    is undefined (e.g. most reference runs diverged); all NaN when T = 0.

    >>> steps = np.array([0, 10, 20, 30])
    >>> ref = np.array([[2.0, 1.0, 0.6, 0.5]] * 4)
    >>> paired_catch_up_ci(ref + 0.1, ref, steps)[0], paired_catch_up_ci(ref[:, [0, 0, 1, 3]], ref, steps)[0]
    (inf, 1.0)
    """
    values, reference = _paired(values, reference)
    if values.ndim != 2 or len(steps) != values.shape[1]:
        raise ValueError(
            f"curves must be (n, T) with T = len(steps), got {values.shape} and {len(steps)} steps"
        )
    if values.shape[1] == 0:  # nothing logged (e.g. a results file whose losses were all blanked)
        return float("nan"), float("nan"), float("nan")
    values, reference = (np.where(np.isfinite(a), a, np.inf) for a in (values, reference))

    def multiple(v: np.ndarray, r: np.ndarray) -> np.ndarray:
        target = np.median(r[..., -1], axis=-1)
        ratio = _ratio(_crossing(v, steps, target), _crossing(r, steps, target))
        return np.where(np.isinf(target), np.nan, ratio)  # no late target when most reference runs diverged

    index = resample_indices(len(values), _generator(rng), n_boot)
    point, samples = float(multiple(values, reference)), multiple(values[index], reference[index])
    if np.isnan(samples).any():
        return point, float("nan"), float("nan")
    return (point, *_quantiles(samples, confidence))
