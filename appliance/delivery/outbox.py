"""The outbox: a delivery row per (message, target), written with the message, worked until it lands.

Why a table and not a queue in memory: the row is inserted in the transaction that stores (or, for
an MMS, fetches) the message, so a message committed is a message whose forwards exist, whatever
crashes next. A worker then tries each due row; a row leaves ``pending`` only as ``delivered`` or, after
``give_up_at`` (the target's ``give_up_hours`` after the message arrived), as ``dead`` — visible, and
retried by hand from the panel or ``POST /api/v1/deliveries/{id}/retry``.

At least once, never silently twice: a worker takes one row at a time with a lease
(``next_attempt_at`` moved past the attempt's longest duration, by compare-and-set), so several
workers and several appliances on one database never send one row at the same time; a worker killed
mid-send leaves the lease to expire and the row is sent again — with the same ``idempotency_key``
(``X-Appliance-Message-Id``), which is how receivers drop the repeat.

Which messages: complete ones that belong to an account (``routed``/``unmatched`` with an account,
an MMS once fetched, a partial multipart set once released), one delivery per message however many
SMS parts it came in. Which targets: the account's enabled targets whose filters (access number,
keyword) match and that are not ``actions_only``, plus any target a ``forward`` action of the
message's keyword names.

Backoff: ``forward_first_retry_seconds`` (5 s) after the first failure, doubling to at most an hour,
±20 % jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import (
    AccessNumber,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Keyword,
    Message,
    utcnow,
)
from appliance.representation import message_json

log = logging.getLogger(__name__)

FORWARDED_STATUSES = ("routed", "unmatched", "partial")
FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY = timedelta(hours=1)
# A row taken for an attempt is left alone for its target's timeout plus this.
LEASE_MARGIN = timedelta(seconds=10)
_IN_CHUNK = 500


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    duration_ms: float = 0.0
    # Trying again cannot help (the mail server refused the address for good): dead at once.
    permanent: bool = False


@dataclass(frozen=True)
class DeliveryJob:
    """What a channel needs for one attempt, read before it and held in no transaction: a send can
    take a timeout's length, and SQLite must not be kept locked for it."""

    delivery_id: int
    idempotency_key: str
    attempt: int
    target: ForwardTarget  # detached copy
    message: dict[str, Any]  # representation.message_json, attachment URLs carrying the target's token
    iccid: str  # the SIM the message came in on (an SMS forward goes out through it)


class Channel(Protocol):
    """Sends one delivery of one kind (url, email, sms); never raises for the receiver's trouble."""

    def deliver(self, job: DeliveryJob) -> AttemptResult: ...


# --- writing the outbox (inside the message's transaction) ----------------------------------------


def forward_action_targets(keyword: Keyword | None) -> set[int]:
    """Targets a keyword's ``forward`` actions name."""
    targets: set[int] = set()
    for action in (keyword.actions if keyword is not None else None) or []:
        if action.get("type") == "forward":
            try:
                targets.add(int(action.get("target")))
            except (TypeError, ValueError):
                continue
    return targets


def _matches(target: ForwardTarget, message: Message, access_number_id: int | None) -> bool:
    if target.actions_only:
        return False
    if target.access_number_id is not None and target.access_number_id != access_number_id:
        return False
    return target.keyword_id is None or target.keyword_id == message.keyword_id


def enqueue_for_messages(session: Session, message_ids: Iterable[int], now: datetime | None = None) -> int:
    """Add the deliveries these messages are due (none twice); returns how many were added."""
    ids = sorted(set(message_ids))
    messages: list[Message] = []
    for start in range(0, len(ids), _IN_CHUNK):
        messages.extend(session.scalars(select(Message).where(
            Message.id.in_(ids[start:start + _IN_CHUNK]), Message.status.in_(FORWARDED_STATUSES),
            Message.account_id.is_not(None))))
    if not messages:
        return 0
    accounts = {m.account_id for m in messages}
    targets = list(session.scalars(select(ForwardTarget).where(ForwardTarget.account_id.in_(accounts),
                                                               ForwardTarget.enabled.is_(True))))
    if not targets:
        return 0
    numbers = dict(session.execute(select(AccessNumber.iccid, AccessNumber.id).where(
        AccessNumber.iccid.in_({m.iccid for m in messages}))).all())
    keywords = {k.id: k for k in session.scalars(select(Keyword).where(
        Keyword.id.in_({m.keyword_id for m in messages if m.keyword_id is not None})))}
    existing = set(session.execute(select(Delivery.target_id, Delivery.message_id).where(
        Delivery.message_id.in_([m.id for m in messages]))).all())
    moment = now or utcnow()
    added = 0
    for message in messages:
        named = forward_action_targets(keywords.get(message.keyword_id)) if message.keyword_id else set()
        for target in targets:
            if target.account_id != message.account_id or (target.id, message.id) in existing:
                continue
            if target.id in named or _matches(target, message, numbers.get(message.iccid)):
                session.add(Delivery(target_id=target.id, message_id=message.id,
                                     idempotency_key=uuid.uuid4().hex, next_attempt_at=moment,
                                     give_up_at=message.received_at + timedelta(hours=target.give_up_hours)))
                existing.add((target.id, message.id))
                added += 1
    if added:
        session.flush()
    return added


