"""Bind the socket first, then hand it to uvicorn, so a port in use is one clear
error (not a uvicorn log line) and `--port 0` can print the port it got."""
from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Sequence
from typing import Any

from winnow.core.errors import ConfigurationError
from winnow.review.app import is_loopback


class ServeError(ConfigurationError):
    """The server could not listen where it was asked to (--host, --port); nothing has been served."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or ServeError naming both."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # only lets a just-closed port be reused
    try:
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use; choose another with --port") from None
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def warn_if_exposed(host: str, allowed: Sequence[str] = ()) -> None:
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine can read "
            "these documents and add labels",
            file=sys.stderr,
        )
        if allowed:
            print(f"accepting Host and Origin: {', '.join(allowed)}", file=sys.stderr)


def serve(app: Any, sock: socket.socket) -> None:
    """Run until Ctrl-C; the socket is uvicorn's from here on."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
