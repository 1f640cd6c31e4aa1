"""Port probing: which tty of a modem speaks AT, over real ptys (emulated modems, silent and chattering
ports), and the remembered choice."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.modem.discovery import IssueKind, SerialCandidate, SerialPort
from appliance.modem.emulator.emulator import Emulator
from appliance.modem.probe import PortChoiceCache, PortProber, port_role
from tests.udev.named_process import process_named

TIMEOUT = 0.6


def candidate(vendor: str, product: str, *ports: SerialPort, serial: str | None = "0123") -> SerialCandidate:
    return SerialCandidate(f"/sys/devices/usb1/1-1/1-1.{len(ports)}", f"1-1.{len(ports)}", vendor, product, serial,
                           None, None, tuple(ports))


def port(devnode: str, interface: int, interface_class: str | None = None, **extra: object) -> SerialPort:
    return SerialPort(devnode, f"/sys/class/tty/{os.path.basename(devnode)}", interface, interface_class,
                      "option", **extra)


@pytest.fixture
def fake_modemmanager() -> Iterator[Callable[[str | None], int]]:
    """Start processes named ModemManager (optionally holding a port open); returns their pid."""
    with contextlib.ExitStack() as stack:
        yield lambda port: stack.enter_context(process_named("ModemManager", holding=port))


@pytest.fixture
def silent_pty() -> Iterator[Callable[[], str]]:
    """ptys nobody answers on, as a modem's diagnostics port or a dead modem: their slave paths."""
    fds: list[int] = []

    def make() -> str:
        master, slave = os.openpty()
        fds.extend((master, slave))
        return os.ttyname(slave)

    yield make
    for fd in fds:
        os.close(fd)


@pytest.fixture
def chattering_pty() -> Iterator[str]:
    """A port that never stops talking and never says OK: an NMEA (GPS) port."""
    master, slave = os.openpty()
    stop = threading.Event()

    def talk() -> None:
        while not stop.wait(0.02):
            try:
                os.write(master, b"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\r\n")
            except BlockingIOError:
                pass

    os.set_blocking(master, False)
    thread = threading.Thread(target=talk, daemon=True)
    thread.start()
    yield os.ttyname(slave)
    stop.set()
    thread.join()
    os.close(master)
    os.close(slave)


