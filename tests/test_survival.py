"""Tests for symjax/analysis/survival.py: Kaplan–Meier curves, RMST and its CIs, order-statistic median CI,
Hodges–Lehmann ratio, Wilson fraction, paired BCa bootstrap, loss-drop targets, first reach, resolution."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from symjax.analysis import survival
from symjax.analysis.stats import SPEED_MARGIN, ecdf
from symjax.analysis.survival import (
    LOSS_DROP_FRACTIONS,
    MAX_RESOLUTION,
    first_reach,
    hodges_lehmann,
    km_curve,
    loss_drop_targets,
    median_ci,
    paired_bca_ci,
    paired_rmst_ratio_ci,
    reached_ci,
    resolution,
    restricted_mean,
    rmst_ci,
)

INF, NAN = np.inf, np.nan
Z95 = sps.norm.ppf(0.975)
pytestmark = pytest.mark.filterwarnings("error")  # no function may leak a warning

# steps to target: logged steps (multiples of 10) up to a horizon of 100, or censored (+inf / NaN)
times_strategy = st.lists(
    st.one_of(st.integers(0, 10).map(lambda k: 10.0 * k), st.just(INF), st.just(NAN)), min_size=1, max_size=30
).map(np.array)


def _is_nan3(triple):
    return all(np.isnan(v) for v in triple)


def test_module_is_numpy_scipy_only():
    tree = ast.parse(Path(survival.__file__).read_text())
    modules = {
        a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"__future__", "inspect", "warnings", "numpy", "scipy", "symjax"}
    assert "Data-flow stage: store -> **analysis** -> report." in survival.__doc__


# ---------------------------------------------------------------------------
# km_curve
# ---------------------------------------------------------------------------


def test_km_curve_hand_case():
    steps, cdf, lo, hi = km_curve(np.array([10.0, 20.0, 20.0, INF, NAN]), horizon=40)
    np.testing.assert_array_equal(steps, [10, 20])
    np.testing.assert_allclose(cdf, [0.2, 0.6])
    # without censoring before the horizon Greenwood's variance is the binomial one, F (1 - F) / n
    np.testing.assert_allclose(hi, np.minimum(cdf + Z95 * np.sqrt(cdf * (1 - cdf) / 5), 1))
    np.testing.assert_allclose(lo, np.maximum(cdf - Z95 * np.sqrt(cdf * (1 - cdf) / 5), 0))


def test_km_curve_undefined_bounds_are_filled_when_every_run_reaches():
    steps, cdf, lo, hi = km_curve(np.array([1.0, 2.0, 3.0, 3.0, 4.0]), horizon=10)
    np.testing.assert_allclose(cdf, [0.2, 0.4, 0.8, 1.0])
    assert not np.isnan(lo).any() and not np.isnan(hi).any()
    assert hi[-1] == 1.0 and lo[-1] == lo[-2] > 0  # the previous lower bound carries over
    # every run at the same step: no earlier bound, so [0, 1]
    steps, cdf, lo, hi = km_curve(np.array([5.0, 5.0]), horizon=10)
    assert (steps.tolist(), cdf.tolist(), lo.tolist(), hi.tolist()) == ([5.0], [1.0], [0.0], [1.0])


@settings(max_examples=60, deadline=None)
@given(times_strategy)
def test_km_curve_equals_empirical_cdf_when_censoring_is_at_the_horizon(times):
    steps, cdf, lo, hi = km_curve(times, horizon=100)
    finite = times[np.isfinite(times)]
    np.testing.assert_array_equal(steps, np.unique(finite))
    np.testing.assert_allclose(cdf, ecdf(times, steps))  # stats.ecdf: censored stay in the denominator
    assert ((0 <= lo) & (lo <= cdf + 1e-12) & (cdf <= hi + 1e-12) & (hi <= 1)).all()


def test_km_curve_empty_cases_and_errors():
    for times in (np.array([INF, NAN]), np.array([]), np.array([150.0])):  # > horizon is censored too
        assert [a.shape for a in km_curve(times, horizon=100)] == [(0,)] * 4
    steps, cdf, *_ = km_curve(np.array([0.0, 100.0, 101.0]), horizon=100)  # 0 and the horizon are events
    assert steps.tolist() == [0.0, 100.0] and cdf.tolist() == pytest.approx([1 / 3, 2 / 3])
    with pytest.raises(ValueError):
        km_curve(np.array([-1.0, 2.0]), horizon=10)


# ---------------------------------------------------------------------------
# restricted_mean / rmst_ci
# ---------------------------------------------------------------------------


def test_restricted_mean_hand_cases():
    assert restricted_mean(np.array([10.0, 20.0, INF]), 40) == pytest.approx(70 / 3)
    assert restricted_mean(np.array([INF, NAN]), 40) == 40.0  # nobody reaches: the horizon
    assert restricted_mean(np.array([0.0, 0.0]), 40) == 0.0
    assert restricted_mean(np.array([40.0]), 40) == 40.0
    assert np.isnan(restricted_mean(np.array([]), 40))


@settings(max_examples=60, deadline=None)
@given(times_strategy)
def test_restricted_mean_is_mean_of_clipped_times(times):
    clipped = np.minimum(np.where(np.isnan(times), INF, times), 100)
    assert restricted_mean(times, 100) == pytest.approx(clipped.mean(), rel=1e-12)


def test_rmst_ci_matches_scipy_bca_and_is_deterministic():
    times = np.array([30.0, 50, 20, INF, 70, 40, 90, 60, NAN, 10, 80, 30])
    point, lo, hi = rmst_ci(times, 100)
    clipped = np.minimum(np.nan_to_num(times, nan=INF), 100)
    ref = sps.bootstrap(
        (clipped,), np.mean, n_resamples=2000, vectorized=True, method="BCa", rng=np.random.default_rng(0)
    ).confidence_interval
    assert point == pytest.approx(restricted_mean(times, 100))
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert lo < point < hi
    assert rmst_ci(times, 100) == (point, lo, hi)
    assert rmst_ci(times, 100, seed=1) != (point, lo, hi)
    assert rmst_ci(times, 100, confidence=0.5)[2] - rmst_ci(times, 100, confidence=0.5)[1] < hi - lo


def test_rmst_ci_degenerate_cases():
    assert rmst_ci(np.full(10, 30.0), 100) == (30.0, 30.0, 30.0)  # all equal: no warning
    assert rmst_ci(np.array([INF, NAN, 200.0]), 100) == (100.0, 100.0, 100.0)  # all censored
    assert rmst_ci(np.array([7.0]), 100) == (7.0, 7.0, 7.0)
    assert _is_nan3(rmst_ci(np.array([]), 100))


# ---------------------------------------------------------------------------
# paired_bca_ci / paired_rmst_ratio_ci
# ---------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([10, 11, 12]))
def test_paired_bca_ci_does_not_collapse_for_continuous_data(seed, n):
    rng = np.random.default_rng(seed)
    values, reference = rng.lognormal(size=n), rng.lognormal(size=n)
    for statistic, combine in ((np.median, np.divide), (np.mean, np.subtract)):
        point, lo, hi = paired_bca_ci(values, reference, statistic, combine)
        assert point == pytest.approx(combine(statistic(values), statistic(reference)))
        assert lo < point < hi


def test_paired_bca_ci_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(3)
    values, reference = rng.lognormal(size=10), rng.lognormal(size=10)

    def ratio_of_medians(x, y, axis=-1):
        return np.median(x, axis=axis) / np.median(y, axis=axis)

    ref = sps.bootstrap(
        (values, reference),
        ratio_of_medians,
        paired=True,
        vectorized=True,
        method="BCa",
        n_resamples=2000,
        rng=np.random.default_rng(0),
    ).confidence_interval
    point, lo, hi = paired_bca_ci(values, reference, np.median, np.divide)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert paired_bca_ci(values, reference, np.median, np.divide, seed=5) != (point, lo, hi)


def test_paired_bca_ci_percentile_fallback_keeps_inf():
    values = np.array([1.0, 2, 3, 4, 5, INF, INF, INF, INF, NAN])  # half censored: many resampled medians inf
    reference = np.arange(1.0, 11.0)
    point, lo, hi = paired_bca_ci(values, reference, np.median, np.divide)
    assert point == INF and hi == INF and np.isfinite(lo)

    def stat(x, y, axis=-1):
        return np.median(x, axis=axis) / np.median(y, axis=axis)

    with np.errstate(all="ignore"):  # numpy warns on inf - inf (in np.median, in scipy's standard error)
        samples = sps.bootstrap(
            (np.nan_to_num(values, nan=INF), reference),
            stat,
            paired=True,
            vectorized=True,
            method="percentile",
            n_resamples=2000,
            rng=np.random.default_rng(0),
        ).bootstrap_distribution
    assert (lo, hi) == tuple(np.quantile(samples, [0.025, 0.975], method="inverted_cdf"))


def test_paired_bca_ci_undefined_and_degenerate_cases():
    censored = np.array([INF] * 6 + [1.0] * 4)
    point, lo, hi = paired_bca_ci(censored, censored[::-1].copy(), np.median, np.divide)  # inf / inf occurs
    assert np.isnan(lo) and np.isnan(hi)
    x = np.arange(1.0, 11.0)
    assert paired_bca_ci(x, x, np.median, np.subtract) == (0.0, 0.0, 0.0)  # every resample 0
    assert paired_bca_ci(2 * x, x, np.mean, np.divide) == (2.0, 2.0, 2.0)
    assert paired_bca_ci(np.array([3.0]), np.array([1.0]), np.mean, np.subtract) == (2.0, 2.0, 2.0)
    assert _is_nan3(paired_bca_ci(np.array([]), np.array([]), np.mean, np.subtract))
    with pytest.raises(ValueError):
        paired_bca_ci(x, x[:5], np.mean, np.subtract)


def test_paired_rmst_ratio_ci():
    reference = np.array([20.0, 30, 40, 50, 60, 70, 80, 90, INF, 35])
    times = np.array([30.0, 20, 70, 60, 90, 80, INF, INF, INF, 50])
    ratio, lo, hi = paired_rmst_ratio_ci(times, reference, 100)
    assert ratio == pytest.approx(restricted_mean(times, 100) / restricted_mean(reference, 100))
    assert 1 < lo < ratio < hi  # the scheme is slower in 8 of 10 pairs
    assert paired_rmst_ratio_ci(2 * reference, 2 * reference, 200) == (1.0, 1.0, 1.0)
    zeros = np.zeros(8)
    assert _is_nan3(paired_rmst_ratio_ci(zeros, zeros, 100))  # 0 / 0: undefined
    assert paired_rmst_ratio_ci(np.full(8, 10.0), zeros, 100) == (INF, INF, INF)


# ---------------------------------------------------------------------------
# median_ci
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n, k", [(6, 1), (10, 2), (12, 3), (20, 6), (30, 10)])
def test_median_ci_exact_ranks(n, k):
    # k is the largest rank with P(Binomial(n, 1/2) <= k - 1) <= 0.025
    assert sps.binom.cdf(k - 1, n, 0.5) <= 0.025 < sps.binom.cdf(k, n, 0.5)
    x = np.arange(1.0, n + 1)
    rng = np.random.default_rng(n)
    assert median_ci(rng.permutation(x)) == (np.median(x), k, n - k + 1)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_median_ci_coverage_is_at_least_the_confidence(confidence):
    for n in range(1, 61):
        _, lo, _ = median_ci(np.arange(1.0, n + 1), confidence)
        if np.isnan(lo):  # no rank qualifies: even [min, max] covers with less than the confidence
            assert 1 - 2 * 0.5**n < confidence
            continue
        k = int(lo)
        assert 1 - 2 * sps.binom.cdf(k - 1, n, 0.5) >= confidence  # covers
        assert 1 - 2 * sps.binom.cdf(k, n, 0.5) < confidence or k == (n + 1) // 2  # k is the largest


def test_median_ci_monte_carlo_coverage():
    rng = np.random.default_rng(0)
    samples = rng.exponential(size=(1000, 10))  # true median log 2
    covered = [lo <= np.log(2) <= hi for _, lo, hi in map(median_ci, samples)]
    assert 0.96 < np.mean(covered) < 0.995  # exact coverage 1 - 2 * 11 / 1024 = 0.979


def test_median_ci_small_n_censored_and_empty():
    assert np.isnan(median_ci(np.arange(5.0))[1:]).all()  # n < 6 at 95%
    assert median_ci(np.arange(5.0))[0] == 2.0
    assert median_ci(np.arange(1.0, 6.0), confidence=0.9) == (3.0, 1.0, 5.0)  # 1 - 2/32 >= 0.9
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, INF, NAN, INF])  # censored sort last
    assert median_ci(values) == (5.5, 2.0, INF)
    assert median_ci(np.full(6, INF)) == (INF, INF, INF)
    assert _is_nan3(median_ci(np.array([])))


# ---------------------------------------------------------------------------
# hodges_lehmann
# ---------------------------------------------------------------------------


def test_hodges_lehmann_hand_case():
    # d = log ratios [0, 0, 3 log 2]: Walsh averages / log 2 = [0, 0, 0, 1.5, 1.5, 3], median 0.75
    estimate, lo, hi, pairs = hodges_lehmann(
        np.array([10.0, 20.0, 80.0, INF, 5.0]), np.array([10.0, 20.0, 10.0, 5.0, 0.0])
    )
    assert estimate == pytest.approx(2**0.75) and pairs == 3
    assert np.isnan(lo) and np.isnan(hi)  # pairs < 6


def test_hodges_lehmann_constant_ratio_and_six_pairs():
    reference = np.arange(10.0, 70.0, 10.0)
    assert hodges_lehmann(2 * reference, reference) == pytest.approx((2.0, 2.0, 2.0, 6))
    times = reference * np.exp(np.array([-0.3, 0.1, 0.2, 0.4, 0.5, 0.9]))
    estimate, lo, hi, pairs = hodges_lehmann(times, reference)
    assert pairs == 6 and (lo, hi) == pytest.approx((np.exp(-0.3), np.exp(0.9)))  # n = 6: K = 1, [min, max]


@pytest.mark.parametrize("n, critical", [(6, 0), (10, 8), (15, 25), (20, 52), (30, 137)])
def test_signed_rank_critical_values_from_tables(n, critical):
    # two-sided 5% critical values of the Wilcoxon signed-rank statistic (P(T <= critical) <= 0.025)
    cdf = survival._signed_rank_cdf(n)
    assert cdf[critical] <= 0.025 < cdf[critical + 1]
    assert survival._rank(cdf, 0.95) == critical + 1
    # against scipy's exact p-value: negative signs on ranks summing to t give T = t
    for t in (critical, critical + 1):
        d, remaining = np.arange(1.0, n + 1), t
        for rank in range(n, 0, -1):
            if rank <= remaining:
                d[rank - 1], remaining = -rank, remaining - rank
        assert -d[d < 0].sum() == t
        assert sps.wilcoxon(d, method="exact").pvalue == pytest.approx(2 * cdf[t], rel=1e-9)


def test_hodges_lehmann_interval_uses_the_exact_rank():
    rng = np.random.default_rng(1)
    reference = rng.integers(10, 100, size=10) * 10.0
    d = rng.normal(size=10)
    _, lo, hi, pairs = hodges_lehmann(reference * np.exp(d), reference)
    i, j = np.triu_indices(10)
    walsh = np.sort((d[i] + d[j]) / 2)  # 55 Walsh averages; K = 8 + 1 = 9
    assert (lo, hi) == pytest.approx((np.exp(walsh[8]), np.exp(walsh[55 - 9])))


def test_hodges_lehmann_coverage_and_equivariance():
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(1000):
        reference = rng.uniform(100, 1000, size=10)
        _, lo, hi, _ = hodges_lehmann(reference * np.exp(np.log(1.5) + rng.standard_t(3, size=10)), reference)
        covered.append(lo <= 1.5 <= hi)
    assert 0.92 < np.mean(covered) < 0.99  # exact coverage 1 - 2 * P(T+ <= 8) = 0.951
    times, reference = rng.uniform(1, 100, size=12), rng.uniform(1, 100, size=12)
    base = np.array(hodges_lehmann(times, reference)[:3])
    np.testing.assert_allclose(hodges_lehmann(3 * times, reference)[:3], 3 * base)
    # swap: 1/x, bounds flip
    np.testing.assert_allclose(hodges_lehmann(reference, times)[:3], 1 / base[[0, 2, 1]])


def test_hodges_lehmann_no_pairs():
    assert hodges_lehmann(np.array([INF, 1.0]), np.array([1.0, NAN]))[3] == 0
    assert _is_nan3(hodges_lehmann(np.array([INF, 0.0]), np.array([1.0, 4.0]))[:3])
    with pytest.raises(ValueError):
        hodges_lehmann(np.ones(3), np.ones(4))


# ---------------------------------------------------------------------------
# reached_ci, loss_drop_targets, first_reach, resolution
# ---------------------------------------------------------------------------


def _wilson(k, n, z=Z95):
    p = k / n
    center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return center - half, center + half


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (7, 12), (1, 1)])
def test_reached_ci_is_wilson(k, n):
    reached = np.array([True] * k + [False] * (n - k))
    fraction, lo, hi = reached_ci(reached)
    assert fraction == k / n
    assert (lo, hi) == pytest.approx(_wilson(k, n), abs=1e-12)


def test_reached_ci_empty():
    assert _is_nan3(reached_ci(np.array([], dtype=bool)))


def test_loss_drop_targets():
    assert LOSS_DROP_FRACTIONS == (0.1, 0.25, 0.5, 0.75, 0.9)
    targets = loss_drop_targets(2.3, 0.3)
    np.testing.assert_allclose(targets, [2.1, 1.8, 1.3, 0.8, 0.5])
    assert (np.diff(targets) < 0).all()
    np.testing.assert_allclose(loss_drop_targets(2.3, 0.3, (0.0, 1.0)), [2.3, 0.3])


def test_first_reach_hand_case():
    curves = np.array(
        [[3.0, 2.0, 1.0, 0.5], [3.0, NAN, 0.9, 2.0], [3.0, INF, 3.0, 3.0], [0.1, 0.1, 0.1, 0.1]]
    )
    steps = np.array([0, 10, 20, 30])
    result = first_reach(curves, steps, np.array([2.0, 1.0, 0.5, INF]))
    np.testing.assert_array_equal(
        result, [[10, 20, 30, 0], [20, 20, INF, 0], [INF, INF, INF, 0], [0, 0, 0, 0]]
    )
    assert first_reach(np.full((2, 3), NAN), steps[:3], np.array([INF])).tolist() == [[INF], [INF]]
    assert first_reach(np.empty((2, 0)), np.empty(0), np.array([1.0, 2.0])).shape == (2, 2)
    with pytest.raises(ValueError):
        first_reach(curves, steps[:3], np.array([1.0]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, NAN, INF]), min_size=5, max_size=5),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.sampled_from([0.4, 0.5, 1.0, 1.7, 2.0]), min_size=1, max_size=4),
)
def test_first_reach_matches_a_loop(curves, targets):
    curves, steps = np.array(curves), np.array([0.0, 5, 10, 15, 20])
    result = first_reach(curves, steps, np.array(targets))
    for r, curve in enumerate(curves):
        for q, target in enumerate(targets):
            hits = [s for s, loss in zip(steps, curve) if np.isfinite(loss) and loss <= target]
            assert result[r, q] == (hits[0] if hits else INF)


def test_resolution():
    assert MAX_RESOLUTION == SPEED_MARGIN / 2
    assert resolution(10, np.array([80.0, 100.0, 100.0, INF])) == pytest.approx(0.1)
    assert resolution(25, np.array([100.0, 300.0])) == pytest.approx(0.125)
    assert resolution(10, np.array([100.0, INF])) == INF  # median censored
    assert resolution(10, np.array([100.0, NAN, NAN])) == INF
    assert resolution(10, np.array([0.0, 0.0, 5.0])) == INF  # median zero
    assert resolution(10, np.array([])) == INF
