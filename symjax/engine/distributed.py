"""Many hosts: one ``symjax run`` process per host, each training its share of the chunks into one shared
folder.

Data-flow stage: **train** and **store** (of chunks) shared among hosts (``symjax.api.run_matrix``). Runs are
independent, so hosts never exchange arrays: ``jax.distributed.initialize`` connects the processes, each
trains the chunks whose number (across the matrix) is its process index modulo the process count on
its own local devices and saves them in ``DIR/chunks`` (a folder every host sees), and
process 0, once every process is done (a barrier of JAX's coordination service), loads all
chunks and writes the results, as a resumed run does. A chunk a process failed to save is
trained by process 0 in that last pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from symjax.engine.plan import Plan
from symjax.engine.program import Programs
from symjax.engine.resume import ChunkStore
from symjax.engine.runner import train_chunks
from symjax.matrix.spec import ConfigError

PREPARED_TIMEOUT_S = 600  # process 0 checks the folder and writes the manifest within this
TRAINED_TIMEOUT_S = 7 * 24 * 3600  # every process has trained its share


@dataclass(frozen=True)
class Share:
    """This process's index among ``count`` processes."""

    index: int = 0
    count: int = 1

    def mine(self, chunk_number: int) -> bool:
        return chunk_number % self.count == self.index


def check_options(count: int, max_memory: int | None, fresh: bool) -> None:
    """ConfigError unless several processes have an explicit budget (every host must cut the same chunks)
    and no ``fresh`` (one process would delete what the others save)."""
    if count > 1 and max_memory is None:
        raise ConfigError(
            "--max-memory: missing; with several processes it is required (every host must cut the same "
            "chunks), e.g. --max-memory 8GiB"
        )
    if count > 1 and fresh:
        raise ConfigError(
            "--fresh: not allowed with several processes (one would delete what the others save); delete "
            "the folder instead"
        )


def train_share(plan: Plan, store: ChunkStore, programs: Programs, share: Share, show_progress: bool) -> None:
    """Once the folder is ready, train and save this process's share of the plan's chunks, then wait for every
    process."""
    barrier("prepared", share, PREPARED_TIMEOUT_S)
    train_chunks(plan, lambda chunk: share.mine(chunk.number), store, programs, show_progress)
    barrier("trained", share, TRAINED_TIMEOUT_S)


def initialize(coordinator: str, num_processes: int, process_id: int) -> Share:
    """``jax.distributed.initialize`` (before any JAX computation) and this process's Share."""
    import jax

    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
    return Share(jax.process_index(), jax.process_count())


def barrier(name: str, share: Share, timeout_s: float) -> None:
    """Wait until every process reaches the barrier ``name`` (no-op for one process), at most ``timeout_s``.

    The one use of a private JAX module in symjax. JAX 0.10 has no public barrier of its coordination
    service; the public ``jax.experimental.multihost_utils.sync_global_devices`` is a device all-gather,
    which needs cross-host collectives and takes no timeout (an in-flight collective cannot be
    cancelled), while the "trained" barrier may wait for hours. Checked by tests/test_distributed.py
    with two real processes.
    """
    if share.count == 1:
        return
    from jax._src import distributed  # the coordination service: JAX's own multi-process code uses it so

    distributed.global_state.client.wait_at_barrier(f"symjax-{name}", int(timeout_s * 1000))
