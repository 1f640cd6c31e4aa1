"""Everything the box holds about one phone number: erased on request, or exported (GDPR art. 17, 15, 20).

Who asks: an admin only (panel and API). A number's data crosses accounts (a shared number's
unmatched messages, the box's own texts, every account's contact row for it), so erasing or
exporting within one account would be a partial answer given as a whole one; an account's user asks
the admin.

What "about the number" means here: messages it sent (and their raw parts, MMS transfers and files,
forwards, votes, entries, automatic-answer records), texts sent to it, texts that forwarded its
messages ("From +48…: …"), delivery reports of those texts, contact rows of every account with their
group memberships, opt-in history and group-send lines, its place among a contest draw's winners
(replaced by "erased", so the draw still shows how many won), the statistics summary's memory of it
as a sender (the counts stay), and refused sign-ins typed with it. The number is looked for in the
forms it is stored in: ``+48600100200``, ``48600100200``, ``0048600100200``, the national
``600100200`` (for numbers of the default country), in raw PDUs as swapped semi-octets, and in MMS
notifications as text. Messages of other senders that quote the number in their text are theirs and
stay.

The receipt in the audit log names a random receipt id and the counts, never the number: after the
erasure no row may mention it. The panel shows the number beside the receipt id once, right after.

Refused (``ErasureRefused``), with nothing deleted: one of the box's own numbers (an access number,
a modem's SIM), a number configured as a forwarding target (change the target first: erasing
configuration by surprise would silently stop forwards), and a number a text is being sent to at
this moment (try again in a minute; queued texts to it are withdrawn by the erasure, never half sent).
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text
from sqlalchemy.orm import Session

from appliance.attachments import AttachmentStore
from appliance.audit import record
from appliance.db.models import (
    AccessNumber,
    Account,
    AutoReply,
    Contact,
    ContactEvent,
    Contest,
    ContestDraw,
    ContestEntry,
    Delivery,
    ForwardTarget,
    Group,
    GroupMember,
    GroupSendRecipient,
    LoginFailure,
    Message,
    MmsTransfer,
    Modem,
    OutboundSms,
    Poll,
    PollVote,
    SmsPart,
    StatisticsSenderDay,
    StatusReport,
    utcnow,
)
from appliance.retention import Removed, delete_messages, delete_outbound, find_unreferenced_files

DEFAULT_COUNTRY_CODE = "48"
ERASED = "erased"
_SENDING = "a text to this number is being sent right now; try again in a minute"


class ErasureRefused(Exception):
    """Nothing was erased; the message says why and what to do."""


@dataclass(frozen=True)
class NumberForms:
    """One number in every form the box may have stored it in."""

    international: str  # +48600100200
    texts: tuple[str, ...]  # as columns hold it
    pdu_hex: tuple[str, ...]  # swapped semi-octets, as in an SMS address field (TS 23.040 §9.1.2.5)
    ascii_hex: tuple[str, ...]  # as text inside binary headers (MMS notification's From)
    core: str  # the digits every text form contains: the national number, else all digits


def number_forms(international: str, country_code: str = DEFAULT_COUNTRY_CODE) -> NumberForms:
    """``international`` must be +<country code><number> (``normalise_msisdn``'s output)."""
    if not (international.startswith("+") and international[1:].isdigit()):
        raise ValueError(f"{international!r} is not a number in international form (+48600100200)")
    digits = international[1:]
    texts = [international, digits, "00" + digits]
    core = digits
    if digits.startswith(country_code) and len(digits) > len(country_code) + 6:
        core = digits[len(country_code):]
        texts.append(core)
    return NumberForms(
        international=international,
        texts=tuple(texts),
        pdu_hex=tuple(dict.fromkeys(_semi_octets(text) for text in (digits, core))),
        ascii_hex=tuple(dict.fromkeys(text.encode().hex().upper() for text in texts)),
        core=core,
    )


def _semi_octets(digits: str) -> str:
    padded = digits + "F" if len(digits) % 2 else digits
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)).upper()


def _contains_any(column: Any, forms: tuple[str, ...]) -> ColumnElement[bool]:
    return or_(*(func.upper(column).contains(form, autoescape=True) for form in forms))


def _about(forms: NumberForms) -> dict[str, ColumnElement[bool]]:
    """Where the number is, table by table (messages found through these)."""
    texts = forms.texts
    return {
        "messages": Message.sender.in_(texts),
        "transfers": _contains_any(MmsTransfer.notification_hex, forms.ascii_hex),
        "parts": SmsPart.sender.in_(texts) | _contains_any(SmsPart.pdu_hex, forms.pdu_hex),
        # Texts to it, and texts that forwarded its messages ("From +48…: …").
        "outbound": OutboundSms.recipient.in_(texts) | OutboundSms.text.contains(forms.core, autoescape=True),
        "reports": StatusReport.recipient.in_(texts) | _contains_any(StatusReport.pdu_hex, forms.pdu_hex),
    }


