"""A run stopped by Ctrl-C or SIGTERM: the engine raises it, the command line reports it (exit status 130).

Data-flow stage: train (``symjax.api.run_matrix`` raises it after the chunks in flight are saved). Free of
jax, so the command line can catch it without loading jax.
"""

from __future__ import annotations


class Interrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM; the message says how much is saved for resuming."""
