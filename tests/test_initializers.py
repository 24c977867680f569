"""Tests for symjax/core/initializers.py (and the init half of symjax/core/models.py).

Every test over initializers is generated from the registries ``WEIGHT_INITS`` and
``BIAS_INITS``: a newly registered init is picked up automatically and fails
``test_*_formula_table_covers_registry`` until an expected-formula entry is added below.
The expected mean / variance formulas are written here, independently of the library.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symjax  # noqa: F401  (sets XLA_FLAGS before JAX starts, like the real entry points)
from symjax.core.initializers import (
    BIAS_INITS,
    FAN_IN_BIAS_INITS,
    WEIGHT_INITS,
    bias_init,
    layer_initializers,
    weight_init,
)
from symjax.core.models import init_mlp, layer_sizes
from symjax.core.schemes import (
    BIAS_INIT_ARGS,
    WEIGHT_INIT_ARGS,
    Scheme,
    canonical_scheme,
    check_depth,
    expand_scheme,
    parse_scheme,
)

# ---------------------------------------------------------------------------
# Expected formulas, written in the test (not imported from the library).
# name -> (representative args, mean(fan_in, fan_out, *args), var(fan_in, fan_out, *args))
# ---------------------------------------------------------------------------

WEIGHT_FORMULAS = {
    "zeros": ((), lambda fi, fo: 0.0, lambda fi, fo: 0.0),
    "constant": ((0.05,), lambda fi, fo, c: c, lambda fi, fo, c: 0.0),
    "lecun_normal": ((), lambda fi, fo: 0.0, lambda fi, fo: 1.0 / fi),
    "glorot_normal": ((), lambda fi, fo: 0.0, lambda fi, fo: 2.0 / (fi + fo)),
    "glorot_uniform": ((), lambda fi, fo: 0.0, lambda fi, fo: 2.0 / (fi + fo)),
    "he_normal": ((), lambda fi, fo: 0.0, lambda fi, fo: 2.0 / fi),
    "lecun_uniform": ((), lambda fi, fo: 0.0, lambda fi, fo: 1.0 / fi),
    "he_uniform": ((), lambda fi, fo: 0.0, lambda fi, fo: 2.0 / fi),
    # PyTorch's default: U(-1/sqrt(fi), 1/sqrt(fi)), variance (1/sqrt(fi))^2 / 3
    "torch_default": ((), lambda fi, fo: 0.0, lambda fi, fo: 1.0 / (3 * fi)),
    "orthogonal": ((), lambda fi, fo: 0.0, lambda fi, fo: 1.0 / max(fi, fo)),
    # min(fi, fo) ones among fi * fo entries: a Bernoulli(p) pattern
    "identity": ((), lambda fi, fo: _eye_p(fi, fo), lambda fi, fo: _eye_p(fi, fo) * (1 - _eye_p(fi, fo))),
    "zero_hadamard": ((), lambda fi, fo: _zero_moments(fi, fo)[0], lambda fi, fo: _zero_moments(fi, fo)[1]),
    "perturbed": ((0.01,), lambda fi, fo, eps: 0.0, lambda fi, fo, eps: eps**2),
}
# Inits whose values do not depend on the key although their entries vary (variance > 0).
DETERMINISTIC_WEIGHTS = {"identity", "zero_hadamard"}


def _eye_p(fi, fo):
    return min(fi, fo) / (fi * fo)


def _sylvester(rows, cols):
    """Top-left block of the Sylvester Hadamard matrix, H[i, j] = (-1)^popcount(i & j), built here
    independently of scipy.linalg.hadamard."""
    return (-1.0) ** np.bitwise_count(np.bitwise_and.outer(np.arange(rows), np.arange(cols)))


def _zero_expected(fi, fo):
    """ZerO (Zhao, Schaefer & Anandkumar, TMLR 2022, Algorithm 1) stored (fan_in, fan_out): partial
    identity unless the layer expands (fo > fi), then c * H[:fi, :fo], m = ceil(log2 fo), c = 2^(-(m-1)/2)."""
    if fo <= fi:
        return np.eye(fi, fo)
    m = math.ceil(math.log2(fo))
    return 2.0 ** (-(m - 1) / 2) * _sylvester(fi, fo)


def _zero_moments(fi, fo):
    w = _zero_expected(fi, fo)
    return w.mean(), w.var()


# name -> (representative args, mean(*args), var(*args))
BIAS_FORMULAS = {
    "zeros": ((), lambda: 0.0, lambda: 0.0),
    "constant": ((0.05,), lambda c: c, lambda c: 0.0),
    "normal": ((0.7,), lambda sigma: 0.0, lambda sigma: sigma**2),
    "uniform": ((0.5,), lambda a: 0.0, lambda a: a**2 / 3.0),
}

# (fan_in, fan_out): large enough for tight variance estimates, both orientations.
WEIGHT_SHAPES = [(400, 300), (300, 400)]
BIAS_SIZE = 200_000
# Tolerance in standard errors. The standard error of a sample variance of N iid entries
# is var * sqrt((kurtosis - 1) / N) <= var * sqrt(2 / N) for the (truncated) normal and
# uniform laws used here (kurtosis <= 3). With N = 120_000, 5 SE is ~2% of the variance,
# so a 10% error in the variance fails while sampling noise never does.
N_SE = 5.0

WEIGHT_NAMES = sorted(WEIGHT_INITS)
BIAS_NAMES = sorted(BIAS_INITS)
# a few names every "bad scheme" ValueError message must list
WEIGHT_NAMES_IN_MESSAGE = ["lecun_normal", "orthogonal", "glorot_uniform"]
BIAS_NAMES_IN_MESSAGE = ["normal", "uniform"]


def _term(name: str, args: tuple[float, ...]) -> str:
    return f"{name}({', '.join(str(a) for a in args)})" if args else name


def _weight_init(name: str):
    assert name in WEIGHT_FORMULAS, (
        f"weight init {name!r} is registered in WEIGHT_INITS but has no expected formula in "
        "tests/test_initializers.py::WEIGHT_FORMULAS; add one"
    )
    args = WEIGHT_FORMULAS[name][0]
    nargs, factory = WEIGHT_INIT_ARGS[name], WEIGHT_INITS[name]
    assert nargs == len(args), f"{name}: registry takes {nargs} argument(s), formula table gives {args}"
    return factory(*args)


def _bias_init(name: str):
    assert name in BIAS_FORMULAS, (
        f"bias init {name!r} is registered in BIAS_INITS but has no expected formula in "
        "tests/test_initializers.py::BIAS_FORMULAS; add one"
    )
    args = BIAS_FORMULAS[name][0]
    nargs, factory = BIAS_INIT_ARGS[name], BIAS_INITS[name]
    assert nargs == len(args), f"{name}: registry takes {nargs} argument(s), formula table gives {args}"
    return factory(*args)


def _check_moments(x: np.ndarray, mean: float, var: float) -> None:
    """Sample mean and variance of x match (mean, var) within N_SE standard errors."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    if var == 0.0:
        np.testing.assert_array_equal(x, np.float32(mean))
        return
    mean_se = math.sqrt(var / n)
    assert abs(x.mean() - mean) <= N_SE * mean_se, f"mean {x.mean():.6g} vs expected {mean:.6g}"
    rel = N_SE * math.sqrt(2.0 / (n - 1))
    sample_var = x.var(ddof=1)
    assert sample_var == pytest.approx(var, rel=rel), (
        f"variance {sample_var:.6g} vs expected {var:.6g} (rel tol {rel:.3g})"
    )


