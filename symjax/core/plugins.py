"""Plug-ins: inits and models given as import paths ``module.path:name`` or registered by name from Python.

An init is a function ``(key, shape, dtype) -> Array`` (as ``jax.nn.initializers``): ``register_scheme``
(``symjax.core.schemes``) or a path. A model is a ``Model``: ``shapes(n_in, hidden, n_out)`` gives the
weight shape of every layer (readout last; symjax draws each layer's ``{"w", "b"}`` with the run's scheme,
per-layer overrides included) and ``apply(params, x, phi)`` the outputs (batch, n_out) of inputs x (batch,
n_in), ``phi`` the matrix's activation function: ``symjax.core.models.register_model`` or a path to a
``Model`` object.
Data-flow stage: **matrix** (``check_plugin``, ``check_model``: a plug-in that cannot be imported, is not
callable or returns the wrong shape or dtype is refused before anything is written), **init** and
**train** (``plugin_init``, ``plugin_model``); the engine's resume key includes ``plugin_digest`` so that
editing a plug-in retrains its runs. Importing a
plug-in runs its module's code, as pytest plugins do. The current directory is searched first, as
``python -m`` does, so ``mypkg/inits.py`` beside the command works.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import marshal
import os
import sys
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from symjax.core.schemes import PLUGIN_PATH, REGISTERED_INITS, parse_scheme, plugin_names


class Model(NamedTuple):
    """A user's functional model (see the module docstring): two pure functions."""

    shapes: Callable  # (n_in, hidden: tuple[int, ...], n_out) -> list of weight shapes, readout last
    apply: Callable  # (params: list of {"w", "b"}, x (batch, n_in), phi) -> outputs (batch, n_out)


REGISTERED_MODELS: dict[
    str, Model
] = {}  # models.register_model; with REGISTERED_INITS, the registries users extend


def is_plugin_model(name: str) -> bool:
    """Whether a model name is a plug-in (an import path or a registered name) rather than a built-in one."""
    return bool(PLUGIN_PATH.fullmatch(name)) or name in REGISTERED_MODELS


def plugin_model(name: str) -> Model:
    """The ``Model`` a plug-in model name stands for; ValueError (one line) if it is not one."""
    model = REGISTERED_MODELS.get(name) or _import(name)
    if not (isinstance(model, tuple) and len(model) == 2 and all(map(callable, model))):
        raise ValueError(
            f"plug-in model {name}: is a {type(model).__name__}, not symjax.Model(shapes, apply)"
        )
    return Model(*model)


def check_model(name: str, n_in: int, hidden: tuple[int, ...], n_out: int) -> None:
    """ValueError (one line) unless the plug-in model ``name`` gives weight shapes (2-D, or 3-D conv kernels)
    for (n_in, hidden, n_out) and maps float32 inputs (2, n_in) to float32 outputs (2, n_out) with such
    params."""
    model = plugin_model(name)
    try:
        shapes = [tuple(shape) for shape in model.shapes(n_in, tuple(hidden), n_out)]
    except Exception as error:
        raise ValueError(
            f"plug-in model {name}: shapes({n_in}, {tuple(hidden)}, {n_out}) failed: {_first_line(error)}"
        ) from None
    if not shapes or not all(
        len(s) in (2, 3) and all(isinstance(d, int) and d > 0 for d in s) for s in shapes
    ):
        raise ValueError(
            f"plug-in model {name}: shapes({n_in}, {tuple(hidden)}, {n_out}) gave {shapes!r}; allowed: a "
            "non-empty list of (fan_in, fan_out) or (width, c_in, c_out) tuples of positive integers"
        )
    params = [
        {"w": jax.ShapeDtypeStruct(s, jnp.float32), "b": jax.ShapeDtypeStruct(s[-1:], jnp.float32)}
        for s in shapes
    ]
    try:
        out = jax.eval_shape(
            lambda p, x: model.apply(p, x, jnp.tanh), params, jax.ShapeDtypeStruct((2, n_in), jnp.float32)
        )
    except Exception as error:
        raise ValueError(
            f"plug-in model {name}: apply failed on inputs (2, {n_in}): {_first_line(error)}"
        ) from None
    if getattr(out, "shape", None) != (2, n_out) or getattr(out, "dtype", None) != jnp.float32:
        raise ValueError(
            f"plug-in model {name}: apply gave {getattr(out, 'shape', type(out).__name__)} "
            f"{getattr(out, 'dtype', '')} for inputs (2, {n_in}); allowed: float32 outputs (2, {n_out})"
        )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else 'no message'}"


def plugin_init(name: str) -> Callable:
    """The function a plug-in name stands for; ValueError (one line) if it cannot be imported or is not
    callable."""
    fn = REGISTERED_INITS.get(name) or _import(name)
    if not callable(fn):
        raise ValueError(
            f"plug-in {name}: is a {type(fn).__name__}, not a function (key, shape, dtype) -> Array"
        )
    return fn


def _import(name: str):
    """The object an import path ``module.path:name`` names, importing the module (the current directory
    first) and importing it again if its file changed since (so a notebook trains the code that the resume key
    hashes)."""
    module_name, _, attribute = name.partition(":")
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        source = _file_bytes(module)
        if (
            hasattr(module, "__symjax_source__") and module.__symjax_source__ != source
        ):  # edited since (a notebook)
            module = importlib.reload(module)
        module.__symjax_source__ = source
    except Exception as error:  # ImportError, or anything the module raises while it runs
        raise ValueError(f"plug-in {name}: cannot import {module_name} ({_first_line(error)})") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    if not hasattr(module, attribute):
        raise ValueError(f"plug-in {name}: module {module_name} has no {attribute!r}")
    return getattr(module, attribute)


def _file_bytes(module) -> bytes | None:
    """The bytes of a module's source file now (None without one): what its plug-ins' results depend on."""
    path = getattr(module, "__file__", None)
    return open(path, "rb").read() if path and os.path.isfile(path) else None


def check_plugin(name: str, shapes: list[tuple[int, ...]]) -> None:
    """ValueError (one line) unless ``name`` resolves to a function returning a float32 array of each of
    ``shapes``."""
    fn = plugin_init(name)
    for shape in shapes:
        try:
            value = fn(jax.random.key(0), shape, jnp.float32)
        except Exception as error:
            raise ValueError(f"plug-in {name} failed on shape {shape}: {_first_line(error)}") from None
        got_shape, got_dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        if got_shape != shape or got_dtype != jnp.float32:
            raise ValueError(
                f"plug-in {name} returned shape {got_shape} and dtype {got_dtype} for shape {shape} and "
                "float32; allowed: an array of exactly the shape and dtype asked for"
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
    functions = [(name, plugin_init(name)) for name in inits]
    functions += [
        (name, fn) for name in sorted(set(filter(is_plugin_model, models))) for fn in plugin_model(name)
    ]
    if not functions:
        return ""
    sha = hashlib.sha256()
    for name, fn in functions:
        sha.update(name.encode() + b"\0" + _source(fn))
    return sha.hexdigest()[:24]
