"""All modem sessions of the appliance, one per serial port found.

Ports come from the ``modems`` setting (paths and globs; the emulator's ptys are found this way) and
are rescanned every few seconds, so a port that appears later gets a session and one that vanished
loses its own. udev hotplug, port probing and USB resets build on this (modem pool issue).
"""

from __future__ import annotations

import glob
import logging
import os
import threading

from appliance.modem.outbound import OutboundQueue
from appliance.modem.session import ModemSession, ModemStatus, StatusListener
from appliance.reception.ingest import IngestWriter

log = logging.getLogger(__name__)


def expand_ports(patterns: list[str]) -> list[str]:
    """Each pattern as a glob; a plain path counts only if it exists. Symlinks are kept as given."""
    ports: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        ports.extend(path for path in matches if os.path.exists(path) and path not in ports)
    return ports


class ModemPool:
    def __init__(self, patterns: list[str], ingest: IngestWriter, on_status: StatusListener, *,
                 at_timeout: float, poll_seconds: float, sim_pins: dict[str, str],
                 outbound: OutboundQueue | None = None, send_interval: float = 1.0,
                 rescan_seconds: float = 2.0) -> None:
        self._patterns = patterns
        self._ingest = ingest
        self._on_status = on_status
        self._session_options = {"at_timeout": at_timeout, "poll_seconds": poll_seconds, "sim_pins": sim_pins,
                                 "refused_pins": set(), "outbound": outbound, "send_interval": send_interval}
        self._rescan_seconds = rescan_seconds
        self._sessions: dict[str, ModemSession] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._scan_loop, name="modem-pool", daemon=True)

    def start(self) -> None:
        self.rescan()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.stop()

    def statuses(self) -> list[ModemStatus]:
        with self._lock:
            return [session.status for session in self._sessions.values()]

    def check_health(self) -> None:
        """Ask every session for signal, registration, SIM and storage (the scheduler's job)."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.request_health_check()

    def wake_sim(self, iccid: str) -> None:
        """A text was queued for this SIM: its session sends it now rather than at its next check."""
        with self._lock:
            sessions = [s for s in self._sessions.values() if s.status.iccid == iccid]
        for session in sessions:
            session.wake()

    def rescan(self) -> None:
        present = set(expand_ports(self._patterns))
        with self._lock:
            for port in sorted(present - self._sessions.keys()):
                log.info("modem port %s found", port)
                session = ModemSession(port, self._ingest, self._on_status, **self._session_options)
                self._sessions[port] = session
                session.start()
            gone = [port for port in self._sessions if port not in present]
            stopped = [self._sessions.pop(port) for port in gone]
        for session in stopped:
            log.info("modem port %s vanished", session.port)
            session.stop()

    def _scan_loop(self) -> None:
        while not self._stopping.wait(self._rescan_seconds):
            try:
                self.rescan()
            except Exception:  # noqa: BLE001 - the pool must keep scanning
                log.exception("modem port scan failed")
