"""USB modem discovery on udev, with recorded modems plugged into a umockdev testbed (no mocks).

Discovery and probing run in a child process under umockdev's preload library, wired as the pool
wires them (tests/udev/discovery_child.py), and report JSON lines. The recorded ttys that should
answer AT are pointed at emulated modems (see tests/udev/testbed.py); the rest stay silent ptys.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.modem.discovery import (
    IssueKind,
    SerialCandidate,
    SerialPort,
    find_processes,
    modemmanager_issue,
    port_holders,
)
from appliance.modem.emulator.emulator import Emulator
from tests.udev.named_process import process_named
from tests.udev.testbed import UmockdevTestbed, umockdev_problem

PROJECT = Path(__file__).parents[2]
E3372 = "huawei-e3372-stick"


class Hotplug:
    """A testbed, and discovery + probing watching it from a child process."""

    def __init__(self, tmp_path: Path) -> None:
        self.testbed = UmockdevTestbed()
        self.cache = tmp_path / "modem-ports.json"
        self.events: queue.Queue[dict] = queue.Queue()
        self.child: subprocess.Popen[str] | None = None
        self._stderr = tmp_path / "child.stderr"
        self._stderr_file = self._stderr.open("w")

    def start(self, *, settle: float = 0.3, timeout: float = 1.0, wait_ready: bool = True,
              child: list[str] | None = None) -> None:
        arguments = child or ["tests.udev.discovery_child", "--cache", str(self.cache), "--settle", str(settle),
                              "--timeout", str(timeout)]
        command = self.testbed.wrap([sys.executable, "-m", *arguments])
        self.child = subprocess.Popen(command, cwd=PROJECT, env=self.testbed.child_env(), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr_file, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if wait_ready:
            self.expect("ready")

    def _read(self) -> None:
        assert self.child is not None and self.child.stdout is not None
        for line in self.child.stdout:
            self.events.put(json.loads(line))

    def expect(self, event: str, timeout: float = 10.0) -> dict:
        """The next event; it must be of kind ``event``."""
        try:
            got = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {event!r} event within {timeout} s; child said: "
                                 f"{self._stderr.read_text()[-2000:]}") from None
        assert got["event"] == event, f"expected {event!r}, got {got}"
        return got

    def collect(self, *events: str, timeout: float = 10.0) -> dict[str, dict]:
        """The next ``len(events)`` events, in any order; they must be these kinds."""
        got = {}
        for _ in events:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"only {sorted(got)} of {events} came") from None
            got[event["event"]] = event
        assert sorted(got) == sorted(events), f"expected {events}, got {got}"
        return got

    def quiet(self, seconds: float) -> list[dict]:
        """Events that come within ``seconds`` (there should be none)."""
        time.sleep(seconds)
        extra = []
        while not self.events.empty():
            extra.append(self.events.get())
        return extra

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            assert self.child.stdin is not None
            self.child.stdin.write("quit\n")
            self.child.stdin.flush()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        if self.child is not None:
            for stream in (self.child.stdin, self.child.stdout):
                if stream is not None:
                    stream.close()
        self._stderr_file.close()
        self.testbed.close()


@pytest.fixture
def hotplug(tmp_path: Path) -> Iterator[Hotplug]:
    problem = umockdev_problem()
    if problem:
        pytest.fail(problem)
    subject = Hotplug(tmp_path)
    yield subject
    subject.stop()


@pytest.fixture
def two_huawei(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """Two emulated Huawei modems: one behind the stick's modem port, one behind its PCUI."""
    return emulator_factory(["huawei", "huawei"])


def test_plugging_the_recorded_huawei_stick_attaches_exactly_one_at_port_and_unplugging_removes_it(
        hotplug: Hotplug, two_huawei: Emulator) -> None:
    hotplug.start()
    # On a real E3372 both the modem port (if00) and the PCUI (if02) answer AT; the PCUI is the one
    # that carries URCs, and the one Huawei declares (interface protocol 02).
    hotplug.testbed.plug(E3372, bridges={"/dev/ttyUSB0": two_huawei.port(1), "/dev/ttyUSB2": two_huawei.port(2)})

    added = hotplug.expect("added")["candidate"]
    assert (added["vendor_id"], added["product_id"], added["usb_port"]) == ("12d1", "1506", "1-1.2")
    assert [(port["devnode"], port["interface_number"], port["interface_class"], port["driver"])
            for port in added["ports"]] == [("/dev/ttyUSB0", 0, "ff/02/01", "option"),
                                            ("/dev/ttyUSB1", 1, "ff/02/03", "option"),
                                            ("/dev/ttyUSB2", 2, "ff/02/02", "option")]
    assert "/dev/gsm/port-1-1.2-if02" in added["ports"][2]["links"]
    assert all(port["mm_ignored"] for port in added["ports"])

    probed = hotplug.expect("probed")
    assert probed["at_port"] == "/dev/ttyUSB2"
    assert probed["manufacturer"] == "huawei"
    assert {probe["devnode"]: (probe["role"], probe["status"]) for probe in probed["probes"]} == {
        "/dev/ttyUSB0": ("at-ppp", "answered"),
        "/dev/ttyUSB1": ("qcdm", "skipped"),  # diagnostics: never sent AT
        "/dev/ttyUSB2": ("at-primary", "answered"),
    }
    assert probed["issues"] == []

    hotplug.testbed.unplug(E3372)
    assert hotplug.expect("removed")["usb_path"] == added["usb_path"]
    assert hotplug.quiet(0.8) == []  # one removal for the modem, not one per tty


