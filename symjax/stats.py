"""Statistics over runs: median, IQM, percentile-bootstrap CIs, paired ratios.

Data-flow stage: store -> metrics -> **statistics** -> report.
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


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean(x, 0.25)``)."""
    return sps.trim_mean(values, 0.25, axis=axis)


def _quantiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap samples; no interpolation, so +inf stays +inf."""
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha], method="inverted_cdf")
    return float(lo), float(hi)


def resample_indices(n: int, rng: np.random.Generator, n_boot: int = N_BOOTSTRAP) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: np.ndarray, statistic=median, rng: np.random.Generator | None = None,
                 n_boot: int = N_BOOTSTRAP, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``statistic(values)`` for values (n,)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED) if rng is None else rng
    values = np.asarray(values, dtype=np.float64)
    samples = statistic(values[resample_indices(len(values), rng, n_boot)], axis=1)
    return _quantiles(samples, confidence)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with inf/inf and 0/0 as NaN (undefined), x/0 as inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, np.float64) / np.asarray(denominator, np.float64)


def paired_ratio_ci(values: np.ndarray, reference: np.ndarray, statistic=median,
                    rng: np.random.Generator | None = None, n_boot: int = N_BOOTSTRAP,
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(ratio, low, high) of statistic(values) / statistic(reference), paired by position (seed).

    Both arrays are (n,) with entry i from the same seed; each bootstrap sample resamples
    seeds and keeps the pairs together. NaN bounds mean the ratio is undefined (both inf).
    """
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    if values.shape != reference.shape:
        raise ValueError(f"paired arrays must have the same shape, got {values.shape} and {reference.shape}")
    rng = np.random.default_rng(BOOTSTRAP_SEED) if rng is None else rng
    index = resample_indices(len(values), rng, n_boot)
    samples = _ratio(statistic(values[index], axis=1), statistic(reference[index], axis=1))
    point = float(_ratio(statistic(values), statistic(reference)))
    if np.isnan(samples).any():
        return point, float("nan"), float("nan")
    return (point, *_quantiles(samples, confidence))


def as_censored(values: np.ndarray) -> np.ndarray:
    """float64 copy with NaN/None (never reached, diverged) replaced by +inf."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.inf, values)