def _message_ids(session: Session, forms: NumberForms) -> list[int]:
    about = _about(forms)
    ids = set(session.scalars(select(Message.id).where(about["messages"])))
    ids.update(session.scalars(select(MmsTransfer.message_id).where(about["transfers"])))
    ids.update(i for i in session.scalars(select(SmsPart.message_id).where(about["parts"])) if i is not None)
    return sorted(ids)


def _refuse_own_or_busy(session: Session, forms: NumberForms) -> None:
    texts = forms.texts
    if session.scalar(select(AccessNumber.id).where(AccessNumber.number.in_(texts)).limit(1)) is not None \
            or session.scalar(select(Modem.id).where(Modem.msisdn.in_(texts)).limit(1)) is not None:
        raise ErasureRefused("this is one of the box's own numbers (an access number or a modem's SIM), "
                             "not a customer's")
    target = session.scalar(select(ForwardTarget).where(ForwardTarget.kind == "sms",
                                                        ForwardTarget.address.in_(texts)).limit(1))
    if target is not None:
        raise ErasureRefused(f"this number is the forwarding target {target.name!r} (#{target.id}); change or "
                             "delete that target first")
    sending = session.scalar(select(func.count()).select_from(OutboundSms).where(
        _about(forms)["outbound"], OutboundSms.status == "sending"))
    if sending:
        raise ErasureRefused(_SENDING)


def erase_number(session: Session, forms: NumberForms, *, actor: str, address: str | None = None) -> tuple[str, Removed]:
    """Delete every row about the number (see the module's docstring) and record the receipt; not
    committed. Returns the receipt id and what went; the caller deletes ``unreferenced_files`` after
    the commit (``appliance.retention.delete_files``)."""
    _refuse_own_or_busy(session, forms)
    removed = Removed()
    about = _about(forms)
    texts = forms.texts
    delete_messages(session, _message_ids(session, forms), removed)
    removed.add("sms_parts", session.execute(delete(SmsPart).where(about["parts"])).rowcount or 0)
    delete_outbound(session, session.scalars(select(OutboundSms.id).where(about["outbound"])).all(), removed)
    if session.scalar(select(func.count()).select_from(OutboundSms).where(about["outbound"])):
        # A modem claimed one of the texts since the check above: roll it all back rather than half erase.
        raise ErasureRefused(_SENDING)
    removed.add("status_reports", session.execute(delete(StatusReport).where(about["reports"])).rowcount or 0)
    contacts = select(Contact.id).where(Contact.msisdn.in_(texts))
    for model, kind in ((GroupMember, "group_members"), (ContactEvent, "contact_events"),
                        (GroupSendRecipient, "group_send_recipients")):
        removed.add(kind, session.execute(delete(model).where(model.contact_id.in_(contacts))).rowcount or 0)
    removed.add("contacts", session.execute(delete(Contact).where(Contact.msisdn.in_(texts))).rowcount or 0)
    for model, column, kind in ((GroupSendRecipient, GroupSendRecipient.msisdn, "group_send_recipients"),
                                (PollVote, PollVote.msisdn, "poll_votes"),
                                (ContestEntry, ContestEntry.msisdn, "contest_entries"),
                                (AutoReply, AutoReply.recipient, "auto_replies"),
                                (StatisticsSenderDay, StatisticsSenderDay.sender, "statistics_sender_days"),
                                (LoginFailure, LoginFailure.email, "login_failures")):
        removed.add(kind, session.execute(delete(model).where(column.in_(texts))).rowcount or 0)
    for draw in session.scalars(select(ContestDraw)):
        winners = [ERASED if winner in texts else winner for winner in draw.winners or []]
        if winners != draw.winners:
            draw.winners = winners
            removed.add("draw_winners", 1)
    find_unreferenced_files(session, removed)
    receipt = f"E-{utcnow():%Y%m%d}-{secrets.token_hex(4).upper()}"
    record(session, "number.erase", actor=actor, address=address, target=f"receipt {receipt}",
           details={"receipt": receipt, **removed.summary()})
    return receipt, removed