def test_the_port_the_vendor_declares_primary_wins_among_ports_that_answer(
        emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(["quectel", "quectel", "quectel"])
    # A Quectel EC25: QCDM if00, GPS if01, AT if02 and if03. All three emulated ports answer AT.
    modem = candidate("2c7c", "0125", port(emulator.port(1), 0), port("/dev/nonexistent-gps", 1),
                      port(emulator.port(3), 3), port(emulator.port(2), 2))
    result = PortProber(timeout=TIMEOUT).probe(modem)
    assert result.at_port is not None and result.at_port.devnode == emulator.port(2)
    assert result.manufacturer == "Quectel"
    assert [(probe.interface_number, probe.role, probe.status) for probe in result.probes] == [
        (0, "qcdm", "skipped"), (1, "gps", "skipped"), (3, "at-secondary", "answered"), (2, "at-primary", "answered")]
    assert result.issues == ()


def test_huawei_ports_are_told_apart_by_their_interface_protocol(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(["huawei", "huawei"])
    modem = candidate("12d1", "1506", port(emulator.port(1), 0, "ff/02/01"), port(emulator.port(2), 1, "ff/02/12"))
    assert PortProber(timeout=TIMEOUT).probe(modem).at_port.devnode == emulator.port(2)  # PCUI, not the modem port


def test_of_an_unknown_modem_the_lowest_answering_interface_wins_and_silent_ports_are_reported(
        emulator_factory: Callable[..., Emulator], silent_pty: Callable[[], str]) -> None:
    emulator = emulator_factory(["simcom", "simcom"])
    dead = silent_pty()
    modem = candidate("1c9e", "9603", port(dead, 0), port(emulator.port(2), 3), port(emulator.port(1), 1),
                      port("/dev/ttyUSB-gone", 4))
    started = time.monotonic()
    result = PortProber(timeout=TIMEOUT).probe(modem)
    assert time.monotonic() - started < TIMEOUT + 1.5  # in parallel: one timeout, not one per port
    assert result.at_port.devnode == emulator.port(1)
    statuses = {probe.devnode: probe.status for probe in result.probes}
    assert statuses == {dead: "silent", emulator.port(2): "answered", emulator.port(1): "answered",
                        "/dev/ttyUSB-gone": "error"}
    assert sorted(result.silent_ports()) == sorted([dead, "/dev/ttyUSB-gone"])
    assert f"{dead} (if00): silent" in result.summary()


def test_a_modem_that_never_answers_says_so_with_every_port(silent_pty: Callable[[], str]) -> None:
    first, second = silent_pty(), silent_pty()
    result = PortProber(timeout=TIMEOUT).probe(candidate("12d1", "1506", port(first, 0), port(second, 2)))
    assert result.at_port is None
    [issue] = result.issues
    assert issue.kind is IssueKind.NO_AT_PORT
    assert issue.what.startswith("no port of 12d1:1506 on 1-1.2 answered AT within 0.6 s")
    assert f"{first} (if00, at-ppp): silent" in issue.what and f"{second} (if02, at-primary): silent" in issue.what


def test_a_chattering_port_is_not_at_and_cannot_hold_the_probe_past_its_timeout(chattering_pty: str) -> None:
    started = time.monotonic()
    result = PortProber(timeout=TIMEOUT).probe(candidate("1c9e", "9603", port(chattering_pty, 0)))
    assert result.probes[0].status == "silent"
    assert time.monotonic() - started < TIMEOUT + 0.5


def test_a_modem_booting_answers_the_repeated_at(silent_pty: Callable[[], str]) -> None:
    # A modem still booting drops the first AT; the probe sends it again within its timeout.
    master, slave = os.openpty()
    heard: list[bytes] = []

    def boot() -> None:
        data = b""
        while data.count(b"AT\r") < 2:
            data += os.read(master, 100)
        heard.append(data)
        os.write(master, b"\r\nOK\r\n")
        while True:  # AT+CGMI
            try:
                if b"AT+CGMI\r" in os.read(master, 100):
                    os.write(master, b"\r\nACME\r\nOK\r\n")
                    return
            except OSError:
                return

    thread = threading.Thread(target=boot, daemon=True)
    thread.start()
    try:
        result = PortProber(timeout=1.5).probe(candidate("1c9e", "9603", port(os.ttyname(slave), 0)))
    finally:
        thread.join(2)
        os.close(master)
        os.close(slave)
    assert result.at_port is not None and result.manufacturer == "ACME"
    assert heard and heard[0].count(b"AT\r") == 2


def test_the_choice_is_remembered_and_the_next_probe_is_one_at_on_that_port(
        emulator_factory: Callable[..., Emulator], tmp_path: Path) -> None:
    emulator = emulator_factory(["huawei", "huawei"])
    cache_file = tmp_path / "data" / "modem-ports.json"
    modem = candidate("12d1", "1506", port(emulator.port(1), 0, "ff/02/01"), port(emulator.port(2), 2, "ff/02/02"))
    first = PortProber(PortChoiceCache(cache_file), timeout=TIMEOUT).probe(modem)
    assert not first.from_cache and first.at_port.devnode == emulator.port(2)
    stored = json.loads(cache_file.read_text())["choices"]["12d1:1506:0123"]
    assert (stored["interface"], stored["port"], stored["manufacturer"]) == (2, emulator.port(2), "huawei")

    # A new prober (the appliance restarted) reads the file.
    again = PortProber(PortChoiceCache(cache_file), timeout=TIMEOUT).probe(modem)
    assert again.from_cache and again.at_port.devnode == emulator.port(2) and again.manufacturer == "huawei"
    assert [probe.devnode for probe in again.probes] == [emulator.port(2)]


def test_a_remembered_port_that_stopped_answering_is_forgotten_and_all_ports_probed_again(
        emulator_factory: Callable[..., Emulator], silent_pty: Callable[[], str], tmp_path: Path) -> None:
    emulator = emulator_factory(["huawei"])
    cache = PortChoiceCache(tmp_path / "modem-ports.json")
    dead = silent_pty()
    before = candidate("12d1", "1506", port(dead, 0, "ff/02/01"), port(emulator.port(1), 2, "ff/02/02"))
    cache.remember(before.usb_id, before.ports[0], None)  # say if00 was chosen last time
    result = PortProber(cache, timeout=TIMEOUT).probe(before)
    assert not result.from_cache and result.at_port.devnode == emulator.port(1)
    assert cache.choice(before.usb_id) == (2, "huawei")


def test_an_unreadable_cache_is_started_afresh(tmp_path: Path) -> None:
    broken = tmp_path / "modem-ports.json"
    broken.write_text("{not json")
    assert PortChoiceCache(broken).choice("12d1:1506:") is None


def test_a_port_held_open_by_modemmanager_is_said(silent_pty: Callable[[], str],
                                                  fake_modemmanager: Callable[[str | None], int]) -> None:
    held = silent_pty()
    pid = fake_modemmanager(held)
    result = PortProber(timeout=TIMEOUT).probe(candidate("12d1", "1506", port(held, 2, "ff/02/02")))
    assert result.probes[0].held_by == ((pid, "ModemManager"),)
    [issue] = result.issues
    assert issue.kind is IssueKind.PORT_HELD
    assert issue.what == f"{held} of 12d1:1506 on 1-1.1 is held open by ModemManager (pid {pid})"
    assert "systemctl disable --now ModemManager" in issue.remedy


class TestPortRoles:
    def test_modemmanager_port_hints_from_udev_come_first(self) -> None:
        hinted = port("/dev/ttyUSB0", 0, port_hints=frozenset({"at-primary"}))
        assert port_role(candidate("2c7c", "0125", hinted), hinted) == "at-primary"  # though Quectel if00 is QCDM

    @pytest.mark.parametrize("interface_class, role", [
        ("ff/02/01", "at-ppp"), ("ff/02/02", "at-primary"), ("ff/02/03", "qcdm"),
        ("ff/06/10", "at-ppp"), ("ff/06/12", "at-primary"), ("ff/06/13", "qcdm"), ("ff/06/14", "gps"),
    ])
    def test_huawei_by_interface_protocol(self, interface_class: str, role: str) -> None:
        tty = port("/dev/ttyUSB0", 5, interface_class)
        assert port_role(candidate("12d1", "155e", tty), tty) == role

    def test_old_huawei_sticks_without_protocols_use_the_classic_layout(self) -> None:
        ports = [port(f"/dev/ttyUSB{n}", n, "ff/ff/ff") for n in range(3)]
        modem = candidate("12d1", "1001", *ports)
        assert [port_role(modem, tty) for tty in ports] == ["at-ppp", None, "at-primary"]

    @pytest.mark.parametrize("vendor, product, driver, roles", [
        ("1e0e", "9001", "option", ["qcdm", "gps", "at-primary", "at-secondary", "audio"]),
        ("1199", "9071", "qcserial", ["qcdm", None, "gps", "at-primary", None]),
        ("1199", "68a3", "sierra", [None, None, None, None, None]),  # older Sierra layouts: probe them all
        ("19d2", "0117", "option", [None, "at-secondary", "at-primary", None, None]),
        ("0000", "0000", "option", [None, None, None, None, None]),
    ])
    def test_vendor_layouts(self, vendor: str, product: str, driver: str, roles: list[str | None]) -> None:
        ports = [SerialPort(f"/dev/ttyUSB{n}", "", n, None, driver) for n in range(5)]
        modem = candidate(vendor, product, *ports)
        assert [port_role(modem, tty) for tty in ports] == roles
