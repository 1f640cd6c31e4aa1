"""All modem sessions of the appliance, one per serial port in use.

Ports come from two places: the ``modems`` setting (paths and globs, rescanned every few seconds;
the emulator's ptys are found this way) and udev discovery, which attaches the AT port it probed on
each USB modem and detaches it on unplug. A port that vanished loses its session.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from collections import OrderedDict

from appliance.modem.at_log import AtLog, PortAtLog
from appliance.modem.outbound import OutboundQueue
from appliance.modem.session import ModemSession, ModemState, ModemStatus, StatusListener
from appliance.reception.ingest import IngestWriter

log = logging.getLogger(__name__)

# AT logs of ports whose session ended (unplugged, vanished), kept for the System page: the last
# words of a modem that dropped off are what support asks for.
ENDED_LOGS_KEPT = 8


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
        self._ended_logs: OrderedDict[str, tuple[str | None, AtLog]] = OrderedDict()
        self._attached: set[str] = set()
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

    def at_logs(self) -> list[PortAtLog]:
        """Each port's recent AT dialogue: the ports in use, then those whose session ended, newest first."""
        with self._lock:
            active = [PortAtLog(s.port, s.status.iccid, True, s.at_log) for s in self._sessions.values()]
            ended = [PortAtLog(port, iccid, False, at_log)
                     for port, (iccid, at_log) in reversed(self._ended_logs.items())]
        return active + ended

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

    def session_for_sim(self, iccid: str) -> ModemSession | None:
        """The ready session reading this SIM now (a SIM moves between modems; ask each time)."""
        with self._lock:
            sessions = [s for s in self._sessions.values() if s.status.iccid == iccid]
        ready = [s for s in sessions if s.status.state is ModemState.READY]
        return (ready or sessions or [None])[0]

    def attach(self, port: str) -> None:
        """A port discovery found and probed: serve it from now on (until it vanishes or is detached)."""
        with self._lock:
            self._attached.add(port)
        self.rescan()

    def detach(self, port: str) -> None:
        with self._lock:
            self._attached.discard(port)
        self.rescan()

    def rescan(self) -> None:
        with self._lock:
            attached = {port for port in self._attached if os.path.exists(port)}
        present = set(expand_ports(self._patterns)) | attached
        with self._lock:
            in_use = {os.path.realpath(port) for port in self._sessions}
            for port in sorted(present - self._sessions.keys()):
                if os.path.realpath(port) in in_use:
                    continue  # the same tty under another name (a /dev/gsm link and its /dev/ttyUSB node)
                in_use.add(os.path.realpath(port))
                log.info("modem port %s found", port)
                _iccid, at_log = self._ended_logs.pop(port, (None, None))
                session = ModemSession(port, self._ingest, self._on_status, at_log=at_log,
                                       **self._session_options)
                self._sessions[port] = session
                session.start()
            gone = [port for port in self._sessions if port not in present]
            stopped = [self._sessions.pop(port) for port in gone]
        for session in stopped:
            log.info("modem port %s vanished", session.port)
            session.stop()
            self._keep_ended_log(session)

    def _keep_ended_log(self, session: ModemSession) -> None:
        with self._lock:
            self._ended_logs[session.port] = (session.status.iccid, session.at_log)
            while len(self._ended_logs) > ENDED_LOGS_KEPT:
                self._ended_logs.popitem(last=False)

    def _scan_loop(self) -> None:
        while not self._stopping.wait(self._rescan_seconds):
            try:
                self.rescan()
            except Exception:  # noqa: BLE001 - the pool must keep scanning
                log.exception("modem port scan failed")
