"""The outbox: a delivery row per (message, target), written with the message, worked until it lands.

Why a table and not a queue in memory: the row is inserted in the transaction that stores (or, for
an MMS, fetches) the message, so a message committed is a message whose forwards exist, whatever
crashes next. A worker then tries each due row; a row leaves ``pending`` only as ``delivered`` or, after
``give_up_at`` (the target's ``give_up_hours`` after the message arrived), as ``dead`` — visible, and
retried by hand from the panel or ``POST /api/v1/deliveries/{id}/retry``.

At least once, never silently twice: a worker takes rows with a lease (``next_attempt_at`` moved past
the attempt's longest duration, by compare-and-set), so several workers and several appliances on one
database never send one row at the same time; a worker killed
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from appliance.db.models import (
    AccessNumber,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Keyword,
    Message,
    utcnow,
)
from appliance.representation import message_json, msisdns_by_iccid

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
    started_at: datetime | None = None  # filled in by the worker


# The delivery id of a test send (panel, API): a sample message, no outbox row behind it.
TEST_DELIVERY_ID = 0


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
    if not ids or session.scalar(select(ForwardTarget.id).where(ForwardTarget.enabled.is_(True)).limit(1)) is None:
        return 0  # no target anywhere: one cheap query per stored batch
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

    A round takes up to ``batch`` due rows in one transaction (each by compare-and-set, with a lease
    of the longest of their targets' timeouts plus ``LEASE_MARGIN``), sends them all at once on a pool
    of ``batch`` threads (so the round ends within that lease), and records every result in one
    transaction: two commits per round, however many deliveries it carries. A worker killed mid-round
    strands at most one round's rows for one lease.

    ``base_url`` (the appliance as receivers reach it, ``http://appliance.local:8080/``) makes the
    attachment download URLs in forwards absolute.
    """

    def __init__(self, session_factory: sessionmaker[Session], channels: Mapping[str, Channel], base_url: str,
                 *, check_seconds: float = 5.0, first_retry: timedelta = FIRST_RETRY, batch: int = 16) -> None:
        self._sessions = session_factory
        self._channels = dict(channels)
        self._base_url = base_url
        self._check_seconds = check_seconds
        self._first_retry = first_retry
        self._batch = batch
        self._pool = ThreadPoolExecutor(max_workers=batch, thread_name_prefix="outbox-send")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                while self.run_due() and not self._stopping.is_set():
                    pass
            except Exception:  # noqa: BLE001 - the worker must outlive any one delivery's trouble
                log.exception("outbox round failed")
            self._wake.wait(self._check_seconds)

    def run_due(self, now: datetime | None = None) -> int:
        """One round: take up to ``batch`` due deliveries, send them, record; returns how many it took."""
        jobs = self._claim(now or utcnow())
        if not jobs:
            return 0
        results = list(self._pool.map(self._send, jobs))
        self._record(list(zip(jobs, results, strict=True)))
        return len(jobs)

    def _claim(self, moment: datetime) -> list[DeliveryJob]:
        """Take due rows and read what their attempts need, then let go of the database.

        A row is taken only if nobody took it since we looked (``next_attempt_at`` unchanged): a
        compare-and-set, which is what keeps two workers off one row on SQLite (no row locks there);
        on PostgreSQL ``SKIP LOCKED`` also keeps them from waiting on each other.
        """
        with self._sessions.begin() as session:
            due = list(session.scalars(
                select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= moment)
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(self._batch)
                .with_for_update(skip_locked=True)))
            if not due:
                return []
            targets = {t.id: t for t in session.scalars(
                select(ForwardTarget).where(ForwardTarget.id.in_({d.target_id for d in due})))}
            messages = {m.id: m for m in session.scalars(
                select(Message).where(Message.id.in_({d.message_id for d in due}))
                .options(selectinload(Message.attachments)))}
            msisdns = msisdns_by_iccid(session, list({m.iccid for m in messages.values()}))
            lease = utcnow() + LEASE_MARGIN + timedelta(
                seconds=max((t.timeout_seconds for t in targets.values()), default=0.0))
            jobs = []
            for delivery in due:
                target, message = targets.get(delivery.target_id), messages.get(delivery.message_id)
                if target is None or message is None:
                    delivery.status, delivery.last_error = "dead", "its target or message was deleted"
                    continue
                taken = session.execute(
                    update(Delivery).where(Delivery.id == delivery.id, Delivery.status == "pending",
                                           Delivery.next_attempt_at == delivery.next_attempt_at)
                    .values(next_attempt_at=lease, attempts=Delivery.attempts + 1)
                    .execution_options(synchronize_session=False))
                if taken.rowcount != 1:
                    continue
                body = message_json(message, msisdns=msisdns, base_url=self._base_url)
                # A token the key file cannot open (appliance.db.sealed) leaves the links bare: the
                # receiver is refused the download, the message itself still goes.
                token = target.download_token if isinstance(target.download_token, str) else None
                for attachment in body["attachments"]:
                    for key in ("url", "thumbnail_url"):
                        if attachment.get(key) and token:
                            attachment[key] += f"?token={token}"
                jobs.append(DeliveryJob(delivery.id, delivery.idempotency_key, delivery.attempts + 1, target, body,
                                        message.iccid))
            session.expunge_all()
            return jobs

    def _send(self, job: DeliveryJob) -> AttemptResult:
        channel = self._channels.get(job.target.kind)
        if channel is None:
            return AttemptResult(False, error=f"no channel for {job.target.kind} targets on this appliance")
        started, clock = utcnow(), time.monotonic()
        try:
            result = channel.deliver(job)
        except Exception as exc:  # noqa: BLE001 - a bug in one channel is that delivery's failure
            log.exception("delivery %d: %s channel failed", job.delivery_id, job.target.kind)
            result = AttemptResult(False, error=f"{type(exc).__name__}: {exc}")
        return replace(result, started_at=started,
                       duration_ms=result.duration_ms or (time.monotonic() - clock) * 1000)

    def _record(self, outcomes: list[tuple[DeliveryJob, AttemptResult]]) -> None:
        with self._sessions.begin() as session:
            deliveries = {d.id: d for d in session.scalars(
                select(Delivery).where(Delivery.id.in_([job.delivery_id for job, _ in outcomes])))}
            for job, result in outcomes:
                delivery = deliveries.get(job.delivery_id)
                if delivery is not None:
                    self._record_one(session, delivery, job, result)

    def _record_one(self, session: Session, delivery: Delivery, job: DeliveryJob, result: AttemptResult) -> None:
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempt=job.attempt, started_at=result.started_at,
                                    duration_ms=result.duration_ms, ok=result.ok, status_code=result.status_code,
                                    error=result.error, excerpt=result.excerpt))
        delivery.last_status_code, delivery.last_error = result.status_code, result.error
        if result.ok:
            delivery.status, delivery.delivered_at = "delivered", delivery.delivered_at or utcnow()
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