def test_the_appliance_runs_one_session_on_the_plugged_sticks_at_port_and_ends_it_on_unplug(
        hotplug: Hotplug, two_huawei: Emulator, tmp_path: Path) -> None:
    hotplug.start(child=["tests.udev.pool_child", "--data-dir", str(tmp_path / "data")])
    assert hotplug.expect("sessions")["sessions"] == []
    hotplug.testbed.plug(E3372, bridges={"/dev/ttyUSB0": two_huawei.port(1), "/dev/ttyUSB2": two_huawei.port(2)})
    pcui_iccid = str(two_huawei.modems()[1]["iccid"])
    deadline = time.monotonic() + 20
    sessions: list[dict] = []
    while time.monotonic() < deadline:
        sessions = hotplug.expect("sessions", timeout=20)["sessions"]
        if sessions and sessions[0]["state"] == "ready":
            break
    assert sessions == [{"port": "/dev/ttyUSB2", "state": "ready", "iccid": pcui_iccid}]
    hotplug.testbed.unplug(E3372)
    while sessions:
        sessions = hotplug.expect("sessions", timeout=20)["sessions"]
        assert all(s["port"] == "/dev/ttyUSB2" for s in sessions)


def test_the_next_plug_of_the_same_stick_is_one_at_on_the_remembered_port(
        hotplug: Hotplug, two_huawei: Emulator) -> None:
    hotplug.start()
    hotplug.testbed.plug(E3372, bridges={"/dev/ttyUSB0": two_huawei.port(1), "/dev/ttyUSB2": two_huawei.port(2)})
    hotplug.expect("added")
    assert hotplug.expect("probed")["from_cache"] is False
    hotplug.testbed.unplug(E3372)
    hotplug.expect("removed")

    # Plugged in again it gets other tty numbers, as a replug often does; the interface is what counts.
    hotplug.testbed.plug(E3372, tty_offset=3,
                         bridges={"/dev/ttyUSB3": two_huawei.port(1), "/dev/ttyUSB5": two_huawei.port(2)})
    assert [port["devnode"] for port in hotplug.expect("added")["candidate"]["ports"]] == [
        "/dev/ttyUSB3", "/dev/ttyUSB4", "/dev/ttyUSB5"]
    probed = hotplug.expect("probed")
    assert probed["from_cache"] is True
    assert probed["at_port"] == "/dev/ttyUSB5"
    assert [(probe["devnode"], probe["status"]) for probe in probed["probes"]] == [("/dev/ttyUSB5", "answered")]
    assert probed["manufacturer"] == "huawei"
    remembered = json.loads(hotplug.cache.read_text())["choices"]
    assert remembered["12d1:1506:0123456789ABCDEF"]["interface"] == 2


def test_a_modem_present_at_start_is_found_and_its_silent_ports_are_reported(hotplug: Hotplug) -> None:
    hotplug.testbed.plug("quectel-ec25")  # nobody answers on any of its ports
    hotplug.start(timeout=0.6, wait_ready=False)
    ports = hotplug.expect("added")["candidate"]["ports"]  # from the enumeration at start, before "ready"
    assert [port["devnode"] for port in ports] == ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2", "/dev/ttyUSB3"]
    probed = hotplug.collect("ready", "probed")["probed"]
    assert probed["at_port"] is None
    assert {probe["devnode"]: (probe["role"], probe["status"]) for probe in probed["probes"]} == {
        "/dev/ttyUSB0": ("qcdm", "skipped"), "/dev/ttyUSB1": ("gps", "skipped"),
        "/dev/ttyUSB2": ("at-primary", "silent"), "/dev/ttyUSB3": ("at-secondary", "silent"),
    }
    assert probed["issues"] == ["no_at_port"]


