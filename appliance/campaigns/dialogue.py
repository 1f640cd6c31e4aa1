"""Dialogue: one conversation per (access number, sender), and replies through that number's SIM.

A conversation is everything one person and one access number said to each other: the messages the
person sent to the number's SIM (``Message`` by ICCID and sender) and the texts that SIM sent to the
person (``OutboundSms`` by ICCID and recipient: manual replies, automatic answers, group sends), in
time order: received_at and created_at, an inbound message before an outbound text of the same
instant. The person's number is compared exactly as the network gave it (``+48600100200``), which is
also the address a reply goes to. Messages that came in on an earlier SIM of the number (before its
ICCID changed) stay with that SIM.

A conversation begins with the first message the person sends: texts to numbers that never wrote
(a group send to an imported list) make no conversation of their own, and a reply goes only to
someone who wrote (``POST /api/v1/sms`` starts a text to anyone).

Replies (``reply``) are queued through the number's SIM with ``enqueue_sms`` in the caller's
transaction. ``reply_refusal`` says why one cannot go out:

- ``not_found``: the person never wrote to this number;
- ``not_sendable``: the sender cannot receive SMS (alphanumeric, such as "ALLEGRO");
- ``no_sim``: no modem has ever reported the number's SIM, so the text would wait for ever (a SIM
  seen before but unplugged now is fine: the text waits in its queue until the SIM is back);
- ``opted_out``: the person opted out of an account the number speaks for (its owner on a dedicated
  number; on a shared one, the accounts the person dealt with there, as for STOP) and has not written
  since. Someone who writes again after STOP may get a human answer, as commercial platforms allow a
  reply to an inbound message; they stay opted out of group sends and automatic answers.

A text is refused (``invalid_text``) when it is empty or blank, or when ``enqueue_sms`` cannot encode
it (more than 255 concatenated parts: 39,015 GSM 7-bit characters, 17,085 UCS-2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, literal_column, select, tuple_, union_all
from sqlalchemy.orm import Session, selectinload

from appliance.campaigns.engine import accounts_dealt_with
from appliance.db.models import AccessNumber, Contact, Message, Modem, OutboundSms
from appliance.modem.outbound import OutboundError, enqueue_sms, recipient_number
from appliance.representation import iso_utc

__all__ = ["ConversationSummary", "Entry", "ReplyRefused", "conversation", "conversations", "reply",
           "reply_refusal"]

Direction = Literal["in", "out"]


class ReplyRefused(Exception):
    """Why a reply cannot go out; ``code`` is one of the module docstring's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One message of a conversation: ``item`` is a ``Message`` (in) or an ``OutboundSms`` (out)."""

    direction: Direction
    at: datetime
    item: Message | OutboundSms

    @property
    def cursor(self) -> str:
        """Names this entry for ``conversation(before=…)``: ``in-17``, ``out-5``."""
        return f"{self.direction}-{self.item.id}"


@dataclass(frozen=True)
class ConversationSummary:
    sender: str
    received: int
    sent: int
    last: Entry


