"""Many hosts: one ``symjax run`` process per host, each training its share of the chunks into one shared
folder.

Data-flow stage: **train** and **store** (of chunks) shared among hosts (``symjax.api.run_matrix``). Runs are
independent, so hosts never exchange arrays: ``jax.distributed.initialize`` connects the processes, each
trains the chunks whose number (across the matrix) is its process index modulo the process count on
its own local devices and saves them in ``DIR/chunks`` (a folder every host sees), and
process 0, once every process is done (a barrier of JAX's coordination service), loads all
chunks and writes the results, as a resumed run does. A chunk a process failed to save is
trained by process 0 in that last pass. A process that stops (killed, lost host) is told at the next barrier
as ``PeerLost`` (one line); JAX's recoverable mode keeps the others from aborting.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from symjax.core.errors import one_line
from symjax.engine.interrupted import PeerLost
from symjax.engine.plan import Plan
from symjax.engine.program import Programs
from symjax.engine.resume import ChunkStore
from symjax.engine.runner import train_chunks
from symjax.matrix.spec import ConfigError

MAX_PROCESSES = 1024  # --num-processes
HEARTBEAT_TIMEOUT_S = 100  # a process silent this long is lost (JAX's default)
JOIN_TIMEOUT_S = 120  # every process waits this long for the coordinator and the others to join
ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")  # HOST:PORT, [IPv6]:PORT
JOINED = []  # the Share this process joined a run as (``initialize``), once it has


@dataclass(frozen=True)
class Share:
    """This process's index among ``count`` processes."""

    index: int = 0
    count: int = 1

    def mine(self, chunk_number: int) -> bool:
        return chunk_number % self.count == self.index


def check_options(count: int, max_memory: int | None, fresh: bool) -> None:
    """ConfigError unless the count is 1 to ``MAX_PROCESSES`` and several processes have an explicit budget
    (every host must cut the same chunks) and no ``fresh`` (one process would delete what the others save)."""
    if not 1 <= count <= MAX_PROCESSES:
        raise ConfigError(f"--num-processes {count}: allowed 1 to {MAX_PROCESSES}")
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


def coordinator_address(text: str) -> tuple[str, int]:
    """(host, port) of ``--coordinator HOST:PORT`` (an IPv6 host in brackets, returned without them);
    ConfigError for anything else or a port outside 1 to 65535."""
    match = ADDRESS.fullmatch(text)
    if not match or not 1 <= int(match[2]) <= 65535:
        raise ConfigError(
            f"--coordinator {text!r}: allowed HOST:PORT, a host name or address and a port from 1 to 65535, "
            "e.g. host0.example:12345"
        )
    return match[1].strip("[]"), int(match[2])


def train_share(
    plan: Plan, store: ChunkStore, programs: Programs, share: Share, show_progress: bool, check=lambda: None
) -> None:
    """Once the folder is ready (then ``check()``), train and save this process's share of the plan's chunks,
    then wait for every process."""
    barrier("prepared", share, store.folder)
    check()
    train_chunks(plan, lambda chunk: share.mine(chunk.number), store, programs, show_progress)
    barrier("trained", share, store.folder)


def initialize(coordinator: str, num_processes: int, process_id: int) -> Share:
    """``jax.distributed.initialize`` (before any JAX computation) and this process's Share. Process 0 first
    checks that it can listen on the port, the others wait for it to answer (``symjax.engine.probe``), so a
    wrong address is one line, not JAX's abort after the join timeout. In JAX's recoverable mode
    (``jax_enable_recoverability``) a process that stops does not abort the others: they raise PeerLost at
    the next barrier."""
    import jax

    from symjax.engine.probe import check_listen, wait_for

    host, port = coordinator_address(coordinator)
    if process_id == 0:
        check_listen(host, port)
    else:
        wait_for(host, port, JOIN_TIMEOUT_S)
    with contextlib.suppress(AttributeError):  # a JAX without it: a lost process aborts the others
        jax.config.update("jax_enable_recoverability", True)
    with _cpp_errors_only():
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=JOIN_TIMEOUT_S,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
        )
    JOINED[:] = [Share(jax.process_index(), jax.process_count())]
    return JOINED[0]


@contextlib.contextmanager
def _cpp_errors_only():
    """JAX's C++ log at errors only inside (its service warns that recoverable mode is experimental), then at
    the level ``TF_CPP_MIN_LOG_LEVEL`` sets (JAX's default: warnings)."""
    try:
        from jax._src.lib import utils  # private, as JAX's own logging_config uses it

        set_level = utils.absl_set_min_log_level
    except (ImportError, AttributeError):  # another JAX: its warning stays
        set_level = lambda level: None  # noqa: E731
    set_level(2)
    try:
        yield
    finally:
        text = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1")
        set_level(int(text) if text in ("0", "1", "2", "3") else 1)


def barrier(name: str, share: Share, chunks: Path) -> None:
    """Wait until every process that is still running reaches the barrier ``name`` (no-op for one process);
    PeerLost if one stopped (exited, or silent for ``HEARTBEAT_TIMEOUT_S``).

    ``get_live_nodes`` of JAX's coordination client, what ``jax.experimental.multihost_utils.live_devices``
    is built on: a barrier of the live processes that returns which they are. Reached through a private JAX
    module (JAX 0.10 exposes the client nowhere else); checked by tests/test_distributed.py with two real
    processes and by tests/test_reliability3_engine.py with one killed.
    """
    if share.count == 1:
        return
    from jax._src import distributed  # the coordination service: JAX's own multi-process code uses it so

    everyone = list(range(share.count))
    try:
        alive = distributed.global_state.client.get_live_nodes(everyone)
    except Exception as error:  # the coordination service itself is gone
        raise PeerLost(f"lost the coordination service at the {name!r} barrier ({one_line(error)})") from None
    lost = [str(index) for index in everyone if index not in alive]
    if lost:
        raise PeerLost(
            f"process {', '.join(lost)} of {share.count} stopped (seen at the {name!r} barrier); the chunks "
            f"saved so far stay in {chunks}: start all {share.count} processes again with the same command "
            "to resume"
        )
