"""Sending one text to every member of a contact group, now or at a scheduled time.

A ``GroupSend`` row is written by the panel or the API (``scheduled_at`` now for "send now"); the
scheduler calls ``GroupSender.run_due`` every few seconds. A due send is expanded in one
transaction: one ``OutboundSms`` per member on the SIM of the send's access number and one
``GroupSendRecipient`` per member saying what became of them, then the send is ``done``. A crash
before the commit leaves it ``scheduled`` and it is expanded again whole; after the commit every
text is in the outbound queue, which sends each at least once.

Members who opted out of the account (``Contact.opted_out_at``) are recorded as
``opted_out`` and get nothing; a number the queue refuses is recorded as ``invalid_number``.
The text may name ``{name}`` (the contact's name, empty if unknown); other braces stay as typed.

Progress (``progress``) counts recipients by where their text stands: ``opted_out``,
``invalid_number``, and for queued ones the outbound status (``queued``, ``sending``, ``sent``,
``delivered``, ``failed``, ``cancelled``); :class:`Progress` sums that up for people.

Scheduling (``schedule``) checks what the panel and the API both need checked: the number is one the
group's account may send from (a shared number, or one of its own dedicated numbers), the text is
not blank and fits a concatenated SMS (:data:`appliance.codecs.sms_pdu.MAX_PARTS` parts), and the
time is not in the past (a minute's grace: a form's clock has minutes only). ``GroupSendRefused``
names the field at fault in the API's words (``group``, ``access_number``, ``text``,
``scheduled_at``).

Cancelling (``cancel``): a scheduled send never goes out. A send already expanded withdraws the texts
no modem has tried yet (:func:`appliance.modem.outbound.withdraw`); those under way finish. Either
way the send ends ``cancelled``; one with nothing left to withdraw cannot be cancelled.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.codecs.sms_pdu import MAX_PARTS, measure_text
from appliance.db.models import (
    AccessNumber,
    Contact,
    Group,
    GroupMember,
    GroupSend,
    GroupSendRecipient,
    OutboundSms,
    utcnow,
)
from appliance.modem.outbound import OutboundError, enqueue_sms, withdraw
from appliance.representation import iso_utc
from appliance.rules import AccessNumberKind
from appliance.rules.actions import render

__all__ = ["Audience", "GroupSendRefused", "GroupSender", "Progress", "audiences", "cancel", "cancellable", "check", "group_sends",
           "may_send_from", "progress", "progress_of", "schedule"]

log = logging.getLogger(__name__)

# A time picked in a form has minutes only: "now" is up to a minute ago by the time it is posted.
PAST_GRACE = timedelta(minutes=1)


class GroupSendRefused(Exception):
    """A send that cannot be scheduled or cancelled. ``field`` is the input at fault (None: the send
    itself); ``code`` is ``invalid_field`` or ``not_cancellable``."""

    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.code = code
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Audience:
    """A group as it stands: who a send would reach now, and the opted-out members it would skip."""

    recipients: int
    opted_out: int


@dataclass(frozen=True)
class Progress:
    """Where a send's texts stand, for people: ``recipients`` get a text (every member but the
    opted-out ones; before the send, as the group stands now); each is ``pending`` (queued or being
    sent), ``sent`` (left the box; ``delivered`` ones, confirmed by a status report, included),
    ``failed`` (refused by the network, or no phone number) or ``cancelled``."""

    recipients: int
    pending: int
    sent: int
    delivered: int
    failed: int
    cancelled: int
    opted_out: int

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Progress:
        """From ``progress``'s counts by status."""
        sent, delivered = counts.get("sent", 0), counts.get("delivered", 0)
        pending = counts.get("queued", 0) + counts.get("sending", 0)
        failed = counts.get("failed", 0) + counts.get("invalid_number", 0)
        cancelled = counts.get("cancelled", 0)
        return cls(pending + sent + delivered + failed + cancelled, pending, sent + delivered, delivered, failed,
                   cancelled, counts.get("opted_out", 0))

    @classmethod
    def expected(cls, audience: Audience) -> Progress:
        """A send not expanded yet: everyone it would reach is pending."""
        return cls(audience.recipients, audience.recipients, 0, 0, 0, 0, audience.opted_out)


def may_send_from(number: AccessNumber, account_id: int) -> bool:
    """A group's account sends from shared numbers and from its own dedicated ones."""
    return number.kind != AccessNumberKind.DEDICATED or number.account_id == account_id


