"""Plug-ins: inits and models given as import paths ``module.path:name`` or registered by name from Python.

An init is a function ``(key, shape, dtype) -> Array`` (as ``jax.nn.initializers``): ``register_scheme``
(``symjax.core.schemes``) or a path. A model is a ``Model``: ``shapes(n_in, hidden, n_out)`` gives the
weight shape of every layer (readout last; symjax draws each layer's ``{"w", "b"}`` with the run's scheme,
per-layer overrides included) and ``apply(params, x, phi)`` the outputs (batch, n_out) of inputs x (batch,
n_in), ``phi`` the matrix's activation function: ``symjax.core.models.register_model`` or a path to a
``Model`` object.
Data-flow stage: **matrix** (``check_plugin``, ``check_model``, called by ``symjax.matrix.plugin_checks`` on
the matrix's real layer shapes and batch sizes: a plug-in that cannot be imported, is not callable, returns
the wrong shape or dtype or, an init, different values for the same key, is refused before anything is
written), **init** and **train** (``plugin_init``, ``plugin_model``: whatever a plug-in raises there, even
``SystemExit``, is one ``SymjaxError`` line; only ``KeyboardInterrupt`` passes as it is); the engine's resume
key includes ``plugin_digest`` so that editing a plug-in retrains its runs. Importing a plug-in runs its
module's code, as pytest plugins do. The current directory is searched first, as ``python -m`` does, so
``mypkg/inits.py`` beside the command works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import inspect
import marshal
import math
import os
import sys
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symjax.core.errors import SymjaxError, one_line
from symjax.core.schemes import PLUGIN_PATH, REGISTERED_INITS, parse_scheme, plugin_names

MAX_REPEATED_ELEMENTS = 2**24  # an init's values are drawn twice (same key) on real shapes up to this size
PROBE_RUNS = 2  # runs of the vmapped axis a plug-in is traced with, as in training


class Model(NamedTuple):
    """A user's functional model (see the module docstring): two pure functions."""

    shapes: Callable  # (n_in, hidden: tuple[int, ...], n_out) -> list of weight shapes, readout last
    apply: Callable  # (params: list of {"w", "b"}, x (batch, n_in), phi) -> outputs (batch, n_out)


REGISTERED_MODELS: dict[
    str, Model
] = {}  # models.register_model; with REGISTERED_INITS, the registries users extend


@contextlib.contextmanager
def _failing(prefix: str):
    """Turn anything the block raises but KeyboardInterrupt (SystemExit included) into one SymjaxError line,
    ``prefix`` then the error's type and first line."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        raise SymjaxError(f"{prefix}{_first_line(error)}") from None


def _guarded(name: str, fn: Callable) -> Callable:
    """``fn`` calling through, what it raises turned into one line naming the plug-in (see ``_failing``)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _failing(f"plug-in {name} failed: "):
            return fn(*args, **kwargs)

    return call


def is_plugin_model(name: str) -> bool:
    """Whether a model name is a plug-in (an import path or a registered name) rather than a built-in one."""
    return bool(PLUGIN_PATH.fullmatch(name)) or name in REGISTERED_MODELS


def _resolve_model(name: str) -> Model:
    """The ``Model`` a plug-in model name stands for, its functions as the user wrote them."""
    model = REGISTERED_MODELS.get(name) or _import(name)
    if not (isinstance(model, tuple) and len(model) == 2 and all(map(callable, model))):
        raise SymjaxError(
            f"plug-in model {name}: is a {type(model).__name__}, not symjax.Model(shapes, apply)"
        )
    return Model(*model)


def plugin_model(name: str) -> Model:
    """The ``Model`` a plug-in model name stands for, its functions guarded (``_guarded``); SymjaxError (one
    line) if it is not one."""
    return Model(*(_guarded(name, fn) for fn in _resolve_model(name)))


