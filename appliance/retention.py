"""Retention: an account's messages and texts are kept for its ``retention_days``, then purged.

What goes with a message: its raw parts, its MMS transfer and attachment rows (a file goes once no
row names its hash any more: the same photo sent twice is one file), its forwards (``deliveries``)
with their log, and the poll votes, contest entries and automatic-answer records it made, since
each of those holds the sender's number. What stays: the statistics summary, which holds counts, and
a contact's group membership and opt-in history (the account's list, not the message), which lose
only their link to the message. Outbound texts go once they are finished (sent, delivered, failed
or cancelled); one still queued or being sent is never touched.

A message waiting for a forward (a delivery still ``pending``) or for its MMS fetch is kept until
that is over, so a purge never takes data from under a retry; the next run takes it.

Messages with no account (nobody's keyword matched on a shared number) and the box's own texts
through such a number follow the shortest retention of the accounts on that number (its owner and
every account with a keyword on it): the message may have been meant for any of them, and the
strictest promise wins. On a number no account has set a retention for, they are kept.

Rows are deleted with Core statements, not through the ORM, on purpose: the statistics summary's
flush listener would take the messages off the counts (``appliance.db.statistics_summary``), and
statistics must keep counting what was received.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select, union, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.audit import SYSTEM, record
from appliance.db.models import (
    AccessNumber,
    Account,
    Attachment,
    AutoReply,
    ContactEvent,
    ContestEntry,
    Delivery,
    DeliveryAttempt,
    GroupMember,
    GroupSend,
    GroupSendRecipient,
    Keyword,
    Message,
    MmsTransfer,
    OutboundPart,
    OutboundSms,
    PollVote,
    SmsPart,
    StatusReport,
    utcnow,
)

log = logging.getLogger(__name__)

# Outbound texts in these states are over: nothing will send or update them any more.
FINISHED_OUTBOUND = ("sent", "delivered", "failed", "cancelled")
MAX_RETENTION_DAYS = 36_500
# Rows of one kind deleted per transaction: SQLite has one writer, and reception must not wait long.
BATCH = 2000
_IN_CHUNK = 500


@dataclass
class Removed:
    """What a purge or an erasure deleted: rows per kind, and the files no row names any more."""

    counts: Counter[str] = field(default_factory=Counter)
    candidate_files: set[str] = field(default_factory=set)
    unreferenced_files: set[str] = field(default_factory=set)

    def add(self, kind: str, count: int) -> None:
        if count:
            self.counts[kind] += count

    def summary(self) -> dict[str, int]:
        """The counts as the audit log and the panel show them, files included."""
        counts = dict(sorted(self.counts.items()))
        if self.unreferenced_files:
            counts["files"] = len(self.unreferenced_files)
        return counts


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[start:start + _IN_CHUNK] for start in range(0, len(ordered), _IN_CHUNK)]


def _deleted(session: Session, statement: Any) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def delete_messages(session: Session, message_ids: Sequence[int], removed: Removed) -> None:
    """Delete the messages and what hangs off them (see the module's docstring), not committed."""
    for chunk in _chunks(message_ids):
        for column in (Attachment.sha256, Attachment.thumbnail_sha256):
            removed.candidate_files.update(h for h in session.scalars(
                select(column).where(Attachment.message_id.in_(chunk), column.is_not(None))))
        removed.candidate_files.update(h for h in session.scalars(
            select(MmsTransfer.raw_sha256).where(MmsTransfer.message_id.in_(chunk),
                                                 MmsTransfer.raw_sha256.is_not(None))))
        deliveries = select(Delivery.id).where(Delivery.message_id.in_(chunk))
        removed.add("delivery_attempts", _deleted(session, delete(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_(deliveries))))
        removed.add("deliveries", _deleted(session, delete(Delivery).where(Delivery.message_id.in_(chunk))))
        for model, kind in ((Attachment, "attachments"), (MmsTransfer, "mms_transfers"), (SmsPart, "sms_parts"),
                            (PollVote, "poll_votes"), (ContestEntry, "contest_entries"),
                            (AutoReply, "auto_replies")):
            removed.add(kind, _deleted(session, delete(model).where(model.message_id.in_(chunk))))
        for model in (GroupMember, ContactEvent):
            session.execute(update(model).where(model.message_id.in_(chunk)).values(message_id=None)
                            .execution_options(synchronize_session=False))
        removed.add("messages", _deleted(session, delete(Message).where(Message.id.in_(chunk))))


def delete_outbound(session: Session, outbound_ids: Sequence[int], removed: Removed) -> None:
    """Delete outbound texts with their parts, the delivery reports matched to them and the group-send
    lines that queued them (each names the recipient); an automatic answer's record stays."""
    for chunk in _chunks(outbound_ids):
        parts = select(OutboundPart.id).where(OutboundPart.outbound_id.in_(chunk))
        removed.add("status_reports", _deleted(session, delete(StatusReport).where(
            StatusReport.outbound_part_id.in_(parts))))
        removed.add("outbound_parts", _deleted(session, delete(OutboundPart).where(
            OutboundPart.outbound_id.in_(chunk))))
        session.execute(update(AutoReply).where(AutoReply.outbound_id.in_(chunk)).values(outbound_id=None)
                        .execution_options(synchronize_session=False))
        removed.add("group_send_recipients", _deleted(session, delete(GroupSendRecipient).where(
            GroupSendRecipient.outbound_id.in_(chunk))))
        # Never a text a modem is sending: a session that claimed one meanwhile keeps it (PostgreSQL
        # checks this condition again on the row it waited for), and the caller sees it was left.
        removed.add("outbound_sms", _deleted(session, delete(OutboundSms).where(OutboundSms.id.in_(chunk),
                                                                                 OutboundSms.status != "sending")))


def find_unreferenced_files(session: Session, removed: Removed) -> None:
    """Of the candidate files, those no attachment, thumbnail or raw MMS names any more (in this
    transaction): the ones to delete once it commits."""
    hashes = sorted(removed.candidate_files - removed.unreferenced_files)
    for start in range(0, len(hashes), _IN_CHUNK):
        chunk = hashes[start:start + _IN_CHUNK]
        referenced = set(session.scalars(union(
            select(Attachment.sha256).where(Attachment.sha256.in_(chunk)),
            select(Attachment.thumbnail_sha256).where(Attachment.thumbnail_sha256.in_(chunk)),
            select(MmsTransfer.raw_sha256).where(MmsTransfer.raw_sha256.in_(chunk)))))
        removed.unreferenced_files.update(set(chunk) - referenced)


def delete_files(sessions: sessionmaker[Session], store: AttachmentStore, removed: Removed) -> int:
    """After the commit: delete the unreferenced files, asking again first (a message stored in the
    meantime may have brought the same bytes back). Returns how many files were deleted."""
    again = Removed(candidate_files=set(removed.unreferenced_files))
    with sessions() as session:
        find_unreferenced_files(session, again)
    deleted = 0
    for sha256 in sorted(again.unreferenced_files):
        try:
            store.path(sha256).unlink()
            deleted += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("attachment file %s could not be deleted: %s", sha256[:12], exc)
    return deleted


@dataclass(frozen=True)
class RetentionScope:
    """Rows kept for ``days``: an account's, or the account-less ones of one SIM."""

    label: str  # the audit log's target
    days: int
    messages: ColumnElement[bool]
    outbound: ColumnElement[bool]
    account_id: int | None = None
    iccid: str | None = None


def retention_scopes(session: Session) -> list[RetentionScope]:
    scopes = [RetentionScope(f"account {account.id} ({account.name})", account.retention_days,
                             Message.account_id == account.id, OutboundSms.account_id == account.id,
                             account_id=account.id)
              for account in session.scalars(select(Account).where(Account.retention_days.is_not(None))
                                             .order_by(Account.id))
              if account.retention_days is not None]
    days_of = {scope.account_id: scope.days for scope in scopes}
    keyword_accounts: dict[int, set[int]] = {}
    for number_id, account_id in session.execute(select(Keyword.access_number_id, Keyword.account_id)
                                                 .where(Keyword.account_id.is_not(None)).distinct()):
        keyword_accounts.setdefault(number_id, set()).add(account_id)
    for number in session.scalars(select(AccessNumber).order_by(AccessNumber.id)):
        accounts = keyword_accounts.get(number.id, set()) | ({number.account_id} - {None})
        limits = [days_of[account] for account in accounts if account in days_of]
        if limits:
            scopes.append(RetentionScope(
                f"messages without an account on access number {number.id}", min(limits),
                (Message.account_id.is_(None)) & (Message.iccid == number.iccid),
                (OutboundSms.account_id.is_(None)) & (OutboundSms.iccid == number.iccid), iccid=number.iccid))
    return scopes


def purge_batch(session: Session, scope: RetentionScope, cutoff: datetime, removed: Removed) -> bool:
    """Delete one batch of the scope's rows older than ``cutoff``; True when there may be more."""
    waiting = (exists().where(Delivery.message_id == Message.id, Delivery.status == "pending")
               | exists().where(MmsTransfer.message_id == Message.id, MmsTransfer.status == "pending"))
    message_ids = session.scalars(select(Message.id).where(scope.messages, Message.received_at < cutoff, ~waiting)
                                  .order_by(Message.id).limit(BATCH)).all()
    delete_messages(session, message_ids, removed)
    outbound_ids = session.scalars(select(OutboundSms.id).where(
        scope.outbound, OutboundSms.created_at < cutoff, OutboundSms.status.in_(FINISHED_OUTBOUND))
        .order_by(OutboundSms.id).limit(BATCH)).all()
    delete_outbound(session, outbound_ids, removed)
    if scope.account_id is not None:
        # Numbers a group send skipped (opted out, not a number): no text went, the line alone names them.
        old_sends = select(GroupSend.id).where(GroupSend.account_id == scope.account_id,
                                               GroupSend.created_at < cutoff,
                                               GroupSend.status.in_(("done", "failed", "cancelled")))
        removed.add("group_send_recipients", _deleted(session, delete(GroupSendRecipient).where(
            GroupSendRecipient.group_send_id.in_(old_sends), GroupSendRecipient.outbound_id.is_(None))))
    if scope.iccid is not None:
        # Reports the network sent for texts the box no longer knows: the SIM's, with no account.
        removed.add("status_reports", _deleted(session, delete(StatusReport).where(
            StatusReport.iccid == scope.iccid, StatusReport.outbound_part_id.is_(None),
            StatusReport.received_at < cutoff)))
    find_unreferenced_files(session, removed)
    return len(message_ids) == BATCH or len(outbound_ids) == BATCH


def purge_expired(sessions: sessionmaker[Session], store: AttachmentStore,
                  now: datetime | None = None) -> dict[str, dict[str, int]]:
    """The scheduled job: every scope's rows older than its retention, one audited transaction per
    batch, files deleted after each commit. Returns what went, per scope that lost anything."""
    now = now or utcnow()
    with sessions() as session:
        scopes = retention_scopes(session)
    purged: dict[str, dict[str, int]] = {}
    for scope in scopes:
        cutoff = now - timedelta(days=scope.days)
        total: Counter[str] = Counter()
        more = True
        while more:
            removed = Removed()
            with sessions.begin() as session:
                more = purge_batch(session, scope, cutoff, removed)
                if removed.counts:
                    record(session, "retention.purge", actor=SYSTEM, target=scope.label,
                           details={"days": scope.days, "before": cutoff.isoformat(), **removed.summary()})
            delete_files(sessions, store, removed)
            total.update(removed.summary())
        if total:
            purged[scope.label] = dict(total)
            log.info("retention: %s, older than %d days: %s", scope.label, scope.days,
                     ", ".join(f"{count} {kind}" for kind, count in sorted(total.items())))
    return purged
