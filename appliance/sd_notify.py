"""systemd's service notification protocol (sd_notify(3)), spoken without libsystemd.

The service manager names a unix datagram socket in ``$NOTIFY_SOCKET``; each notification is one
datagram of newline-separated ``KEY=VALUE`` lines. A name that starts with ``@`` is in Linux's
abstract namespace, where the ``@`` stands for a leading NUL byte. Outside systemd (a developer's
shell, the tests, ``appliance demo``) there is no socket and every call is a quiet no-op, so the
appliance runs the same way everywhere.

A notification never stops the appliance: a socket that went away is logged once and given up.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class ServiceNotifier:
    def __init__(self, address: str | None) -> None:
        self._address = _socket_address(address) if address else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceNotifier:
        return cls((os.environ if environ is None else environ).get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str = "") -> None:
        """Start-up is complete: systemd now counts the service as started and arms its watchdog."""
        self.send("READY=1", *_status_line(status))

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """A one-line state shown by ``systemctl status appliance``."""
        self.send(*_status_line(text))

    def stopping(self, status: str = "") -> None:
        self.send("STOPPING=1", *_status_line(status))

    def send(self, *lines: str) -> bool:
        """One datagram on a socket of its own, as libsystemd does: a ping every few seconds costs
        nothing, and there is no socket to keep or close."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sender:
                sender.sendto("\n".join(lines).encode(), self._address)
            return True
        except OSError as exc:
            log.warning("cannot notify the service manager at %r (%s); no more notifications are sent",
                        self._address, exc)
            self._address = None
            return False


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds systemd allows between two ``WATCHDOG=1`` (the unit's ``WatchdogSec=``), or None when
    no watchdog watches this process. ``WATCHDOG_PID`` names the process meant; a child that
    inherited the environment is not it."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds; the watchdog is not fed", usec)
        return None
    return seconds if seconds > 0 else None


def _socket_address(address: str) -> str | bytes:
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


def _status_line(text: str) -> list[str]:
    return [f"STATUS={' '.join(text.split())}"] if text else []
