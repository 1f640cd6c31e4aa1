"""Dialogue: one conversation per (access number, sender), and replies through that number's SIM.

A conversation is everything one person and one access number said to each other: the messages the
person sent to the number's SIM (``Message`` by ICCID and sender) and the texts that SIM sent to the
person (``OutboundSms`` by ICCID and recipient: manual replies, automatic answers, group sends), in
time order: received_at and created_at, an inbound message before an outbound text of the same
instant. The person's number is compared exactly as the network gave it (``+48600100200``), which is
also the address a reply goes to. Messages that came in on an earlier SIM of the number (before its
ICCID changed) stay with that SIM.

Who sees what (``for_account``): the box's admin (None) sees every conversation whole. An account's
users see every conversation of the account's dedicated numbers whole; on a shared number they see
only the messages routed to their account and the texts sent for it (``OutboundSms.account_id``),
so a conversation there holds what they and the person said to each other and nothing another
business on the number said; other accounts' dedicated numbers they do not see at all.

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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, selectinload

from appliance.campaigns.engine import accounts_dealt_with
from appliance.db.models import AccessNumber, Contact, Message, Modem, OutboundSms
from appliance.modem.outbound import OutboundError, enqueue_sms, recipient_number
from appliance.representation import iso_utc
from appliance.rules import AccessNumberKind

__all__ = ["ConversationSummary", "Entry", "ReplyRefused", "conversation", "conversations", "reply",
           "reply_refusal", "texts", "visibility"]

Direction = Literal["in", "out"]
Visibility = Literal["all", "own"]
# What a sender search ignores, as numbers are stored without it ("600 100-200" finds +48600100200).
_NUMBER_PUNCTUATION = re.compile(r"[\s\-()]")


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
    number: AccessNumber
    sender: str
    received: int
    sent: int
    last: Entry
    # The newest text to the person (its status says whether the last answer reached them).
    last_sent: OutboundSms | None


def visibility(number: AccessNumber, for_account: int | None) -> Visibility | None:
    """What ``for_account``'s users see of ``number``'s conversations (module docstring): ``all``,
    only their ``own`` messages and texts, or nothing (None)."""
    if for_account is None:
        return "all"
    if number.kind == AccessNumberKind.DEDICATED:
        return "all" if number.account_id == for_account else None
    return "own"


def _scope(numbers: Sequence[AccessNumber],
           for_account: int | None) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """WHERE clauses keeping the messages and the texts of ``numbers`` that ``for_account`` sees."""
    whole = [n.iccid for n in numbers if visibility(n, for_account) == "all"]
    own = [n.iccid for n in numbers if visibility(n, for_account) == "own"]
    inbound: ColumnElement[bool] = Message.iccid.in_(whole) if whole else false()
    outbound: ColumnElement[bool] = OutboundSms.iccid.in_(whole) if whole else false()
    if own:
        inbound = or_(inbound, and_(Message.iccid.in_(own), Message.account_id == for_account))
        outbound = or_(outbound, and_(OutboundSms.iccid.in_(own), OutboundSms.account_id == for_account))
    return inbound, outbound


def conversations(session: Session, numbers: Sequence[AccessNumber], *, limit: int, offset: int = 0,
                  for_account: int | None = None,
                  sender_contains: str = "") -> tuple[list[ConversationSummary], bool]:
    """The conversations on ``numbers`` that ``for_account`` sees, most recent activity first; True
    when more follow ``limit``. ``sender_contains`` keeps the senders whose number holds it."""
    by_iccid = {n.iccid: n for n in numbers}
    inbound_scope, outbound_scope = _scope(numbers, for_account)
    search = _NUMBER_PUNCTUATION.sub("", sender_contains)
    inbound = (select(Message.iccid, Message.sender.label("peer"), func.count().label("received"),
                      literal_column("0").label("sent"), func.max(Message.received_at).label("last_at"))
               .where(inbound_scope, Message.sender.is_not(None)).group_by(Message.iccid, Message.sender))
    outbound = (select(OutboundSms.iccid, OutboundSms.recipient, literal_column("0"), func.count(),
                       func.max(OutboundSms.created_at))
                .where(outbound_scope).group_by(OutboundSms.iccid, OutboundSms.recipient))
    if search:
        inbound = inbound.where(Message.sender.icontains(search, autoescape=True))
        outbound = outbound.where(OutboundSms.recipient.icontains(search, autoescape=True))
    both = union_all(inbound, outbound).subquery()
    received, last_at = func.sum(both.c.received), func.max(both.c.last_at)
    rows = session.execute(
        select(both.c.iccid, both.c.peer, received, func.sum(both.c.sent))
        .group_by(both.c.iccid, both.c.peer).having(received > 0)
        .order_by(last_at.desc(), both.c.iccid, both.c.peer).limit(limit + 1).offset(offset)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    iccids, peers = {row[0] for row in rows}, {row[1] for row in rows}
    last_in = {(m.iccid, m.sender): m for m in session.scalars(select(Message).where(Message.id.in_(
        select(func.max(Message.id)).where(inbound_scope, Message.iccid.in_(iccids), Message.sender.in_(peers))
        .group_by(Message.iccid, Message.sender))))}
    last_out = {(o.iccid, o.recipient): o for o in session.scalars(select(OutboundSms).where(OutboundSms.id.in_(
        select(func.max(OutboundSms.id)).where(outbound_scope, OutboundSms.iccid.in_(iccids),
                                               OutboundSms.recipient.in_(peers))
        .group_by(OutboundSms.iccid, OutboundSms.recipient))))}
    summaries = []
    for iccid, peer, count_in, count_out in rows:
        message, text = last_in[iccid, peer], last_out.get((iccid, peer))
        last = (Entry("out", text.created_at, text) if text is not None and text.created_at > message.received_at
                else Entry("in", message.received_at, message))
        summaries.append(ConversationSummary(by_iccid[iccid], peer, int(count_in), int(count_out), last, text))
    return summaries, more


def conversation(session: Session, number: AccessNumber, sender: str, *, limit: int,
                 before: str | None = None, for_account: int | None = None) -> tuple[list[Entry], str | None]:
    """The newest ``limit`` entries ``for_account`` sees (older than the entry ``before`` names),
    oldest first, and the cursor of the page before them (None at the start of the conversation).

    ``ValueError`` when ``before`` names no entry of this conversation.
    """
    inbound_scope, outbound_scope = _scope([number], for_account)
    both = union_all(
        select(literal_column("'in'").label("direction"), Message.id.label("id"), Message.received_at.label("at"))
        .where(inbound_scope, Message.sender == sender),
        select(literal_column("'out'"), OutboundSms.id, OutboundSms.created_at)
        .where(outbound_scope, OutboundSms.recipient == sender)).subquery()
    query = select(both.c.direction, both.c.id, both.c.at)
    if before is not None:
        start = _entry(session, number, sender, before, for_account)
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


def texts(session: Session, number: AccessNumber, sender: str, ids: Sequence[int], *,
          for_account: int | None = None) -> list[OutboundSms]:
    """The texts among ``ids`` that belong to this conversation and that ``for_account`` sees."""
    _, outbound_scope = _scope([number], for_account)
    return list(session.scalars(select(OutboundSms).where(OutboundSms.id.in_(ids), OutboundSms.recipient == sender,
                                                          outbound_scope).order_by(OutboundSms.id)))


def _entry(session: Session, number: AccessNumber, sender: str, cursor: str, for_account: int | None) -> Entry:
    direction, _, ident = cursor.partition("-")
    inbound_scope, outbound_scope = _scope([number], for_account)
    if ident.isdigit() and direction == "in":
        message = session.scalar(select(Message).where(Message.id == int(ident), Message.sender == sender,
                                                       inbound_scope))
        if message is not None:
            return Entry("in", message.received_at, message)
    elif ident.isdigit() and direction == "out":
        text = session.scalar(select(OutboundSms).where(OutboundSms.id == int(ident), OutboundSms.recipient == sender,
                                                        outbound_scope))
        if text is not None:
            return Entry("out", text.created_at, text)
    raise ValueError(f"{cursor!r} names no message of the conversation with {sender} on {number.number}")


def reply_refusal(session: Session, number: AccessNumber, sender: str, *,
                  for_account: int | None = None) -> ReplyRefused | None:
    """Why no reply can go to ``sender`` from ``number`` now (module docstring); None when one can.

    For an account (``for_account``) the person must have written to that account, and only an
    opt-out of that account holds the reply back."""
    inbound_scope, _ = _scope([number], for_account)
    last_written = session.scalar(select(func.max(Message.received_at)).where(inbound_scope, Message.sender == sender))
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
    accounts = {for_account} if for_account is not None else accounts_dealt_with(session, number, sender)
    opted_out = session.scalar(select(func.max(Contact.opted_out_at))
                               .where(Contact.account_id.in_(accounts), Contact.msisdn == sender)) if accounts else None
    if opted_out is not None and last_written <= opted_out:
        return ReplyRefused("opted_out", f"{sender} opted out at {iso_utc(opted_out)} and has not written to "
                                         f"{number.number} since: a reply may go only after they write again")
    return None


def reply(session: Session, number: AccessNumber, sender: str, text: str, *,
          for_account: int | None = None) -> OutboundSms:
    """Queue ``text`` to ``sender`` through the number's SIM (flushed, not committed); ``ReplyRefused``
    when it may not go out.

    The text speaks for ``for_account``; the admin's (None) for the number's owner on a dedicated
    number, and on a shared one for the account of the message it answers (the person's last), so
    that business sees the answer in its conversation."""
    refusal = reply_refusal(session, number, sender, for_account=for_account)
    if refusal is not None:
        raise refusal
    if not text.strip():
        raise ReplyRefused("invalid_text", "the text is empty")
    try:
        return enqueue_sms(session, number.iccid, sender, text, account_id=_speaks_for(session, number, sender,
                                                                                       for_account))
    except OutboundError as exc:
        raise ReplyRefused("invalid_text", str(exc)) from exc


def _speaks_for(session: Session, number: AccessNumber, sender: str, for_account: int | None) -> int | None:
    if for_account is not None:
        return for_account
    if number.kind == AccessNumberKind.DEDICATED:
        return number.account_id
    return session.scalar(select(Message.account_id).where(Message.iccid == number.iccid, Message.sender == sender)
                          .order_by(Message.received_at.desc(), Message.id.desc()).limit(1))
