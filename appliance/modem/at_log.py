"""The last few hundred lines a modem port exchanged, kept for support: what was sent, what came back.

When a modem misbehaves, the dialogue is what a support person (or a vendor) asks for first, and a
box on a shelf has no serial sniffer. Each session keeps one :class:`AtLog`: bounded in entries and in
line length, written by the session's thread (commands) and the port's reader thread (answers,
URCs), read by the System page. PINs and APN passwords never enter it: they are masked as recorded.

An entry is kept packed in one ``bytes`` (time, direction, UTF-8 text) and unpacked only when the page
reads the log: 16 full logs take about 0.6 MiB so, against 1.6 MiB as objects with a float and a
string each (docs/performance.md, Memory).
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

CAPACITY = 500
# A +CMGL line with a full PDU is ~350 characters; anything far longer is line noise.
MAX_LINE = 1000
MASK = "****"
# An entry's head: time.time() and the direction's code; the text follows.
_HEAD = struct.Struct("<dc")
_CODES = {"sent": b">", "received": b"<", "event": b"-"}
_DIRECTIONS = {code: direction for direction, code in _CODES.items()}

# Commands whose parameters carry a secret, and which ones (0-based; None: every parameter).
_SECRET_PARAMETERS: dict[str, tuple[int, ...] | None] = {
    "+CPIN": None,  # <pin>, or <puk>,<new pin> (TS 27.007 §8.3)
    "+CGAUTH": (3,),  # <cid>,<auth_prot>,<userid>,<password> (TS 27.007 §10.1.31)
    "^NDISDUP": (4,),  # Huawei: <cid>,<connect>,<apn>,<user>,<password>,<auth>
    "+QICSGP": (4,),  # Quectel: <cid>,<type>,<apn>,<user>,<password>,<auth>
}


@dataclass(frozen=True)
class AtLogEntry:
    at: float  # time.time() when sent or received
    direction: str  # "sent", "received" or "event" (port opened, closed, a timeout)
    text: str

    def as_text(self) -> str:
        """One line of the support download: UTC time to the millisecond, direction, the line."""
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        arrow = {"sent": ">>", "received": "<<"}.get(self.direction, "--")
        return f"{when} {arrow} {self.text}"


@dataclass(frozen=True)
class AtLogSnapshot:
    """One port's log as the panel reads it; ``active`` is false once the port's session ended."""

    port: str
    iccid: str | None
    active: bool
    entries: list[AtLogEntry]


class AtLog:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._entries: deque[bytes] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def sent(self, data: str) -> None:
        # A command ends in CR; a PDU typed at the "> " prompt ends in Ctrl-Z.
        self._add("sent", mask_secrets(data.rstrip("\r").replace("\x1a", "<Ctrl-Z>")))

    def received(self, line: str) -> None:
        # Masked too: a modem that ignores ATE0 echoes the PIN command back.
        self._add("received", mask_secrets(line))

    def event(self, text: str) -> None:
        self._add("event", text)

    def entries(self) -> list[AtLogEntry]:
        with self._lock:
            packed = list(self._entries)
        return [_unpack(entry) for entry in packed]

    def _add(self, direction: str, text: str) -> None:
        if len(text) > MAX_LINE:
            text = f"{text[:MAX_LINE]}… ({len(text) - MAX_LINE} more characters)"
        entry = _HEAD.pack(time.time(), _CODES[direction]) + text.encode("utf-8", "surrogatepass")
        with self._lock:
            self._entries.append(entry)


def _unpack(entry: bytes) -> AtLogEntry:
    at, code = _HEAD.unpack_from(entry)
    return AtLogEntry(at, _DIRECTIONS[code], entry[_HEAD.size:].decode("utf-8", "surrogatepass"))


def mask_secrets(line: str) -> str:
    """``AT+CPIN="1234"`` → ``AT+CPIN="****"``; APN passwords in the data call commands likewise.

    An empty value stays visible: it hides nothing, and "no password was sent" is worth seeing.
    """
    head, equals, tail = line.partition("=")
    command = head.strip().upper()
    if not equals or not command.startswith("AT") or command[2:] not in _SECRET_PARAMETERS:
        return line
    secret = _SECRET_PARAMETERS[command[2:]]
    parameters = _split_parameters(tail)
    for index, value in enumerate(parameters):
        if (secret is None or index in secret) and value.strip() not in ("", '""'):
            parameters[index] = f'"{MASK}"' if value.strip().startswith('"') else MASK
    return f"{head}={','.join(parameters)}"


def _split_parameters(text: str) -> list[str]:
    """Split at commas outside double quotes (V.250 §5.4.2: strings are quoted, may hold commas)."""
    parameters, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parameters.append("".join(current))
            current = []
        else:
            current.append(char)
    parameters.append("".join(current))
    return parameters