# ---------------------------------------------------------------------------
# Registry coverage
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_weight_formula_table_covers_registry(name):
    assert name in WEIGHT_FORMULAS, f"add an expected-formula entry for weight init {name!r}"
    assert WEIGHT_INIT_ARGS[name] == len(WEIGHT_FORMULAS[name][0])


@pytest.mark.parametrize("name", BIAS_NAMES)
def test_bias_formula_table_covers_registry(name):
    assert name in BIAS_FORMULAS, f"add an expected-formula entry for bias init {name!r}"
    assert BIAS_INIT_ARGS[name] == len(BIAS_FORMULAS[name][0])


# ---------------------------------------------------------------------------
# Weight inits: shape, dtype, mean, variance
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", WEIGHT_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_weight_init_shape_dtype_moments(name, shape):
    init = _weight_init(name)
    args, mean_fn, var_fn = WEIGHT_FORMULAS[name]
    fan_in, fan_out = shape
    w = init(jax.random.key(0), shape, jnp.float32)
    assert w.shape == shape
    assert w.dtype == jnp.float32
    w = np.asarray(w)
    assert np.isfinite(w).all()
    _check_moments(w, mean_fn(fan_in, fan_out, *args), var_fn(fan_in, fan_out, *args))


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_weight_init_small_shape(name):
    w = _weight_init(name)(jax.random.key(1), (3, 5), jnp.float32)
    assert w.shape == (3, 5) and w.dtype == jnp.float32


def test_glorot_uniform_is_bounded():
    fan_in, fan_out = 400, 300
    w = np.asarray(WEIGHT_INITS["glorot_uniform"]()(jax.random.key(0), (fan_in, fan_out), jnp.float32))
    limit = math.sqrt(6.0 / (fan_in + fan_out))  # U(-l, l) has variance l^2 / 3 = 2 / (fi + fo)
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * limit  # fills the interval


@pytest.mark.parametrize("shape", WEIGHT_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_orthogonal_is_orthonormal(shape):
    fan_in, fan_out = shape
    w = np.asarray(WEIGHT_INITS["orthogonal"]()(jax.random.key(0), shape, jnp.float32), np.float64)
    if fan_in >= fan_out:
        gram = w.T @ w  # orthonormal columns
        np.testing.assert_allclose(gram, np.eye(fan_out), atol=1e-4)
    else:
        gram = w @ w.T  # orthonormal rows
        np.testing.assert_allclose(gram, np.eye(fan_in), atol=1e-4)
    # hence the sum of squares is min(fan_in, fan_out), i.e. E[w^2] = 1 / max(fan_in, fan_out)
    assert (w**2).mean() == pytest.approx(1.0 / max(fan_in, fan_out), rel=1e-4)


def test_constant_weight_uses_its_argument():
    for c in (-1.5, 0.0, 0.05, 3.0):
        w = WEIGHT_INITS["constant"](c)(jax.random.key(0), (4, 6), jnp.float32)
        np.testing.assert_array_equal(np.asarray(w), np.full((4, 6), c, np.float32))


# conv kernels (kernel_width, in_channels, out_channels): odd and even widths, both orientations
CONV_SHAPES = [(3, 6, 5), (4, 5, 8), (1, 7, 7)]


@pytest.mark.parametrize("shape", CONV_SHAPES[:2], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_weight_init_accepts_conv_kernel(name, shape):
    w = _weight_init(name)(jax.random.key(2), shape, jnp.float32)
    assert w.shape == shape and w.dtype == jnp.float32
    assert np.isfinite(np.asarray(w)).all()


def test_lecun_normal_conv_fan_in_is_width_times_channels():
    # jax.nn.initializers: fan_in of a (k, c_in, c_out) kernel is k * c_in
    w = np.asarray(WEIGHT_INITS["lecun_normal"]()(jax.random.key(0), (5, 80, 300), jnp.float32))
    _check_moments(w, 0.0, 1.0 / (5 * 80))


@pytest.mark.parametrize("eps", [1e-3, 0.1, 2.0])
def test_perturbed_is_zero_plus_eps_normal(eps):
    init = WEIGHT_INITS["perturbed"](eps)
    _check_moments(np.asarray(init(jax.random.key(5), (400, 300), jnp.float32)), 0.0, eps**2)
    _check_moments(np.asarray(init(jax.random.key(5), (4, 100, 300), jnp.float32)), 0.0, eps**2)


@pytest.mark.parametrize("text", ["perturbed(0)/zeros", "perturbed(-0.1)/zeros"])
def test_perturbed_needs_positive_eps(text):
    with pytest.raises(ValueError, match="positive") as info:
        parse_scheme(text)
    for name in WEIGHT_NAMES_IN_MESSAGE:
        assert name in str(info.value)


def _conv_expected(shape, matrix):
    """A (k, c_in, c_out) kernel that is zero except the centre tap k // 2, which holds ``matrix``."""
    out = np.zeros(shape)
    out[shape[0] // 2] = matrix
    return out


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 6)])
def test_identity_is_partial_identity(shape):
    w = WEIGHT_INITS["identity"]()(jax.random.key(0), shape, jnp.float32)
    np.testing.assert_array_equal(np.asarray(w), np.eye(*shape))


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_identity_conv_centre_tap(shape):
    w = WEIGHT_INITS["identity"]()(jax.random.key(0), shape, jnp.float32)
    np.testing.assert_array_equal(np.asarray(w), _conv_expected(shape, np.eye(*shape[1:])))


