"""resmlp, the transformer and the norm axis: each against a numpy forward pass, vmapped == alone,
BatchNorm's running averages, and the predictions of docs/theory.md ("Residual blocks, normalization and
attention")."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from symjax.core.data import load_dataset
from symjax.core.group import GroupConfig, Run
from symjax.core.models import complete_params, init_mlp, network, weight_shapes
from symjax.core.norms import MOMENTUM
from symjax.core.optimizers import rate_schedule
from symjax.core.schemes import parse_scheme
from symjax.core.train import Arrays, make_train
from symjax.core.transformer import HEADS, PATCH, layer_names
from symjax.engine.program import Programs, group_program, seed_keys


def numpy_norm(z, axes, eps):
    mean = z.mean(axis=axes, keepdims=True)
    return (z - mean) / np.sqrt(((z - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


def random_params(model, norm, shapes, n_in, seed=0):
    """Params of ``shapes`` with every leaf random (norm scales and shifts too), as numpy-checkable arrays."""
    params = complete_params(
        init_mlp(jax.random.key(seed), parse_scheme("lecun_normal/normal(0.5)"), shapes), model, norm, n_in
    )
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
    return jax.tree.unflatten(tree, [v + 0.3 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)])


@pytest.mark.parametrize("norm", ["none", "layernorm", "batchnorm"])
def test_resmlp_matches_a_numpy_forward_pass(norm):
    shapes = weight_shapes("resmlp", 6, (5, 5, 5), 3)
    assert shapes == [(6, 5), (5, 5), (5, 5), (5, 3)]
    params = random_params("resmlp", norm, shapes, 6)
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    p = jax.tree.map(np.asarray, params)

    def normed(z, layer):
        if norm == "none":
            return z
        axes, eps = ((1,), 1e-6) if norm == "layernorm" else ((0,), 1e-5)
        return numpy_norm(z, axes, eps) * layer["scale"] + layer["shift"]

    h = np.tanh(normed(x @ p[0]["w"] + p[0]["b"], p[0]))
    for layer in p[1:-1]:
        h = h + np.tanh(normed(h @ layer["w"] + layer["b"], layer))
    expected = h @ p[-1]["w"] + p[-1]["b"]
    outputs = network(params, jnp.asarray(x), "tanh", "resmlp", norm).outputs
    np.testing.assert_allclose(outputs, expected, rtol=2e-4, atol=2e-5)


def test_transformer_matches_a_numpy_forward_pass():
    d, n_in, n_out = 4, 8, 3
    shapes = weight_shapes("transformer", n_in, (d, d), n_out)
    assert len(shapes) == 2 + 6 * 2 == len(layer_names(2))
    params = random_params("transformer", "none", shapes, n_in)
    p = jax.tree.map(np.asarray, params)
    x = np.random.default_rng(1).normal(size=(5, n_in)).astype(np.float32)

    def ln(h, layer):
        return numpy_norm(h, (-1,), 1e-6) * layer["ln_scale"] + layer["ln_shift"]

    h = x.reshape(5, n_in // PATCH, PATCH) @ p[0]["w"] + p[0]["b"] + p[0]["pos"]
    for j in (1, 7):
        q, k, v, o, m1, m2 = p[j : j + 6]
        u = ln(h, q)
        heads = []
        for head in range(HEADS):
            cols = slice(head * d // HEADS, (head + 1) * d // HEADS)
            qh, kh, vh = ((u @ t["w"] + t["b"])[..., cols] for t in (q, k, v))
            scores = qh @ kh.transpose(0, 2, 1) / np.sqrt(d // HEADS)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            heads.append((weights / weights.sum(-1, keepdims=True)) @ vh)
        h = h + np.concatenate(heads, -1) @ o["w"] + o["b"]
        h = h + np.maximum(ln(h, m1) @ m1["w"] + m1["b"], 0) @ m2["w"] + m2["b"]
    expected = ln(h, p[-1]).mean(1) @ p[-1]["w"] + p[-1]["b"]
    np.testing.assert_allclose(
        network(params, jnp.asarray(x), "relu", "transformer").outputs, expected, rtol=2e-4, atol=2e-5
    )


def mnist1d():
    data = load_dataset("mnist1d")
    return data, Arrays(*(jnp.asarray(a) for a in data[:4]))


def train_group(
    model,
    hidden,
    norm,
    schemes,
    activation="tanh",
    steps=6,
    log_every=3,
    batch_size=32,
    optimizer="adam",
    lr=0.01,
):
    """(cfg, initial params, final TrainState, Logs) of one compiled group, one run per scheme (seed 0; an odd
    count padded with the first scheme again: the runs are split over the devices)."""
    data, arrays = mnist1d()
    schemes = schemes + schemes[:1] if len(schemes) % 2 else schemes
    cfg = GroupConfig(
        "mnist1d", hidden, activation, optimizer, batch_size, steps, log_every, model, norm=norm
    )
    shapes = weight_shapes(model, 40, hidden, 10)
    runs = [Run(i, 0, s, 0, lr) for i, s in enumerate(schemes)]
    params = Programs().init_params(runs, shapes)
    keys, lrs = seed_keys(np.zeros(len(runs)), 1), jnp.full(len(runs), lr, jnp.float32)
    state, logs = group_program(cfg, len(data.y_train))(params, keys, lrs, arrays)
    return cfg, params, state, logs


CASES = [("resmlp", (6, 6), "batchnorm", "sgd"), ("transformer", (4, 4), "none", "adam")]


@pytest.mark.parametrize("model,hidden,norm,optimizer", CASES)
def test_vmapped_runs_equal_runs_alone(model, hidden, norm, optimizer):
    """(BatchNorm with SGD: under Adam a bias that BatchNorm erases has a gradient of rounding noise, which
    Adam scales to steps of about the rate, so the vmapped and the single run's evaluations part at ~1e-4.)"""
    schemes = ["lecun_normal/zeros", "zeros/normal(1.0)"]
    cfg, params, _, logs = train_group(model, hidden, norm, schemes, optimizer=optimizer)
    data, arrays = mnist1d()
    for i in range(len(schemes)):
        _, alone = jax.jit(make_train(cfg, len(data.y_train)))(
            jax.tree.map(lambda v: v[i], params), seed_keys(np.zeros(1), 1)[0], jnp.float32(0.01), arrays
        )
        np.testing.assert_allclose(logs.train_loss[i], alone.train_loss, rtol=1e-5, atol=1e-6)


def test_batchnorm_running_averages_follow_momentum_from_mean_0_variance_1():
    """Full batch, one update: running = 0.9 (0, 1) + 0.1 (batch mean, batch variance) of the initial net."""
    cfg, params, state, _ = train_group(
        "mlp", (5,), "batchnorm", ["lecun_normal/normal(1.0)"], steps=1, log_every=1, batch_size=None
    )
    data, _ = mnist1d()
    z = data.x_train @ np.asarray(params[0]["w"][0]) + np.asarray(params[0]["b"][0])
    running = state.running[0]
    np.testing.assert_allclose(running.mean[0], (1 - MOMENTUM) * z.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(running.var[0], MOMENTUM + (1 - MOMENTUM) * z.var(0), rtol=1e-4)


def test_warmup_cosine_is_optax_schedule_at_step_0_warmup_end_and_last():
    steps, lr = 400, 0.02
    expected = optax.warmup_cosine_decay_schedule(0.0, lr, 20, steps, 0.0)
    ours = rate_schedule("warmup_cosine", jnp.float32(lr), steps)
    for step in (0, 20, steps):
        assert float(ours(step)) == pytest.approx(float(expected(step)), rel=1e-6, abs=1e-12)
    assert float(ours(20)) == pytest.approx(lr) and float(ours(steps)) == 0.0


# --- docs/theory.md: residual blocks, normalization and attention ---


def test_batchnorm_erases_the_hidden_biases_of_zero_w():
    """zeros/normal(s) under BatchNorm trains exactly as the same scheme with its hidden biases zero (the
    readout, not normalized, keeps its bias), every hidden layer has one distinct unit at every logged step,
    and no weight ever gets a gradient: the network stays at its readout bias."""
    schemes = [
        "zeros/normal(1.0)",
        "zeros/zeros@last=zeros/normal(1.0)",
        "zeros/normal(0.1)",
        "zeros/zeros@last=zeros/normal(0.1)",
    ]
    _, _, state, logs = train_group("resmlp", (6, 6, 6), "batchnorm", schemes, activation="tanh", steps=12)
    loss = np.asarray(logs.train_loss)
    np.testing.assert_array_equal(loss[0], loss[1])
    np.testing.assert_array_equal(loss[2], loss[3])
    assert (np.asarray(logs.diagnostics.distinct_units)[:, :, :-1] == 1).all()
    assert (np.asarray(state.first_grad_step) == -1).all()


@pytest.mark.parametrize("norm", ["none", "layernorm", "batchnorm"])
def test_zero_branches_get_a_gradient_at_update_0_with_tanh_and_never_with_relu(norm):
    """Zero-branch recipe: with a skip connection every block's weight gradient is non-zero at update 0
    (tanh'(0) = 1); with relu the branch's pre-activation is exactly 0, relu'(0) = 0, and it never moves."""
    scheme = ["lecun_normal/zeros@2=zeros/zeros@3=zeros/zeros"]
    _, _, tanh_state, _ = train_group(
        "resmlp", (6, 6, 6), norm, scheme, activation="tanh", steps=3, log_every=3
    )
    _, _, relu_state, _ = train_group(
        "resmlp", (6, 6, 6), norm, scheme, activation="relu", steps=3, log_every=3
    )
    assert np.asarray(tanh_state.first_grad_step)[0].tolist() == [0, 0, 0, 0]
    assert np.asarray(relu_state.first_grad_step)[0].tolist() == [0, -1, -1, 0]


def test_layernorm_keeps_the_bias_differences_of_zero_w():
    """Under LayerNorm a zero-W layer's output is LN(b): every unit distinct from step 0 on, and the layers
    learn (the plain MLP's delay: the readout at update 0, the layers below from update 1)."""
    _, _, state, logs = train_group("resmlp", (6, 6, 6), "layernorm", ["zeros/normal(1.0)"], steps=6)
    assert (np.asarray(logs.diagnostics.distinct_units)[0, :, :-1] == 6).all()
    assert np.asarray(state.first_grad_step)[0].tolist() == [1, 1, 1, 0]
    _, _, state, logs = train_group("resmlp", (6, 6, 6), "batchnorm", ["zeros/normal(1.0)"], steps=6)
    assert (np.asarray(logs.diagnostics.distinct_units)[0, :, :-1] == 1).all()


def test_layernorm_distinct_units_measure_scale_and_shift_from_their_start():
    """Biases 0.5% apart are two units under LayerNorm at its start (scale 1, shift 0), as in a plain layer:
    the shared scale of 1 does not enter the tolerance's norm (it did, and merged them, before)."""
    import jax.numpy as jnp

    from symjax.core.diagnostics import distinct_rows, unit_vectors

    close = jnp.array([0.1, 0.1005])
    layer = {"w": jnp.zeros((3, 2)), "b": close, "scale": jnp.ones(2), "shift": jnp.zeros(2)}
    assert float(distinct_rows(unit_vectors(layer, "layernorm"))) == 2
    plain = {"w": jnp.zeros((3, 2)), "b": close}
    assert float(distinct_rows(unit_vectors(plain))) == 2
    moved = dict(layer, scale=jnp.array([1.5, 1.5]))  # a changed scale shared by both still counts
    assert float(distinct_rows(unit_vectors(moved, "layernorm"))) == 1
    assert float(distinct_rows(unit_vectors(layer, "batchnorm"))) == 1  # the bias never reaches the output


def transformer_gradients(scheme, steps):
    """Weight-gradient norms (steps, n_layers) of the first ``steps`` Adam updates of a width-4 transformer,
    seed 0, full batch of the first 64 examples, in float64 (rounding residues ~1e-16, far below the
    gradients that exact arithmetic makes non-zero)."""
    with jax.enable_x64(True):
        return _transformer_gradients(scheme, steps)


def _transformer_gradients(scheme, steps):
    data, _ = mnist1d()
    x, y = jnp.asarray(data.x_train[:64], jnp.float64), jnp.asarray(data.y_train[:64])
    shapes = weight_shapes("transformer", 40, (4, 4), 10)
    params = init_mlp(jax.random.key(0), parse_scheme(scheme), shapes, jnp.float64)
    params = complete_params(params, "transformer", n_in=40)
    optimizer = optax.adam(0.01)
    opt_state, norms = optimizer.init(params), []

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(
            network(p, x, "relu", "transformer").outputs, y
        ).mean()

    for _ in range(steps):
        grads = jax.grad(loss)(params)
        norms.append([float(jnp.linalg.norm(g["w"])) for g in grads])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return np.array(norms)


def test_transformer_zero_w_gradients_arrive_in_the_predicted_order():
    """zeros/normal(1.0): the readout at update 0; embedding, attention output and MLP out at 1; MLP in and
    value at 2; key at 3 (the query's constant bias times the softmax Jacobian's columns); query at 4 (it
    needs keys that differ between tokens). Before then each gradient is zero up to rounding: uniform
    attention has rows of softmax Jacobian that sum to zero only in exact arithmetic (in float32 the query's
    and key's residues, ~1e-12 of the readout's gradient, come before their real gradients, ~1e-10 and
    1e-8; in float64 they are ~1e-20)."""
    norms = transformer_gradients("zeros/normal(1.0)", 6)
    arrived = norms > 1e-17 * norms[0, -1]
    first = arrived.argmax(axis=0)
    first[~arrived.any(axis=0)] = -1
    block = [4, 3, 2, 1, 2, 1]  # query, key, value, attention output, MLP in, MLP out
    assert first.tolist() == [1, *block, *block, 0]


def test_transformer_query_and_key_never_learn_from_zero_w_and_zero_b():
    """zeros/zeros on the query and key layers (the rest random): q = k = 0, every score 0, attention
    uniform, and both gradients exactly 0 at every update: a fixed point the biases alone can leave."""
    scheme = "lecun_normal/zeros@2=zeros/zeros@3=zeros/zeros@8=zeros/zeros@9=zeros/zeros"
    norms = transformer_gradients(scheme, 3)
    assert (norms[:, [1, 2, 7, 8]] == 0).all() and (norms[:, [3, 4]] > 0).all()
    with_bias = transformer_gradients(scheme.replace("zeros/zeros", "zeros/normal(1.0)"), 3)
    assert (with_bias[1:, [1, 2]] > 1e-6 * with_bias[1:, [3]]).all()


BAD = [
    (["--norm", "groupnorm"], ("norm", "groupnorm", "batchnorm")),
    (["--schedule", "cosine"], ("schedule", "cosine", "warmup_cosine")),
    (["--model", "resnet"], ("model", "resnet", "transformer")),
    (["--model", "transformer", "--norm", "layernorm"], ("norm", "transformer", "exclude")),
    (["--model", "transformer", "--hidden", "32,16"], ("hidden", "transformer", "[32, 16]")),
    (["--model", "resmlp", "--hidden", "32,16"], ("hidden", "resmlp", "[32, 16]")),
]


@pytest.mark.parametrize("flags,words", BAD, ids=[" ".join(f) for f, _ in BAD])
def test_bad_norm_schedule_and_model_are_one_line_exit_2_and_no_files(capsys, tmp_path, flags, words):
    from helpers import assert_usage_error, run_cli

    out = tmp_path / "r"
    result = run_cli(
        capsys, ["run", "--out", out, "--steps", "2", "--log-every", "1", "--seeds", "1", *flags]
    )
    assert_usage_error(result, *words, folder=out)


def test_report_shows_the_families_and_the_theory_holding(capsys, tmp_path):
    """A tiny modern matrix through `symjax run` and `symjax report`: the section names each family and
    every prediction the runs can show holds."""
    from helpers import run_cli

    (tmp_path / "m.toml").write_text(
        'name = "m"\ndataset = "mnist1d"\nmodel = "resmlp"\nhidden = [[6, 6, 6]]\nactivation = "tanh"\n'
        'norm = ["layernorm", "batchnorm"]\nlr = [0.003, 0.01]\nbatch_size = 32\nseeds = 2\nsteps = 20\n'
        'log_every = 10\nschemes = ["lecun_normal/zeros", "zeros/normal(1.0)", '
        '"lecun_normal/zeros@2=zeros/zeros@3=zeros/zeros"]\n'
    )
    assert (
        run_cli(capsys, ["run", "--matrix", tmp_path / "m.toml", "--out", tmp_path / "r", "--quiet"]).code
        == 0
    )
    assert run_cli(capsys, ["report", "--results", tmp_path / "r", "--out", tmp_path / "rep"]).code == 0
    text = (tmp_path / "rep" / "m.md").read_text()
    section = text.split("## Residual blocks, normalization and attention")[1].split("\n## ")[0]
    assert "residual MLP + LayerNorm" in section and "residual MLP + BatchNorm" in section
    rows = [
        line for line in section.splitlines() if line.startswith("| ") and ("yes" in line or "no " in line)
    ]
    checks = [
        line
        for line in rows
        if "BatchNorm after" in line or "zero-branch" in line or "LayerNorm after" in line
    ]
    assert len(checks) == 3 and all(line.rstrip(" |").endswith("yes") for line in checks), checks


def test_the_report_quotes_the_diagnostics_tolerance():
    from symjax.core.diagnostics import DISTINCT_TOLERANCE
    from symjax.report import modern

    assert modern.DISTINCT_TOLERANCE == DISTINCT_TOLERANCE