def conversations(session: Session, number: AccessNumber, *, limit: int,
                  offset: int = 0) -> tuple[list[ConversationSummary], bool]:
    """The number's conversations, most recent activity first; True when more follow ``limit``."""
    inbound = (select(Message.sender.label("peer"), func.count().label("received"), literal_column("0").label("sent"),
                      func.max(Message.received_at).label("last_at"))
               .where(Message.iccid == number.iccid, Message.sender.is_not(None)).group_by(Message.sender))
    outbound = (select(OutboundSms.recipient, literal_column("0"), func.count(), func.max(OutboundSms.created_at))
                .where(OutboundSms.iccid == number.iccid).group_by(OutboundSms.recipient))
    both = union_all(inbound, outbound).subquery()
    received, last_at = func.sum(both.c.received), func.max(both.c.last_at)
    rows = session.execute(
        select(both.c.peer, received, func.sum(both.c.sent))
        .group_by(both.c.peer).having(received > 0)
        .order_by(last_at.desc(), both.c.peer).limit(limit + 1).offset(offset)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    peers = [row[0] for row in rows]
    last_in = {m.sender: m for m in session.scalars(select(Message).where(Message.id.in_(
        select(func.max(Message.id)).where(Message.iccid == number.iccid, Message.sender.in_(peers))
        .group_by(Message.sender))))}
    last_out = {o.recipient: o for o in session.scalars(select(OutboundSms).where(OutboundSms.id.in_(
        select(func.max(OutboundSms.id)).where(OutboundSms.iccid == number.iccid, OutboundSms.recipient.in_(peers))
        .group_by(OutboundSms.recipient))))}
    summaries = []
    for peer, count_in, count_out in rows:
        message, text = last_in[peer], last_out.get(peer)
        last = (Entry("out", text.created_at, text) if text is not None and text.created_at > message.received_at
                else Entry("in", message.received_at, message))
        summaries.append(ConversationSummary(peer, int(count_in), int(count_out), last))
    return summaries, more


def conversation(session: Session, number: AccessNumber, sender: str, *, limit: int,
                 before: str | None = None) -> tuple[list[Entry], str | None]:
    """The newest ``limit`` entries (older than the entry ``before`` names), oldest first, and the
    cursor of the page before them (None at the start of the conversation).

    ``ValueError`` when ``before`` names no entry of this conversation.
    """
    both = union_all(
        select(literal_column("'in'").label("direction"), Message.id.label("id"), Message.received_at.label("at"))
        .where(Message.iccid == number.iccid, Message.sender == sender),
        select(literal_column("'out'"), OutboundSms.id, OutboundSms.created_at)
        .where(OutboundSms.iccid == number.iccid, OutboundSms.recipient == sender)).subquery()
    query = select(both.c.direction, both.c.id, both.c.at)
    if before is not None:
        start = _entry(session, number, sender, before)
        query = query.where(tuple_(both.c.at, both.c.direction, both.c.id) < tuple_(start.at, start.direction,
                                                                                      start.item.id))
    rows = session.execute(query.order_by(both.c.at.desc(), both.c.direction.desc(), both.c.id.desc())
                           .limit(limit + 1)).all()
    more = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    messages = {m.id: m for m in session.scalars(
        select(Message).where(Message.id.in_([i for d, i, _ in rows if d == "in"]))
        .options(selectinload(Message.attachments)))}
    texts = {o.id: o for o in session.scalars(
        select(OutboundSms).where(OutboundSms.id.in_([i for d, i, _ in rows if d == "out"]))
        .options(selectinload(OutboundSms.parts)))}
    entries = [Entry("in", messages[i].received_at, messages[i]) if d == "in"
               else Entry("out", texts[i].created_at, texts[i]) for d, i, _ in rows]
    return entries, entries[0].cursor if more and entries else None


def _entry(session: Session, number: AccessNumber, sender: str, cursor: str) -> Entry:
    direction, _, ident = cursor.partition("-")
    item: Message | OutboundSms | None = None
    if ident.isdigit() and direction == "in":
        item = session.get(Message, int(ident))
        if item is not None and (item.iccid, item.sender) == (number.iccid, sender):
            return Entry("in", item.received_at, item)
    elif ident.isdigit() and direction == "out":
        item = session.get(OutboundSms, int(ident))
        if item is not None and (item.iccid, item.recipient) == (number.iccid, sender):
            return Entry("out", item.created_at, item)
    raise ValueError(f"{cursor!r} names no message of the conversation with {sender} on {number.number}")


def reply_refusal(session: Session, number: AccessNumber, sender: str) -> ReplyRefused | None:
    """Why no reply can go to ``sender`` from ``number`` now (module docstring); None when one can."""
    last_written = session.scalar(select(func.max(Message.received_at))
                                  .where(Message.iccid == number.iccid, Message.sender == sender))
    if last_written is None:
        return ReplyRefused("not_found", f"{sender} has never written to {number.number}: there is no conversation "
                                         "to reply to (POST /api/v1/sms sends a new text)")
    try:
        recipient_number(sender)
    except OutboundError:
        return ReplyRefused("not_sendable", f"{sender} is an alphanumeric sender or no phone number: "
                                            "it cannot receive SMS")
    if session.scalar(select(Modem.id).where(Modem.iccid == number.iccid)) is None:
        return ReplyRefused("no_sim", f"no modem has reported the SIM of {number.number} (ICCID {number.iccid}) "
                                      "yet: put that SIM in a modem, then reply")
    accounts = accounts_dealt_with(session, number, sender)
    opted_out = session.scalar(select(func.max(Contact.opted_out_at))
                               .where(Contact.account_id.in_(accounts), Contact.msisdn == sender)) if accounts else None
    if opted_out is not None and last_written <= opted_out:
        return ReplyRefused("opted_out", f"{sender} opted out at {iso_utc(opted_out)} and has not written to "
                                         f"{number.number} since: a reply may go only after they write again")
    return None


def reply(session: Session, number: AccessNumber, sender: str, text: str) -> OutboundSms:
    """Queue ``text`` to ``sender`` through the number's SIM (flushed, not committed); ``ReplyRefused``
    when it may not go out."""
    refusal = reply_refusal(session, number, sender)
    if refusal is not None:
        raise refusal
    if not text.strip():
        raise ReplyRefused("invalid_text", "the text is empty")
    try:
        return enqueue_sms(session, number.iccid, sender, text)
    except OutboundError as exc:
        raise ReplyRefused("invalid_text", str(exc)) from exc