def check_model(name: str, n_in: int, hidden, n_out: int, batches=(), dtype="float32", phi=jnp.tanh) -> None:
    """SymjaxError (one line) unless the plug-in model ``name`` gives weight shapes (2-D, or 3-D conv kernels)
    for (n_in, hidden, n_out) and, vmapped over runs as in training, maps ``dtype`` inputs (B, n_in) to
    ``dtype`` outputs (B, n_out) for B = 2 and every batch size of ``batches`` (call it in the dtype's
    precision)."""
    model = _resolve_model(name)
    with _failing(f"plug-in model {name}: shapes({n_in}, {tuple(hidden)}, {n_out}) failed: "):
        shapes = [tuple(shape) for shape in model.shapes(n_in, tuple(hidden), n_out)]
    if not shapes or not all(
        len(s) in (2, 3) and all(isinstance(d, int) and d > 0 for d in s) for s in shapes
    ):
        raise SymjaxError(
            f"plug-in model {name}: shapes({n_in}, {tuple(hidden)}, {n_out}) gave {shapes!r}; allowed: a "
            "non-empty list of (fan_in, fan_out) or (width, c_in, c_out) tuples of positive integers"
        )
    for batch in dict.fromkeys((2, *batches)):
        _check_apply(name, model, shapes, (batch, n_in), (batch, n_out), jnp.dtype(dtype), phi)


def _check_apply(name: str, model: Model, shapes, inputs: tuple, outputs: tuple, dtype, phi) -> None:
    """SymjaxError (one line) unless ``model.apply`` maps inputs of shape ``inputs`` to ``outputs``, both of
    ``dtype``, with params of ``shapes`` for each of ``PROBE_RUNS`` runs."""
    params = [
        {
            "w": jax.ShapeDtypeStruct((PROBE_RUNS, *s), dtype),
            "b": jax.ShapeDtypeStruct((PROBE_RUNS, s[-1]), dtype),
        }
        for s in shapes
    ]
    with _failing(f"plug-in model {name}: apply failed on inputs {inputs}: "):
        out = jax.eval_shape(
            jax.vmap(lambda p, x: model.apply(p, x, phi), in_axes=(0, None)),
            params,
            jax.ShapeDtypeStruct(inputs, dtype),
        )
    shape = getattr(out, "shape", None)
    if shape != (PROBE_RUNS, *outputs) or getattr(out, "dtype", None) != dtype:
        raise SymjaxError(
            f"plug-in model {name}: apply gave {shape[1:] if shape is not None else type(out).__name__} "
            f"{getattr(out, 'dtype', '')} for inputs {inputs}; allowed: {dtype} outputs {outputs}"
        )


def _first_line(error: BaseException) -> str:
    """``Type: first line of the message`` (``no message`` for an empty one), e.g. ``SystemExit: 0``."""
    return f"{type(error).__name__}: {one_line(error) if str(error).strip() else 'no message'}"


def _resolve_init(name: str) -> Callable:
    """The function a plug-in init name stands for, as the user wrote it."""
    fn = REGISTERED_INITS.get(name) or _import(name)
    if not callable(fn):
        raise SymjaxError(
            f"plug-in {name}: is a {type(fn).__name__}, not a function (key, shape, dtype) -> Array"
        )
    return fn


def plugin_init(name: str) -> Callable:
    """The function a plug-in name stands for, guarded (``_guarded``); SymjaxError (one line) if it cannot be
    imported or is not callable."""
    return _guarded(name, _resolve_init(name))


def _import(name: str):
    """The object an import path ``module.path:name`` names (``_module``); SymjaxError (one line) for a
    module that cannot be imported or raises anything while it runs (SystemExit too)."""
    module_name, _, attribute = name.partition(":")
    with _failing(f"plug-in {name}: cannot import {module_name}: "):
        module = _module(module_name)
    if not hasattr(module, attribute):
        raise SymjaxError(f"plug-in {name}: module {module_name} has no {attribute!r}")
    return getattr(module, attribute)


