"""Outbound SMS per SIM: queued in the database, sent by that SIM's modem session, tracked to delivery.

Delivery is at least once per part: a part is marked sent only after ``+CMGS`` answered with its
reference, so a crash between the modem accepting it and that mark sends the part again on restart
(a rare duplicate text is better than a lost reply). Parts already marked are never sent again.
Status reports are matched to parts by SIM, message reference and recipient.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import PduError, encode_sms_submit
from appliance.db.models import OutboundPart, OutboundSms, StatusReport, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY = timedelta(minutes=10)
# +CMS ERROR codes after which sending again cannot help (TS 24.011 Table 8.4 RP causes such as
# "unassigned number", "call barred", "facility not subscribed"; TS 27.005 §3.2.5 "invalid PDU").
PERMANENT_CMS_ERRORS = frozenset({1, 8, 10, 21, 29, 50, 69, 96, 97, 98, 99, 111, 127, 304, 305})
_RECIPIENT = re.compile(r"^\+?[0-9]{3,20}$")


class OutboundError(ValueError):
    """A text that cannot be queued (bad number, nothing to send); the message says which."""


@dataclass(frozen=True)
class PendingPart:
    id: int
    sequence: int
    pdu: bytes

    @property
    def tpdu_length(self) -> int:
        """``AT+CMGS=<length>`` counts the TPDU only, not the SMSC field in front (TS 27.005 §3.5.1)."""
        return len(self.pdu) - self.pdu[0] - 1


@dataclass(frozen=True)
class ClaimedSms:
    id: int
    recipient: str
    parts: tuple[PendingPart, ...]


def recipient_number(recipient: str) -> str:
    """``recipient`` as the queue addresses it (spaces, dashes, brackets dropped); ``OutboundError``
    when no SMS can go to it (an alphanumeric sender such as "ALLEGRO", a stray word)."""
    number = re.sub(r"[\s\-()]", "", recipient or "")
    if not _RECIPIENT.match(number):
        raise OutboundError(f"{recipient!r} is not a phone number (digits, optionally with a leading +)")
    return number


def enqueue_sms(session: Session, iccid: str, recipient: str, text: str, *,
                account_id: int | None = None) -> OutboundSms:
    """Queue ``text`` to ``recipient`` through the SIM ``iccid``, on behalf of ``account_id`` (None:
    the box itself); encoded now so errors show at once."""
    number = recipient_number(recipient)
    if not text:
        raise OutboundError("the text is empty")
    outbound = OutboundSms(iccid=iccid, recipient=number, text=text, account_id=account_id)
    session.add(outbound)
    session.flush()
    try:
        # The concatenation reference only has to differ between texts to the same recipient in
        # flight at the same time; the row id, taken modulo 256, does that.
        pdus = encode_sms_submit(number, text, concat_reference=outbound.id % 256, request_status_report=True)
    except PduError as exc:
        raise OutboundError(f"cannot encode this text: {exc}") from exc
    outbound.parts = [OutboundPart(sequence=n, pdu_hex=pdu.hex().upper()) for n, pdu in enumerate(pdus, 1)]
    session.flush()
    return outbound


def withdraw(session: Session, outbound_ids: Select[tuple[int]], now: datetime | None = None) -> int:
    """Cancel the texts ``outbound_ids`` selects that no modem has tried yet; returns how many.

    A text already tried stays: some of its parts may be on the recipient's phone, and half a
    concatenated message is worse than the whole. The status check is in the UPDATE itself, so a
    text a session claims at the same moment is either claimed or withdrawn, never both."""
    result = session.execute(update(OutboundSms)
                             .where(OutboundSms.id.in_(outbound_ids), OutboundSms.status == "queued",
                                    OutboundSms.attempts == 0)
                             .values(status="cancelled", finished_at=now or utcnow())
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


class OutboundQueue:
    """What a modem session asks: the next text for its SIM, and where each part stands."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def recover_interrupted(self) -> int:
        """Texts left 'sending' by a crash go back to the queue; their sent parts stay sent."""
        with self._sessions.begin() as session:
            result = session.execute(update(OutboundSms).where(OutboundSms.status == "sending")
                                      .values(status="queued"))
            return result.rowcount or 0

    def claim_next(self, iccid: str, now: datetime | None = None) -> ClaimedSms | None:
        moment = now or utcnow()
        with self._sessions.begin() as session:
            statement = (select(OutboundSms)
                         .where(OutboundSms.iccid == iccid, OutboundSms.status == "queued",
                                OutboundSms.next_attempt_at <= moment)
                         .order_by(OutboundSms.id).limit(1).with_for_update(skip_locked=True))
            outbound = session.scalar(statement)
            if outbound is None:
                return None
            outbound.status = "sending"
            outbound.attempts += 1
            parts = tuple(PendingPart(p.id, p.sequence, bytes.fromhex(p.pdu_hex))
                          for p in outbound.parts if p.status == "pending")
            return ClaimedSms(outbound.id, outbound.recipient, parts)

    def part_sent(self, part_id: int, message_reference: int | None) -> None:
        with self._sessions.begin() as session:
            session.execute(update(OutboundPart).where(OutboundPart.id == part_id)
                            .values(status="sent", message_reference=message_reference, sent_at=utcnow()))

    def all_sent(self, outbound_id: int) -> None:
        with self._sessions.begin() as session:
            outbound = session.get(OutboundSms, outbound_id)
            assert outbound is not None
            if outbound.status == "sending":
                outbound.status = "sent"
                outbound.sent_at = utcnow()
                outbound.last_error = None
            _settle(outbound)

    def send_failed(self, outbound_id: int, error: str, *, permanent: bool) -> None:
        with self._sessions.begin() as session:
            outbound = session.get(OutboundSms, outbound_id)
            assert outbound is not None
            outbound.last_error = error
            if permanent or outbound.attempts >= MAX_ATTEMPTS:
                outbound.status = "failed"
                outbound.finished_at = utcnow()
                log.warning("SMS %d to %s failed for good after %d attempts: %s", outbound.id,
                            outbound.recipient, outbound.attempts, error)
                return
            delay = min(FIRST_RETRY * 2 ** (outbound.attempts - 1), MAX_RETRY)
            outbound.status = "queued"
            outbound.next_attempt_at = utcnow() + delay * random.uniform(0.8, 1.2)
            log.info("SMS %d to %s: %s; attempt %d in %s", outbound.id, outbound.recipient, error,
                     outbound.attempts + 1, delay)