ZERO = WEIGHT_INITS["zero_hadamard"]()
ZERO_SHAPES = [(4, 4), (16, 16), (8, 3), (300, 100), (2, 4), (3, 5), (40, 100), (100, 128), (10, 1024)]


@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_zero_hadamard_matches_algorithm_1(shape):
    w = np.asarray(ZERO(jax.random.key(0), shape, jnp.float32), np.float64)
    np.testing.assert_allclose(w, _zero_expected(*shape), rtol=1e-6, atol=0)
    # deterministic: the key is ignored
    np.testing.assert_array_equal(
        np.asarray(ZERO(jax.random.key(123), shape, jnp.float32)), w.astype(np.float32)
    )
    assert np.linalg.matrix_rank(w) == min(shape)  # full rank, also when the layer expands


@pytest.mark.parametrize("n", [1, 7, 16])
def test_zero_hadamard_square_is_identity(n):
    np.testing.assert_array_equal(np.asarray(ZERO(jax.random.key(0), (n, n), jnp.float32)), np.eye(n))


@pytest.mark.parametrize("shape", [(9, 4), (300, 100)])
def test_zero_hadamard_shrinking_is_partial_identity(shape):
    np.testing.assert_array_equal(np.asarray(ZERO(jax.random.key(0), shape, jnp.float32)), np.eye(*shape))


def test_zero_hadamard_hand_computed():
    # fan_in 2 -> fan_out 4 expands: m = ceil(log2 4) = 2, c = 2^(-1/2); rows 0, 1 of H_2 = [[1, 1], [1, -1]]
    # (x) H_1
    r = 1 / math.sqrt(2)
    expected = np.array([[r, r, r, r], [r, -r, r, -r]])
    np.testing.assert_allclose(np.asarray(ZERO(jax.random.key(0), (2, 4), jnp.float32)), expected, rtol=1e-6)
    # fan_in 3 -> fan_out 5: m = 3, c = 1/2, first 3 rows and 5 columns of the order-8 Sylvester matrix
    expected = 0.5 * np.array([[1, 1, 1, 1, 1], [1, -1, 1, -1, 1], [1, 1, -1, -1, 1]])
    np.testing.assert_allclose(np.asarray(ZERO(jax.random.key(0), (3, 5), jnp.float32)), expected, rtol=1e-6)
    # fan_in 1 -> fan_out 2: m = 1, c = 1
    np.testing.assert_array_equal(np.asarray(ZERO(jax.random.key(0), (1, 2), jnp.float32)), [[1.0, 1.0]])


@pytest.mark.parametrize("shape", [(2, 4), (5, 8), (3, 16), (100, 128)])
def test_zero_hadamard_rows_orthogonal_when_fan_out_is_power_of_two(shape):
    fan_in, fan_out = shape
    w = np.asarray(ZERO(jax.random.key(0), shape, jnp.float32), np.float64)
    m = int(math.log2(fan_out))
    c = 2.0 ** (-(m - 1) / 2)
    np.testing.assert_allclose(w @ w.T, c**2 * fan_out * np.eye(fan_in), atol=1e-5)  # = 2 I
    assert np.abs(w).min() == pytest.approx(c) and np.abs(w).max() == pytest.approx(c)  # only +-c


