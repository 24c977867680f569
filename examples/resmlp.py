"""A residual MLP for symjax, the README's worked example of "your own model".

``model = "examples.resmlp:model"`` (or ``--model examples.resmlp:model``, run from the repository's root)
trains it with every scheme of a matrix. ``hidden`` gives the blocks: ``[64, 64, 64]`` is an input layer
to 64 units, then two residual blocks h + phi(h W + b) of 64, then the readout. Zero-initialized
branches (the Fixup / ReZero family) are per-layer overrides of a scheme:
``lecun_normal/zeros@2=zeros/zeros@3=zeros/zeros`` starts every block as the identity.
"""

import symjax


def shapes(n_in, hidden, n_out):
    """Weight shapes, readout last: (n_in, width), (width, width) per block, (width, n_out)."""
    width = hidden[0]
    if any(h != width for h in hidden):
        raise ValueError(f"a residual MLP keeps one width, got hidden {list(hidden)}")
    return [(n_in, width)] + [(width, width)] * (len(hidden) - 1) + [(width, n_out)]


def apply(params, x, phi):
    """Outputs (batch, n_out) of inputs x (batch, n_in); params: one {"w", "b"} per layer of ``shapes``."""
    h = phi(x @ params[0]["w"] + params[0]["b"])
    for block in params[1:-1]:
        h = h + phi(h @ block["w"] + block["b"])
    return h @ params[-1]["w"] + params[-1]["b"]


model = symjax.Model(shapes, apply)