def apply_status_reports(session: Session, reports: list[StatusReport]) -> None:
    """Give each report to the most recent sent part with its SIM, reference and recipient.

    TS 23.040 §9.2.3.15: TP-ST 0x00-0x1F the transaction completed (delivered), 0x20-0x3F the SMSC
    is still trying, 0x40 and above it gave up.
    """
    for report in reports:
        if report.message_reference is None:
            continue
        candidates = session.scalars(
            select(OutboundPart).join(OutboundSms)
            .where(OutboundSms.iccid == report.iccid, OutboundPart.message_reference == report.message_reference,
                   OutboundPart.status.in_(("sent", "delivered", "failed")))
            .order_by(OutboundPart.sent_at.desc()).limit(5))
        part = next((p for p in candidates if _same_number(p.outbound.recipient, report.recipient)), None)
        if part is None:
            log.info("status report for reference %s to %s matches no sent SMS", report.message_reference,
                     report.recipient)
            continue
        report.outbound_part_id = part.id
        status = report.status if report.status is not None else 0
        if status >= 0x40:
            part.status = "failed"
        elif status < 0x20:
            part.status = "delivered"
        part.report_status = status
        part.reported_at = utcnow()
        _settle(part.outbound)


def _settle(outbound: OutboundSms) -> None:
    """A text is delivered when every part is, failed when any part failed for good."""
    statuses = {p.status for p in outbound.parts}
    if "failed" in statuses and outbound.status != "failed":
        outbound.status = "failed"
        outbound.last_error = "the network could not deliver a part"
        outbound.finished_at = utcnow()
    elif statuses == {"delivered"} and outbound.status in ("sent", "sending"):
        outbound.status = "delivered"
        outbound.finished_at = utcnow()


def _same_number(a: str | None, b: str | None) -> bool:
    """Reports often carry the national form of the number the text went to: compare the tails."""
    if not a or not b:
        return False
    digits_a, digits_b = a.lstrip("+"), b.lstrip("+")
    tail = min(len(digits_a), len(digits_b), 9)
    return digits_a[-tail:] == digits_b[-tail:]