def schedule(session: Session, group: Group, number: AccessNumber, text: str, scheduled_at: datetime | None = None,
             now: datetime | None = None) -> GroupSend:
    """A send of ``text`` to ``group`` from ``number`` at ``scheduled_at`` (None: now), added and
    flushed; ``GroupSendRefused`` when the module docstring's checks fail."""
    moment = now or utcnow()
    text = text.strip()
    check(group, number, text, scheduled_at, moment)
    send = GroupSend(account_id=group.account_id, group_id=group.id, access_number_id=number.id, text=text,
                     scheduled_at=scheduled_at or moment, created_at=moment)
    session.add(send)
    session.flush()
    return send


def check(group: Group, number: AccessNumber, text: str, scheduled_at: datetime | None,
          now: datetime | None = None) -> None:
    """What ``schedule`` checks, for a page that shows a send before it is confirmed."""
    moment = now or utcnow()
    text = text.strip()
    if not may_send_from(number, group.account_id):
        raise GroupSendRefused("invalid_field", "access_number",
                               f"{number.number} is dedicated to another account; a group sends from a shared "
                               "number or from one of its own account's numbers")
    if not text:
        raise GroupSendRefused("invalid_field", "text", "must not be empty")
    size = measure_text(text)
    if size.parts > MAX_PARTS:
        raise GroupSendRefused("invalid_field", "text", f"needs {size.parts} SMS; one text may take at most "
                                                        f"{MAX_PARTS}")
    if scheduled_at is not None and scheduled_at < moment - PAST_GRACE:
        raise GroupSendRefused("invalid_field", "scheduled_at", f"{iso_utc(scheduled_at)} is in the past")


def cancel(session: Session, send: GroupSend, now: datetime | None = None) -> int:
    """Cancel ``send`` (module docstring); returns how many queued texts were withdrawn. The row is
    read again under a lock, so a scheduler expanding it at the same moment goes first or not at all."""
    moment = now or utcnow()
    session.refresh(send, with_for_update=True)
    if send.status == "scheduled":
        send.status, send.finished_at = "cancelled", moment
        return 0
    withdrawn = 0
    if send.status == "done":
        withdrawn = withdraw(session, select(GroupSendRecipient.outbound_id)
                             .where(GroupSendRecipient.group_send_id == send.id,
                                    GroupSendRecipient.outbound_id.is_not(None)), moment)
    if not withdrawn:
        raise GroupSendRefused("not_cancellable", None, f"group send {send.id} is {send.status} and no text of it "
                                                        "is left waiting: there is nothing to cancel")
    send.status, send.finished_at = "cancelled", moment
    log.info("group send %d cancelled: %d queued texts withdrawn", send.id, withdrawn)
    return withdrawn


def cancellable(send: GroupSend, progress: Progress) -> bool:
    """Whether ``cancel`` may find something to stop (some pending texts may be under way already)."""
    return send.status == "scheduled" or (send.status == "done" and progress.pending > 0)


def group_sends(session: Session, *, for_account: int | None, limit: int,
                before_id: int | None = None) -> tuple[list[GroupSend], bool]:
    """The sends ``for_account`` sees (None: every account's), newest first, older than ``before_id``;
    True when more follow ``limit``."""
    query = select(GroupSend).order_by(GroupSend.id.desc()).limit(limit + 1)
    if for_account is not None:
        query = query.where(GroupSend.account_id == for_account)
    if before_id is not None:
        query = query.where(GroupSend.id < before_id)
    sends = list(session.scalars(query))
    return sends[:limit], len(sends) > limit


def audiences(session: Session, group_ids: Iterable[int]) -> dict[int, Audience]:
    """Each group's audience (:class:`Audience`), counted in one query."""
    ids = set(group_ids)
    counted = {group: Audience(int(reachable or 0), int(opted_out or 0)) for group, reachable, opted_out in session.execute(
        select(GroupMember.group_id, func.count(Contact.id) - func.count(Contact.opted_out_at),
               func.count(Contact.opted_out_at))
        .join(Contact, Contact.id == GroupMember.contact_id)
        .where(GroupMember.group_id.in_(ids)).group_by(GroupMember.group_id))}
    return {group: counted.get(group, Audience(0, 0)) for group in ids}


