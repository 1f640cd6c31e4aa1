"""Fixtures for the modem tests: emulated modems on ptys, and a small AT client to talk to them."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial

from appliance.modem.emulator.emulator import Emulator
from appliance.modem.emulator.personalities import PERSONALITIES

FINAL_RESULT = re.compile(r"^(OK|ERROR|NO CARRIER|COMMAND NOT SUPPORT|\+CME ERROR: .*|\+CMS ERROR: .*)$")

# Unsolicited lines the emulated personalities send; "+CPIN:"/"+CREG:"/"+CFUN:" only count as URCs
# when they do not answer the command just sent.
URC = re.compile(
    r"^(\+CMTI: |\+CDSI: |\+CDS: |\^RSSI: |\^BOOT:|\^MODE: |\^SRVST: |\^SIMST: |\^SMMEMFULL: |\+QIND: |\+QUSIM: |RDY$|"
    r"Call Ready$|SMS Ready$|\+CPIN: |\+CFUN: |\+CREG: \d$|\+CGREG: \d$|\+CEREG: \d$)"
)


class AtPort:
    """A client on an emulated modem's port: sends command lines, collects answers and URCs."""

    def __init__(self, path: str, *, timeout: float = 3.0) -> None:
        self.path = path
        self.timeout = timeout
        self.serial = serial.Serial(path, 115200, timeout=0.05)
        self.serial.reset_input_buffer()  # the boot banner of a modem nobody listened to
        self._buffer = b""
        self.urcs: list[str] = []  # unsolicited lines seen while waiting for answers

    def close(self) -> None:
        self.serial.close()

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def read_raw(self, seconds: float = 0.3) -> bytes:
        """Everything the modem sends within `seconds` (buffered bytes first)."""
        data, self._buffer = self._buffer, b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data += self._receive()
        return data

    def _receive(self) -> bytes:
        """What has arrived, waiting at most the serial timeout for the first byte."""
        first = self.serial.read(1)
        return first + self.serial.read(self.serial.in_waiting) if first else b""

    def settle(self, seconds: float = 0.05) -> None:
        """Move what arrives within `seconds` (URCs after a fault) to self.urcs."""
        data = self.read_raw(seconds)
        self.urcs += [line.decode("latin-1") for line in data.split(b"\r\n") if line.strip(b"\r")]

    def read_until(self, terminator: bytes, *, timeout: float | None = None) -> bytes:
        """Raw bytes up to and including `terminator`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while terminator not in self._buffer:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {terminator!r}; got {self._buffer!r}")
            self._buffer += self._receive()
        data, self._buffer = self._buffer.split(terminator, 1)
        return data + terminator

    def _read_line(self, deadline: float) -> str | None:
        while b"\r\n" not in self._buffer:
            if time.monotonic() > deadline:
                return None
            self._buffer += self._receive()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("latin-1")

    def command(self, line: str, *, timeout: float | None = None) -> list[str]:
        """Send `line`; return the answer's non-empty lines, the final result last (the echo, when
        on, is dropped)."""
        self._buffer += self.serial.read(self.serial.in_waiting)
        while b"\r\n" in self._buffer:  # what came before the command is unsolicited
            received, self._buffer = self._buffer.split(b"\r\n", 1)
            if received.strip(b"\r"):
                self.urcs.append(received.decode("latin-1").strip("\r"))
        self.serial.write(line.encode("latin-1") + b"\r")
        return self.collect(echo=line, timeout=timeout)

    def collect(self, *, echo: str | None = None, timeout: float | None = None) -> list[str]:
        """Lines up to and including the next final result code."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        while True:
            received = self._read_line(deadline)
            if received is None:
                raise AssertionError(f"no final result (after {echo!r}) within the timeout; got {lines!r}")
            text = received.strip("\r")
            if echo is not None and not lines and text.endswith(echo):
                continue  # the echo: "AT...\r" before the "\r\n" that opens the answer
            if not text:
                continue
            own = echo is not None and text.split(":")[0] in echo.upper()
            if not lines and URC.match(text) and not own:
                self.urcs.append(text)
                continue
            lines.append(text)
            if FINAL_RESULT.match(text):
                return lines

    def send_pdu(self, pdu: bytes, *, terminator: bytes = b"\x1a") -> list[str]:
        """AT+CMGS=<length>, the PDU in hex at the "> " prompt, then Ctrl-Z (or ESC)."""
        self.serial.write(f"AT+CMGS={len(pdu) - 1 - pdu[0]}\r".encode())
        self.wait_prompt()
        typed = pdu.hex().upper()
        self.serial.write(typed.encode() + terminator)
        return self.collect(echo=typed)

    def ok(self, line: str) -> list[str]:
        """Send `line`, assert it ends in OK, return the information lines."""
        answer = self.command(line)
        assert answer[-1] == "OK", f"{line!r} answered {answer!r}"
        return answer[:-1]

    def expect_urc(self, prefix: str, *, timeout: float | None = None) -> str:
        """Wait for an unsolicited line starting with `prefix` (already seen ones count)."""
        for index, seen in enumerate(self.urcs):
            if seen.startswith(prefix):
                return self.urcs.pop(index)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            received = self._read_line(deadline)
            if received is None:
                raise AssertionError(f"no {prefix!r} URC; saw {self.urcs!r}")
            if received.startswith(prefix):
                return received
            if received:
                self.urcs.append(received)

    def read_lines_after(self, urc_line: str, count: int, timeout: float | None = None) -> list[str]:
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while len(lines) < count:
            received = self._read_line(deadline)
            if received is None:
                raise AssertionError(f"expected {count} lines after {urc_line!r}, got {lines!r}")
            lines.append(received)
        return lines

    def wait_prompt(self, *, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"> " not in self._buffer:
            if time.monotonic() > deadline:
                raise AssertionError(f"no '> ' prompt; got {self._buffer!r}")
            self._buffer += self._receive()
        self._buffer = self._buffer.split(b"> ", 1)[1]


@dataclass
class ModemUnderTest:
    emulator: Emulator
    id: int
    at: AtPort

    @property
    def personality(self) -> str:
        return self.emulator.modem(self.id).device.personality.name

    @property
    def first_index(self) -> int:
        return self.emulator.modem(self.id).device.personality.first_index

    def fault(self, kind: str, **params: object) -> dict:
        """Inject a fault and let the URCs it causes arrive (they land in at.urcs)."""
        result = self.emulator.fault(self.id, kind, **params)
        with contextlib.suppress(serial.SerialException):  # a client on an unplugged port
            self.at.settle()
        return result

    def reopen(self) -> AtPort:
        """A fresh client on the modem's current port (after a replug)."""
        self.at.close()
        self.at = AtPort(self.emulator.port(self.id))
        return self.at


def _wait_for(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """wait_for(predicate, timeout=3.0, what="...") polls until predicate() is true, else fails."""
    return _wait_for


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """Build emulators: factory(personalities=[...], control_api=False, **Emulator kwargs)."""
    built: list[Emulator] = []

    def factory(personalities: list[str] | None = None, *, control_api: bool = False, **kwargs) -> Emulator:
        state_dir = tmp_path / f"emulator{len(built) + 1}"
        emulator = Emulator(state_dir, **kwargs)
        built.append(emulator)
        for name in personalities or ["huawei", "simcom", "quectel"]:
            emulator.add_modem(name)
        if control_api:
            emulator.start_control_api(0)
        return emulator

    yield factory
    for emulator in built:
        emulator.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """Three modems (1 Huawei, 2 SIMCom, 3 Quectel) with the control API on a free port."""
    return emulator_factory(control_api=True)


@pytest.fixture
def at_port() -> Iterator[Callable[[str], AtPort]]:
    """Open AtPort clients on paths; all are closed at the end of the test."""
    opened: list[AtPort] = []

    def open_port(path: str) -> AtPort:
        port = AtPort(path)
        opened.append(port)
        return port

    yield open_port
    for port in opened:
        port.close()


@pytest.fixture(params=sorted(PERSONALITIES))
def modem(
    request: pytest.FixtureRequest, emulator_factory: Callable[..., Emulator]
) -> Iterator[ModemUnderTest]:
    """One emulated modem of each personality in turn (a test runs three times), a client on its port."""
    emulator = emulator_factory([request.param])
    at = AtPort(emulator.port(1))
    subject = ModemUnderTest(emulator, 1, at)
    yield subject
    subject.at.close()
