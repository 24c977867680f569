"""A run stopped by Ctrl-C or SIGTERM, or by the loss of another process of a multi-process run: the engine
raises them, the command line reports them in one line (exit status 130, 1).

Data-flow stage: train (``symjax.api.run_matrix`` raises Interrupted after the chunks in flight are saved;
``symjax.engine.distributed`` raises PeerLost at a barrier). Free of jax, so the command line can catch them
without loading jax.
"""

from __future__ import annotations


class Interrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM; the message says how much is saved for resuming."""


class PeerLost(Exception):
    """Another process of a multi-process run stopped (killed, its host lost); the message says which and how
    to resume."""