def retry(session: Session, delivery: Delivery, now: datetime | None = None) -> None:
    """By hand: try again now, and for another ``give_up_hours`` before giving up again."""
    moment = now or utcnow()
    target = session.get(ForwardTarget, delivery.target_id)
    delivery.status = "pending"
    delivery.next_attempt_at = moment
    delivery.give_up_at = moment + timedelta(hours=target.give_up_hours if target else 24.0)


# --- working it ---------------------------------------------------------------------------------------


class OutboxWorker:
    """Sends due deliveries in its own thread; woken when messages are stored, else every few seconds.

    ``base_url`` (the appliance as receivers reach it, ``http://appliance.local:8080/``) makes the
    attachment download URLs in forwards absolute.
    """

    def __init__(self, session_factory: sessionmaker[Session], channels: Mapping[str, Channel], base_url: str,
                 *, check_seconds: float = 5.0, first_retry: timedelta = FIRST_RETRY, batch: int = 50) -> None:
        self._sessions = session_factory
        self._channels = dict(channels)
        self._base_url = base_url
        self._check_seconds = check_seconds
        self._first_retry = first_retry
        self._batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while self.run_due() and not self._stopping.is_set():
                    pass
            except Exception:  # noqa: BLE001 - the worker must outlive any one delivery's trouble
                log.exception("outbox round failed")
            self._wake.wait(self._check_seconds)
            self._wake.clear()

    def run_due(self, now: datetime | None = None) -> int:
        """Send up to one batch of due deliveries; returns how many this worker took."""
        moment = now or utcnow()
        with self._sessions() as session:
            due = session.execute(
                select(Delivery.id, Delivery.next_attempt_at)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= moment)
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(self._batch)).all()
        taken = 0
        for delivery_id, seen in due:
            if self._stopping.is_set():
                break
            job = self._claim(delivery_id, seen)
            if job is not None:
                taken += 1
                self._record(job, self._send(job))
        return taken

    def _claim(self, delivery_id: int, seen: datetime) -> DeliveryJob | None:
        """Take one row for one attempt, read what the attempt needs, and let go of the database.

        The lease (``next_attempt_at`` moved past the attempt's longest possible duration) is taken
        only if nobody took the row since we looked: a compare-and-set, which is what keeps two
        workers off one row on SQLite (no row locks there), and is as cheap as ``SKIP LOCKED`` on
        PostgreSQL. One row at a time, so a worker killed mid-attempt strands one row for one lease.
        """
        with self._sessions.begin() as session:
            # PostgreSQL: a row another worker is claiming this instant is skipped, not waited for.
            delivery = session.get(Delivery, delivery_id, with_for_update={"skip_locked": True})
            if delivery is None or delivery.status != "pending":
                return None
            target = session.get(ForwardTarget, delivery.target_id)
            message = session.get(Message, delivery.message_id)
            if target is None or message is None:
                delivery.status, delivery.last_error = "dead", "its target or message was deleted"
                return None
            lease = utcnow() + timedelta(seconds=target.timeout_seconds) + LEASE_MARGIN
            taken = session.execute(
                update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending",
                                       Delivery.next_attempt_at == seen)
                .values(next_attempt_at=lease, attempts=Delivery.attempts + 1)
                .execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                return None
            body = message_json(message, base_url=self._base_url)
            for attachment in body["attachments"]:
                for key in ("url", "thumbnail_url"):
                    if attachment.get(key):
                        attachment[key] += f"?token={target.download_token}"
            session.expunge(target)
            return DeliveryJob(delivery_id, delivery.idempotency_key, delivery.attempts + 1, target, body,
                               message.iccid)

    def _send(self, job: DeliveryJob) -> AttemptResult:
        channel = self._channels.get(job.target.kind)
        if channel is None:
            return AttemptResult(False, error=f"no channel for {job.target.kind} targets on this appliance")
        clock = time.monotonic()
        try:
            result = channel.deliver(job)
        except Exception as exc:  # noqa: BLE001 - a bug in one channel is that delivery's failure
            log.exception("delivery %d: %s channel failed", job.delivery_id, job.target.kind)
            result = AttemptResult(False, error=f"{type(exc).__name__}: {exc}")
        if not result.duration_ms:
            result = replace(result, duration_ms=(time.monotonic() - clock) * 1000)
        return result

    def _record(self, job: DeliveryJob, result: AttemptResult) -> None:
        with self._sessions.begin() as session:
            delivery = session.get(Delivery, job.delivery_id)
            assert delivery is not None
            session.add(DeliveryAttempt(delivery_id=delivery.id, attempt=job.attempt, duration_ms=result.duration_ms,
                                        ok=result.ok, status_code=result.status_code, error=result.error,
                                        excerpt=result.excerpt))
            delivery.last_status_code, delivery.last_error = result.status_code, result.error
            if result.ok:
                delivery.status, delivery.delivered_at = "delivered", utcnow()
                return
            delay = min(self._first_retry * 2 ** (job.attempt - 1), MAX_RETRY) * random.uniform(0.8, 1.2)
            now = utcnow()
            if result.permanent or now + delay > delivery.give_up_at:
                delivery.status = "dead"
                log.warning("delivery %d of message %s to %s %r given up after %d attempts: %s", delivery.id,
                            job.message["id"], job.target.kind, job.target.name, job.attempt, result.error)
            else:
                delivery.next_attempt_at = now + delay
                log.info("delivery %d to %s %r failed (%s); attempt %d in %.0f s", delivery.id, job.target.kind,
                         job.target.name, result.error, job.attempt + 1, delay.total_seconds())
