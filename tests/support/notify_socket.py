"""A service manager's end of sd_notify: a unix datagram socket that collects what the appliance says."""

from __future__ import annotations

import os
import socket
import time


class NotifySocket:
    """Bound in the abstract namespace, so no path length limit or leftover file; ``address`` is the
    ``$NOTIFY_SOCKET`` value that names it (``@`` for the leading NUL)."""

    def __init__(self) -> None:
        self.address = f"@appliance-test-{os.getpid()}-{time.monotonic_ns()}"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(b"\0" + self.address[1:].encode())
        self.received: list[tuple[float, dict[str, str]]] = []

    def next(self, timeout: float) -> dict[str, str] | None:
        """The next notification as a dict of its fields, or None when nothing came within ``timeout``."""
        self._socket.settimeout(timeout)
        try:
            datagram = self._socket.recv(4096)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in datagram.decode().splitlines() if line)
        self.received.append((time.monotonic(), fields))
        return fields

    def wait_for(self, key: str, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            fields = self.next(left)
            if fields is not None and key in fields:
                return fields
        raise AssertionError(f"no {key} within {timeout} s; received {[f for _, f in self.received]}")

    def collect(self, seconds: float) -> list[dict[str, str]]:
        """Every notification that arrives in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        collected = []
        while (left := deadline - time.monotonic()) > 0:
            fields = self.next(left)
            if fields is not None:
                collected.append(fields)
        return collected

    def close(self) -> None:
        self._socket.close()
