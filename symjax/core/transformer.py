"""A small pre-LayerNorm transformer encoder for 1-D signals (``model = "transformer"``), one run.

Data-flow stage: part of **init** (``transformer_shapes``, ``transformer_extras``) and **train**
(``transformer_forward``). The signal (batch, n_in) is cut into ``n_in / PATCH`` tokens of ``PATCH``
features (MNIST-1D: 10 tokens of 4), embedded, given a learned position embedding, passed through one
block per ``hidden`` entry (all entries equal: the width d), mean-pooled over tokens and read out.
A block is ``h + attention(LN(h))`` then ``h + MLP(LN(h))`` with ``HEADS`` heads and an MLP of
``MLP_RATIO`` x d with the group's activation; a final LayerNorm precedes the pooling.

Layers, numbered from 1 as schemes and overrides (``@k=``) address them, readout last:

- 1: the patch embedding, w (PATCH, d), b (d,);
- per block j = 0, 1, ...: ``2 + 6j`` query, ``3 + 6j`` key, ``4 + 6j`` value, ``5 + 6j`` attention output
  (each (d, d)), ``6 + 6j`` MLP in (d, MLP_RATIO d), ``7 + 6j`` MLP out (MLP_RATIO d, d);
- last: the readout (d, n_out).

Besides ``w`` and ``b``, the embedding's dict holds ``pos`` (tokens, d), the query's the block's first
LayerNorm (``ln_scale``, ``ln_shift``), the MLP-in's the second and the readout's the final one. These
start at zeros and at LayerNorm's 1 and 0 whatever the scheme (``transformer_extras``): every random
number of the network comes from the scheme.

>>> transformer_shapes(40, (32, 32), 10)[:3], len(transformer_shapes(40, (32, 32), 10))
([(4, 32), (32, 32), (32, 32)], 14)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from symjax.core.norms import layer_norm

PATCH = 4  # features per token
HEADS = 2
MLP_RATIO = 2
LAYERS_PER_BLOCK = 6
BLOCK_LAYERS = ("query", "key", "value", "attention output", "MLP in", "MLP out")


def check_transformer(n_in: int, hidden: tuple[int, ...]) -> None:
    """ValueError (one line) unless the transformer can be built: n_in a multiple of PATCH, at least one
    block, every width equal and a multiple of HEADS."""
    if n_in % PATCH:
        raise ValueError(
            f"the transformer cuts the input into tokens of {PATCH}; {n_in} features do not divide"
        )
    if not hidden or len(set(hidden)) != 1 or hidden[0] % HEADS:
        raise ValueError(
            f"the transformer's hidden gives its blocks' width, one value repeated per block and a multiple "
            f"of its {HEADS} heads (e.g. [32, 32]), got {list(hidden)}"
        )


def transformer_shapes(n_in: int, hidden: tuple[int, ...], n_out: int) -> list[tuple[int, int]]:
    """Weight shapes of every layer, in the numbering of the module docstring."""
    check_transformer(n_in, hidden)
    d = hidden[0]
    block = [(d, d)] * 4 + [(d, MLP_RATIO * d), (MLP_RATIO * d, d)]
    return [(PATCH, d), *block * len(hidden), (d, n_out)]


def layer_names(n_blocks: int) -> list[str]:
    """The name of every layer, e.g. ``block 1 query`` (for ``symjax list`` and the reports)."""
    blocks = [f"block {j + 1} {name}" for j in range(n_blocks) for name in BLOCK_LAYERS]
    return ["patch embedding", *blocks, "readout"]


def transformer_extras(params: list, n_in: int) -> list:
    """``params`` (one ``{"w", "b"}`` per layer) with the position embedding and the LayerNorms added
    where they are missing (see the module docstring)."""
    params = [dict(layer) for layer in params]
    d = params[0]["b"].shape[-1]
    params[0].setdefault("pos", jnp.zeros((n_in // PATCH, d), params[0]["b"].dtype))
    owners = [
        1 + LAYERS_PER_BLOCK * j + k for j in range((len(params) - 2) // LAYERS_PER_BLOCK) for k in (0, 4)
    ]
    for index in [*owners, len(params) - 1]:
        params[index].setdefault("ln_scale", jnp.ones(d, params[0]["b"].dtype))
        params[index].setdefault("ln_shift", jnp.zeros(d, params[0]["b"].dtype))
    return params


def _layer_norm(h: jax.Array, layer: dict) -> jax.Array:
    return layer_norm(h, layer["ln_scale"], layer["ln_shift"])


def _attention(u: jax.Array, q: dict, k: dict, v: dict, o: dict) -> jax.Array:
    """Multi-head self-attention of u (batch, tokens, d): HEADS heads of d / HEADS, softmax over keys."""
    batch, tokens, d = u.shape

    def heads(layer):
        return (u @ layer["w"] + layer["b"]).reshape(batch, tokens, HEADS, d // HEADS)

    scores = jnp.einsum("bthc,bshc->bhts", heads(q), heads(k)) / jnp.sqrt(jnp.asarray(d // HEADS, u.dtype))
    mixed = jnp.einsum("bhts,bshc->bthc", jax.nn.softmax(scores, axis=-1), heads(v))
    return mixed.reshape(batch, tokens, d) @ o["w"] + o["b"]


def transformer_forward(params: list, x: jax.Array, phi) -> tuple[jax.Array, list]:
    """(outputs (batch, n_out), per layer but the readout: the MLP-in's activations (batch, tokens,
    MLP_RATIO d), None for the other layers) of inputs x (batch, n_in)."""
    embed = params[0]
    h = x.reshape(x.shape[0], -1, PATCH) @ embed["w"] + embed["b"] + embed["pos"]
    hidden = [None]
    for j in range(1, len(params) - 1, LAYERS_PER_BLOCK):
        q, k, v, o, mlp_in, mlp_out = params[j : j + LAYERS_PER_BLOCK]
        h = h + _attention(_layer_norm(h, q), q, k, v, o)
        m = phi(_layer_norm(h, mlp_in) @ mlp_in["w"] + mlp_in["b"])
        h = h + m @ mlp_out["w"] + mlp_out["b"]
        hidden += [None, None, None, None, m, None]
    pooled = _layer_norm(h, params[-1]).mean(axis=1)
    return pooled @ params[-1]["w"] + params[-1]["b"], hidden


def transformer_macs(n_in: int, hidden: tuple[int, ...], n_out: int) -> int:
    """Multiply-adds of one forward pass of one example: every layer at every token, plus the attention
    scores and mixing (2 tokens^2 d per block)."""
    tokens = n_in // PATCH
    shapes = transformer_shapes(n_in, hidden, n_out)
    dense = sum(a * b for a, b in shapes[:-1]) * tokens + shapes[-1][0] * shapes[-1][1]
    return dense + 2 * tokens * tokens * hidden[0] * len(hidden)