def _module(module_name: str):
    """A module imported with the current directory searched first, and imported again if its file changed
    since (so a notebook trains the code that the resume key hashes)."""
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        source = _file_bytes(module)
        if hasattr(module, "__symjax_source__") and module.__symjax_source__ != source:  # edited since
            module = importlib.reload(module)
        module.__symjax_source__ = source
        return module
    finally:
        if added:
            sys.path.remove(os.getcwd())


def _file_bytes(module) -> bytes | None:
    """The bytes of a module's source file now (None without one): what its plug-ins' results depend on."""
    path = getattr(module, "__file__", None)
    return open(path, "rb").read() if path and os.path.isfile(path) else None


def check_plugin(name: str, shapes: list[tuple[int, ...]]) -> None:
    """SymjaxError (one line) unless ``name`` resolves to a function that, for each of ``shapes``, returns a
    float32 array of that shape (vmapped over runs, as in training) and, called twice with the same key on a
    shape of at most ``MAX_REPEATED_ELEMENTS``, the same values."""
    fn = _resolve_init(name)
    for shape in shapes:
        keys = jax.random.split(jax.random.key(0), PROBE_RUNS)
        with _failing(f"plug-in {name} failed on shape {shape}: "):
            drawn = jax.eval_shape(jax.vmap(lambda key: fn(key, shape, jnp.float32)), keys)
        _check_drawn(name, shape, getattr(drawn, "shape", None), getattr(drawn, "dtype", None), PROBE_RUNS)
        if math.prod(shape) <= MAX_REPEATED_ELEMENTS:
            _check_repeatable(name, fn, shape)


def _check_drawn(name: str, shape: tuple, got_shape, got_dtype, runs: int | None = None) -> None:
    """SymjaxError unless an init drew ``shape`` (behind a run axis of ``runs``) in float32."""
    wanted = shape if runs is None else (runs, *shape)
    if got_shape != wanted or got_dtype != jnp.float32:
        got_shape = got_shape[1:] if runs is not None and got_shape else got_shape
        raise SymjaxError(
            f"plug-in {name} returned shape {got_shape} and dtype {got_dtype} for shape {shape} and "
            "float32; allowed: an array of exactly the shape and dtype asked for"
        )


def _check_repeatable(name: str, fn: Callable, shape: tuple) -> None:
    """SymjaxError unless two calls of ``fn`` with one key give the same float32 array of ``shape``."""
    values = []
    for _ in range(2):
        with _failing(f"plug-in {name} failed on shape {shape}: "):
            value = fn(jax.random.key(0), shape, jnp.float32)
        _check_drawn(name, shape, getattr(value, "shape", None), getattr(value, "dtype", None))
        values.append(np.asarray(value))
    if not np.array_equal(*values, equal_nan=True):
        raise SymjaxError(
            f"plug-in {name} gave different values for the same key on shape {shape}; allowed: values that "
            "depend only on (key, shape, dtype), so that a resumed run starts from the weights it had"
        )


def _source(fn: Callable) -> bytes:
    """What a plug-in's results depend on: its module's file (helpers included) and its own source, or its
    compiled code when there is no source (a function defined in a notebook)."""
    text = _file_bytes(inspect.getmodule(fn)) or b""
    try:
        return text + inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return text + (marshal.dumps(code) if code is not None else repr(fn).encode())


def plugin_digest(schemes: list[str], models: list[str] = ()) -> str:
    """Hash of the source of every plug-in init of ``schemes`` and plug-in model of ``models`` ("" without
    plug-ins): part of the resume key."""
    inits = sorted({name for scheme in schemes for name in plugin_names(parse_scheme(scheme))})
    functions = [(name, _resolve_init(name)) for name in inits]
    functions += [
        (name, fn) for name in sorted(set(filter(is_plugin_model, models))) for fn in _resolve_model(name)
    ]
    if not functions:
        return ""
    sha = hashlib.sha256()
    for name, fn in functions:
        sha.update(name.encode() + b"\0" + _source(fn))
    return sha.hexdigest()[:24]
