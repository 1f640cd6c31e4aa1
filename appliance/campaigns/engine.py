"""What a stored message does: opt-out, its keyword's actions, the autoresponders of its number.

``ActionEngine.run`` is called by the reception store (and the MMS fetcher) inside the transaction
that wrote the messages, after every write of the batch: the actions commit with the message or not
at all, so a crash never leaves a vote without its message or a message whose reply was lost. Every
reply is an ``OutboundSms`` row (``enqueue_sms``) sent later by the SIM of the number the message
came to; nothing leaves the box from here.

Only complete messages act: an SMS (``routed`` or ``unmatched``) or a fetched MMS; ``partial``,
``undecodable`` and MMS still being fetched do nothing. A partial message completed by a late part
acts then, when the store hands it over again.

Order for one message
    1. Opt-out. ``is_opt_out`` with STOP and the account's own words (``Account.opt_out_words``,
       read afresh for every batch: a change through the API holds for the next message, in every
       process sharing the database). If the message opts out, it does nothing else (no keyword
       action, no answer: the sender asked for silence).
    2. The keyword's actions, in their configured order.
    3. The autoresponders: of the matched keyword, of the number for messages of their account, and
       account-wide ones (no number, no keyword). Several may fire; each is rate-limited.
    4. The number's default reply (``AccessNumber.unmatched_reply``), when the message matched no
       keyword of the number and no autoresponder answered it: on a shared number the admin's
       "unmatched inbox" answer, on a dedicated one the owner's answer to a text that carries none of
       its keywords. Never to a message that reads as an opt-out (STOP or any account's opt-out
       word), even one that reached no account: the sender may be asking for silence.

Who a STOP reaches
    Dedicated number: its owner account. Shared number: every account the sender has dealt with *on
    that number* — a keyword of the account matched one of the sender's messages there, an automatic
    answer of the account went to the sender from there, or a group send of the account reached the
    sender from there. "STOP" to a shared number thus leaves whatever the sender joined or heard
    from through it, and leaves alone accounts the sender never met on it (their contact lists may
    hold the same number for reasons of their own). The account's contact is created if it does not
    exist yet, so the opt-out holds for a contact imported later. Opting out removes the contact
    from every group of the account and sets ``opted_out_at``; a later ``join_group`` keyword from
    the same sender clears it again (the sender asked to join, after asking to leave).

Rate limit of automatic answers
    Each answer (autoresponder, ``autoreply`` action, poll confirmation or "poll closed", default
    reply) is an ``AutoReply`` row. An answer goes out only while fewer than ``max_per_sender``
    answers of that account went to that sender from that number within ``window_seconds``; an
    autoresponder uses its own settings, the others ``DEFAULT_MAX_PER_SENDER`` per ``DEFAULT_WINDOW``.
    A default reply speaks for the owner of a dedicated number and for no account on a shared one
    (``account_id`` None: those count among themselves). Answers held back are recorded too
    (``held_back`` says why) and do not count. Never answered: alphanumeric senders, short codes and
    e-mail addresses (an MMS's; no SMS reaches them) (``may_autoreply``), and contacts that opted out
    of the account the answer speaks for.

``forward`` actions are not run here: ``appliance.delivery.outbox.enqueue_for_messages``, called in the
same transaction right after, writes their deliveries with those of the account's other targets.

Robustness
    Each message acts inside a savepoint: a failing action (a bug, a constraint hit by a concurrent
    writer) is logged with the message it belongs to and rolled back alone, and the batch is stored
    all the same. Reception must never stall on a campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appliance.db.models import (
    AccessNumber,
    Account,
    AutoReply,
    Autoresponder,
    Contact,
    ContactEvent,
    Contest,
    ContestEntry,
    Group,
    GroupMember,
    GroupSend,
    GroupSendRecipient,
    Keyword,
    Message,
    Poll,
    PollVote,
    utcnow,
)
from appliance.modem.outbound import OutboundError, enqueue_sms
from appliance.rules import AccessNumberKind, is_opt_out
from appliance.rules.actions import PollOption, answer_is_correct, may_autoreply, poll_choice, render

__all__ = ["ACTING_STATUSES", "DEFAULT_MAX_PER_SENDER", "DEFAULT_WINDOW", "ActionEngine", "accounts_dealt_with"]

log = logging.getLogger(__name__)

# Messages in these states are complete: a fetched MMS becomes routed/unmatched too.
ACTING_STATUSES = ("routed", "unmatched")
DEFAULT_MAX_PER_SENDER = 3
DEFAULT_WINDOW = timedelta(hours=24)
_IN_CHUNK = 500


@dataclass
class _Context:
    session: Session
    now: datetime
    message: Message
    number: AccessNumber

    @property
    def sender(self) -> str:
        assert self.message.sender is not None
        return self.message.sender

    def describe(self) -> str:
        return f"message {self.message.id} from {self.message.sender} to {self.number.number}"


class ActionEngine:
    """Runs the actions of stored messages in the caller's transaction.

    ``short_code_prefixes`` are national ranges of service numbers never answered (see
    ``may_autoreply``).
    """

    def __init__(self, short_code_prefixes: Sequence[str] = ()) -> None:
        self.short_code_prefixes = tuple(short_code_prefixes)

    def run(self, session: Session, message_ids: Iterable[int], now: datetime | None = None) -> int:
        """Act on the complete ones of ``message_ids``; returns how many did something."""
        ids = sorted(set(message_ids))
        if not ids or session.scalar(select(AccessNumber.id).limit(1)) is None:
            return 0  # no access number, nothing can act: spare reception loading the messages
        moment = now or utcnow()
        messages: list[Message] = []
        for start in range(0, len(ids), _IN_CHUNK):
            messages.extend(session.scalars(
                select(Message).where(Message.id.in_(ids[start:start + _IN_CHUNK]),
                                      Message.status.in_(ACTING_STATUSES), Message.sender.is_not(None))))
        if not messages:
            return 0
        messages.sort(key=lambda m: m.id)
        numbers = {n.iccid: n for n in session.scalars(
            select(AccessNumber).where(AccessNumber.iccid.in_({m.iccid for m in messages})))}
        if not numbers:
            return 0
        number_ids = [n.id for n in numbers.values()]
        autoresponders = list(session.scalars(
            select(Autoresponder).where(Autoresponder.enabled.is_(True),
                                        Autoresponder.access_number_id.in_(number_ids)
                                        | Autoresponder.access_number_id.is_(None))
            .order_by(Autoresponder.id)))
        opt_out_words = {account: list(words) for account, words in
                         session.execute(select(Account.id, Account.opt_out_words)) if words}
        all_extra_words = sorted({word for words in opt_out_words.values() for word in words})
        acted = 0
        for message in messages:
            number = numbers.get(message.iccid)
            if number is None:
                continue
            text = message.text or message.subject or ""
            opting_out = is_opt_out(text, all_extra_words)
            firing = [] if opting_out else [a for a in autoresponders if _fires(a, message, number)]
            if not opting_out and message.keyword_id is None and not firing and not number.unmatched_reply:
                continue
            context = _Context(session, moment, message, number)
            try:
                with session.begin_nested():
                    if opting_out and self._opt_out(context, text, opt_out_words):
                        acted += 1
                        continue
                    if opting_out:  # STOP words of no account the sender dealt with: an ordinary message
                        firing = [a for a in autoresponders if _fires(a, message, number)]
                    if message.keyword_id is not None:
                        self._keyword_actions(context)
                    for autoresponder in firing:
                        self._reply(context, autoresponder.account_id, autoresponder.text,
                                    autoresponder.max_per_sender, timedelta(seconds=autoresponder.window_seconds))
                    if not opting_out and message.keyword_id is None and not firing and number.unmatched_reply:
                        # A dedicated number's owner speaks; on a shared number no account does.
                        self._reply(context, number.account_id, number.unmatched_reply)
                    acted += 1
            except Exception:  # noqa: BLE001 - one message's campaign must not stop reception
                log.exception("%s: its actions failed and were rolled back; the message is stored without them",
                              context.describe())
        return acted

    # --- opt-out ---------------------------------------------------------------------------------

    @staticmethod
    def _opt_out(context: _Context, text: str, opt_out_words: Mapping[int, Sequence[str]]) -> bool:
        """Opt the sender out of the accounts STOP reaches (module docstring); False if none."""
        accounts = [account for account in sorted(accounts_dealt_with(context.session, context.number,
                                                                      context.sender))
                    if is_opt_out(text, opt_out_words.get(account, ()))]
        for account in accounts:
            _opt_out_of_account(context, account)
        if accounts:
            log.info("%s: opted out of account(s) %s", context.describe(), ", ".join(map(str, accounts)))
        return bool(accounts)

    # --- keyword actions -------------------------------------------------------------------------

    def _keyword_actions(self, context: _Context) -> None:
        message = context.message
        keyword = context.session.get(Keyword, message.keyword_id)
        account = message.account_id
        if keyword is None or account is None:
            return
        for action in keyword.actions or []:
            kind = action.get("type")
            if kind == "join_group":
                _join_group(context, account, _int(action.get("group")))
            elif kind == "leave_groups":
                contact = _contact(context, account, create=False)
                if contact is not None:
                    _leave_groups(context, account, contact)
            elif kind == "autoreply":
                self._reply(context, account, str(action.get("text") or ""))
            elif kind == "poll_vote":
                self._poll_vote(context, account, _int(action.get("poll")))
            elif kind == "contest_entry":
                _contest_entry(context, account, _int(action.get("contest")))
            elif kind == "forward":
                continue  # the outbox's, in this same transaction (module docstring)
            else:
                log.warning("keyword %d (%s): unknown action %r skipped", keyword.id, keyword.keyword, action)

    def _poll_vote(self, context: _Context, account: int, poll_id: int | None) -> None:
        session, message = context.session, context.message
        poll = session.get(Poll, poll_id) if poll_id is not None else None
        if poll is None or poll.account_id != account:
            log.warning("%s: keyword votes in poll %s, which is not a poll of account %d", context.describe(),
                        poll_id, account)
            return
        if not _open(poll.opens_at, poll.closes_at, context.now):
            if poll.closed_reply:
                self._reply(context, account, poll.closed_reply)
            return
        options = [PollOption.from_json(option) for option in poll.options or []]
        code = poll_choice(options, message.payload, message.keyword)
        if code is None:
            log.info("%s: %r names no option of poll %d", context.describe(), message.payload, poll.id)
            return
        vote = session.scalar(select(PollVote).where(PollVote.poll_id == poll.id,
                                                     PollVote.msisdn == context.sender))
        if vote is None:
            session.add(PollVote(poll_id=poll.id, msisdn=context.sender, option_code=code, message_id=message.id,
                                 voted_at=context.now))
        elif poll.policy == "keep_last":
            vote.option_code, vote.message_id, vote.voted_at = code, message.id, context.now
        else:
            return  # keep_first: the first vote stands, said once already
        session.flush()
        if poll.confirmation:
            label = next((option.label for option in options if option.code == code), None)
            self._reply(context, account, poll.confirmation, extra={"option": label or code, "code": code})

    # --- answers ---------------------------------------------------------------------------------

    def _reply(self, context: _Context, account: int | None, template: str,
               max_per_sender: int = DEFAULT_MAX_PER_SENDER, window: timedelta = DEFAULT_WINDOW,
               extra: Mapping[str, str] | None = None) -> AutoReply:
        """Queue an answer on behalf of ``account`` (None: of no account, a shared number's default reply)."""
        session, message = context.session, context.message
        record = AutoReply(account_id=account, access_number_id=context.number.id, recipient=context.sender,
                           message_id=message.id, at=context.now)
        contact = _contact(context, account, create=False) if account is not None else None
        if not may_autoreply(context.sender, self.short_code_prefixes):
            record.held_back = ("the sender is alphanumeric, a short code or an e-mail address: never answered "
                                "automatically")
        elif contact is not None and contact.opted_out_at is not None:
            record.held_back = "the sender opted out of this account"
        else:
            answered = session.scalar(
                select(func.count(AutoReply.id))
                .where(AutoReply.access_number_id == context.number.id, AutoReply.recipient == context.sender,
                       AutoReply.account_id == account,  # IS NULL for None
                       AutoReply.held_back.is_(None),
                       AutoReply.at > context.now - window)) or 0
            if answered >= max_per_sender:
                record.held_back = (f"rate limit: {answered} automatic answers to this sender within "
                                    f"{int(window.total_seconds())} s (at most {max_per_sender})")
            else:
                values = {"sender": context.sender, "keyword": message.keyword, "payload": message.payload,
                          "name": contact.name if contact is not None else None, **(extra or {})}
                try:
                    outbound = enqueue_sms(session, context.number.iccid, context.sender, render(template, values),
                                           account_id=account)
                except OutboundError as exc:
                    record.held_back = f"not sent: {exc}"[:200]
                else:
                    record.outbound_id = outbound.id
        if record.held_back:
            log.info("%s: automatic answer held back (%s)", context.describe(), record.held_back)
        session.add(record)
        session.flush()
        return record


def _fires(autoresponder: Autoresponder, message: Message, number: AccessNumber) -> bool:
    if autoresponder.keyword_id is not None:
        return autoresponder.keyword_id == message.keyword_id
    if autoresponder.access_number_id not in (None, number.id):
        return False
    return autoresponder.account_id == message.account_id


def _open(opens_at: datetime | None, closes_at: datetime | None, now: datetime) -> bool:
    return (opens_at is None or now >= opens_at) and (closes_at is None or now < closes_at)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _contact(context: _Context, account: int, *, create: bool) -> Contact | None:
    session = context.session
    contact = session.scalar(select(Contact).where(Contact.account_id == account, Contact.msisdn == context.sender))
    if contact is None and create:
        contact = Contact(account_id=account, msisdn=context.sender, created_at=context.now)
        session.add(contact)
        session.flush()
    return contact


def accounts_dealt_with(session: Session, number: AccessNumber, sender: str) -> set[int]:
    """The accounts whose opt-out a message from ``sender`` to ``number`` concerns (module docstring,
    "Who a STOP reaches"): a dedicated number's owner; on a shared number, those the sender dealt with there."""
    if number.kind == AccessNumberKind.DEDICATED and number.account_id is not None:
        return {number.account_id}
    accounts = set(session.scalars(
        select(Message.account_id).distinct()
        .where(Message.sender == sender, Message.iccid == number.iccid, Message.account_id.is_not(None))))
    accounts.update(session.scalars(
        select(AutoReply.account_id).distinct()
        .where(AutoReply.access_number_id == number.id, AutoReply.recipient == sender)))
    accounts.update(session.scalars(
        select(GroupSend.account_id).distinct()
        .join(GroupSendRecipient, GroupSendRecipient.group_send_id == GroupSend.id)
        .where(GroupSend.access_number_id == number.id, GroupSendRecipient.msisdn == sender)))
    return {account for account in accounts if account is not None}


def _opt_out_of_account(context: _Context, account: int) -> None:
    contact = _contact(context, account, create=True)
    assert contact is not None
    if contact.opted_out_at is None:
        contact.opted_out_at = context.now
    _leave_groups(context, account, contact)
    context.session.add(ContactEvent(contact_id=contact.id, kind="opt_out", keyword=context.message.keyword,
                                     message_id=context.message.id, at=context.now))


def _leave_groups(context: _Context, account: int, contact: Contact) -> None:
    session = context.session
    memberships = session.scalars(
        select(GroupMember).join(Group, Group.id == GroupMember.group_id)
        .where(Group.account_id == account, GroupMember.contact_id == contact.id)).all()
    for membership in memberships:
        session.add(ContactEvent(contact_id=contact.id, kind="left", group_id=membership.group_id,
                                 keyword=context.message.keyword, message_id=context.message.id, at=context.now))
        session.delete(membership)
    session.flush()


def _join_group(context: _Context, account: int, group_id: int | None) -> None:
    session, message = context.session, context.message
    group = session.get(Group, group_id) if group_id is not None else None
    if group is None or group.account_id != account:
        log.warning("%s: keyword joins group %s, which is not a group of account %d", context.describe(),
                    group_id, account)
        return
    contact = _contact(context, account, create=True)
    assert contact is not None
    rejoined = contact.opted_out_at is not None
    contact.opted_out_at = None  # asked to join after asking to leave: the newer wish counts
    member = session.scalar(select(GroupMember).where(GroupMember.group_id == group.id,
                                                      GroupMember.contact_id == contact.id))
    if member is not None and not rejoined:
        return
    if member is None:
        session.add(GroupMember(group_id=group.id, contact_id=contact.id, joined_at=context.now,
                                keyword=message.keyword, message_id=message.id))
    session.add(ContactEvent(contact_id=contact.id, kind="opt_in", group_id=group.id, keyword=message.keyword,
                             message_id=message.id, at=context.now))
    session.flush()


def _contest_entry(context: _Context, account: int, contest_id: int | None) -> None:
    session, message = context.session, context.message
    contest = session.get(Contest, contest_id) if contest_id is not None else None
    if contest is None or contest.account_id != account:
        log.warning("%s: keyword enters contest %s, which is not a contest of account %d", context.describe(),
                    contest_id, account)
        return
    if not _open(contest.opens_at, contest.closes_at, context.now):
        log.info("%s: contest %d is not open, entry ignored", context.describe(), contest.id)
        return
    # Every entry counts towards the limit, wrong answers included: else guessing costs nothing.
    entered = session.scalar(select(func.count(ContestEntry.id)).where(
        ContestEntry.contest_id == contest.id, ContestEntry.msisdn == context.sender)) or 0
    if entered >= contest.entries_per_number:
        log.info("%s: already %d entries in contest %d (at most %d), entry ignored", context.describe(), entered,
                 contest.id, contest.entries_per_number)
        return
    answer = message.payload or None
    session.add(ContestEntry(contest_id=contest.id, msisdn=context.sender, answer=answer,
                             correct=answer_is_correct(contest.answer, answer), message_id=message.id,
                             entered_at=context.now))
    session.flush()
