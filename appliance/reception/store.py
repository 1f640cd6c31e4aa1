"""Turning raw PDUs read off a SIM into stored parts and messages, durably and exactly once.

The modem session deletes a PDU from the SIM only after ``MessageStore.store`` returned for it, so a
crash anywhere leaves the PDU either on the SIM or in the database (or both: then the dedupe key makes
the re-read a no-op). Multipart parts are stored as they come and assembled when the set is complete;
an incomplete set is released as a partial message later and completed if the missing part turns up.

A batch costs a fixed handful of statements whatever its size (one look-up of known keys, bulk
inserts, one look-up of open sets): per-row ORM round trips would cap reception at a few hundred
messages a second on a Raspberry Pi. The statistics summary (``appliance.db.statistics_summary``)
counts each batch's messages in its transaction, a few statements more; later changes to a stored
message (a late part completing it, which may route it elsewhere) are ORM changes it sees by itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import bindparam, func, insert, select, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.engine import ActionEngine
from appliance.codecs.sms_pdu import PduError, SmsDeliver, SmsStatusReport, decode_mt_pdu
from appliance.db.models import Message, SmsPart, StatusReport, utcnow
from appliance.db.statistics_summary import count_new_messages
from appliance.delivery.outbox import enqueue_for_messages
from appliance.mms.notifications import WAP_PUSH_PORTS, accept_push
from appliance.modem.outbound import apply_status_reports
from appliance.reception.routing import RoutingTable, routed_fields
from appliance.rules import KeywordRouter

log = logging.getLogger(__name__)

# A late part may still complete a partial message released this long ago.
LATE_PART_WINDOW = timedelta(days=7)
# The parts of one message are stamped by the SMSC within this spread of each other.
SAME_SET_SPREAD = timedelta(hours=1)
_IN_CHUNK = 500


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


def assemble_text(parts: Iterable[_Part], total: int) -> str | None:
    """Join part texts in sequence order; a missing part is marked where it belongs, never skipped."""
    by_sequence = {part.sequence: part for part in parts}
    if all(part.text is None for part in by_sequence.values()):
        return None
    pieces = []
    for sequence in range(1, total + 1):
        part = by_sequence.get(sequence)
        pieces.append(f"[part {sequence} of {total} missing]" if part is None else part.text or "")
    return "".join(pieces)


@dataclass
class _Part:
    """A part of a concatenated set as the assembly sees it: stored now, or loaded from an open set."""

    id: int
    iccid: str
    pdu_hex: str
    sequence: int
    total: int
    text: str | None
    concat_key: str
    decoded: SmsDeliver | None = None
    new: bool = False

    def sms(self) -> SmsDeliver:
        if self.decoded is None:
            decoded = decode_mt_pdu(bytes.fromhex(self.pdu_hex))
            assert isinstance(decoded, SmsDeliver)
            self.decoded = decoded
        return self.decoded


@dataclass
class _Batch:
    session: Session
    now: datetime
    results: list[StoreResult | None]
    message_rows: list[tuple[int, dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    report_rows: list[dict[str, Any]] = field(default_factory=list)
    set_parts: list[tuple[int, dict[str, Any], SmsDeliver]] = field(default_factory=list)
    # Set messages waiting for one bulk insert: (row, member parts).
    set_messages: list[tuple[dict[str, Any], list[_Part]]] = field(default_factory=list)
    # WAP pushes (MMS notifications) complete in this batch: a single PDU's part row, or a set's parts.
    single_pushes: list[tuple[int, dict[str, Any], SmsDeliver]] = field(default_factory=list)
    set_pushes: list[list[_Part]] = field(default_factory=list)
    routers: dict[str, KeywordRouter | None] = field(default_factory=dict)

    def route(self, table: RoutingTable, iccid: str, text: str | None, complete_status: str) -> dict[str, Any]:
        """Routing columns for a message of this batch (one router look-up per SIM and batch)."""
        if iccid not in self.routers:
            self.routers[iccid] = table.router_for(self.session, iccid)
        router = self.routers[iccid]
        return routed_fields(router.route(text or "") if router is not None else None, complete_status)


class MessageStore:
    """Writes parts and messages. Callers batch PDUs; each ``store`` call is one durable transaction."""

    def __init__(self, session_factory: sessionmaker[Session], partial_timeout: timedelta) -> None:
        self._sessions = session_factory
        self.partial_timeout = partial_timeout
        self.routing = RoutingTable()
        self.actions = ActionEngine()

    def store(self, pdus: Sequence[ReceivedPdu]) -> list[StoreResult]:
        with self._sessions.begin() as session:
            batch = _Batch(session, utcnow(), [None] * len(pdus))
            keys = [dedupe_key(item.iccid, item.pdu) for item in pdus]
            known = _known_keys(session, set(keys))
            for position, (item, key) in enumerate(zip(pdus, keys, strict=True)):
                if key in known:
                    log.info("SIM %s: PDU at %s/%s already stored, skipped", item.iccid, item.storage, item.index)
                    batch.results[position] = StoreResult(Outcome.DUPLICATE, ())
                    continue
                known.add(key)
                self._classify(batch, position, item, key)
            self._write_messages(batch)
            if batch.report_rows:
                reports = [StatusReport(**row) for row in batch.report_rows]
                session.add_all(reports)
                session.flush()
                apply_status_reports(session, reports)
            if batch.set_parts:
                self._write_set_parts(batch)
            if batch.single_pushes:
                self._write_single_pushes(batch)
            # Keyword actions, autoresponders and the forwards' outbox rows commit with their messages
            # (appliance.campaigns.engine, appliance.delivery.outbox).
            stored_ids = [i for result in batch.results if result for i in result.message_ids]
            self.actions.run(session, stored_ids)
            enqueue_for_messages(session, stored_ids)
        return [result or StoreResult(Outcome.STORED, ()) for result in batch.results]

    def _classify(self, batch: _Batch, position: int, item: ReceivedPdu, key: str) -> None:
        pdu_hex = item.pdu.hex().upper()
        part = {"dedupe_key": key, "iccid": item.iccid, "pdu_hex": pdu_hex, "received_at": batch.now,
                "storage": item.storage, "storage_index": item.index, "sender": None, "concat_key": None,
                "sequence": 1, "total": 1, "text": None, "error": None}
        try:
            decoded = decode_mt_pdu(item.pdu)
        except PduError as exc:
            log.warning("SIM %s: undecodable PDU at %s/%s kept raw: %s (%s)", item.iccid, item.storage,
                        item.index, exc, pdu_hex[:200])
            part["error"] = str(exc)
            message = _message_row(item.iccid, None, batch.now, status="undecodable")
            message["error"] = str(exc)
            batch.message_rows.append((position, message, [part]))
            batch.results[position] = StoreResult(Outcome.UNDECODABLE, ())
            return
        if isinstance(decoded, SmsStatusReport):
            batch.report_rows.append({"dedupe_key": key, "iccid": item.iccid, "pdu_hex": pdu_hex,
                                      "received_at": batch.now, "message_reference": decoded.message_reference,
                                      "recipient": decoded.recipient, "status": decoded.status})
            batch.results[position] = StoreResult(Outcome.STATUS_REPORT, ())
            return
        part.update(sender=decoded.sender, text=decoded.text, concat_key=concat_key(item.iccid, decoded))
        if part["concat_key"] is None and _is_wap_push(decoded):
            batch.single_pushes.append((position, part, decoded))
            return
        if part["concat_key"] is None:
            message = _message_row(item.iccid, decoded, batch.now, status="unmatched")
            message["text"] = decoded.text
            message.update(batch.route(self.routing, item.iccid, decoded.text, "unmatched"))
            batch.message_rows.append((position, message, [part]))
            return
        assert decoded.concat is not None
        part.update(sequence=decoded.concat.sequence, total=decoded.concat.total)
        batch.set_parts.append((position, part, decoded))

    def _write_messages(self, batch: _Batch) -> None:
        if not batch.message_rows:
            return
        rows = [row for _, row, _ in batch.message_rows]
        ids = _insert_returning_ids(batch.session, Message, rows)
        count_new_messages(batch.session, rows)
        part_rows = []
        for (position, _, parts), message_id in zip(batch.message_rows, ids, strict=True):
            part_rows.extend({**part, "message_id": message_id} for part in parts)
            previous = batch.results[position]
            outcome = previous.outcome if previous else Outcome.STORED
            batch.results[position] = StoreResult(outcome, (message_id,))
        batch.session.connection().execute(insert(SmsPart.__table__), part_rows)

    def _write_set_parts(self, batch: _Batch) -> None:
        session = batch.session
        ids = _insert_returning_ids(session, SmsPart, [{**row, "message_id": None} for _, row, _ in batch.set_parts])
        new_by_id = {part_id: (position, decoded)
                     for (position, _, decoded), part_id in zip(batch.set_parts, ids, strict=True)}
        keys = sorted({row["concat_key"] for _, row, _ in batch.set_parts})
        open_sets: dict[str, list[_Part]] = defaultdict(list)
        for chunk in _chunks(keys):
            rows = session.connection().execute(_OPEN_SET_PARTS, {"keys": chunk})
            for row in rows:
                position_decoded = new_by_id.get(row.id)
                open_sets[row.concat_key].append(_Part(
                    *row, decoded=position_decoded[1] if position_decoded else None, new=position_decoded is not None))
        late: dict[str, list[_Part]] = {}
        for key in keys:
            if waiting := self._assemble(batch, open_sets[key]):
                late[key] = waiting
        if late:
            released = self._released_partials(session, list(late))
            for key, waiting in late.items():
                for part in waiting:
                    joined = self._join_released(batch, self.routing, part, released.get(key, []))
                    if joined is not None:
                        batch.results[new_by_id[part.id][0]] = StoreResult(Outcome.STORED, (joined,))
        done: list[tuple[int | None, list[_Part]]] = [*self._flush_set_messages(batch), *self._flush_set_pushes(batch)]
        for message_id, members in done:
            for member in members:
                if member.new:
                    batch.results[new_by_id[member.id][0]] = StoreResult(
                        Outcome.STORED, (message_id,) if message_id is not None else ())

    @staticmethod
    def _write_single_pushes(batch: _Batch) -> None:
        ids = _insert_returning_ids(batch.session, SmsPart, [{**row, "message_id": None}
                                                           for _, row, _ in batch.single_pushes])
        for (position, row, sms), part_id in zip(batch.single_pushes, ids, strict=True):
            message, new = accept_push(batch.session, row["iccid"], sms.data, sms.sender, batch.now)
            batch.session.execute(update(SmsPart).where(SmsPart.id == part_id).values(message_id=message.id))
            # A repeated notification is kept with its MMS but neither acts nor is forwarded again.
            batch.results[position] = StoreResult(Outcome.STORED, (message.id,) if new else ())

    @staticmethod
    def _flush_set_pushes(batch: _Batch) -> list[tuple[int | None, list[_Part]]]:
        """The pushes' messages and parts; None for a repeated notification (it created nothing)."""
        done: list[tuple[int | None, list[_Part]]] = []
        for parts in batch.set_pushes:
            ordered = sorted(parts, key=lambda p: p.sequence)
            data = b"".join(p.sms().data for p in ordered)
            message, new = accept_push(batch.session, ordered[0].iccid, data, ordered[0].sms().sender, batch.now)
            batch.session.execute(update(SmsPart).where(SmsPart.id.in_([p.id for p in parts]))
                                  .values(message_id=message.id))
            done.append((message.id if new else None, parts))
        batch.set_pushes.clear()
        return done

    def _assemble(self, batch: _Batch, parts: list[_Part]) -> list[_Part]:
        """Split an open set where a sequence number repeats, release older sets, complete the last.

        Returns the newest set when it is still incomplete and holds only parts of this batch: those
        may be late parts of a message already released as partial. Only those: a part of an older
        set is in the partial message just queued (fuzz/reception.py found one joined to a second).
        """
        segments: list[list[_Part]] = [[]]
        for part in parts:
            if any(p.sequence == part.sequence for p in segments[-1]):
                segments.append([])
            segments[-1].append(part)
        for older in segments[:-1]:
            # The 8-bit reference wrapped around (TS 23.040 §9.2.3.24.1 allows reuse): an older
            # message whose other parts never came. Release it rather than mix the two.
            log.warning("concatenation reference reused for %s: older set released as partial",
                        older[0].concat_key)
            self._queue_set_message(batch, older, status="partial")
        current = segments[-1]
        if len({p.sequence for p in current}) >= current[0].total:
            if _is_wap_push(current[0].sms()):
                batch.set_pushes.append(current)
            else:
                self._queue_set_message(batch, current, status="unmatched")
            return []
        return current if all(p.new for p in current) else []

    def _queue_set_message(self, batch: _Batch, parts: list[_Part], status: str) -> None:
        first = min(parts, key=lambda p: p.sequence)
        total = first.total
        row = _message_row(first.iccid, first.sms(), batch.now, status=status)
        row.update(concat_key=first.concat_key, parts_total=total, parts_received=len({p.sequence for p in parts}),
                   text=assemble_text(parts, total))
        row.update(batch.route(self.routing, first.iccid, row["text"], status))
        batch.set_messages.append((row, parts))

    @staticmethod
    def _flush_set_messages(batch: _Batch) -> list[tuple[int, list[_Part]]]:
        if not batch.set_messages:
            return []
        rows = [row for row, _ in batch.set_messages]
        ids = _insert_returning_ids(batch.session, Message, rows)
        count_new_messages(batch.session, rows)
        links = [{"part_id": part.id, "message_id": message_id}
                 for (_, parts), message_id in zip(batch.set_messages, ids, strict=True) for part in parts]
        batch.session.connection().execute(
            update(SmsPart.__table__).where(SmsPart.__table__.c.id == bindparam("part_id"))
            .values(message_id=bindparam("message_id")), links)
        created = [(message_id, parts) for (_, parts), message_id in zip(batch.set_messages, ids, strict=True)]
        batch.set_messages.clear()
        return created

    @staticmethod
    def _released_partials(session: Session, keys: list[str]) -> dict[str, list[tuple[Message, list[_Part]]]]:
        found: dict[str, list[tuple[Message, list[_Part]]]] = defaultdict(list)
        for chunk in _chunks(keys):
            messages = session.scalars(
                select(Message).where(Message.concat_key.in_(chunk), Message.status == "partial",
                                      Message.received_at > utcnow() - LATE_PART_WINDOW).order_by(Message.id.desc()))
            for message in messages:
                parts = [_Part(p.id, p.iccid, p.pdu_hex, p.sequence, p.total, p.text, p.concat_key or "")
                         for p in message.parts]
                found[message.concat_key or ""].append((message, parts))
        return found

    @staticmethod
    def _join_released(batch: _Batch, table: RoutingTable, part: _Part,
                       released: list[tuple[Message, list[_Part]]]) -> int | None:
        """Give a late part to the partial message of its set, if that one lacks it.

        The SMSC stamps each part when it got it from the phone, so the parts of one message carry
        close timestamps however late one of them reaches us; a reused reference is far apart.
        """
        sent_at = part.sms().timestamp
        for message, members in released:
            close = message.smsc_time is not None and abs(message.smsc_time - sent_at) <= SAME_SET_SPREAD
            if close and part.sequence not in {m.sequence for m in members}:
                members.append(part)
                batch.session.execute(update(SmsPart).where(SmsPart.id == part.id).values(message_id=message.id))
                received = len({m.sequence for m in members})
                message.parts_received = received
                message.text = assemble_text(members, message.parts_total)
                complete = "unmatched" if received >= message.parts_total else "partial"
                for name, value in batch.route(table, message.iccid, message.text, complete).items():
                    setattr(message, name, value)
                log.info("late part %d/%d joined partial message %d", part.sequence, part.total, message.id)
                return message.id
        return None

    def release_stale_sets(self, now: datetime | None = None) -> list[int]:
        """Release every set whose first part is older than the partial timeout as a partial message."""
        moment = now or utcnow()
        cutoff = moment - self.partial_timeout
        with self._sessions.begin() as session:
            stale_keys = session.scalars(
                select(SmsPart.concat_key)
                .where(SmsPart.message_id.is_(None), SmsPart.concat_key.is_not(None))
                .group_by(SmsPart.concat_key)
                .having(func.min(SmsPart.received_at) < cutoff)
            ).all()
            batch = _Batch(session, moment, [])
            for key in stale_keys:
                parts = [_Part(p.id, p.iccid, p.pdu_hex, p.sequence, p.total, p.text, key)
                         for p in session.scalars(
                             select(SmsPart).where(SmsPart.concat_key == key, SmsPart.message_id.is_(None)))]
                self._queue_set_message(batch, parts, status="partial")
                log.warning("multipart set %s incomplete after %s: released as partial (%d of %d parts)",
                            key, self.partial_timeout, len(parts), parts[0].total)
            created = [message_id for message_id, _ in self._flush_set_messages(batch)]
            enqueue_for_messages(session, created)  # a partial message is forwarded as what arrived of it
        return created