def checkpoint(session: Session) -> None:
    """SQLite: copy the WAL into the database file and truncate it, so that the erased rows' old
    pages in the WAL are gone too (the file itself zeroes deleted rows: ``secure_delete``). A reader
    still open may keep the checkpoint from finishing; the next automatic checkpoint does it then."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


# --- export --------------------------------------------------------------------------------------

def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def export_number(session: Session, store: AttachmentStore, forms: NumberForms, *, actor: str,
                  address: str | None = None) -> bytes:
    """A zip: ``data.json`` with every row about the number, and ``attachments/<id>-<name>`` files.
    Records ``number.export`` (counts, no number) in ``session``; the caller commits."""
    about = _about(forms)
    texts = forms.texts
    accounts = dict(session.execute(select(Account.id, Account.name)).all())
    messages = session.scalars(select(Message).where(Message.id.in_(_message_ids(session, forms)))
                               .order_by(Message.received_at, Message.id)).all()
    buffer = io.BytesIO()
    files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        exported_messages = []
        for message in messages:
            attachments = []
            for attachment in message.attachments:
                path = f"attachments/{attachment.id}-{attachment.name}"
                try:
                    archive.writestr(path, store.read(attachment.sha256))
                    files += 1
                except FileNotFoundError:
                    path = None
                attachments.append({"content_type": attachment.content_type, "name": attachment.name,
                                    "size": attachment.size, "file": path})
            exported_messages.append({
                "id": message.id, "received_at": _time(message.received_at), "kind": message.kind,
                "sender": message.sender, "subject": message.subject, "text": message.text,
                "account": accounts.get(message.account_id), "keyword": message.keyword, "status": message.status,
                "attachments": attachments,
                "forwards": [{"target": target, "status": status} for target, status in session.execute(
                    select(ForwardTarget.name, Delivery.status).join(ForwardTarget, ForwardTarget.id == Delivery.target_id)
                    .where(Delivery.message_id == message.id).order_by(Delivery.id))],
            })
        contacts = session.scalars(select(Contact).where(Contact.msisdn.in_(texts)).order_by(Contact.id)).all()
        group_names = dict(session.execute(select(Group.id, Group.name)).all())
        data: dict[str, Any] = {
            "number": forms.international,
            "exported_at": _time(utcnow()),
            "messages_received": exported_messages,
            "texts_sent": [
                {"id": o.id, "created_at": _time(o.created_at), "to": o.recipient, "text": o.text, "status": o.status,
                 "account": accounts.get(o.account_id), "sent_at": _time(o.sent_at)}
                for o in session.scalars(select(OutboundSms).where(about["outbound"]).order_by(OutboundSms.id))],
            "contacts": [
                {"account": accounts.get(c.account_id), "msisdn": c.msisdn, "name": c.name,
                 "created_at": _time(c.created_at), "opted_out_at": _time(c.opted_out_at),
                 "groups": [group_names.get(g) for g in session.scalars(
                     select(GroupMember.group_id).where(GroupMember.contact_id == c.id).order_by(GroupMember.id))],
                 "history": [{"kind": e.kind, "group": group_names.get(e.group_id), "keyword": e.keyword,
                              "at": _time(e.at)}
                             for e in session.scalars(select(ContactEvent).where(ContactEvent.contact_id == c.id)
                                                      .order_by(ContactEvent.at, ContactEvent.id))]}
                for c in contacts],
            "poll_votes": [
                {"poll": question, "option": option, "voted_at": _time(at)}
                for question, option, at in session.execute(
                    select(Poll.question, PollVote.option_code, PollVote.voted_at).join(Poll, Poll.id == PollVote.poll_id)
                    .where(PollVote.msisdn.in_(texts)).order_by(PollVote.id))],
            "contest_entries": [
                {"contest": name, "answer": answer, "correct": correct, "entered_at": _time(at)}
                for name, answer, correct, at in session.execute(
                    select(Contest.name, ContestEntry.answer, ContestEntry.correct, ContestEntry.entered_at)
                    .join(Contest, Contest.id == ContestEntry.contest_id)
                    .where(ContestEntry.msisdn.in_(texts)).order_by(ContestEntry.id))],
            "contest_wins": [
                {"contest": name, "drawn_at": _time(at)}
                for name, at, winners in session.execute(
                    select(Contest.name, ContestDraw.drawn_at, ContestDraw.winners)
                    .join(Contest, Contest.id == ContestDraw.contest_id).order_by(ContestDraw.id))
                if any(winner in texts for winner in winners or [])],
        }
        counts = {"messages": len(exported_messages), "texts": len(data["texts_sent"]),
                  "contacts": len(contacts), "poll_votes": len(data["poll_votes"]),
                  "contest_entries": len(data["contest_entries"]), "files": files}
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
    record(session, "number.export", actor=actor, address=address, details=counts)
    return buffer.getvalue()