@pytest.mark.parametrize("shape", [(3, 2, 4), (4, 3, 5), (3, 6, 6), (5, 8, 3)])
def test_zero_hadamard_conv_centre_tap(shape):
    w = np.asarray(ZERO(jax.random.key(0), shape, jnp.float32), np.float64)
    np.testing.assert_allclose(w, _conv_expected(shape, _zero_expected(*shape[1:])), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(
        np.asarray(ZERO(jax.random.key(9), shape, jnp.float32)), w.astype(np.float32)
    )


# ---------------------------------------------------------------------------
# Bias inits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BIAS_NAMES)
def test_bias_init_shape_dtype_moments(name):
    init = _bias_init(name)
    args, mean_fn, var_fn = BIAS_FORMULAS[name]
    b = init(jax.random.key(0), (BIAS_SIZE,), jnp.float32)
    assert b.shape == (BIAS_SIZE,)
    assert b.dtype == jnp.float32
    b = np.asarray(b)
    assert np.isfinite(b).all()
    _check_moments(b, mean_fn(*args), var_fn(*args))


@pytest.mark.parametrize("name", BIAS_NAMES)
def test_bias_init_small_shape(name):
    b = _bias_init(name)(jax.random.key(1), (7,), jnp.float32)
    assert b.shape == (7,) and b.dtype == jnp.float32


@pytest.mark.parametrize("a", [0.5, 2.0])
def test_uniform_bias_is_symmetric_interval(a):
    b = np.asarray(BIAS_INITS["uniform"](a)(jax.random.key(3), (BIAS_SIZE,), jnp.float32), np.float64)
    assert b.min() >= -a
    assert b.max() <= a
    assert (b < 0).any() and (b > 0).any()
    # fills U(-a, a): both ends are approached
    assert b.min() < -0.99 * a and b.max() > 0.99 * a
    _check_moments(b, 0.0, a**2 / 3.0)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_normal_bias_scales_with_sigma(sigma):
    b = np.asarray(BIAS_INITS["normal"](sigma)(jax.random.key(4), (BIAS_SIZE,), jnp.float32))
    _check_moments(b, 0.0, sigma**2)


@pytest.mark.parametrize(
    "text", ["zeros/uniform(-0.5)", "zeros/uniform(0)", "zeros/normal(-1)", "zeros/normal(0)"]
)
def test_non_positive_spread_is_rejected(text):
    # jax.random.uniform(minval=0.5, maxval=-0.5) returns the constant 0.5, so a negative
    # half-width would silently give every unit the same bias; the parser must refuse it.
    with pytest.raises(ValueError, match="positive") as info:
        parse_scheme(text)
    for name in BIAS_NAMES_IN_MESSAGE:
        assert name in str(info.value)


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def _is_random_weight(name):
    args, _, var_fn = WEIGHT_FORMULAS[name]
    return var_fn(50, 40, *args) > 0 and name not in DETERMINISTIC_WEIGHTS


def _is_random_bias(name):
    args, _, var_fn = BIAS_FORMULAS[name]
    return var_fn(*args) > 0


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_weight_init_determinism(name):
    init = _weight_init(name)
    shape = (50, 40)
    w0 = np.asarray(init(jax.random.key(7), shape, jnp.float32))
    w0_again = np.asarray(init(jax.random.key(7), shape, jnp.float32))
    w1 = np.asarray(init(jax.random.key(8), shape, jnp.float32))
    np.testing.assert_array_equal(w0, w0_again)
    if _is_random_weight(name):
        assert not np.array_equal(w0, w1)
        assert np.mean(w0 == w1) < 0.01
    else:
        np.testing.assert_array_equal(w0, w1)


@pytest.mark.parametrize("name", BIAS_NAMES)
def test_bias_init_determinism(name):
    init = _bias_init(name)
    b0 = np.asarray(init(jax.random.key(7), (64,), jnp.float32))
    b0_again = np.asarray(init(jax.random.key(7), (64,), jnp.float32))
    b1 = np.asarray(init(jax.random.key(8), (64,), jnp.float32))
    np.testing.assert_array_equal(b0, b0_again)
    if _is_random_bias(name):
        assert not np.array_equal(b0, b1)
        assert np.mean(b0 == b1) < 0.1
    else:
        np.testing.assert_array_equal(b0, b1)


# ---------------------------------------------------------------------------
# Scheme parsing
# ---------------------------------------------------------------------------

ALL_SCHEME_TEXTS = [
    f"{_term(w, WEIGHT_FORMULAS.get(w, ((),))[0])}/{_term(b, BIAS_FORMULAS.get(b, ((),))[0])}"
    for w in WEIGHT_NAMES
    for b in BIAS_NAMES
]


def test_parse_scheme_example():
    scheme = parse_scheme("zeros/normal(1)")
    assert isinstance(scheme, Scheme)
    assert scheme.name == "zeros/normal(1.0)"
    assert str(scheme) == "zeros/normal(1.0)"
    assert (scheme.weight, scheme.weight_args, scheme.bias, scheme.bias_args) == (
        "zeros",
        (),
        "normal",
        (1.0,),
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("zeros/normal(1)", "zeros/normal(1.0)"),
        ("lecun_normal/zeros", "lecun_normal/zeros"),
        ("constant(0.05)/normal(1.0)", "constant(0.05)/normal(1.0)"),
        ("constant(5e-2)/uniform(2)", "constant(0.05)/uniform(2.0)"),
        ("constant(-1)/constant(0.1)", "constant(-1.0)/constant(0.1)"),
        ("he_normal/zeros", "he_normal/zeros"),
    ],
)
def test_canonical_scheme(text, expected):
    assert canonical_scheme(text) == expected
    assert canonical_scheme(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        " zeros/normal(1)",
        "zeros/normal(1) ",
        "zeros / normal(1)",
        "zeros/normal( 1 )",
        "\tzeros /\tnormal(1.0)\n",
    ],
)
def test_parse_scheme_tolerates_whitespace(text):
    assert canonical_scheme(text) == "zeros/normal(1.0)"


@pytest.mark.parametrize("text", ALL_SCHEME_TEXTS)
def test_every_registered_pair_parses_and_roundtrips(text):
    scheme = parse_scheme(text)
    assert parse_scheme(scheme.name) == scheme
    w = weight_init(scheme)(jax.random.key(0), (6, 4), jnp.float32)
    b = bias_init(scheme, (6, 4))(jax.random.key(0), (4,), jnp.float32)
    assert w.shape == (6, 4) and b.shape == (4,)