def test_a_stick_in_hilink_mode_is_shown_with_what_to_do(hotplug: Hotplug) -> None:
    hotplug.start()
    hotplug.testbed.plug("huawei-e3372-hilink")
    issue = hotplug.expect("issue")
    assert issue["kind"] == "hilink"
    assert issue["what"].startswith("12d1:14dc on 1-1.3 is a Huawei E3372h/E3372s HiLink in HiLink/router mode")
    assert "cdc_ether" in issue["what"]
    assert "stick" in issue["remedy"] and "firmware" in issue["remedy"]
    assert hotplug.quiet(0.5) == []  # and no modem


def test_a_stick_still_in_mass_storage_mode_is_shown_with_the_switch_command(hotplug: Hotplug) -> None:
    hotplug.start()
    hotplug.testbed.plug("huawei-e3372-mass-storage")
    issue = hotplug.expect("issue")
    assert issue["kind"] == "mass_storage"
    assert "12d1:1f01 on 1-1.4" in issue["what"] and "mass-storage" in issue["what"]
    assert "usb_modeswitch -v 12d1 -p 1f01 -J" in issue["remedy"]
    hotplug.testbed.unplug("huawei-e3372-mass-storage")
    assert hotplug.quiet(0.5) == []  # it never was a modem, so nothing to remove


def test_modemmanager_running_while_our_rules_are_missing_is_said(
        hotplug: Hotplug, fake_modemmanager: Callable[[str | None], int]) -> None:
    pid = fake_modemmanager(None)
    hotplug.start()
    hotplug.testbed.plug("generic-option-w14", without_our_rules=True)
    issue = hotplug.collect("added", "issue", "probed")["issue"]
    assert issue["kind"] == "modemmanager_untagged"
    assert f"ModemManager is running (pid {pid})" in issue["what"]
    assert "/dev/ttyUSB0, /dev/ttyUSB1" in issue["what"] and "ID_MM_DEVICE_IGNORE" in issue["what"]
    assert "appliance install-udev" in issue["remedy"]


def test_the_recorded_at_port_carries_a_full_at_session_to_the_emulator(
        hotplug: Hotplug, two_huawei: Emulator) -> None:
    """What the pool's own umockdev test builds on: the appliance's AtChannel (reader thread,
    ``in_waiting``, URCs) on /dev/ttyUSB2 of the recorded stick reaches the emulated modem."""
    hotplug.testbed.plug(E3372, bridges={"/dev/ttyUSB2": two_huawei.port(1)})
    code = ("from appliance.modem.at import AtChannel\n"
            "channel = AtChannel('/dev/ttyUSB2', on_urc=lambda lines: None, on_closed=lambda exc: None)\n"
            "channel.open()\n"
            "print(channel.command('AT+CGMI', timeout=3), channel.command('AT+CGMM', timeout=3))\n"
            "channel.close()\n")
    run = subprocess.run(hotplug.testbed.wrap([sys.executable, "-c", code]), cwd=PROJECT,
                         env=hotplug.testbed.child_env(), capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "['huawei'] ['E3372']"


# ---- without a testbed ---------------------------------------------------------------------------

def _candidate(*ports: SerialPort) -> SerialCandidate:
    return SerialCandidate("/sys/devices/usb1/1-1", "1-1", "1c9e", "9603", None, "4G Systems", "W14", ports)


@pytest.fixture
def fake_modemmanager() -> Iterator[Callable[[str | None], int]]:
    """Start processes named ModemManager (optionally holding a port open); returns their pid."""
    with contextlib.ExitStack() as stack:
        yield lambda port: stack.enter_context(process_named("ModemManager", holding=port))


def test_modemmanager_is_found_by_its_process_name(fake_modemmanager: Callable[[str | None], int]) -> None:
    pid = fake_modemmanager(None)
    assert pid in find_processes("ModemManager")


def test_the_process_holding_a_port_is_named(fake_modemmanager: Callable[[str | None], int],
                                             emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(["quectel"])
    pid = fake_modemmanager(emulator.port(1))
    assert (pid, "ModemManager") in port_holders(emulator.port(1))


def test_modemmanager_matters_only_for_ports_our_rules_did_not_tag() -> None:
    tagged = SerialPort("/dev/ttyUSB0", "/sys/x", 0, mm_ignored=True)
    untagged = SerialPort("/dev/ttyUSB1", "/sys/y", 1, mm_ignored=False)
    assert modemmanager_issue(_candidate(tagged, untagged), []) is None  # ModemManager not running
    assert modemmanager_issue(_candidate(tagged), [812]) is None
    issue = modemmanager_issue(_candidate(tagged, untagged), [812])
    assert issue is not None and issue.kind is IssueKind.MODEMMANAGER_UNTAGGED
    assert "/dev/ttyUSB1 of 1c9e:9603 on 1-1" in issue.what and "/dev/ttyUSB0" not in issue.what

