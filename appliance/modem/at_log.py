"""The last few hundred lines a modem port exchanged, kept for support: what was sent, what came back.

When a modem misbehaves, the dialogue is what a support person (or a vendor) asks for first, and a
box on a shelf has no serial sniffer. Each session keeps one :class:`AtLog`: bounded in entries and in
line length, written by the session's thread (commands) and the port's reader thread (answers,
URCs), read by the System page. PINs and APN passwords never enter it: they are masked as recorded.

Entries are packed into bytes (time, direction, UTF-8 text) and every :data:`BLOCK` of them
compressed together; the panel's read unpacks them. AT dialogue is repetitive (the same commands,
hex PDUs), so 16 full logs take about 0.1 MiB so, against 0.6 MiB packed but uncompressed and
1.6 MiB as objects with a float and a string each (docs/performance.md, Memory).
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

CAPACITY = 500
# Entries compressed together: large enough for zlib to find the repetition, small enough that the
# uncompressed newest block stays a few kilobytes.
BLOCK = 50
# A +CMGL line with a full PDU is ~350 characters; anything far longer is line noise.
MAX_LINE = 1000
MASK = "****"
# An entry's head: time.time(), the direction's code and the text's length in bytes; the text follows.
_HEAD = struct.Struct("<dcH")
_CODES = {"sent": b">", "received": b"<", "event": b"-"}
_DIRECTIONS = {code: direction for direction, code in _CODES.items()}

# Commands whose parameters carry a secret, and which ones (0-based; None: every parameter).
_SECRET_PARAMETERS: dict[str, tuple[int, ...] | None] = {
    "+CPIN": None,  # <pin>, or <puk>,<new pin> (TS 27.007 §8.3)
    "+CGAUTH": (3,),  # <cid>,<auth_prot>,<userid>,<password> (TS 27.007 §10.1.31)
    "^NDISDUP": (4,),  # Huawei: <cid>,<connect>,<apn>,<user>,<password>,<auth>
    "+QICSGP": (4,),  # Quectel: <cid>,<type>,<apn>,<user>,<password>,<auth>
}


@dataclass(frozen=True, slots=True)
class AtLogEntry:
    at: float  # time.time() when sent or received
    direction: str  # "sent", "received" or "event" (port opened, closed, a timeout)
    text: str

    def as_text(self) -> str:
        """One line of the support download: UTC time to the millisecond, direction, the line."""
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        arrow = {"sent": ">>", "received": "<<"}.get(self.direction, "--")
        return f"{when} {arrow} {self.text}"


class AtLog:
    """The newest ``capacity`` entries: older ones are let go a whole compressed block at a time."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._sealed: deque[bytes] = deque()  # compressed blocks of BLOCK entries each, oldest first
        self._open = bytearray()  # the newest entries, packed, not yet a whole block
        self._open_entries = 0
        self._lock = threading.Lock()

    def sent(self, data: str) -> None:
        # A command ends in CR; a PDU typed at the "> " prompt ends in Ctrl-Z.
        self._add("sent", mask_secrets(data.rstrip("\r").replace("\x1a", "<Ctrl-Z>")))

    def received(self, line: str) -> None:
        # Masked too: a modem that ignores ATE0 echoes the PIN command back.
        self._add("received", mask_secrets(line))

    def event(self, text: str) -> None:
        self._add("event", text)

    def entries(self, newest: int | None = None) -> list[AtLogEntry]:
        """Oldest first; with ``newest``, only that many of the newest, unpacking only their blocks."""
        wanted = self._capacity if newest is None else min(newest, self._capacity)
        if wanted <= 0:
            return []
        with self._lock:
            open_entries, unsealed = self._open_entries, bytes(self._open)
            blocks = -(-(wanted - open_entries) // BLOCK)  # whole blocks holding the rest, rounded up
            sealed = list(self._sealed)[-blocks:] if blocks > 0 else []
        packed = b"".join(zlib.decompress(block) for block in sealed) + unsealed
        return _unpack(packed)[-wanted:]

    def count(self) -> int:
        """How many entries the log holds now (at most its capacity)."""
        with self._lock:
            return min(self._capacity, len(self._sealed) * BLOCK + self._open_entries)

    def _add(self, direction: str, text: str) -> None:
        if len(text) > MAX_LINE:
            text = f"{text[:MAX_LINE]}… ({len(text) - MAX_LINE} more characters)"
        encoded = text.encode("utf-8", "surrogatepass")
        entry = _HEAD.pack(time.time(), _CODES[direction], len(encoded)) + encoded
        with self._lock:
            self._open += entry
            self._open_entries += 1
            if self._open_entries == BLOCK:
                self._sealed.append(zlib.compress(self._open))
                self._open, self._open_entries = bytearray(), 0
                while (len(self._sealed) - 1) * BLOCK >= self._capacity:
                    self._sealed.popleft()


@dataclass(frozen=True)
class PortAtLog:
    """One port's log as the panel reads it; ``active`` is false once the port's session ended.

    It holds the log, not a copy of its entries: the System page unpacks only the newest lines it
    shows, and a download only its own port's. Unpacking every port's whole log at each view made
    thousands of short-lived objects, and the heap kept the room they took (docs/performance.md).
    """

    port: str
    iccid: str | None
    active: bool
    log: AtLog


def _unpack(packed: bytes) -> list[AtLogEntry]:
    entries, offset = [], 0
    while offset < len(packed):
        at, code, length = _HEAD.unpack_from(packed, offset)
        offset += _HEAD.size
        text = packed[offset:offset + length].decode("utf-8", "surrogatepass")
        offset += length
        entries.append(AtLogEntry(at, _DIRECTIONS[code], text))
    return entries


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
