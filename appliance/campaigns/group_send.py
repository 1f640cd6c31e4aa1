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
``delivered``, ``failed``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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
from appliance.modem.outbound import OutboundError, enqueue_sms
from appliance.rules.actions import render

__all__ = ["GroupSender", "progress"]

log = logging.getLogger(__name__)


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
    if group is None or group.account_id != send.account_id or number is None:
        log.error("group send %d: group %s is not a group of account %d, or access number %s is gone; "
                  "nothing sent", send.id, send.group_id, send.account_id, send.access_number_id)
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
                outbound = enqueue_sms(session, number.iccid, contact.msisdn, render(send.text, {"name": contact.name}))
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
    rows = session.execute(
        select(GroupSendRecipient.status, OutboundSms.status)
        .outerjoin(OutboundSms, OutboundSms.id == GroupSendRecipient.outbound_id)
        .where(GroupSendRecipient.group_send_id == group_send_id))
    counts: Counter[str] = Counter(outbound if recipient == "queued" and outbound else recipient
                                   for recipient, outbound in rows)
    return dict(counts)
