"""Turning raw PDUs read off a SIM into stored parts and messages, durably and exactly once.

The modem session deletes a PDU from the SIM only after ``MessageStore.store`` returned for it, so a
crash anywhere leaves the PDU either on the SIM or in the database (or both: then the dedupe key makes
the re-read a no-op). Multipart parts are stored as they come and assembled when the set is complete;
an incomplete set is released as a partial message later and completed if the missing part turns up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import PduError, SmsDeliver, SmsStatusReport, decode_mt_pdu
from appliance.db.models import Message, SmsPart, StatusReport, utcnow

log = logging.getLogger(__name__)

# A late part may still complete a partial message released this long ago.
LATE_PART_WINDOW = timedelta(days=7)
# The parts of one message are stamped by the SMSC within this spread of each other.
SAME_SET_SPREAD = timedelta(hours=1)


@dataclass(frozen=True)
class ReceivedPdu:
    """A PDU as read from modem storage (``+CMGL``/``+CMGR``), with the SMSC address field in front."""

    iccid: str
    pdu: bytes
    storage: str | None = None
    index: int | None = None


class Outcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    UNDECODABLE = "undecodable"
    STATUS_REPORT = "status_report"


@dataclass(frozen=True)
class StoreResult:
    outcome: Outcome
    message_ids: tuple[int, ...]  # messages created or completed by this PDU


def dedupe_key(iccid: str, pdu: bytes) -> str:
    """ICCID + the TPDU: sender, SMSC timestamp, concatenation data and body all live in the TPDU.

    The SMSC address in front is left out: some modems report it differently on a second read.
    """
    tpdu = pdu
    if pdu and pdu[0] + 1 <= len(pdu):
        tpdu = pdu[pdu[0] + 1:]
    return hashlib.sha256(iccid.encode() + b"\x00" + tpdu).hexdigest()


def concat_key(iccid: str, sms: SmsDeliver) -> str | None:
    if sms.concat is None or sms.concat.total < 2:
        return None
    c = sms.concat
    return f"{iccid}|{sms.sender}|{c.reference_bits}:{c.reference}|{c.total}"


def assemble_text(parts: Sequence[SmsPart], total: int) -> str | None:
    """Join part texts in sequence order; a missing part is marked where it belongs, never skipped."""
    by_sequence = {part.sequence: part for part in parts}
    if all(part.text is None for part in parts):
        return None
    pieces = []
    for sequence in range(1, total + 1):
        part = by_sequence.get(sequence)
        if part is None:
            pieces.append(f"[part {sequence} of {total} missing]")
        else:
            pieces.append(part.text or "")
    return "".join(pieces)


class MessageStore:
    """Writes parts and messages. Callers batch PDUs; each ``store`` call is one durable transaction."""

    def __init__(self, session_factory: sessionmaker[Session], partial_timeout: timedelta) -> None:
        self._sessions = session_factory
        self.partial_timeout = partial_timeout

    def store(self, pdus: Sequence[ReceivedPdu]) -> list[StoreResult]:
        with self._sessions.begin() as session:
            results = [self._store_one(session, item) for item in pdus]
        return results

    def _store_one(self, session: Session, item: ReceivedPdu) -> StoreResult:
        key = dedupe_key(item.iccid, item.pdu)
        known = session.scalar(select(SmsPart.id).where(SmsPart.dedupe_key == key))
        known = known or session.scalar(select(StatusReport.id).where(StatusReport.dedupe_key == key))
        if known is not None:
            log.info("SIM %s: PDU at %s/%s already stored, skipped", item.iccid, item.storage, item.index)
            return StoreResult(Outcome.DUPLICATE, ())
        try:
            decoded = decode_mt_pdu(item.pdu)
        except PduError as exc:
            return self._store_undecodable(session, item, key, str(exc))
        if isinstance(decoded, SmsStatusReport):
            session.add(StatusReport(dedupe_key=key, iccid=item.iccid, pdu_hex=item.pdu.hex().upper(),
                                     message_reference=decoded.message_reference,
                                     recipient=decoded.recipient, status=decoded.status))
            session.flush()
            return StoreResult(Outcome.STATUS_REPORT, ())
        part = SmsPart(dedupe_key=key, iccid=item.iccid, pdu_hex=item.pdu.hex().upper(), storage=item.storage,
                       storage_index=item.index, sender=decoded.sender, text=decoded.text,
                       concat_key=concat_key(item.iccid, decoded),
                       sequence=decoded.concat.sequence if decoded.concat else 1,
                       total=decoded.concat.total if decoded.concat else 1)
        session.add(part)
        if part.concat_key is None:
            message = _new_message(item.iccid, decoded, [part], status="unmatched")
            session.add(message)
            session.flush()
            return StoreResult(Outcome.STORED, (message.id,))
        return StoreResult(Outcome.STORED, self._add_to_set(session, item.iccid, part, decoded.timestamp))

    def _store_undecodable(self, session: Session, item: ReceivedPdu, key: str, error: str) -> StoreResult:
        log.warning("SIM %s: undecodable PDU at %s/%s kept raw: %s (%s)", item.iccid, item.storage,
                    item.index, error, item.pdu.hex().upper()[:200])
        part = SmsPart(dedupe_key=key, iccid=item.iccid, pdu_hex=item.pdu.hex().upper(), storage=item.storage,
                       storage_index=item.index, error=error)
        message = Message(iccid=item.iccid, status="undecodable", error=error, parts=[part])
        session.add(message)
        session.flush()
        return StoreResult(Outcome.UNDECODABLE, (message.id,))

    def _add_to_set(self, session: Session, iccid: str, part: SmsPart, sent_at: datetime) -> tuple[int, ...]:
        assert part.concat_key is not None
        session.flush()
        open_parts = list(session.scalars(
            select(SmsPart).where(SmsPart.concat_key == part.concat_key, SmsPart.message_id.is_(None),
                                  SmsPart.id != part.id)
        ))
        if any(p.sequence == part.sequence for p in open_parts):
            # The 8-bit reference wrapped around (TS 23.040 §9.2.3.24.1 allows reuse): the open set is
            # an older message whose other parts never came. Release it now rather than mix the two.
            old = _new_message(iccid, None, open_parts, status="partial")
            session.add(old)
            session.flush()
            log.warning("concatenation reference reused for %s: older set released as partial %d",
                        part.concat_key, old.id)
            open_parts = []
        if not open_parts:
            late_for = self._released_set_missing(session, part, sent_at)
            if late_for is not None:
                late_for.parts.append(part)
                _refresh_set_message(late_for)
                session.flush()
                log.info("late part %d/%d joined partial message %d", part.sequence, part.total, late_for.id)
                return (late_for.id,)
        parts = [*open_parts, part]
        if len({p.sequence for p in parts}) < part.total:
            return ()
        message = _new_message(iccid, None, parts, status="unmatched")
        session.add(message)
        session.flush()
        return (message.id,)

    @staticmethod
    def _released_set_missing(session: Session, part: SmsPart, sent_at: datetime) -> Message | None:
        """A partial message of the same set that lacks this part and was sent around the same time.

        The SMSC stamps each part when it got it from the phone, so the parts of one message carry
        close timestamps however late one of them reaches us; a reused reference is far apart.
        """
        candidates = session.scalars(
            select(Message).where(Message.concat_key == part.concat_key, Message.status == "partial",
                                  Message.received_at > utcnow() - LATE_PART_WINDOW)
            .order_by(Message.id.desc())
        )
        for message in candidates:
            close = message.smsc_time is not None and abs(message.smsc_time - sent_at) <= SAME_SET_SPREAD
            if close and part.sequence not in {p.sequence for p in message.parts}:
                return message
        return None

    def release_stale_sets(self, now: datetime | None = None) -> list[int]:
        """Release every set whose first part is older than the partial timeout as a partial message."""
        cutoff = (now or utcnow()) - self.partial_timeout
        created: list[int] = []
        with self._sessions.begin() as session:
            stale_keys = session.scalars(
                select(SmsPart.concat_key)
                .where(SmsPart.message_id.is_(None), SmsPart.concat_key.is_not(None))
                .group_by(SmsPart.concat_key)
                .having(func.min(SmsPart.received_at) < cutoff)
            ).all()
            for key in stale_keys:
                parts = list(session.scalars(
                    select(SmsPart).where(SmsPart.concat_key == key, SmsPart.message_id.is_(None))))
                message = _new_message(parts[0].iccid, None, parts, status="partial")
                session.add(message)
                session.flush()
                created.append(message.id)
                log.warning("multipart set %s incomplete after %s: released as partial message %d (%d of %d)",
                            key, self.partial_timeout, message.id, len(parts), parts[0].total)
        return created


def _new_message(iccid: str, sms: SmsDeliver | None, parts: list[SmsPart], status: str) -> Message:
    """A message from its parts; a set takes its sender and SMSC time from its lowest-numbered part."""
    if sms is None:
        decoded = decode_mt_pdu(bytes.fromhex(min(parts, key=lambda p: p.sequence).pdu_hex))
        assert isinstance(decoded, SmsDeliver)
        sms = decoded
    message = Message(iccid=iccid, sender=sms.sender, kind="sms", alphabet=sms.alphabet,
                      message_class=sms.message_class, concat_key=parts[0].concat_key)
    offset = sms.timestamp.utcoffset()
    message.smsc_time = sms.timestamp.astimezone(UTC)
    message.smsc_tz_minutes = int(offset.total_seconds() // 60) if offset is not None else None
    message.parts = list(parts)
    message.status = status
    _refresh_set_message(message)
    return message


def _refresh_set_message(message: Message) -> None:
    total = max(p.total for p in message.parts)
    received = len({p.sequence for p in message.parts})
    message.parts_total = total
    message.parts_received = received
    message.text = assemble_text(message.parts, total)
    if message.status == "partial" and received >= total:
        message.status = "unmatched"
