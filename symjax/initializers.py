"""Init schemes: weight and bias initializers, parsed from names like ``zeros/normal(1.0)``.

Data-flow stage: matrix config -> **init params per run (scheme x seed)** -> train.
Every initializer follows the ``jax.nn.initializers`` contract
``(key, shape, dtype) -> Array`` and reuses ``jax.nn.initializers`` where it can.
Weights have shape ``(fan_in, fan_out)`` (a layer computes ``x @ w + b``);
biases have shape ``(fan_out,)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

Initializer = Callable[..., jax.Array]


def _uniform_symmetric(a: float) -> Initializer:
    """U(-a, a); ``jax.nn.initializers.uniform`` is U(0, scale), so it does not fit."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-a, maxval=a)

    return init


# name -> (number of numeric arguments, factory). Factories return an Initializer.
WEIGHT_INITS: dict[str, tuple[int, Callable[..., Initializer]]] = {
    "zeros": (0, lambda: jinit.zeros),
    "constant": (1, lambda c: jinit.constant(c)),
    "lecun_normal": (0, jinit.lecun_normal),
    "glorot_normal": (0, jinit.glorot_normal),
    "glorot_uniform": (0, jinit.glorot_uniform),
    "he_normal": (0, jinit.he_normal),
    "orthogonal": (0, jinit.orthogonal),
}

BIAS_INITS: dict[str, tuple[int, Callable[..., Initializer]]] = {
    "zeros": (0, lambda: jinit.zeros),
    "constant": (1, lambda c: jinit.constant(c)),
    "normal": (1, lambda sigma: jinit.normal(stddev=sigma)),
    "uniform": (1, _uniform_symmetric),
}

POSITIVE_ARGUMENT = {"normal", "uniform"}  # their argument is a spread: sigma > 0, a > 0
_TERM = re.compile(r"^([a-z_]+)(?:\(([^()]*)\))?$")


def describe(registry: dict) -> str:
    """Registry names for messages, e.g. ``zeros, constant(x), lecun_normal``."""
    return ", ".join(f"{name}(x)" if nargs else name for name, (nargs, _) in registry.items())


def _parse_term(text: str, registry: dict, kind: str) -> tuple[str, tuple[float, ...]]:
    """Parse ``name`` or ``name(arg)`` against a registry; raise ValueError listing valid names."""
    match = _TERM.match(text.strip())
    allowed = f"allowed {kind} inits: {describe(registry)}"
    if not match or match.group(1) not in registry:
        raise ValueError(f"unknown {kind} init {text.strip()!r}; {allowed}")
    name, arg_text = match.group(1), match.group(2)
    nargs = registry[name][0]
    args = tuple(a.strip() for a in arg_text.split(",")) if arg_text else ()
    if len(args) != nargs:
        raise ValueError(f"{kind} init {name!r} takes {nargs} argument(s), got {len(args)} in {text.strip()!r}; {allowed}")
    try:
        values = tuple(float(a) for a in args)
    except ValueError:
        raise ValueError(f"{kind} init {text.strip()!r} needs a number in parentheses; {allowed}") from None
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"{kind} init {text.strip()!r} needs a finite number; {allowed}")
    if name in POSITIVE_ARGUMENT and not all(v > 0 for v in values):
        raise ValueError(f"{kind} init {text.strip()!r} needs a positive scale (sigma or a); {allowed}")
    return name, values


def _canonical(name: str, args: tuple[float, ...]) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})" if args else name


@dataclass(frozen=True)
class Scheme:
    """A (weight init, bias init) pair, written ``W/b``, e.g. ``zeros/normal(1.0)``."""

    weight: str
    weight_args: tuple[float, ...]
    bias: str
    bias_args: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{_canonical(self.weight, self.weight_args)}/{_canonical(self.bias, self.bias_args)}"

    def weight_init(self) -> Initializer:
        return WEIGHT_INITS[self.weight][1](*self.weight_args)

    def bias_init(self) -> Initializer:
        return BIAS_INITS[self.bias][1](*self.bias_args)

    def __str__(self) -> str:
        return self.name


def parse_scheme(text: str) -> Scheme:
    """Parse ``"W/b"`` into a Scheme; raise ValueError naming what is wrong and what is allowed."""
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(
            f"scheme {text!r} must be written WEIGHT/BIAS, e.g. lecun_normal/zeros or zeros/normal(1.0); "
            f"allowed weight inits: {describe(WEIGHT_INITS)}; allowed bias inits: {describe(BIAS_INITS)}"
        )
    weight, weight_args = _parse_term(parts[0], WEIGHT_INITS, "weight")
    bias, bias_args = _parse_term(parts[1], BIAS_INITS, "bias")
    return Scheme(weight, weight_args, bias, bias_args)


def canonical_scheme(text: str) -> str:
    """Normalize a scheme string, e.g. ``'zeros/normal(1)'`` -> ``'zeros/normal(1.0)'``."""
    return parse_scheme(text).name