def progress_of(session: Session, sends: Iterable[GroupSend]) -> dict[int, Progress]:
    """The :class:`Progress` of each send: from its recipients once expanded, from its group's
    audience while scheduled (nothing for one cancelled or failed before it went out)."""
    sends = list(sends)
    waiting = [s for s in sends if s.status == "scheduled"]
    expected = audiences(session, {s.group_id for s in waiting})
    counts = _counts(session, [s.id for s in sends if s.status != "scheduled"])
    return {s.id: Progress.expected(expected[s.group_id]) if s.status == "scheduled" else Progress.of(counts[s.id])
            for s in sends}


def _counts(session: Session, send_ids: list[int]) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = {send_id: Counter() for send_id in send_ids}
    for send_id, recipient, outbound in session.execute(
            select(GroupSendRecipient.group_send_id, GroupSendRecipient.status, OutboundSms.status)
            .outerjoin(OutboundSms, OutboundSms.id == GroupSendRecipient.outbound_id)
            .where(GroupSendRecipient.group_send_id.in_(send_ids))):
        counts[send_id][outbound if recipient == "queued" and outbound else recipient] += 1
    return counts


class GroupSender:
    """``wake_sim(iccid)`` tells the modem pool a SIM has texts queued, so they leave at once."""

    def __init__(self, session_factory: sessionmaker[Session],
                 wake_sim: Callable[[str], None] | None = None) -> None:
        self._sessions = session_factory
        self._wake_sim = wake_sim

    def run_due(self, now: datetime | None = None) -> list[int]:
        """Expand every send due by ``now``, each in its own transaction; returns their ids."""
        moment = now or utcnow()
        with self._sessions() as session:
            due = list(session.scalars(select(GroupSend.id).where(GroupSend.status == "scheduled",
                                                                  GroupSend.scheduled_at <= moment)
                                       .order_by(GroupSend.scheduled_at, GroupSend.id)))
        done = []
        for send_id in due:
            with self._sessions.begin() as session:
                # Locked, and checked again: another appliance on the same PostgreSQL may have taken it.
                send = session.scalar(select(GroupSend).where(GroupSend.id == send_id, GroupSend.status == "scheduled")
                                      .with_for_update(skip_locked=True))
                if send is None:
                    continue
                iccid = _expand(session, send, moment)
            done.append(send_id)
            if iccid is not None and self._wake_sim is not None:
                self._wake_sim(iccid)
        return done


def _expand(session: Session, send: GroupSend, now: datetime) -> str | None:
    """Queue the send's texts; returns the SIM they go out from (None when nothing was queued)."""
    group = session.get(Group, send.group_id)
    number = session.get(AccessNumber, send.access_number_id)
    if group is None or group.account_id != send.account_id or number is None or not may_send_from(number,
                                                                                                  send.account_id):
        log.error("group send %d: group %s is not a group of account %d, or access number %s is gone or now "
                  "dedicated to another account; nothing sent", send.id, send.group_id, send.account_id,
                  send.access_number_id)
        send.status, send.finished_at = "failed", now
        return None
    send.status = "sending"
    members = session.execute(
        select(Contact).join(GroupMember, GroupMember.contact_id == Contact.id)
        .where(GroupMember.group_id == group.id).order_by(GroupMember.id)).scalars().all()
    counts: Counter[str] = Counter()
    for contact in members:
        recipient = GroupSendRecipient(group_send_id=send.id, contact_id=contact.id, msisdn=contact.msisdn)
        if contact.opted_out_at is not None:
            recipient.status = "opted_out"
        else:
            try:
                outbound = enqueue_sms(session, number.iccid, contact.msisdn, render(send.text, {"name": contact.name}),
                                       account_id=send.account_id)
            except OutboundError as exc:
                log.warning("group send %d: contact %d (%s) not sent: %s", send.id, contact.id, contact.msisdn, exc)
                recipient.status = "invalid_number"
            else:
                recipient.status, recipient.outbound_id = "queued", outbound.id
        counts[recipient.status] += 1
        session.add(recipient)
    send.status, send.finished_at = "done", now
    log.info("group send %d to group %d (%s) from %s: %s", send.id, group.id, group.name, number.number,
             ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no members")
    return number.iccid if counts["queued"] else None


def progress(session: Session, group_send_id: int) -> dict[str, int]:
    """Recipients of a group send by status (module docstring), e.g. ``{"delivered": 40, "sent": 2}``."""
    return dict(_counts(session, [group_send_id])[group_send_id])