def _is_wap_push(sms: SmsDeliver) -> bool:
    return sms.ports is not None and sms.ports.destination in WAP_PUSH_PORTS


def _message_row(iccid: str, sms: SmsDeliver | None, now: datetime, status: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "iccid": iccid, "received_at": now, "kind": "sms", "status": status, "sender": None, "text": None,
        "subject": None, "smsc_time": None, "smsc_tz_minutes": None, "alphabet": None, "message_class": None,
        "error": None, "parts_total": 1, "parts_received": 1, "concat_key": None,
    }
    if sms is not None:
        offset = sms.timestamp.utcoffset()
        row.update(sender=sms.sender, alphabet=sms.alphabet, message_class=sms.message_class,
                   smsc_time=sms.timestamp.astimezone(UTC),
                   smsc_tz_minutes=int(offset.total_seconds() // 60) if offset is not None else None)
    return row


def _insert_returning_ids(session: Session, model: type[Message] | type[SmsPart],
                          rows: list[dict[str, Any]]) -> list[int]:
    # Core, not the ORM's bulk path: the latter costs about a millisecond of Python per statement.
    # So the statistics summary does not see these rows by itself: messages are counted by the caller.
    table = model.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.connection().scalars(statement, rows))


# Built once with expanding parameters: constructing IN-clauses per batch is a visible share of the cost.
_KNOWN_KEYS = union_all(
    select(SmsPart.__table__.c.dedupe_key).where(SmsPart.__table__.c.dedupe_key.in_(bindparam("keys", expanding=True))),
    select(StatusReport.__table__.c.dedupe_key)
    .where(StatusReport.__table__.c.dedupe_key.in_(bindparam("keys", expanding=True))),
)
_OPEN_SET_PARTS = (
    select(SmsPart.id, SmsPart.iccid, SmsPart.pdu_hex, SmsPart.sequence, SmsPart.total, SmsPart.text,
           SmsPart.concat_key)
    .where(SmsPart.concat_key.in_(bindparam("keys", expanding=True)), SmsPart.message_id.is_(None))
    .order_by(SmsPart.id)
)


def _known_keys(session: Session, keys: set[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(sorted(keys)):
        known.update(session.connection().scalars(_KNOWN_KEYS, {"keys": chunk}))
    return known


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start:start + _IN_CHUNK]
