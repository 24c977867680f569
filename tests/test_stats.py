"""Tests for symjax/analysis/stats.py: median, IQM, bootstrap CIs, paired comparisons, censoring, verdicts,
performance profiles, stratified bootstrap, ECDF."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from symjax.analysis.stats import (
    LOSS_MARGIN,
    SPEED_MARGIN,
    VERDICT_RULES,
    as_censored,
    bootstrap_ci,
    ecdf,
    equivalence_verdict,
    iqm,
    mean,
    median,
    paired_difference_ci,
    paired_ratio_ci,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap_ci,
)

INF = np.inf


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


# ---------------------------------------------------------------------------
# median / iqm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ([3.0, 1.0, 2.0], 2.0),
        ([4.0, 1.0, 3.0, 2.0], 2.5),  # mean of the two middle values 2 and 3
        ([1.0, 2.0, INF], 2.0),  # one censored run of three: still finite
        ([1.0, INF, INF], INF),  # majority censored: inf
        ([1.0, 2.0, 3.0, INF], 2.5),
        ([1.0, 2.0, INF, INF], INF),  # (2 + inf) / 2
        ([INF, INF], INF),
        ([5.0], 5.0),
    ],
)
def test_median_hand_cases(values, expected):
    with np.errstate(all="raise"):  # no invalid operation (inf - inf) happens
        result = median(np.asarray(values))
    assert not np.isnan(result)
    assert result == expected


def test_iqm_hand_case_1_to_8():
    # n = 8: scipy.stats.trim_mean(x, 0.25) cuts int(0.25 * 8) = 2 values from each end,
    # leaving [3, 4, 5, 6], whose mean is 18 / 4 = 4.5.
    x = np.arange(1.0, 9.0)
    assert iqm(x) == pytest.approx((3 + 4 + 5 + 6) / 4) == 4.5
    # order does not matter
    assert iqm(x[::-1].copy()) == pytest.approx(4.5)


def test_iqm_hand_case_1_to_10():
    # n = 10: cut int(2.5) = 2 from each end -> [3..8], mean 5.5
    assert iqm(np.arange(1.0, 11.0)) == pytest.approx(np.mean([3, 4, 5, 6, 7, 8]))


def test_iqm_ignores_outliers_in_tails():
    # n = 8 with one huge value and one tiny value in the trimmed tails -> mean of [3,4,5,6]
    x = np.array([-1e9, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 1e9])
    assert iqm(x) == pytest.approx(4.5)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, INF], 4.5),  # inf is trimmed away
        ([1.0, 2.0, 3.0, 4.0, 5.0, INF, INF, INF], INF),  # inf in the middle half
        ([1.0, 2.0, INF, INF], INF),
        ([INF] * 4, INF),
    ],
)
def test_iqm_with_inf(values, expected):
    result = iqm(np.asarray(values))
    assert not np.isnan(result)
    assert result == pytest.approx(expected)


def _iqm_by_hand(x):
    x = np.sort(np.asarray(x, np.float64))
    cut = int(0.25 * len(x))
    return x[cut : len(x) - cut].mean()


@pytest.mark.parametrize("n", [4, 5, 7, 8, 10, 13, 50, 101])
def test_iqm_and_median_match_scipy_numpy(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) * 3 + 1
    assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25))
    assert iqm(x) == pytest.approx(_iqm_by_hand(x))
    assert median(x) == pytest.approx(np.median(x))
    assert median(x) == pytest.approx(np.percentile(x, 50))


def test_median_iqm_axis():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 12))
    np.testing.assert_allclose(median(x), np.median(x, axis=1))
    np.testing.assert_allclose(iqm(x), [_iqm_by_hand(row) for row in x])
    np.testing.assert_allclose(iqm(x, axis=0), sps.trim_mean(x, 0.25, axis=0))
    np.testing.assert_allclose(median(x, axis=0), np.median(x, axis=0))


# ---------------------------------------------------------------------------
# bootstrap_ci
# ---------------------------------------------------------------------------


def test_bootstrap_ci_deterministic_for_seed():
    x = np.random.default_rng(1).standard_normal(30)
    a = bootstrap_ci(x, rng=np.random.default_rng(42))
    b = bootstrap_ci(x, rng=np.random.default_rng(42))
    assert a == b
    # default rng is a fixed seed too
    assert bootstrap_ci(x) == bootstrap_ci(x)
    # and a different seed gives (slightly) different bounds
    assert bootstrap_ci(x, rng=np.random.default_rng(43)) != a


def test_bootstrap_ci_returns_floats_ordered():
    lo, hi = bootstrap_ci(np.arange(20.0), rng=np.random.default_rng(0))
    assert isinstance(lo, float) and isinstance(hi, float)
    assert lo <= hi


@pytest.mark.parametrize("statistic", [median, iqm, _mean], ids=["median", "iqm", "mean"])
def test_bootstrap_ci_contains_point_estimate(statistic):
    x = np.random.default_rng(2).standard_normal(40)
    lo, hi = bootstrap_ci(x, statistic=statistic, rng=np.random.default_rng(0))
    point = statistic(x)
    assert lo < point < hi


def test_bootstrap_ci_constant_sample_is_a_point():
    assert bootstrap_ci(np.full(10, 3.5), rng=np.random.default_rng(0)) == (3.5, 3.5)


def test_bootstrap_ci_width_shrinks_with_n():
    # The width of one CI of a median is itself noisy at small n, so average over 8 datasets.
    rng = np.random.default_rng(3)
    widths = []
    for n in (20, 200, 2000):
        w = [
            np.subtract(*bootstrap_ci(rng.standard_normal(n), rng=np.random.default_rng(r), n_boot=500)[::-1])
            for r in range(8)
        ]
        widths.append(np.mean(w))
    # width ~ 1 / sqrt(n): ~3.2x narrower per 10x more data
    assert widths[0] > 2 * widths[1] > 4 * widths[2]


def test_bootstrap_ci_with_censored_values():
    # 3 of 10 runs censored: the median is finite; a resample has a median of inf when at least
    # 5 of its 10 draws are inf (P ~ 0.15 > 0.025), so the upper bound is inf. No NaN.
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, INF, INF, INF])
    with np.errstate(invalid="raise"):
        lo, hi = bootstrap_ci(x, rng=np.random.default_rng(0))
    assert np.isfinite(lo) and 1.0 <= lo <= median(x)
    assert hi == INF
    # all censored: [inf, inf]
    assert bootstrap_ci(np.full(6, INF), rng=np.random.default_rng(0)) == (INF, INF)


@pytest.mark.parametrize("statistic", [median, _mean], ids=["median", "mean"])
def test_bootstrap_ci_coverage(statistic):
    """Percentile-bootstrap 95% CIs of the median/mean of N(0, 1) samples cover 0 ~95% of the time."""
    n, reps, n_boot = 50, 200, 1000
    data_rng = np.random.default_rng(1234)
    covered = 0
    for rep in range(reps):
        x = data_rng.standard_normal(n)
        lo, hi = bootstrap_ci(x, statistic=statistic, rng=np.random.default_rng(10_000 + rep), n_boot=n_boot)
        covered += lo <= 0.0 <= hi
    rate = covered / reps
    assert 0.88 <= rate <= 0.99, f"coverage {rate:.3f}"


@pytest.mark.parametrize("statistic", [median, _mean], ids=["median", "mean"])
def test_bootstrap_ci_agrees_with_scipy_percentile(statistic):
    x = np.random.default_rng(5).standard_normal(100)
    n_resamples = 20_000
    lo, hi = bootstrap_ci(x, statistic=statistic, rng=np.random.default_rng(0), n_boot=n_resamples)
    ref = sps.bootstrap(
        (x,),
        statistic,
        n_resamples=n_resamples,
        confidence_level=0.95,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(1),
    ).confidence_interval
    # Monte-Carlo error of a 2.5% quantile with 20k resamples is ~0.003 here; allow 3% of the spread
    tol = 0.03 * x.std()
    assert lo == pytest.approx(ref.low, abs=tol)
    assert hi == pytest.approx(ref.high, abs=tol)


# ---------------------------------------------------------------------------
# paired_ratio_ci
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", [median, iqm], ids=["median", "iqm"])
def test_paired_ratio_point_estimate(statistic):
    rng = np.random.default_rng(6)
    a, b = rng.lognormal(size=25), rng.lognormal(size=25)
    ratio, lo, hi = paired_ratio_ci(a, b, statistic=statistic, rng=np.random.default_rng(0))
    assert ratio == pytest.approx(statistic(a) / statistic(b))
    assert lo <= ratio <= hi


def test_paired_ratio_default_is_median():
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(size=15), rng.lognormal(size=15)
    ratio, _, _ = paired_ratio_ci(a, b)
    assert ratio == pytest.approx(np.median(a) / np.median(b))


def test_paired_ratio_deterministic():
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(size=20), rng.lognormal(size=20)
    assert paired_ratio_ci(a, b, rng=np.random.default_rng(3)) == paired_ratio_ci(
        a, b, rng=np.random.default_rng(3)
    )
    assert paired_ratio_ci(a, b) == paired_ratio_ci(a, b)


@pytest.mark.parametrize("n", [11, 12])
def test_paired_ratio_exact_multiple(n):
    b = np.random.default_rng(9).lognormal(size=n)
    ratio, lo, hi = paired_ratio_ci(2 * b, b, rng=np.random.default_rng(0))
    assert (ratio, lo, hi) == (2.0, 2.0, 2.0)


def test_paired_ratio_values_median_inf():
    # values: 6 of 10 censored -> median inf; reference finite
    values = np.array([1.0, 2.0, 3.0, 4.0, INF, INF, INF, INF, INF, INF])
    reference = np.arange(1.0, 11.0)
    ratio, lo, hi = paired_ratio_ci(values, reference, rng=np.random.default_rng(0))
    assert ratio == INF
    assert hi == INF
    assert not np.isnan(lo)


def test_paired_ratio_both_medians_inf_gives_nan_bounds():
    values = np.array([1.0, 2.0, INF, INF, INF])
    reference = np.array([3.0, INF, INF, 4.0, INF])
    ratio, lo, hi = paired_ratio_ci(values, reference, rng=np.random.default_rng(0))
    assert np.isnan(ratio)
    assert np.isnan(lo) and np.isnan(hi)


def test_paired_ratio_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        paired_ratio_ci(np.ones(5), np.ones(6))


def test_paired_ratio_pairing_matters():
    """a = 1.5 * b * (1 + tiny noise) with b very spread out: pairs cancel the spread."""
    rng = np.random.default_rng(10)
    n = 40
    b = rng.lognormal(mean=0.0, sigma=1.0, size=n)
    a = 1.5 * b * (1 + 0.01 * rng.standard_normal(n))
    ratio, lo, hi = paired_ratio_ci(a, b, rng=np.random.default_rng(0))
    assert 1.4 <= lo <= ratio <= hi <= 1.6
    # an unpaired bootstrap (independent resamples of a and b) is far wider
    boot = np.random.default_rng(0)
    ia, ib = boot.integers(0, n, (2000, n)), boot.integers(0, n, (2000, n))
    unpaired = np.median(a[ia], axis=1) / np.median(b[ib], axis=1)
    u_lo, u_hi = np.quantile(unpaired, [0.025, 0.975])
    assert u_hi - u_lo > 10 * (hi - lo)
    assert u_lo < 1.4 or u_hi > 1.6


def test_paired_ratio_zero_reference_is_inf():
    ratio, lo, hi = paired_ratio_ci(np.array([1.0, 2.0, 3.0]), np.zeros(3), rng=np.random.default_rng(0))
    assert ratio == INF and lo == INF and hi == INF


# ---------------------------------------------------------------------------
# as_censored
# ---------------------------------------------------------------------------


def test_as_censored():
    x = np.array([1.0, np.nan, 3.5, np.nan, INF, -2.0])
    out = as_censored(x)
    np.testing.assert_array_equal(out, [1.0, INF, 3.5, INF, INF, -2.0])
    assert out.dtype == np.float64
    assert np.isnan(x[1])  # input not modified


def test_as_censored_none_and_ints():
    np.testing.assert_array_equal(as_censored([1, None, 3]), [1.0, INF, 3.0])
    out = as_censored(np.array([1, 2, 3]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


def test_as_censored_2d():
    x = np.array([[np.nan, 1.0], [2.0, np.nan]], dtype=np.float32)
    out = as_censored(x)
    assert out.shape == (2, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [[INF, 1.0], [2.0, INF]])


def test_censored_median_pipeline():
    # 2 of 5 runs never reached the target (NaN): the median is the 3rd smallest finite value
    steps = np.array([100.0, np.nan, 300.0, np.nan, 200.0])
    assert median(as_censored(steps)) == 300.0


# ---------------------------------------------------------------------------
# mean
# ---------------------------------------------------------------------------


def test_mean_hand_cases_and_axis():
    assert mean(np.array([1.0, 2.0, 6.0])) == 3.0
    assert mean(np.array([1.0, INF])) == INF
    np.testing.assert_allclose(mean(np.array([[1.0, 3.0], [5.0, 7.0]])), [2.0, 6.0])
    np.testing.assert_allclose(mean(np.array([[1.0, 3.0], [5.0, 7.0]]), axis=0), [3.0, 5.0])
    # usable as a bootstrap statistic
    assert bootstrap_ci(np.full(5, 2.0), statistic=mean) == (2.0, 2.0)


# ---------------------------------------------------------------------------
# paired_difference_ci
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", [median, iqm, mean], ids=["median", "iqm", "mean"])
def test_paired_difference_exact_shift(statistic):
    # a = b + 1 seed by seed: every resample has difference exactly 1 (up to rounding)
    b = np.random.default_rng(11).standard_normal(13)
    diff, lo, hi = paired_difference_ci(b + 1, b, statistic=statistic, rng=np.random.default_rng(0))
    assert (diff, lo, hi) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_paired_difference_point_default_median_and_deterministic():
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal(21), rng.standard_normal(21)
    diff, lo, hi = paired_difference_ci(a, b)
    assert diff == pytest.approx(np.median(a) - np.median(b))
    assert lo <= diff <= hi
    assert paired_difference_ci(a, b) == (diff, lo, hi)
    assert paired_difference_ci(a, b, rng=np.random.default_rng(5)) == paired_difference_ci(
        a, b, rng=np.random.default_rng(5)
    )


def test_paired_difference_inf_allowed_and_nan_bounds():
    # values' median inf, reference finite: difference inf, no NaN anywhere
    values = np.array([1.0, 2.0, INF, INF, INF])
    reference = np.arange(1.0, 6.0)
    diff, lo, hi = paired_difference_ci(values, reference, rng=np.random.default_rng(0))
    assert diff == INF and hi == INF and not np.isnan(lo)
    # both medians inf: inf - inf is undefined -> NaN point and bounds
    diff, lo, hi = paired_difference_ci(
        values, np.array([3.0, INF, INF, 4.0, INF]), rng=np.random.default_rng(0)
    )
    assert np.isnan(diff) and np.isnan(lo) and np.isnan(hi)


def test_paired_difference_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        paired_difference_ci(np.ones(4), np.ones(5))


@pytest.mark.parametrize("statistic", [median, mean], ids=["median", "mean"])
def test_paired_difference_agrees_with_scipy_paired_percentile(statistic):
    rng = np.random.default_rng(13)
    b = rng.standard_normal(60) * 3
    a = b + 0.5 + rng.standard_normal(60)  # correlated pairs
    n_resamples = 20_000
    diff, lo, hi = paired_difference_ci(
        a, b, statistic=statistic, rng=np.random.default_rng(0), n_boot=n_resamples
    )
    ref = sps.bootstrap(
        (a, b),
        lambda x, y, axis=-1: statistic(x, axis=axis) - statistic(y, axis=axis),
        paired=True,
        n_resamples=n_resamples,
        confidence_level=0.95,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(1),
    ).confidence_interval
    tol = 0.03 * (a - b).std()
    assert lo == pytest.approx(ref.low, abs=tol)
    assert hi == pytest.approx(ref.high, abs=tol)


# ---------------------------------------------------------------------------
# probability_of_improvement
# ---------------------------------------------------------------------------


def test_probability_of_improvement_hand_case():
    # 1 < 2 wins, 2 == 2 ties (1/2), 3 > 2 loses: (1 + 0.5 + 0) / 3 = 0.5
    p, lo, hi = probability_of_improvement(
        np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]), rng=np.random.default_rng(0)
    )
    assert p == 0.5
    assert 0.0 <= lo <= p <= hi <= 1.0


def test_probability_of_improvement_inf_ties_and_extremes():
    # inf == inf is a tie; 5 < inf a win: (0.5 + 1 + 0) / 3
    p, _, _ = probability_of_improvement(np.array([INF, 5.0, INF]), np.array([INF, INF, 1.0]))
    assert p == pytest.approx(0.5)
    # always better -> p = 1 exactly, CI [1, 1]; always worse -> [0, 0]
    b = np.arange(1.0, 9.0)
    assert probability_of_improvement(b - 0.5, b) == (1.0, 1.0, 1.0)
    assert probability_of_improvement(b + 0.5, b) == (0.0, 0.0, 0.0)


def test_probability_of_improvement_matches_loop_and_is_deterministic():
    rng = np.random.default_rng(14)
    a = np.round(rng.standard_normal(37), 1)  # rounding makes some ties
    b = np.round(rng.standard_normal(37), 1)
    a[::7] = INF
    b[::5] = INF
    loop = sum(1.0 if x < y else 0.5 if x == y else 0.0 for x, y in zip(a, b)) / len(a)
    p, lo, hi = probability_of_improvement(a, b, rng=np.random.default_rng(3))
    assert p == pytest.approx(loop)
    assert lo < p < hi
    assert probability_of_improvement(a, b, rng=np.random.default_rng(3)) == (p, lo, hi)
    # swapping roles mirrors the point estimate
    assert probability_of_improvement(b, a)[0] == pytest.approx(1 - p)


def test_probability_of_improvement_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        probability_of_improvement(np.ones(3), np.ones(2))


# ---------------------------------------------------------------------------
# equivalence_verdict
# ---------------------------------------------------------------------------

LO_EQ = 1 / (1 + SPEED_MARGIN)  # 0.8
NAN = float("nan")


@pytest.mark.parametrize(
    "args, expected",
    [
        ((0.4, 0.9, 1.1, -0.01, 0.01), "fails"),  # fails checked before everything
        ((0.0, NAN, NAN, NAN, NAN), "fails"),
        ((1.0, 0.9, 1.1, -0.01, 0.01), "equivalent"),
        ((1.0, 1.05, 1.2, -0.01, 0.01), "equivalent"),  # excludes 1 but inside the margin
        ((0.8, 1.3, 2.0, -0.01, 0.01), "slower"),
        ((1.0, 1.1, 1.3, -0.3, -0.1), "slower"),  # speed checked before loss
        (
            (1.0, 0.5, 0.8, 0.1, 0.2),
            "worse",
        ),  # reaches the early target sooner but ends higher: worse, not faster
        ((1.0, 0.3, 0.7, -0.01, 0.01), "faster"),
        ((1.0, 0.5, 1.5, 0.1, 0.2), "worse"),
        ((1.0, 0.5, 1.5, -0.2, -0.1), "better"),
        ((1.0, 0.5, 1.5, -0.1, 0.1), "inconclusive"),
        ((1.0, 0.9, 1.1, NAN, NAN), "inconclusive"),  # NaN bounds
        ((1.0, NAN, NAN, 0.1, 0.2), "inconclusive"),
        ((NAN, 0.9, 1.1, -0.01, 0.01), "inconclusive"),
        ((1.0, 2.0, INF, 0.0, INF), "slower"),  # inf bounds are fine
    ],
)
def test_equivalence_verdict_cases(args, expected):
    assert equivalence_verdict(*args) == expected
    assert expected in VERDICT_RULES


def test_equivalence_verdict_boundaries():
    # reached exactly 0.5 is not "fails"
    assert equivalence_verdict(0.5, 0.9, 1.1, 0.0, 0.0) == "equivalent"
    # the equivalence band is inclusive at both ends
    assert equivalence_verdict(1.0, LO_EQ, 1 + SPEED_MARGIN, -LOSS_MARGIN, LOSS_MARGIN) == "equivalent"
    # just outside the speed band: the CI still contains 1 -> falls through to inconclusive
    assert equivalence_verdict(1.0, LO_EQ, 1.2501, 0.0, 0.0) == "inconclusive"
    assert equivalence_verdict(1.0, 0.7999, 1.0, 0.0, 0.0) == "inconclusive"
    # just outside the loss band, CI off zero -> worse
    assert equivalence_verdict(1.0, 0.9, 1.1, 0.01, 0.0501) == "worse"
    # ratio_lo == 1 is not "slower", ratio_hi == 1 is not "faster"; loss bound == 0 is not worse/better
    assert equivalence_verdict(1.0, 1.0, 2.0, 0.0, 1.0) == "inconclusive"
    assert equivalence_verdict(1.0, 0.5, 1.0, -1.0, 0.0) == "inconclusive"
    # custom margins
    assert equivalence_verdict(1.0, 1.05, 1.2, 0.0, 0.0, margin=0.1) == "slower"
    assert equivalence_verdict(1.0, 0.95, 1.05, 0.0, 0.2, loss_margin=0.3) == "equivalent"


def test_verdict_rules_cover_every_outcome():
    assert set(VERDICT_RULES) == {
        "no target",
        "too few runs",
        "fails",
        "equivalent",
        "slower",
        "faster",
        "worse",
        "better",
        "inconclusive",
    }
    assert all(isinstance(v, str) and v for v in VERDICT_RULES.values())
    assert "0.80" in VERDICT_RULES["equivalent"] and "1.25" in VERDICT_RULES["equivalent"]
    assert (SPEED_MARGIN, LOSS_MARGIN) == (0.25, 0.05)


# ---------------------------------------------------------------------------
# performance_profile
# ---------------------------------------------------------------------------


def test_performance_profile_hand_example():
    scores = np.array(
        [
            [10.0, 20.0, INF],  # ratios 1, 2, inf
            [30.0, 15.0, 45.0],
        ]
    )  # ratios 2, 1, 3
    taus = np.array([1.0, 1.5, 2.0, 3.0, INF])
    expected = np.array(
        [
            [0.5, 0.5, 0.0],  # tau 1: scheme 0 best in setting 0, scheme 1 in setting 1
            [0.5, 0.5, 0.0],
            [1.0, 1.0, 0.0],  # tau 2: both schemes 0/1 within 2x everywhere
            [1.0, 1.0, 0.5],  # tau 3: scheme 2 within 3x in setting 1 only
            [1.0, 1.0, 0.5],  # inf ratio never counts
        ]
    )
    np.testing.assert_array_equal(performance_profile(scores, taus), expected)


def test_performance_profile_inf_and_zero_best():
    scores = np.array(
        [
            [INF, INF],  # nobody reached: every ratio inf
            [0.0, 3.0],  # best 0: zero -> ratio 1, positive -> inf
            [0.0, 0.0],
        ]
    )
    out = performance_profile(scores, [1.0, 1e9, INF])
    np.testing.assert_allclose(out, [[2 / 3, 1 / 3]] * 3)
    assert performance_profile(scores, [1.0]).shape == (1, 2)


def test_performance_profile_rejects_nan_and_negative():
    with pytest.raises(ValueError):
        performance_profile(np.array([[1.0, np.nan]]), [1.0])
    with pytest.raises(ValueError):
        performance_profile(np.array([[1.0, -1.0]]), [1.0])


# ---------------------------------------------------------------------------
# stratified_bootstrap_ci
# ---------------------------------------------------------------------------


def test_stratified_bootstrap_keeps_group_sizes():
    # disjoint value ranges: a resample keeps each group's size iff every row has exactly
    # 3 values < 10, 5 values in [10, 20) and 2 values >= 20
    groups = [np.array([1.0, 2.0, 3.0]), np.arange(10.0, 15.0), np.array([20.0, 21.0])]
    seen = []

    def counts(x, axis=-1):
        if x.ndim == 2:
            seen.append(x.copy())
        return mean(x, axis=axis)

    point, lo, hi = stratified_bootstrap_ci(
        groups, statistic=counts, rng=np.random.default_rng(0), n_boot=300
    )
    (samples,) = seen
    assert samples.shape == (300, 10)
    np.testing.assert_array_equal((samples < 10).sum(axis=1), 3)
    np.testing.assert_array_equal(((samples >= 10) & (samples < 20)).sum(axis=1), 5)
    np.testing.assert_array_equal((samples >= 20).sum(axis=1), 2)
    assert point == pytest.approx(np.mean(np.concatenate(groups)))
    assert lo <= point <= hi


def test_stratified_bootstrap_point_and_determinism():
    rng = np.random.default_rng(15)
    groups = [rng.standard_normal(n) + i for i, n in enumerate((8, 12, 5))]
    out = stratified_bootstrap_ci(groups, rng=np.random.default_rng(1))
    assert out[0] == pytest.approx(sps.trim_mean(np.concatenate(groups), 0.25))
    assert out == stratified_bootstrap_ci(groups, rng=np.random.default_rng(1))
    assert stratified_bootstrap_ci(groups) == stratified_bootstrap_ci(groups)
    assert out[1] <= out[0] <= out[2]
    # constant groups: a point
    assert stratified_bootstrap_ci([np.full(4, 2.0), np.full(3, 2.0)]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        stratified_bootstrap_ci([np.ones(3), np.array([])])


def _mixture_iqm(scales):
    """Exact IQM of an equal-weight mixture of exponentials with the given scales."""
    from scipy.optimize import brentq

    scales = np.asarray(scales, np.float64)

    def cdf(x):
        return np.mean(1 - np.exp(-x / scales))

    def antiderivative(x):  # of x f(x)
        return np.mean(-(x + scales) * np.exp(-x / scales))

    q25, q75 = (brentq(lambda x: cdf(x) - q, 0, 100 * scales.max()) for q in (0.25, 0.75))
    return (antiderivative(q75) - antiderivative(q25)) / 0.5


def test_stratified_bootstrap_coverage_of_true_iqm():
    """95% CIs of the pooled IQM of 3 skewed settings (20 runs each) cover the truth ~95% of the time."""
    scales = np.array([1.0, 3.0, 10.0])
    truth = _mixture_iqm(scales)
    data_rng = np.random.default_rng(2024)
    reps, covered = 150, 0
    for rep in range(reps):
        groups = [data_rng.exponential(s, size=20) for s in scales]
        _, lo, hi = stratified_bootstrap_ci(groups, rng=np.random.default_rng(rep), n_boot=1000)
        covered += lo <= truth <= hi
    rate = covered / reps
    assert 0.85 <= rate <= 0.99, f"coverage {rate:.3f}"


# ---------------------------------------------------------------------------
# ecdf
# ---------------------------------------------------------------------------


def test_ecdf_hand_case_with_inf():
    values = np.array([300.0, 100.0, INF, 200.0, 100.0])
    grid = np.array([0.0, 100.0, 150.0, 200.0, 300.0, 1e9, INF])
    # values <= grid: 0, 2 (both 100s), 2, 3, 4, 4, 4 (inf never counted), out of 5
    np.testing.assert_allclose(ecdf(values, grid), [0.0, 0.4, 0.4, 0.6, 0.8, 0.8, 0.8])
    assert ecdf(np.full(3, INF), grid).max() == 0.0
    assert ecdf(values, np.array([[100.0, 300.0]])).shape == (1, 2)
    # NaN counts as censored, like as_censored would make it
    np.testing.assert_allclose(ecdf(np.array([1.0, np.nan]), [1.0]), [0.5])
    with pytest.raises(ValueError):
        ecdf(np.array([]), [1.0])


# ---------------------------------------------------------------------------
# undefined metrics (the test accuracy of a regression run is NaN)
# ---------------------------------------------------------------------------


def test_all_nan_values_give_nan_without_warnings():
    x = np.full(8, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(median(x)) and np.isnan(iqm(x)) and np.isnan(mean(x))
        for statistic in (median, iqm, mean):
            assert np.isnan(bootstrap_ci(x, statistic=statistic)).all()
        assert np.isnan(paired_difference_ci(x, x)).all()
