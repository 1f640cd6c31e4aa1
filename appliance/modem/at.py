"""The AT command channel to one serial port: commands with timeouts, and unsolicited result codes.

Built on python-gsmmodem-new's ``SerialComms`` (port opening with the flow control USB modems
expect, the reader thread's life cycle, the transmit lock); its line handling and command exchange
are replaced here because, as shipped, it:

- kills its reader thread on the first byte that is not UTF-8 (line noise, a modem booting), after
  which every command times out;
- files a URC such as ``+CMTI`` that arrives while a command is pending into that command's response,
  where nobody looks for it;
- splits two-line URCs (``+CMT: ,<len>`` then the PDU) into unrelated notifications;
- does not end a response on verbose errors (``+CME ERROR: SIM not inserted``) or ``NO CARRIER``;
- times a command out after a fixed time even while a long ``+CMGL`` listing is still arriving.

Its ``GsmModem`` layer is not used at all: ``connect()`` hangs or raises on modems that answer
optional commands oddly, and its SMS handling decodes and deletes a message before we have stored it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

import serial
from gsmmodem.serial_comms import SerialComms

from appliance.modem.at_log import AtLog

log = logging.getLogger(__name__)

CTRL_Z = "\x1a"

# Final result codes that end a command's response (V.250 §5.7.1 plus the 27.007 error forms).
_FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|COMMAND NOT SUPPORT|\+CM[ES] ERROR:.*)$")
# URCs our sessions care about or must keep out of responses. None of these is ever a response line.
_URC = re.compile(
    r"^(\+CMTI:|\+CDSI:|\+CMT:|\+CDS:|\+CBM:|\^RSSI:|\^HRSSI:|\^BOOT:|\^MODE:|\^SRVST:|\^SIMST:|\^RSSILVL:"
    r"|\+QIND:|RDY$|SMS Ready$|Call Ready$|RING$|\+CRING:|\+CUSD:|\^SYSSTART|\+PBREADY|\+STIN:)"
)
# URCs worth rescuing from the end of a noisy line: losing one would delay a message until the next poll.
_EMBEDDED_URC = re.compile(r"\+CMTI:|\+CDSI:|\+CMT:|\+CDS:")
# URCs whose next line belongs to them (TS 27.005 §3.4.1: in PDU mode ``+CMT: [<alpha>],<length>``,
# ``+CDS: <length>`` and ``+CBM: <length>`` are followed by the PDU). Only a well-formed header counts:
# line noise that happens to spell "+CMT:" must not turn the next line into a message.
_TWO_LINE_URC = re.compile(r"^(\+CMT: [^,\ufffd]*,\d+|\+(CDS|CBM): \d+)$")


class AtError(Exception):
    """The modem answered a command with an error; ``code`` is the +CME/+CMS number when given."""

    def __init__(self, command: str, final: str) -> None:
        self.command = command
        self.final = final
        match = re.match(r"^\+(CM[ES]) ERROR:\s*(\d+)$", final)
        self.kind = match.group(1) if match else None
        self.code = int(match.group(2)) if match else None
        super().__init__(f"{command!r} answered {final!r}")


class AtTimeout(Exception):
    """No final result code within the timeout; ``partial`` holds what did arrive."""

    def __init__(self, command: str, timeout: float, partial: list[str]) -> None:
        self.command = command
        self.partial = partial
        super().__init__(f"no answer to {command!r} within {timeout:g} s (got {partial!r})")


class ChannelClosed(Exception):
    """The port went away (unplug, EIO) or was closed."""


UrcHandler = Callable[[list[str]], None]


class AtChannel(SerialComms):
    """One open serial port. Commands are serialised; URCs go to ``on_urc`` from the reader thread.

    Every line written and read is recorded in ``at_log`` (secrets masked), the session's support log.
    """

    def __init__(self, port: str, on_urc: UrcHandler, on_closed: Callable[[Exception], None],
                 baudrate: int = 115200, at_log: AtLog | None = None) -> None:
        super().__init__(port, baudrate, notifyCallbackFunc=on_urc, fatalErrorCallbackFunc=self._closed)
        self._on_closed = on_closed
        self.at_log = at_log if at_log is not None else AtLog()
        self._pending_two_line: str | None = None
        self.closed = threading.Event()

    def open(self) -> None:
        try:
            self.connect()
            self.serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            self.at_log.event(f"cannot open {self.port}: {exc}")
            raise ChannelClosed(f"cannot open {self.port}: {exc}") from exc
        self.at_log.event(f"{self.port} opened")

    def close(self) -> None:
        if self.alive:
            self.alive = False
            self.at_log.event(f"{self.port} closed")
            if threading.current_thread() is not getattr(self, "rxThread", None):
                self.rxThread.join(timeout=3)
        try:
            self.serial.close()
        except Exception:  # noqa: BLE001 - closing a port that already vanished
            pass
        self.closed.set()

    def command(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send ``command`` and return the response lines without the final ``OK``."""
        return self._ok(self._exchange(command + "\r", timeout, command), command)

    def send_pdu(self, length: int, pdu_hex: str, timeout: float = 40.0) -> list[str]:
        """``AT+CMGS=<length>``, wait for the ``> `` prompt, then the PDU and Ctrl-Z (TS 27.005 §3.5.1)."""
        command = f"AT+CMGS={length}"
        answer = self._exchange(command + "\r", timeout, command, prompt="> ")
        if answer and _FINAL.match(answer[-1].strip()):
            raise AtError(command, answer[-1].strip())  # refused before the prompt (no network, bad length)
        return self._ok(self._exchange(pdu_hex + CTRL_Z, timeout, command), command)

    @staticmethod
    def _ok(lines: list[str], label: str) -> list[str]:
        if lines[-1] != "OK":
            raise AtError(label, lines[-1])
        return lines[:-1]

    def _exchange(self, data: str, timeout: float, label: str, prompt: str | None = None) -> list[str]:
        """Write and collect the answer. ``timeout`` counts silence, not the whole answer: a long
        ``+CMGL`` listing that keeps arriving is not cut off, a modem that went quiet is."""
        if not self.alive:
            raise ChannelClosed(f"{self.port} is closed")
        with self._txLock:
            self._expectResponseTermSeq = bytearray(prompt.encode()) if prompt else None
            self._response = []
            event = self._responseEvent = threading.Event()
            try:
                self.at_log.sent(data)
                self.serial.write(data.encode())
                seen = 0
                while not event.wait(timeout):
                    if len(self._response) == seen:
                        self.at_log.event(f"no answer to {label} within {timeout:g} s")
                        raise AtTimeout(label, timeout, list(self._response))
                    seen = len(self._response)
            except (serial.SerialException, OSError) as exc:
                self._closed(exc)
                raise ChannelClosed(f"{self.port}: {exc}") from exc
            finally:
                self._responseEvent = None
                self._expectResponseTermSeq = None
            lines = self._response
        if not lines or not (prompt or _FINAL.match(lines[-1])):
            raise ChannelClosed(f"{self.port} closed during {label} (got {lines!r})")
        # Echo of the command (before ATE0 took effect) is not part of the answer.
        return [line for line in lines if line.strip() != label.strip()]

    # --- reader side -------------------------------------------------------------------------------

    def _readLoop(self) -> None:  # noqa: N802 - overrides the library's name
        buffer = bytearray()
        try:
            while self.alive:
                chunk = self.serial.read(self.serial.in_waiting or 1)
                if not chunk:
                    continue
                buffer.extend(chunk)
                buffer = self._split_lines(buffer)
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises TypeError when the fd vanishes under a blocking read.
            if self.alive:
                self._closed(exc)

    def _split_lines(self, buffer: bytearray) -> bytearray:
        while True:
            if self._expectResponseTermSeq and buffer.endswith(bytes(self._expectResponseTermSeq)):
                text = self._decode(bytes(buffer))
                self._deliver(text, end_of_response=True)
                return bytearray()
            cut = buffer.find(b"\n")
            if cut < 0:
                return buffer
            raw, buffer = bytes(buffer[:cut]), buffer[cut + 1:]
            line = self._decode(raw).strip("\r\x00 ")
            embedded = _EMBEDDED_URC.search(line, 1)
            if embedded:
                # Noise glued in front of a URC (no line break between): keep the URC, drop the noise.
                log.warning("%s: line noise before a URC dropped: %r", self.port, line[:embedded.start()][:80])
                line = line[embedded.start():]
            if line:
                self._deliver(line)

    def _decode(self, raw: bytes) -> str:
        # Modems speak ASCII; anything else is line noise. Keep it visible but never die on it.
        text = raw.decode("ascii", errors="replace")
        bad = text.count("\ufffd")
        if bad:
            log.warning("%s: %d non-ASCII bytes on the line: %r", self.port, bad, raw[:80])
        return text

    def _deliver(self, line: str, end_of_response: bool = False) -> None:
        self.at_log.received(line)
        if self._pending_two_line is not None:
            first, self._pending_two_line = self._pending_two_line, None
            self.notifyCallback([first, line])
            return
        if _TWO_LINE_URC.match(line):
            self._pending_two_line = line
            return
        waiting = self._responseEvent is not None and not self._responseEvent.is_set()
        if waiting and (end_of_response or not _URC.match(line)):
            self._response.append(line)
            if end_of_response or _FINAL.match(line):
                self._responseEvent.set()
            return
        self.notifyCallback([line])

    def _closed(self, exc: Exception) -> None:
        self.at_log.event(f"{self.port} closed: {exc}")
        self.alive = False
        self.closed.set()
        if self._responseEvent is not None:
            self._responseEvent.set()
        self._on_closed(exc)


def wait_for_sync(channel: AtChannel, attempts: int = 5, timeout: float = 2.0) -> None:
    """Send ``AT`` until the modem answers ``OK``: a modem still booting drops the first commands."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            channel.command("AT", timeout=timeout)
            return
        except (AtTimeout, AtError) as exc:
            last = exc
            time.sleep(0.2)
    raise AtTimeout("AT", timeout * attempts, getattr(last, "partial", []))
