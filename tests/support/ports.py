"""A free TCP port on the loopback, for a server a test or bench starts in another process."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nobody listens on now; another process may still take it before ours binds it, which on
    a test machine does not happen often enough to matter."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
