"""Specification of the appliance as a systemd service: READY once it is up, WATCHDOG=1 only while it is
healthy, STOPPING=1 on the way out. systemd's end is a real unix datagram socket (tests/support).

Whether systemd then restarts a silent service is systemd's part; tests/image/test_rootfs.py shows it
with systemd itself where the machine can boot a container.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.config import Settings
from appliance.reception.store import ReceivedPdu
from appliance.runtime import Appliance
from appliance.sd_notify import ServiceNotifier
from appliance.service import ServiceWatchdog
from tests.support.notify_socket import NotifySocket


@pytest.fixture
def manager() -> Iterator[NotifySocket]:
    listening = NotifySocket()
    yield listening
    listening.close()


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Appliance]:
    running = Appliance(Settings(data_dir=tmp_path / "data", http_port=0, https_port=0,
                                 udev_discovery=False, http_threads=2))
    running.start()
    yield running
    running.stop()


def watchdog_for(appliance: Appliance, manager: NotifySocket) -> ServiceWatchdog:
    return ServiceWatchdog(ServiceNotifier(manager.address), appliance.health_checks(timeout=0.5), interval=0.3)


def test_appliance_run_says_ready_then_feeds_the_watchdog_and_says_when_it_stops(
        tmp_path: Path, manager: NotifySocket) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "2000000",
           "APPLIANCE_DATA_DIR": str(tmp_path / "data"), "APPLIANCE_HTTP_PORT": "0",
           "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_UDEV_DISCOVERY": "false"}
    process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert manager.wait_for("READY", timeout=60)["READY"] == "1"
        ready_at = manager.received[-1][0]
        pings = [fields for fields in manager.collect(seconds=3.5) if fields.get("WATCHDOG") == "1"]
        assert len(pings) >= 3, manager.received  # every second: half of WatchdogSec=2
        first_ping_at = next(at for at, fields in manager.received if fields.get("WATCHDOG") == "1")
        assert first_ping_at - ready_at < 1.5
        process.send_signal(signal.SIGTERM)
        assert manager.wait_for("STOPPING", timeout=10)["STOPPING"] == "1"
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()


def test_an_ingest_writer_stuck_on_a_locked_database_stops_the_pings_until_it_writes_again(
        appliance: Appliance, manager: NotifySocket) -> None:
    watchdog = watchdog_for(appliance, manager)
    watchdog.start()
    try:
        manager.wait_for("WATCHDOG", timeout=5)
        # Another process holds the write lock: the writer's next batch waits on SQLite's busy timeout.
        database = sqlite3.connect(appliance.settings.data_dir / "appliance.db", isolation_level=None)
        database.execute("BEGIN IMMEDIATE")
        pdu = encode_sms_deliver("+48600100200", "Dzień dobry", datetime(2026, 11, 25, 14, 30, tzinfo=UTC))[0]
        stored = appliance.ingest.submit([ReceivedPdu("89480610001234567890", pdu)])
        unhealthy = manager.wait_for("STATUS", timeout=5)["STATUS"]
        assert unhealthy.startswith("unhealthy: the ingest writer did not commit")
        assert not any("WATCHDOG" in fields for fields in manager.collect(seconds=1.5))
        database.execute("ROLLBACK")
        database.close()
        stored.result(timeout=10)
        assert manager.wait_for("WATCHDOG", timeout=5)["WATCHDOG"] == "1"
    finally:
        watchdog.stop()


def test_an_http_server_whose_workers_are_all_held_stops_the_pings(
        appliance: Appliance, manager: NotifySocket) -> None:
    watchdog = watchdog_for(appliance, manager)
    watchdog.start()
    held = []
    try:
        manager.wait_for("WATCHDOG", timeout=5)
        # Clients that never finish their request headers each hold one of the two workers.
        for _ in range(2):
            client = socket.create_connection(("127.0.0.1", appliance.http_port))
            client.sendall(b"GET /login HTTP/1.1\r\nHost: localhost\r\n")
            held.append(client)
        unhealthy = manager.wait_for("STATUS", timeout=5)["STATUS"]
        assert "the panel's HTTP server" in unhealthy and "did not answer" in unhealthy
        assert not any("WATCHDOG" in fields for fields in manager.collect(seconds=1))
    finally:
        for client in held:
            client.close()
        watchdog.stop()


def test_a_healthy_appliance_has_no_problems_to_report(appliance: Appliance) -> None:
    watchdog = ServiceWatchdog(ServiceNotifier(None), appliance.health_checks(timeout=2), interval=1)
    assert watchdog.problems() == []
