"""The network side of an emulated modem: the SMS centre that delivers to it and records what it sends.

A real SMSC keeps a mobile-terminated message until the handset accepts it: when the handset answers
"memory capacity exceeded" (TS 24.011 RP-ERROR cause 22) the SMSC holds the message, and retries
when the handset reports memory available again (RP-SMMA), or on its own schedule. Nothing is lost;
messages to one subscriber keep their order.

When an SMS-SUBMIT asks for a status report (TP-SRR), the SMSC sends an SMS-STATUS-REPORT back once
the message is "delivered" (`report_delay` later) through the same queue, so a report waits like an
SMS for a modem that is unplugged or full. What waits for a subscriber follows its SIM to another
modem (`take_subscriber_traffic`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from appliance.codecs.sms_pdu import (
    PduError,
    decode_sms_submit,
    encode_sms_deliver,
    encode_sms_status_report,
)

DEFAULT_REPORT_DELAY = 0.5  # seconds from AT+CMGS to the status report
STATUS_DELIVERED = 0  # TP-ST (TS 23.040 §9.2.3.15): short message received by the SME


class Acceptance(Enum):
    ACCEPTED = "accepted"
    MEMORY_FULL = "memory full"  # RP-ERROR cause 22: hold until memory is available
    UNREACHABLE = "unreachable"  # not attached, not registered, not answering: hold and page later


@dataclass
class SubmittedSms:
    """One AT+CMGS (or AT+CMSS) as the SMSC received it."""

    to: str | None
    text: str | None
    pdu: str | None  # hex, SMSC field included, as the client typed it; None for a text-mode send
    report_requested: bool = False  # TP-SRR
    message_reference: int | None = None  # the TP-MR the modem answered in +CMGS: <mr>
    report: int | None = None  # TP-ST of the status report once the SMSC sent it

    def as_json(self) -> dict[str, str | int | None]:
        return {
            "to": self.to,
            "text": self.text,
            "pdu": self.pdu,
            "message_reference": self.message_reference,
            "report": self.report,
        }


def submitted_from_pdu(pdu: bytes) -> SubmittedSms:
    """Raises PduError when the PDU is not an SMS-SUBMIT the SMSC could route."""
    submit = decode_sms_submit(pdu, with_smsc=True)
    return SubmittedSms(
        to=submit.recipient,
        text=submit.text,
        pdu=pdu.hex().upper(),
        report_requested=submit.request_status_report,
    )


@dataclass
class _DueReport:
    due: float  # time.monotonic() when the SMSC sends it
    sms: SubmittedSms
    received_at: datetime  # TP-SCTS: when the SMSC took the submit
    smsc: str


@dataclass
class SubscriberTraffic:
    """What the network holds for one subscriber: it follows the SIM to another modem."""

    pending: list[bytes] = field(default_factory=list)
    reports: list[_DueReport] = field(default_factory=list)


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
        self.report_delay = DEFAULT_REPORT_DELAY
        self.report_status = STATUS_DELIVERED  # TP-ST of the next report(s) …
        self.report_status_left = 0.0  # … for this many (math.inf: until cleared), then 0 again
        self._due: list[_DueReport] = []

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

    def record_submit(self, sms: SubmittedSms, *, smsc: str) -> None:
        """The SMSC `smsc` took `sms`; it answers with a status report when TP-SRR asked for one."""
        with self._lock:
            self.submitted.append(sms)
            if sms.report_requested and sms.to is not None and sms.message_reference is not None:
                due = time.monotonic() + self.report_delay
                received_at = datetime.now().astimezone().replace(microsecond=0)
                self._due.append(_DueReport(due, sms, received_at, smsc))

    def fail_reports(self, status: int, count: int | None) -> None:
        """The next `count` reports (None: every one until reset) carry TP-ST `status`."""
        with self._lock:
            self.report_status = status
            self.report_status_left = math.inf if count is None else count

    def next_report_due(self) -> float | None:
        with self._lock:
            return min((report.due for report in self._due), default=None)

    def release_due_reports(self, now: float) -> int:
        """Queue the status reports whose time has come; returns how many."""
        with self._lock:
            due = [report for report in self._due if report.due <= now]
            if not due:
                return 0
            self._due = [report for report in self._due if report.due > now]
            for report in sorted(due, key=lambda r: r.due):
                status = STATUS_DELIVERED
                if self.report_status_left > 0:
                    status = self.report_status
                    self.report_status_left -= 1
                assert report.sms.to is not None and report.sms.message_reference is not None
                try:
                    pdu = encode_sms_status_report(
                        report.sms.message_reference,
                        report.sms.to,
                        report.received_at,
                        datetime.now().astimezone().replace(microsecond=0),
                        status,
                        smsc=report.smsc,
                    )
                except PduError:
                    continue  # a recipient no report can name (the submit went out anyway)
                report.sms.report = status
                self._queue.append(pdu)
            return len(due)

    def take_subscriber_traffic(self) -> SubscriberTraffic:
        """The SIM leaves this modem: what waits for its subscriber goes with it."""
        with self._lock:
            traffic = SubscriberTraffic(list(self._queue), self._due)
            self._queue.clear()
            self._due = []
            self.holding = False
            return traffic

    def add_subscriber_traffic(self, traffic: SubscriberTraffic) -> None:
        with self._lock:
            self._queue.extend(traffic.pending)
            self._due.extend(traffic.reports)

    def submitted_list(self) -> list[SubmittedSms]:
        with self._lock:
            return list(self.submitted)


__all__ = [
    "DEFAULT_REPORT_DELAY",
    "Acceptance",
    "PduError",
    "SmscQueue",
    "SubmittedSms",
    "SubscriberTraffic",
    "sms_deliver_pdus",
    "submitted_from_pdu",
]
