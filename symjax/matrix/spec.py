"""The spec of a benchmark matrix: its axes, bounds and exclude rules, and the groups of runs it expands into.

Data-flow stage: **matrix** -> plan (``symjax.engine.plan``) -> train. Static fields
(``symjax.core.group.GroupConfig``) decide compilation; per-run values (scheme, seed,
learning rate) vary inside a group along the vmapped run axis. Free of jax: checking the
names against the registries is ``symjax.matrix.validate``; reading TOML files is
``symjax.matrix.load``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from symjax.core.axes import AXES, GROUPED, REQUIRED
from symjax.core.errors import SymjaxError
from symjax.core.group import GroupConfig

# Upper bounds (a matrix beyond them would not fit this kind of machine, or takes longer than anyone waits)
LIMITS = {axis.key: axis.limit for axis in AXES if axis.limit is not None}
MAX_AXIS_VALUES = 1_000  # values on one axis, schemes after expanding bracketed lists
MAX_GROUPS = 10_000  # compiled programs
MAX_RUNS = 1_000_000  # runs after the exclude rules
FLOAT32_RANGE = (1.1754944e-38, 3.4028235e38)  # smallest normal and largest finite float32
RESERVED_NAMES = ("readme", "bench")  # reports/README.md (the index) and reports/bench.md
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ConfigError(SymjaxError):
    """Bad matrix or flag value; the message says what is wrong and what is allowed."""


def _groups(self) -> list[GroupConfig]:
    """One GroupConfig per combination of the grouped axes, in matrix order (exclusions not applied)."""
    shared = {a.single: getattr(self, a.field) for a in AXES if a.role == "group"}
    return [
        GroupConfig(**dict(zip((a.single for a in GROUPED), values)), **shared)
        for values in itertools.product(*(getattr(self, a.field) for a in GROUPED))
    ]


def _excluded(self, cfg: GroupConfig, lr: float, scheme: str) -> bool:
    """Whether an ``exclude`` rule removes the run (cfg, lr, scheme): every axis of some rule matches."""
    axes = {**{a.single: getattr(cfg, a.single) for a in GROUPED}, "lr": lr, "scheme": scheme}
    return any(all(axes[axis] in values for axis, values in rule) for rule in self.excludes)


def _kept_groups(self) -> list[tuple[GroupConfig, list[tuple[float, str]]]]:
    """Every group that keeps at least one run, with its (lr, scheme) pairs in (lr, scheme) order."""
    plan = []
    for cfg in self.groups():
        pairs = [(lr, s) for lr in self.lrs for s in self.schemes if not self.excluded(cfg, lr, s)]
        if pairs:
            plan.append((cfg, pairs))
    return plan


def _to_dict(self) -> dict:
    return dataclasses.asdict(self)


Matrix = dataclasses.make_dataclass(
    "Matrix",
    [
        (a.field, object)
        if a.default is REQUIRED
        else (a.field, object, dataclasses.field(default=a.default))
        for a in AXES
    ],
    frozen=True,
    namespace={"groups": _groups, "excluded": _excluded, "kept_groups": _kept_groups, "to_dict": _to_dict},
)
Matrix.__module__ = __name__  # (make_dataclass takes module= only from Python 3.12)
Matrix.__doc__ = """A benchmark matrix: the run set is the product of its axes times ``seeds`` seeds.

Its fields are ``symjax.core.axes.AXES`` (``name`` first, required; every other with its default): the
grouped axes (tuples) make groups, ``lrs`` and ``schemes`` are vmapped inside a group, ``excludes`` are rules
``((axis, allowed values), ...)`` and ``companions`` the matrices whose results its report summarizes beside
its own."""


def check_name(key: str, value, reserved: bool = True) -> str:
    """``value`` if it is a plain name that can become a file name; ConfigError otherwise."""
    if not (isinstance(value, str) and _PLAIN.fullmatch(value)) or (
        reserved and value.lower() in RESERVED_NAMES
    ):
        raise ConfigError(
            f"{key}: {shown(value)} is not a plain name; allowed: 1 to 64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit{', not README or bench' if reserved else ''}"
        )
    return value


def shown(value) -> str:
    """repr of a value, cut to 60 characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
