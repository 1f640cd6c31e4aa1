"""The appliance as a systemd service: readiness, a watchdog fed only while the appliance is healthy,
and the stop announced.

systemd restarts a process that dies (``Restart=on-failure``), but a process that hangs stays
"running" for ever: a stuck database lock, a deadlocked writer, an HTTP server whose every worker is
held. So the watchdog is not fed by a timer alone: each round asks the parts a message passes
through whether they still answer, and only then sends ``WATCHDOG=1``. When a part stops answering,
the pings stop, ``systemctl status`` shows which part, and after ``WatchdogSec=`` systemd kills and
restarts the service.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TYPE_CHECKING

from appliance.sd_notify import ServiceNotifier, watchdog_interval

if TYPE_CHECKING:
    from appliance.reception.ingest import IngestWriter
    from appliance.runtime import Appliance

log = logging.getLogger(__name__)

# A health check answers None when the part is healthy, else what is wrong with it.
HealthCheck = Callable[[], str | None]


def ingest_writer_answers(writer: IngestWriter, timeout: float) -> HealthCheck:
    """The writer thread takes an empty batch and the database commits it within ``timeout``: the
    path every received PDU takes before it may be deleted from the SIM."""

    def check() -> str | None:
        try:
            writer.submit([]).result(timeout=timeout)
        except FutureTimeout:
            return f"the ingest writer did not commit within {timeout:g} s (database locked or writer stuck)"
        except Exception as exc:  # noqa: BLE001 - any failure to store is the answer
            return f"the ingest writer failed: {exc}"
        return None

    return check


def http_server_answers(host: str, port: int, timeout: float) -> HealthCheck:
    """An HTTP status line comes back from the panel's server within ``timeout``. Any status will do:
    it proves a worker thread took the request, which is what a starved or stuck server cannot do."""
    target = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)

    def check() -> str | None:
        try:
            with socket.create_connection((target, port), timeout=timeout) as connection:
                connection.settimeout(timeout)
                connection.sendall(b"HEAD /login HTTP/1.0\r\nHost: localhost\r\n\r\n")
                status_line = connection.recv(64)
        except OSError as exc:
            return f"the panel's HTTP server on port {port} did not answer within {timeout:g} s ({exc})"
        if not status_line.startswith(b"HTTP/1."):
            return f"the panel's HTTP server on port {port} answered {status_line!r}"
        return None

    return check


class ServiceWatchdog:
    """Feeds systemd's watchdog every ``interval`` seconds while every check passes."""

    def __init__(self, notifier: ServiceNotifier, checks: Sequence[HealthCheck], interval: float) -> None:
        self._notifier = notifier
        self._checks = list(checks)
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-watchdog", daemon=True)
        self._problems: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def problems(self) -> list[str]:
        """What every check found wrong, now (an empty list when the appliance is healthy)."""
        return [problem for check in self._checks if (problem := check()) is not None]

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            problems = self.problems()
            if self._stopping.is_set():
                return
            if problems:
                log.error("not feeding the service watchdog: %s", "; ".join(problems))
                self._notifier.status("unhealthy: " + "; ".join(problems))
            else:
                if self._problems:
                    log.warning("healthy again; feeding the service watchdog")
                    self._notifier.status("running")
                self._notifier.watchdog()
            self._problems = problems
            if self._stopping.wait(max(0.0, self._interval - (time.monotonic() - started))):
                return


@contextmanager
def supervised(appliance: Appliance) -> Iterator[None]:
    """Tell systemd the started appliance is ready, feed its watchdog while the block runs, and say
    that it is stopping when the block ends. Outside systemd nothing is sent and nothing is checked."""
    notifier = ServiceNotifier.from_environment()
    allowed = watchdog_interval()
    watchdog = None
    if notifier.enabled and allowed is not None:
        # A round every half of the allowed time, as sd_watchdog_enabled(3) advises, and an eighth for
        # each check: with both checks slow, two pings are still at most 3/4 of the allowed time apart.
        watchdog = ServiceWatchdog(notifier, appliance.health_checks(timeout=allowed / 8), interval=allowed / 2)
    notifier.ready("running")
    if watchdog is not None:
        watchdog.start()
    try:
        yield
    finally:
        notifier.stopping("stopping")
        if watchdog is not None:
            watchdog.stop()
