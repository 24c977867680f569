"""Before joining a multi-process run: can process 0 listen on the coordinator's port, does it answer?

Data-flow stage: none of its own; ``symjax.engine.distributed.initialize`` calls it before
``jax.distributed.initialize``, whose failure to connect is an abort of the process (a C++ trace after the
join timeout), not an exception: these checks turn the usual mistakes (a port in use, process 0 not started,
a wrong host) into one line. Free of jax.
"""

from __future__ import annotations

import errno
import socket
import time

from symjax.core.errors import SymjaxError

RETRY_S = 0.5  # between attempts to reach the coordinator


def _address(host: str, port: int) -> str:
    """HOST:PORT as given, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_listen(host: str, port: int) -> None:
    """SymjaxError if process 0 cannot listen on ``port`` (JAX's service binds every address of the host):
    another program holds it, or it is privileged."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise SymjaxError(
                    f"--coordinator {_address(host, port)}: process 0 cannot listen on port {port} of this "
                    f"host ({error.strerror}); allowed: a free port of this host, e.g. 12345"
                ) from None


def wait_for(host: str, port: int, timeout_s: float) -> None:
    """Return once ``host:port`` accepts a connection; SymjaxError if the host has no address or nothing
    answers there within ``timeout_s``."""
    where = f"--coordinator {_address(host, port)}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise SymjaxError(f"{where}: no such host ({error.strerror or error})") from None
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=max(RETRY_S, deadline - time.monotonic())).close()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise SymjaxError(
                    f"{where}: nothing answers there after {timeout_s:g} s; allowed: the host and port of "
                    "process 0 (start it with --process-id 0 on that host)"
                ) from None
        time.sleep(RETRY_S)