def test_scheme_names_and_initializers_are_the_same_registry():
    assert list(WEIGHT_INIT_ARGS) == list(WEIGHT_INITS)
    assert set(BIAS_INIT_ARGS) == set(BIAS_INITS) | set(FAN_IN_BIAS_INITS)
    assert not set(BIAS_INITS) & set(FAN_IN_BIAS_INITS)


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_a_parsed_weight_init_has_its_formula_moments(name):
    """The whole path name -> parse_scheme -> weight_init, against the formula written in this file."""
    args, mean_fn, var_fn = WEIGHT_FORMULAS[name]
    fan_in, fan_out = WEIGHT_SHAPES[0]
    w = weight_init(parse_scheme(f"{_term(name, args)}/zeros"))(
        jax.random.key(11), (fan_in, fan_out), jnp.float32
    )
    _check_moments(np.asarray(w), mean_fn(fan_in, fan_out, *args), var_fn(fan_in, fan_out, *args))


@pytest.mark.parametrize("name", BIAS_NAMES)
def test_a_parsed_bias_init_has_its_formula_moments(name):
    """The whole path name -> parse_scheme -> bias_init, against the formula written in this file."""
    args, mean_fn, var_fn = BIAS_FORMULAS[name]
    b = bias_init(parse_scheme(f"zeros/{_term(name, args)}"), (3, BIAS_SIZE))(
        jax.random.key(11), (BIAS_SIZE,), jnp.float32
    )
    _check_moments(np.asarray(b), mean_fn(*args), var_fn(*args))


def test_scheme_is_hashable_and_comparable():
    assert parse_scheme("zeros/normal(1)") == parse_scheme("zeros/normal(1.0)")
    assert len({parse_scheme("zeros/normal(1)"), parse_scheme(" zeros/normal(1.0)")}) == 1


# (bad text, names that the error message must list)
BAD_SCHEMES = [
    pytest.param("foo/zeros", WEIGHT_NAMES_IN_MESSAGE, id="unknown-weight"),
    pytest.param("zeros/foo", BIAS_NAMES_IN_MESSAGE, id="unknown-bias"),
    pytest.param("Zeros/zeros", WEIGHT_NAMES_IN_MESSAGE, id="wrong-case-weight"),
    pytest.param("zeros/", BIAS_NAMES_IN_MESSAGE, id="empty-bias"),
    pytest.param("constant/zeros", WEIGHT_NAMES_IN_MESSAGE, id="missing-argument"),
    pytest.param("zeros/normal", BIAS_NAMES_IN_MESSAGE, id="missing-bias-argument"),
    pytest.param("zeros(1)/zeros", WEIGHT_NAMES_IN_MESSAGE, id="extra-argument"),
    pytest.param("constant(1, 2)/zeros", WEIGHT_NAMES_IN_MESSAGE, id="two-arguments"),
    pytest.param("constant(abc)/zeros", WEIGHT_NAMES_IN_MESSAGE, id="non-numeric-argument"),
    pytest.param("zeros/normal(x)", BIAS_NAMES_IN_MESSAGE, id="non-numeric-bias-argument"),
    pytest.param("zeros", WEIGHT_NAMES_IN_MESSAGE, id="missing-slash"),
    pytest.param("zeros/zeros/zeros", WEIGHT_NAMES_IN_MESSAGE, id="too-many-slashes"),
    pytest.param("constant(nan)/zeros", WEIGHT_NAMES_IN_MESSAGE, id="non-finite-nan"),
    pytest.param("constant(inf)/zeros", WEIGHT_NAMES_IN_MESSAGE, id="non-finite-inf"),
    pytest.param("zeros/normal(1e400)", BIAS_NAMES_IN_MESSAGE, id="non-finite-overflow"),
]


@pytest.mark.parametrize("text, names", BAD_SCHEMES)
def test_bad_scheme_raises_value_error_listing_allowed_names(text, names):
    with pytest.raises(ValueError) as info:
        parse_scheme(text)
    message = str(info.value)
    for name in names:
        assert name in message, f"{name!r} not listed in error message {message!r}"


@pytest.mark.parametrize(
    "text",
    [
        "zeros",
        "zeros/zeros/zeros",
        "a/b/c",
        "",
        "constant(nan)/zeros",
        "constant(inf)/zeros",
        "zeros/normal(-inf)",
        "zeros/normal(1e400)",
        "normal (1)/zeros",
        "constant((1))/zeros",
    ],
)
def test_bad_scheme_raises_value_error(text):
    """Malformed schemes raise ValueError (the message content is checked above)."""
    with pytest.raises(ValueError):
        parse_scheme(text)


@pytest.mark.parametrize("text", ["constant(nan)/zeros", "zeros/normal(inf)"])
def test_non_finite_error_says_finite(text):
    with pytest.raises(ValueError, match="finite"):
        parse_scheme(text)


def test_missing_slash_error_says_weight_bias():
    with pytest.raises(ValueError, match="WEIGHT/BIAS"):
        parse_scheme("zeros")


