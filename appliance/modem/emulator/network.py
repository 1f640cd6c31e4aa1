"""The network side of an emulated modem: the SMS centre that delivers to it and records what it sends.

A real SMSC keeps a mobile-terminated message until the handset accepts it: when the handset answers
"memory capacity exceeded" (TS 24.011 RP-ERROR cause 22) the SMSC holds the message, and retries
when the handset reports memory available again (RP-SMMA), or on its own schedule. Nothing is lost;
messages to one subscriber keep their order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from appliance.codecs.sms_pdu import PduError, decode_sms_submit, encode_sms_deliver


class Acceptance(Enum):
    ACCEPTED = "accepted"
    MEMORY_FULL = "memory full"  # RP-ERROR cause 22: hold until memory is available
    UNREACHABLE = "unreachable"  # not attached, not registered, not answering: hold and page later


@dataclass(frozen=True)
class SubmittedSms:
    """One AT+CMGS as the SMSC received it."""

    to: str | None
    text: str | None
    pdu: str | None  # hex, SMSC field included, as the client typed it; None for a text-mode send

    def as_json(self) -> dict[str, str | None]:
        return {"to": self.to, "text": self.text, "pdu": self.pdu}


def submitted_from_pdu(pdu: bytes) -> SubmittedSms:
    """Raises PduError when the PDU is not an SMS-SUBMIT the SMSC could route."""
    submit = decode_sms_submit(pdu, with_smsc=True)
    return SubmittedSms(to=submit.recipient, text=submit.text, pdu=pdu.hex().upper())


def sms_deliver_pdus(
    sender: str, text: str, timestamp: datetime, *, smsc: str, reference: int
) -> list[bytes]:
    """The SMS-DELIVER PDUs a phone would receive for `text` (a concatenated set when long)."""
    return encode_sms_deliver(sender, text, timestamp, smsc=smsc, concat_reference=reference)


class SmscQueue:
    """Mobile-terminated messages waiting for one subscriber, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[bytes] = deque()
        self._concat_reference = 0
        self.held_count = 0  # times delivery stopped on "memory full"
        self.holding = False  # the head message waits for memory to become available
        self.delivered_count = 0
        self.submitted: list[SubmittedSms] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def next_concat_reference(self) -> int:
        with self._lock:
            self._concat_reference = self._concat_reference % 255 + 1
            return self._concat_reference

    def enqueue(self, pdus: list[bytes]) -> None:
        with self._lock:
            self._queue.extend(pdus)

    def pending(self) -> list[bytes]:
        with self._lock:
            return list(self._queue)

    def attempt_delivery(self, deliver: Callable[[bytes], Acceptance]) -> int:
        """Offer queued PDUs in order until the handset refuses one; returns how many it accepted."""
        accepted = 0
        while True:
            with self._lock:
                if not self._queue:
                    return accepted
                pdu = self._queue[0]
            outcome = deliver(pdu)
            if outcome is not Acceptance.ACCEPTED:
                if outcome is Acceptance.MEMORY_FULL and not self.holding:
                    self.holding = True
                    self.held_count += 1
                return accepted
            self.holding = False
            with self._lock:
                self._queue.popleft()
                self.delivered_count += 1
            accepted += 1

    def record_submit(self, sms: SubmittedSms) -> None:
        with self._lock:
            self.submitted.append(sms)

    def submitted_list(self) -> list[SubmittedSms]:
        with self._lock:
            return list(self.submitted)


__all__ = [
    "Acceptance",
    "PduError",
    "SmscQueue",
    "SubmittedSms",
    "sms_deliver_pdus",
    "submitted_from_pdu",
]
