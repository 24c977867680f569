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
from dataclasses import dataclass

from symjax.core.group import RANK_EVERY, GroupConfig

REFERENCE_SCHEME = "lecun_normal/zeros"
# Upper bounds (a matrix beyond them would not fit this kind of machine, or takes longer than anyone waits)
LIMITS = {"seeds": 100_000, "steps": 10_000_000, "log_every": 10_000_000, "rank_every": 10_000_000,
          "chunk_runs": 1_000_000, "hidden": 16_384, "batch_size": 1_000_000}
MAX_AXIS_VALUES = 1_000  # values on one axis, schemes after expanding bracketed lists
MAX_GROUPS = 10_000  # compiled programs
MAX_RUNS = 1_000_000  # runs after the exclude rules
FLOAT32_RANGE = (1.1754944e-38, 3.4028235e38)  # smallest normal and largest finite float32
RESERVED_NAMES = ("readme", "bench")  # reports/README.md (the index) and reports/bench.md
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ConfigError(ValueError):
    """Bad matrix or flag value; the message says what is wrong and what is allowed."""


class Interrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM; the message says how much is saved for resuming."""


@dataclass(frozen=True)
class Matrix:
    """A benchmark matrix: the run set is the product of its axes times ``seeds`` seeds."""

    name: str
    datasets: tuple[str, ...] = ("mnist1d",)
    models: tuple[str, ...] = ("mlp",)
    hidden: tuple[tuple[int, ...], ...] = ((100,),)
    activations: tuple[str, ...] = ("tanh",)
    optimizers: tuple[str, ...] = ("adam",)
    lrs: tuple[float, ...] = (0.01,)
    batch_sizes: tuple[int | None, ...] = (128,)
    schemes: tuple[str, ...] = (REFERENCE_SCHEME,)
    seeds: int = 10
    steps: int = 1000
    log_every: int = 25
    rank_every: int = RANK_EVERY  # weight ranks every rank_every logged steps (1: at every logged step)
    dtypes: tuple[str, ...] = ("float32",)  # "float64" trains with jax's 64-bit mode on
    target_loss: float | None = None
    reference: str = REFERENCE_SCHEME
    chunk_runs: int = 256  # at most this many runs in one vmapped call
    excludes: tuple[tuple[tuple[str, tuple], ...], ...] = ()  # rules: ((axis, allowed values), ...)
    companions: tuple[str, ...] = ()  # matrices whose results, beside this one's, its report summarizes

    def groups(self) -> list[GroupConfig]:
        """One GroupConfig per combination of the static axes, in matrix order (exclusions not applied)."""
        return [
            GroupConfig(d, h, a, o, b, self.steps, self.log_every, m, self.rank_every, t)
            for d, m, h, a, o, b, t in itertools.product(
                self.datasets, self.models, self.hidden, self.activations, self.optimizers, self.batch_sizes, self.dtypes
            )
        ]

    def excluded(self, cfg: GroupConfig, lr: float, scheme: str) -> bool:
        """Whether an ``exclude`` rule removes the run (cfg, lr, scheme): every axis of some rule matches."""
        axes = {"dataset": cfg.dataset, "model": cfg.model, "hidden": cfg.hidden, "activation": cfg.activation,
                "optimizer": cfg.optimizer, "batch_size": cfg.batch_size, "dtype": cfg.dtype, "lr": lr, "scheme": scheme}
        return any(all(axes[axis] in values for axis, values in rule) for rule in self.excludes)

    def kept_groups(self) -> list[tuple[GroupConfig, list[tuple[float, str]]]]:
        """Every group that keeps at least one run, with its (lr, scheme) pairs in (lr, scheme) order."""
        plan = []
        for cfg in self.groups():
            pairs = [(lr, s) for lr in self.lrs for s in self.schemes if not self.excluded(cfg, lr, s)]
            if pairs:
                plan.append((cfg, pairs))
        return plan

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_name(key: str, value, reserved: bool = True) -> str:
    """``value`` if it is a plain name that can become a file name; ConfigError otherwise."""
    if not (isinstance(value, str) and _PLAIN.fullmatch(value)) or (reserved and value.lower() in RESERVED_NAMES):
        raise ConfigError(f"{key}: {shown(value)} is not a plain name; allowed: 1 to 64 letters, digits, '.', '_' or "
                          f"'-', starting with a letter or digit{', not README or bench' if reserved else ''}")
    return value


def shown(value) -> str:
    """repr of a value, cut to 60 characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