# ---------------------------------------------------------------------------
# Per-layer overrides: BASE@LAYER=W/b
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lecun_normal/zeros@last=zeros/zeros", "lecun_normal/zeros@last=zeros/zeros"),
        (
            "zeros/normal(1)@1=lecun_normal/zeros@last=zeros/zeros",
            "zeros/normal(1.0)@1=lecun_normal/zeros@last=zeros/zeros",
        ),
        (
            " zeros/normal(1) @ 01 = lecun_normal/zeros @last= zeros / zeros ",
            "zeros/normal(1.0)@1=lecun_normal/zeros@last=zeros/zeros",
        ),
        (
            "zeros/zeros@last=zeros/zeros@2=constant(1)/normal(2)",
            "zeros/zeros@last=zeros/zeros@2=constant(1.0)/normal(2.0)",
        ),
        ("zeros/normal(1)@3=zero_hadamard/zeros", "zeros/normal(1.0)@3=zero_hadamard/zeros"),
    ],
)
def test_override_canonical_roundtrip(text, expected):
    scheme = parse_scheme(text)
    assert scheme.name == expected == str(scheme)
    assert parse_scheme(expected) == scheme
    assert canonical_scheme(expected) == expected


def test_override_fields():
    scheme = parse_scheme("zeros/normal(1)@1=lecun_normal/zeros@last=zeros/zeros")
    assert (scheme.weight, scheme.weight_args, scheme.bias, scheme.bias_args) == (
        "zeros",
        (),
        "normal",
        (1.0,),
    )
    assert scheme.overrides == (
        ("1", parse_scheme("lecun_normal/zeros")),
        ("last", parse_scheme("zeros/zeros")),
    )
    assert parse_scheme("zeros/zeros").overrides == ()
    assert len({scheme, parse_scheme("zeros/normal(1.0)@1=lecun_normal/zeros@last=zeros/zeros")}) == 1
    # weight_init / bias_init stay the base's
    assert not np.asarray(weight_init(scheme)(jax.random.key(0), (3, 4), jnp.float32)).any()


def _layer_values(scheme, n_layers):
    """(weight value, bias value) of each layer for a scheme made of constant inits."""
    out = []
    for layer in range(n_layers):
        w_init, b_init = layer_initializers(scheme, layer, [(2, 3)] * n_layers)
        w = np.asarray(w_init(jax.random.key(0), (2, 3), jnp.float32))
        b = np.asarray(b_init(jax.random.key(0), (3,), jnp.float32))
        assert np.all(w == w.flat[0]) and np.all(b == b.flat[0])
        out.append((float(w.flat[0]), float(b.flat[0])))
    return out


def test_initializers_per_layer():
    scheme = parse_scheme("constant(1)/constant(2)@1=constant(3)/constant(4)@last=constant(5)/constant(6)")
    assert _layer_values(scheme, 3) == [(3, 4), (1, 2), (5, 6)]
    assert _layer_values(scheme, 2) == [(3, 4), (5, 6)]
    # one layer: it is both layer 1 and the readout; the explicit number wins
    assert _layer_values(scheme, 1) == [(3, 4)]
    assert _layer_values(parse_scheme("constant(1)/constant(2)"), 2) == [(1, 2), (1, 2)]


def test_explicit_layer_number_beats_last():
    scheme = parse_scheme("constant(1)/constant(2)@last=constant(5)/constant(6)@3=constant(7)/constant(8)")
    assert _layer_values(scheme, 3) == [(1, 2), (1, 2), (7, 8)]
    assert _layer_values(scheme, 4) == [(1, 2), (1, 2), (7, 8), (5, 6)]


def test_initializers_fixup_style_zero_readout():
    scheme = parse_scheme("lecun_normal/zeros@last=zeros/zeros")
    key = jax.random.key(0)
    w_hidden = layer_initializers(scheme, 0, [(40, 100), (100, 10)])[0](key, (40, 100), jnp.float32)
    expected = jax.nn.initializers.lecun_normal()(key, (40, 100), jnp.float32)
    np.testing.assert_array_equal(np.asarray(w_hidden), np.asarray(expected))
    assert not np.asarray(
        layer_initializers(scheme, 1, [(40, 100), (100, 10)])[0](key, (100, 10), jnp.float32)
    ).any()


def test_check_depth():
    scheme = parse_scheme("zeros/zeros@5=lecun_normal/zeros")
    check_depth(scheme, 5)
    check_depth(scheme, 6)
    check_depth(parse_scheme("zeros/zeros@last=zeros/zeros"), 1)
    with pytest.raises(ValueError) as info:
        check_depth(scheme, 3)
    assert str(info.value) == (
        "scheme zeros/zeros@5=lecun_normal/zeros overrides layer 5 but the network has 3 layers (2 hidden + "
        "readout)"
    )
    with pytest.raises(ValueError, match="overrides layer 5"):
        layer_initializers(scheme, 0, [(2, 2)] * 3)  # layer_initializers checks the depth too
    with pytest.raises(ValueError, match="out of range"):
        layer_initializers(parse_scheme("zeros/zeros"), 3, [(2, 2)] * 3)


