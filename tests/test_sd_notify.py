"""Specification of the sd_notify protocol as the appliance speaks it, against real unix datagram sockets."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sd_notify import ServiceNotifier, watchdog_interval
from tests.support.notify_socket import NotifySocket


@pytest.fixture
def manager() -> Iterator[NotifySocket]:
    listening = NotifySocket()
    yield listening
    listening.close()


def test_ready_is_one_datagram_with_the_status_beside_it(manager: NotifySocket) -> None:
    notifier = ServiceNotifier(manager.address)
    notifier.ready("panel on port 8080")
    assert manager.next(timeout=2) == {"READY": "1", "STATUS": "panel on port 8080"}


def test_watchdog_and_stopping_reach_an_abstract_socket(manager: NotifySocket) -> None:
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": manager.address})
    notifier.watchdog()
    notifier.stopping()
    assert [manager.next(timeout=2), manager.next(timeout=2)] == [{"WATCHDOG": "1"}, {"STOPPING": "1"}]


def test_a_socket_in_the_file_system_works_too() -> None:
    # A short directory: a unix socket path has room for 107 bytes only.
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        path = str(Path(directory) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listening:
            listening.bind(path)
            listening.settimeout(2)
            ServiceNotifier(path).status("a status\nwith a line break")
            assert listening.recv(4096) == b"STATUS=a status with a line break"


def test_outside_systemd_every_notification_is_a_quiet_no_op() -> None:
    notifier = ServiceNotifier.from_environment({})
    assert not notifier.enabled
    notifier.ready("running")
    assert notifier.send("WATCHDOG=1") is False


def test_a_service_manager_that_went_away_is_given_up_without_stopping_the_appliance() -> None:
    notifier = ServiceNotifier(f"@appliance-test-nobody-listens-{os.getpid()}")
    assert notifier.send("READY=1") is False
    assert not notifier.enabled
    notifier.watchdog()


def test_the_watchdog_interval_comes_from_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
