"""Init scheme names: the syntax ``W/b``, e.g. ``zeros/normal(1.0)``, parsed into a ``Scheme``.

Data-flow stage: **matrix** (names checked and made canonical, ``symjax.matrix.validate``) and
**init** (``symjax.core.models.init_mlp``). Free of jax (the matrix, results and report stages
read scheme names); the initializers that a name stands for are in ``symjax.core.initializers``.

Scheme syntax: ``W/b`` where W and b are init names or plug-ins (``module.path:function``, or a name given to
``register_scheme``) (or ``torch_default``, short for ``torch_default/torch_default``), optionally followed by
per-layer overrides ``@LAYER=W/b`` (LAYER is a
1-based layer number or ``last``, the readout), e.g. ``lecun_normal/zeros@last=zeros/zeros``.
``expand_scheme`` turns a bracketed argument list, ``zeros/normal([0.1, 1.0])``, into one scheme per value.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Callable

# init name -> number of numeric arguments (symjax.core.initializers has the same names)
WEIGHT_INIT_ARGS = {
    "zeros": 0,
    "constant": 1,
    "lecun_normal": 0,
    "lecun_uniform": 0,
    "glorot_normal": 0,
    "glorot_uniform": 0,
    "he_normal": 0,
    "he_uniform": 0,
    "torch_default": 0,
    "orthogonal": 0,
    "identity": 0,
    "zero_hadamard": 0,
    "perturbed": 1,
}
BIAS_INIT_ARGS = {"zeros": 0, "constant": 1, "normal": 1, "uniform": 1, "torch_default": 0}
# a whole scheme by one name: PyTorch's default init of nn.Linear / nn.Conv1d, W and b from U(-1/sqrt(fan_in),
# +)
SCHEME_ALIASES = {"torch_default": "torch_default/torch_default"}
POSITIVE_ARGUMENT = {"normal", "uniform", "perturbed"}  # their argument is a spread: sigma, a, eps > 0
# A plug-in init: an import path ``module.path:function`` to a function with the ``jax.nn.initializers``
# signature ``(key, shape, dtype) -> Array``, usable as a weight or a bias init (importing it runs its code).
PLUGIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
# Inits registered by name from Python (``register_scheme``, for notebooks): the one registry users extend.
REGISTERED_INITS: dict[str, Callable] = {}
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a name given to register_scheme or register_model
_TERM = re.compile(r"^([a-z_]+)(?:\(([^()]*)\))?$")
_OVERRIDE = re.compile(r"^\s*(last|[0-9]+)\s*=(.*)$", re.S)
OVERRIDE_SYNTAX = (
    "write overrides as @LAYER=WEIGHT/BIAS where LAYER is a 1-based layer number or 'last' (the readout), "
    "e.g. lecun_normal/zeros@last=zeros/zeros"
)


def is_plugin(name: str) -> bool:
    """Whether an init name is a plug-in: an import path ``module:function`` or a name given to
    ``register_scheme``.

    >>> is_plugin("mypkg.inits:orthogonal_small"), is_plugin("normal")
    (True, False)
    """
    return bool(PLUGIN_PATH.fullmatch(name)) or name in REGISTERED_INITS


def register_scheme(name: str, fn: Callable) -> None:
    """Make ``fn`` (``(key, shape, dtype) -> Array``, as ``jax.nn.initializers``) a weight and bias init
    called
    ``name``, e.g. ``register_scheme("small_orthogonal", fn)`` then ``"small_orthogonal/normal(1.0)"``.

    Registering a name again replaces its function (a notebook cell run twice). Raises ValueError for a name
    that is not lowercase letters, digits and ``_`` or that a built-in init already has, and for a
    non-callable
    ``fn``.
    """
    if not (isinstance(name, str) and PLUGIN_NAME.fullmatch(name)):
        raise ValueError(
            f"register_scheme: name {name!r} must be 1 to 64 lowercase letters, digits or '_', starting with "
            "a letter"
        )
    if name in WEIGHT_INIT_ARGS or name in BIAS_INIT_ARGS or name in SCHEME_ALIASES:
        raise ValueError(f"register_scheme: {name!r} is a built-in init; choose another name")
    if not callable(fn):
        raise ValueError(
            f"register_scheme: {name!r} needs a function (key, shape, dtype) -> Array, got "
            f"{type(fn).__name__}"
        )
    REGISTERED_INITS[name] = fn


def plugin_names(scheme: Scheme) -> list[str]:
    """The plug-in init names of a scheme, overrides included, in order, once each."""
    parts = [scheme, *(override for _, override in scheme.overrides)]
    return list(dict.fromkeys(name for part in parts for name in (part.weight, part.bias) if is_plugin(name)))


def describe(registry: dict[str, int]) -> str:
    """Init names for messages, e.g. ``zeros, constant(x), lecun_normal``.

    >>> describe({"zeros": 0, "constant": 1})
    'zeros, constant(x)'
    """
    return ", ".join(f"{name}(x)" if nargs else name for name, nargs in registry.items())


def _parse_term(text: str, registry: dict, kind: str) -> tuple[str, tuple[float, ...]]:
    """Parse ``name``, ``name(arg)`` or a plug-in (``is_plugin``) against a registry; raise ValueError listing
    valid names."""
    if is_plugin(text.strip()):
        return text.strip(), ()
    match = _TERM.match(text.strip())
    allowed = f"allowed {kind} inits: {describe(registry)}, or a plug-in module.path:function"
    if not match or match.group(1) not in registry:
        raise ValueError(f"unknown {kind} init {text.strip()!r}; {allowed}")
    name, arg_text = match.group(1), match.group(2)
    nargs = registry[name]
    args = tuple(a.strip() for a in arg_text.split(",")) if arg_text else ()
    if len(args) != nargs:
        raise ValueError(
            f"{kind} init {name!r} takes {nargs} argument(s), got {len(args)} in {text.strip()!r}; {allowed}"
        )
    try:
        values = tuple(float(a) for a in args)
    except ValueError:
        raise ValueError(f"{kind} init {text.strip()!r} needs a number in parentheses; {allowed}") from None
    if any(not math.isfinite(v) for v in values):
        raise ValueError(f"{kind} init {text.strip()!r} needs a finite number; {allowed}")
    if name in POSITIVE_ARGUMENT and not all(v > 0 for v in values):
        raise ValueError(f"{kind} init {text.strip()!r} needs a positive scale (sigma, a or eps); {allowed}")
    return name, values


def _canonical(name: str, args: tuple[float, ...]) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})" if args else name


@dataclass(frozen=True)
class Scheme:
    """A (weight init, bias init) pair, written ``W/b``, e.g. ``zeros/normal(1.0)``, with optional
    per-layer overrides ``((layer spec "3" or "last", Scheme without overrides), ...)``.
    An explicit layer number beats ``last`` when both name the readout."""

    weight: str
    weight_args: tuple[float, ...]
    bias: str
    bias_args: tuple[float, ...]
    overrides: tuple[tuple[str, Scheme], ...] = ()

    def __post_init__(self):
        specs = [spec for spec, _ in self.overrides]
        for spec, override in self.overrides:
            if not re.fullmatch(r"last|[1-9][0-9]*", spec):
                raise ValueError(f"bad override layer {spec!r}; {OVERRIDE_SYNTAX}")
            if override.overrides:
                raise ValueError(
                    f"override @{spec} must be a plain WEIGHT/BIAS scheme without overrides of its own"
                )
            if specs.count(spec) > 1:
                raise ValueError(
                    f"layer {spec} is overridden twice in scheme {self.name!r}; give each layer once"
                )

    @property
    def name(self) -> str:
        base = f"{_canonical(self.weight, self.weight_args)}/{_canonical(self.bias, self.bias_args)}"
        return base + "".join(f"@{spec}={override.name}" for spec, override in self.overrides)

    def for_layer(self, layer: int, n_layers: int) -> Scheme:
        """The plain scheme (no overrides) of 0-based ``layer`` of ``n_layers`` (readout = n_layers - 1)."""
        check_depth(self, n_layers)
        if not 0 <= layer < n_layers:
            raise ValueError(f"layer index {layer} out of range for a network of {n_layers} layers")
        overrides = dict(self.overrides)
        scheme = overrides.get(str(layer + 1))  # an explicit number beats "last"
        if scheme is None and layer == n_layers - 1:
            scheme = overrides.get("last")
        return scheme or Scheme(self.weight, self.weight_args, self.bias, self.bias_args)

    def __str__(self) -> str:
        return self.name


def check_depth(scheme: Scheme, n_layers: int) -> None:
    """Raise ValueError if an override names a layer beyond ``n_layers`` (hidden layers + readout)."""
    if n_layers < 1:
        raise ValueError(f"a network needs at least one layer (the readout), got {n_layers}")
    for spec, _ in scheme.overrides:
        if spec != "last" and int(spec) > n_layers:
            raise ValueError(
                f"scheme {scheme.name} overrides layer {spec} but the network has {n_layers} "
                f"layer{'s' if n_layers != 1 else ''} ({n_layers - 1} hidden + readout)"
            )


def _parse_pair(text: str) -> Scheme:
    text = SCHEME_ALIASES.get(text.strip(), text)
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(
            f"scheme {text!r} must be written WEIGHT/BIAS, e.g. lecun_normal/zeros or zeros/normal(1.0); "
            f"allowed weight inits: {describe(WEIGHT_INIT_ARGS)}; allowed bias inits: "
            f"{describe(BIAS_INIT_ARGS)}"
        )
    weight, weight_args = _parse_term(parts[0], WEIGHT_INIT_ARGS, "weight")
    bias, bias_args = _parse_term(parts[1], BIAS_INIT_ARGS, "bias")
    return Scheme(weight, weight_args, bias, bias_args)


def parse_scheme(text: str) -> Scheme:
    """Parse ``"W/b@LAYER=W/b..."`` into a Scheme; raise ValueError naming what is wrong and what is
    allowed."""
    if "[" in text or "]" in text:
        raise ValueError(f"scheme {text!r} has a bracketed list; expand it with expand_scheme first")
    base_text, *override_texts = text.split("@")
    base = _parse_pair(base_text)
    overrides = []
    for part in override_texts:
        match = _OVERRIDE.match(part)
        spec = match and (match.group(1) if match.group(1) == "last" else str(int(match.group(1))))
        if spec in (None, "0"):
            raise ValueError(
                f"malformed override '@{part.strip()}' in scheme {text.strip()!r}; {OVERRIDE_SYNTAX}"
            )
        try:
            overrides.append((spec, _parse_pair(match.group(2))))
        except ValueError as error:
            raise ValueError(f"override @{spec} in scheme {text.strip()!r}: {error}") from None
    return Scheme(base.weight, base.weight_args, base.bias, base.bias_args, tuple(overrides))


def canonical_scheme(text: str) -> str:
    """Normalize a scheme string, e.g. ``'zeros/normal(1)'`` -> ``'zeros/normal(1.0)'``."""
    return parse_scheme(text).name


_LIST = re.compile(r"([(,]\s*)\[([^\[\]]*)\](?=\s*[),])")


def count_schemes(text: str) -> int:
    """How many schemes ``expand_scheme(text)`` gives (the product of its bracketed list lengths), without
    expanding."""
    return math.prod(len(m.group(2).split(",")) for m in _LIST.finditer(text))


def expand_scheme(text: str) -> list[str]:
    """Canonical schemes for every combination of the bracketed argument lists (row-major),
    e.g. ``zeros/normal([0.1, 1])`` -> ``['zeros/normal(0.1)', 'zeros/normal(1.0)']``."""
    lists = [[v.strip() for v in m.group(2).split(",")] for m in _LIST.finditer(text)]
    rest = _LIST.sub("", text)
    if "[" in rest or "]" in rest:
        raise ValueError(
            f"scheme {text!r}: a bracketed list must be a whole init argument of numbers, closed and not "
            "nested, e.g. zeros/normal([0.1, 0.5, 1.0])"
        )
    if any(not v for values in lists for v in values):
        raise ValueError(f"scheme {text!r}: empty value in a bracketed list; write e.g. normal([0.1, 0.5])")
    pieces = _LIST.split(text)  # [text, prefix, list, text, prefix, list, ..., text]
    names = []
    for combo in itertools.product(*lists):
        filled = pieces[0] + "".join(p + v + t for p, v, t in zip(pieces[1::3], combo, pieces[3::3]))
        names.append(canonical_scheme(filled))
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"scheme {text!r} expands to the same scheme twice: {', '.join(duplicates)}")
    return names