# (malformed text, substrings the message must contain)
BAD_OVERRIDES = [
    pytest.param("lecun_normal/zeros@", ["LAYER", "last", "1-based"], id="empty"),
    pytest.param("lecun_normal/zeros@last", ["LAYER", "last"], id="no-equals"),
    pytest.param("lecun_normal/zeros@0=zeros/zeros", ["1-based"], id="layer-0"),
    pytest.param("lecun_normal/zeros@-1=zeros/zeros", ["1-based"], id="negative"),
    pytest.param("lecun_normal/zeros@1.5=zeros/zeros", ["1-based"], id="fractional"),
    pytest.param("lecun_normal/zeros@first=zeros/zeros", ["last"], id="unknown-spec"),
    pytest.param("lecun_normal/zeros@LAST=zeros/zeros", ["last"], id="wrong-case"),
    pytest.param("lecun_normal/zeros@last=", ["WEIGHT/BIAS", "@last"], id="empty-scheme"),
    pytest.param("lecun_normal/zeros@last=zeros", ["WEIGHT/BIAS", "orthogonal"], id="no-slash"),
    pytest.param(
        "lecun_normal/zeros@last=foo/zeros", ["@last", *WEIGHT_NAMES_IN_MESSAGE], id="unknown-weight"
    ),
    pytest.param("lecun_normal/zeros@2=zeros/foo", ["@2", *BIAS_NAMES_IN_MESSAGE], id="unknown-bias"),
    pytest.param("lecun_normal/zeros@last=zeros/normal(-1)", ["positive"], id="bad-argument"),
    pytest.param("lecun_normal/zeros@last=zeros/zeros@last=he_normal/zeros", ["twice"], id="duplicate"),
    pytest.param("lecun_normal/zeros@2=zeros/zeros@02=he_normal/zeros", ["twice"], id="duplicate-number"),
    pytest.param("@last=zeros/zeros", ["WEIGHT/BIAS"], id="no-base"),
    pytest.param("foo/zeros@last=zeros/zeros", WEIGHT_NAMES_IN_MESSAGE, id="bad-base"),
]


@pytest.mark.parametrize("text, needles", BAD_OVERRIDES)
def test_malformed_override_raises_helpful_value_error(text, needles):
    with pytest.raises(ValueError) as info:
        parse_scheme(text)
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} not in {str(info.value)!r}"


def test_scheme_rejects_nested_or_bad_overrides():
    plain = parse_scheme("zeros/zeros")
    with pytest.raises(ValueError, match="without overrides"):
        Scheme("zeros", (), "zeros", (), (("last", parse_scheme("zeros/zeros@1=he_normal/zeros")),))
    with pytest.raises(ValueError, match="1-based"):
        Scheme("zeros", (), "zeros", (), (("0", plain),))
    with pytest.raises(ValueError, match="twice"):
        Scheme("zeros", (), "zeros", (), (("1", plain), ("1", plain)))


# ---------------------------------------------------------------------------
# expand_scheme: bracketed argument lists
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("zeros/normal(1)", ["zeros/normal(1.0)"]),
        ("lecun_normal/zeros@last=zeros/zeros", ["lecun_normal/zeros@last=zeros/zeros"]),
        ("zeros/normal([0.1, 0.5, 1.0])", ["zeros/normal(0.1)", "zeros/normal(0.5)", "zeros/normal(1.0)"]),
        ("zeros/normal([1])", ["zeros/normal(1.0)"]),
        (
            "constant([0.0, 0.05])/normal([0.5, 1])",
            [
                "constant(0.0)/normal(0.5)",
                "constant(0.0)/normal(1.0)",
                "constant(0.05)/normal(0.5)",
                "constant(0.05)/normal(1.0)",
            ],
        ),
        (
            "perturbed([1e-3, 0.1])/zeros@last=zeros/uniform([ 1 ,2 ])",
            [
                "perturbed(0.001)/zeros@last=zeros/uniform(1.0)",
                "perturbed(0.001)/zeros@last=zeros/uniform(2.0)",
                "perturbed(0.1)/zeros@last=zeros/uniform(1.0)",
                "perturbed(0.1)/zeros@last=zeros/uniform(2.0)",
            ],
        ),
    ],
)
def test_expand_scheme(text, expected):
    assert expand_scheme(text) == expected


# (bad text, a substring the message must contain)
BAD_EXPANSIONS = [
    pytest.param("zeros/normal([])", "empty", id="empty-list"),
    pytest.param("zeros/normal([0.1,])", "empty", id="empty-value"),
    pytest.param("zeros/normal([0.1, 0.5)", "bracketed list", id="unclosed"),
    pytest.param("zeros/normal(0.1])", "bracketed list", id="unopened"),
    pytest.param("zeros/normal([0.1, [0.5]])", "bracketed list", id="nested"),
    pytest.param("[zeros, he_normal]/zeros", "bracketed list", id="not-an-argument"),
    pytest.param("zeros/normal([0.1]x)", "bracketed list", id="trailing-text"),
    pytest.param("zeros/normal([0.1, -1])", "positive", id="bad-value"),
    pytest.param("zeros/normal([a, b])", "number", id="non-numeric"),
    pytest.param("zeros/normal([1, 1.0])", "twice", id="duplicate"),
    pytest.param("zeros/normal([1, 2])@last", "LAYER", id="bad-override"),
]


