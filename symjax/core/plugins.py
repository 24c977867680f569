"""Plug-in inits: ``module.path:function`` imports and names given to ``register_scheme``.

Data-flow stage: **matrix** (``check_plugin``: a plug-in that cannot be imported, is not callable or returns
the wrong shape or dtype is refused before anything is written) and **init** (``plugin_init``); the
engine's resume key includes ``plugin_digest`` so that editing a plug-in retrains its runs. Importing a
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
from typing import Callable

import jax
import jax.numpy as jnp

from symjax.core.schemes import REGISTERED_INITS, parse_scheme, plugin_names


def plugin_init(name: str) -> Callable:
    """The function a plug-in name stands for; ValueError (one line) if it cannot be imported or is not callable."""
    if name in REGISTERED_INITS:
        return REGISTERED_INITS[name]
    module_name, _, attribute = name.partition(":")
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or anything the module raises while it runs
        raise ValueError(f"plug-in {name}: cannot import {module_name} ({type(error).__name__}: "
                         f"{str(error).strip().splitlines()[0] if str(error).strip() else 'no message'})") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    fn = getattr(module, attribute, None)
    if fn is None:
        raise ValueError(f"plug-in {name}: module {module_name} has no {attribute!r}")
    if not callable(fn):
        raise ValueError(f"plug-in {name}: {attribute!r} is a {type(fn).__name__}, not a function (key, shape, dtype) -> Array")
    return fn


def check_plugin(name: str, shapes: list[tuple[int, ...]]) -> None:
    """ValueError (one line) unless ``name`` resolves to a function returning a float32 array of each of ``shapes``."""
    fn = plugin_init(name)
    for shape in shapes:
        try:
            value = fn(jax.random.key(0), shape, jnp.float32)
        except Exception as error:
            raise ValueError(f"plug-in {name} failed on shape {shape}: {type(error).__name__}: "
                             f"{str(error).strip().splitlines()[0] if str(error).strip() else 'no message'}") from None
        got_shape, got_dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        if got_shape != shape or got_dtype != jnp.float32:
            raise ValueError(f"plug-in {name} returned shape {got_shape} and dtype {got_dtype} for shape {shape} and "
                             "float32; allowed: an array of exactly the shape and dtype asked for")


def _source(fn: Callable) -> bytes:
    """What a plug-in's results depend on: its module's file (helpers included) and its own source, or its
    compiled code when there is no source (a function defined in a notebook)."""
    module = inspect.getmodule(fn)
    path = getattr(module, "__file__", None)
    text = open(path, "rb").read() if path and os.path.isfile(path) else b""
    try:
        return text + inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return text + (marshal.dumps(code) if code is not None else repr(fn).encode())


def plugin_digest(schemes: list[str]) -> str:
    """Hash of the source of every plug-in of ``schemes`` ("" without plug-ins): part of the resume key."""
    names = sorted({name for scheme in schemes for name in plugin_names(parse_scheme(scheme))})
    if not names:
        return ""
    sha = hashlib.sha256()
    for name in names:
        sha.update(name.encode() + b"\0" + _source(plugin_init(name)))
    return sha.hexdigest()[:24]