@pytest.mark.parametrize("text, needle", BAD_EXPANSIONS)
def test_expand_scheme_errors(text, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        expand_scheme(text)


def test_parse_scheme_rejects_bracketed_list():
    with pytest.raises(ValueError, match="expand_scheme"):
        parse_scheme("zeros/normal([0.1, 0.5])")


# ---------------------------------------------------------------------------
# models.init_mlp + layer_sizes
# ---------------------------------------------------------------------------

N_IN, HIDDEN, N_OUT = 40, (100, 100), 10
EXPECTED_SIZES = [(40, 100), (100, 100), (100, 10)]


def test_layer_sizes():
    assert layer_sizes(N_IN, HIDDEN, N_OUT) == EXPECTED_SIZES
    assert layer_sizes(5, (), 3) == [(5, 3)]


def _check_params(params, leading=()):
    assert isinstance(params, list) and len(params) == len(EXPECTED_SIZES)
    for layer, (fan_in, fan_out) in zip(params, EXPECTED_SIZES):
        assert set(layer) == {"w", "b"}
        assert layer["w"].shape == (*leading, fan_in, fan_out)
        assert layer["b"].shape == (*leading, fan_out)
        assert layer["w"].dtype == jnp.float32 and layer["b"].dtype == jnp.float32


def test_init_mlp_structure_and_shapes():
    params = init_mlp(
        jax.random.key(0), parse_scheme("lecun_normal/normal(1.0)"), layer_sizes(N_IN, HIDDEN, N_OUT)
    )
    _check_params(params)
    # layers get different keys: the two (100,) bias vectors and the weights differ
    assert not np.array_equal(np.asarray(params[0]["b"]), np.asarray(params[1]["b"]))


def test_init_mlp_deterministic_per_key():
    scheme = parse_scheme("glorot_uniform/uniform(0.5)")
    sizes = layer_sizes(N_IN, HIDDEN, N_OUT)
    a = init_mlp(jax.random.key(3), scheme, sizes)
    b = init_mlp(jax.random.key(3), scheme, sizes)
    c = init_mlp(jax.random.key(4), scheme, sizes)
    for la, lb, lc in zip(a, b, c):
        np.testing.assert_array_equal(np.asarray(la["w"]), np.asarray(lb["w"]))
        np.testing.assert_array_equal(np.asarray(la["b"]), np.asarray(lb["b"]))
        assert not np.array_equal(np.asarray(la["w"]), np.asarray(lc["w"]))


def test_init_mlp_honours_overrides():
    scheme = parse_scheme("zeros/normal(1)@1=identity/zeros@last=zeros/zeros")
    params = init_mlp(jax.random.key(0), scheme, layer_sizes(N_IN, HIDDEN, N_OUT))
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), np.eye(N_IN, HIDDEN[0]))
    assert not np.asarray(params[0]["b"]).any()
    assert not np.asarray(params[1]["w"]).any() and np.asarray(params[1]["b"]).std() > 0.5
    assert not np.asarray(params[2]["w"]).any() and not np.asarray(params[2]["b"]).any()


def test_init_mlp_zero_weights_random_bias():
    params = init_mlp(jax.random.key(0), parse_scheme("zeros/normal(1.0)"), layer_sizes(N_IN, HIDDEN, N_OUT))
    for layer in params:
        assert not np.asarray(layer["w"]).any()
        assert np.asarray(layer["b"]).std() > 0.5


def _check_batched_equals_single(batched, keys, scheme, sizes):
    """Entry i of a vmapped init equals the single-run init with keys[i] (vmap == single run)."""
    for i in range(keys.shape[0]):
        single = init_mlp(keys[i], scheme, sizes)
        for lb, ls in zip(batched, single):
            np.testing.assert_allclose(np.asarray(lb["w"][i]), np.asarray(ls["w"]), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(lb["b"][i]), np.asarray(ls["b"]), rtol=1e-5, atol=1e-6)


# jit compiles are slow on a loaded CPU, so jit(vmap) is checked on the two kinds of scheme the
# suite compares (random W / zero b and zero W / random b); plain vmap covers every registry entry.
@pytest.mark.parametrize("text", ["lecun_normal/zeros", "zeros/normal(1.0)"])
def test_init_mlp_jit_vmap_over_keys(text):
    scheme = parse_scheme(text)
    sizes = layer_sizes(N_IN, HIDDEN, N_OUT)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(lambda k: init_mlp(k, scheme, sizes)))(keys)
    _check_params(batched, leading=(3,))
    _check_batched_equals_single(batched, keys, scheme, sizes)  # also jit == no jit
    random_part = "w" if scheme.weight != "zeros" else "b"
    assert not np.array_equal(np.asarray(batched[0][random_part][0]), np.asarray(batched[0][random_part][1]))


VMAP_SCHEMES = [
    f"{_term(w, WEIGHT_FORMULAS.get(w, ((),))[0])}/{_term(b, BIAS_FORMULAS.get(b, ((),))[0])}"
    for w, b in zip(WEIGHT_NAMES, BIAS_NAMES * len(WEIGHT_NAMES))
]


@pytest.mark.parametrize("text", VMAP_SCHEMES)
def test_init_mlp_vmap_over_keys_every_init(text):
    scheme = parse_scheme(text)
    sizes = layer_sizes(N_IN, HIDDEN, N_OUT)
    keys = jax.random.split(jax.random.key(1), 2)
    batched = jax.vmap(lambda k: init_mlp(k, scheme, sizes))(keys)
    _check_params(batched, leading=(2,))
    _check_batched_equals_single(batched, keys, scheme, sizes)


@pytest.mark.parametrize("shape", [(40, 100_000), (3, 25, 100_000)])
def test_torch_default_bias_is_uniform_over_one_over_sqrt_fan_in(shape):
    """PyTorch's nn.Linear / nn.Conv1d bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_features or
    in_channels * kernel_size (formula written here, not imported)."""
    fan_in = math.prod(shape[:-1])
    bound = 1 / math.sqrt(fan_in)
    b = np.asarray(
        bias_init(parse_scheme("zeros/torch_default"), shape)(jax.random.key(3), (shape[-1],), jnp.float32)
    )
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.99 * bound
    _check_moments(b, 0.0, bound**2 / 3)


def test_torch_default_alias_names_both_halves():
    assert canonical_scheme("torch_default") == "torch_default/torch_default"
    assert (
        canonical_scheme("lecun_normal/zeros@last=torch_default")
        == "lecun_normal/zeros@last=torch_default/torch_default"
    )
    w = init_mlp(jax.random.key(0), parse_scheme("torch_default"), [(5, 25, 25), (125, 10)])
    for layer, (shape, bound) in enumerate(
        [((5, 25, 25), 1 / math.sqrt(125)), ((125, 10), 1 / math.sqrt(125))]
    ):
        for part in ("w", "b"):
            values = np.asarray(w[layer][part])
            assert 0 < np.abs(values).max() <= bound
