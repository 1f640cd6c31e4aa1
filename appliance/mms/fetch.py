"""Fetching announced MMS from the operator's MMSC, storing their parts, telling the MMSC.

Immediate retrieval as OMA-TS-MMS_CTR describes it: GET the content location (through the
operator's WAP/HTTP proxy), then POST an m-notifyresp-ind with X-Mms-Status Retrieved (or
Unrecognised for bytes that do not decode). An MMSC that never hears the NotifyResp announces the
message again; the transfer row makes that harmless.

Failures: connection errors, timeouts, 5xx and a body cut short are retried with backoff (30 s
doubling to an hour) until the notification's expiry; a 4xx means the MMSC will not give it (failed);
bytes that do not decode are kept as a file and the message marked undecodable.

Bearer (bearer.py): each fetch (the GET and its NotifyResp) runs inside a data call on the access
number's MMS APN through the modem holding the SIM, with host routes to the proxy only, hung up
afterwards; the HTTP client binds to the call's address. A call that cannot be made is retried like
a connection error.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import certifi
import urllib3
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.campaigns.engine import ActionEngine
from appliance.codecs.mms import MmsError, MmsMessage, decode_retrieve_conf, encode_notifyresp_ind
from appliance.db.models import AccessNumber, Message, MmsTransfer, utcnow
from appliance.db.sealed import LockedSecret
from appliance.delivery.outbox import enqueue_for_messages
from appliance.mms.bearer import BearerError, MmsBearer
from appliance.modem.data_call import Apn
from appliance.reception.routing import RoutingTable, routed_fields

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# A notification without an expiry is tried this long.
DEFAULT_LIFETIME = timedelta(days=7)
MMS_MEDIA_TYPE = "application/vnd.wap.mms-message"


class TransientFetchError(Exception):
    """Worth trying again: no connection, a timeout, a 5xx, a body cut short."""


class PermanentFetchError(Exception):
    """The MMSC will not give this message (4xx, or an error Retrieve-Status)."""


class MmsTransport(Protocol):
    def get(self, url: str, proxy: str | None, source: str | None) -> bytes: ...

    def post(self, url: str, proxy: str | None, source: str | None, body: bytes) -> None: ...


class HttpTransport:
    """HTTP to the MMSC, through the operator's proxy (``host:port``) when one is configured, from
    the data call's address when there is one.

    urllib3 itself, not requests: requests would add some 4 MiB to the daemon's resident memory, most
    of it charset_normalizer guessing text encodings an MMS client never needs."""

    # Redirects are followed (as browsers and MMS clients do); nothing is retried here, the fetcher's
    # backoff decides when to try again.
    _RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=30)

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def _pool(self, proxy: str | None, source: str | None) -> urllib3.PoolManager:
        """A pool for one request: the operator's proxy, never one from the environment (urllib3 reads
        none); connections to it or to the MMSC from the data call's address."""
        options: dict[str, Any] = {"timeout": self._timeout, "retries": self._RETRIES,
                                   "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
        if source is not None:
            options["source_address"] = (source, 0)
        return urllib3.ProxyManager(f"http://{proxy}", **options) if proxy else urllib3.PoolManager(**options)

    def _request(self, method: str, url: str, proxy: str | None, source: str | None,
                 body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        headers = {"User-Agent": "sms-appliance/1 (MMS client)", "Accept": f"{MMS_MEDIA_TYPE}, */*",
                   **urllib3.util.make_headers(accept_encoding=True)}
        if body is not None:
            headers["Content-Type"] = MMS_MEDIA_TYPE
        try:
            with self._pool(proxy, source) as pool:
                return pool.request(method, url, body=body, headers=headers)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            failure = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
            raise TransientFetchError(f"{type(failure).__name__}: {failure}") from exc

    def get(self, url: str, proxy: str | None, source: str | None) -> bytes:
        response = self._request("GET", url, proxy, source)
        if response.status >= 500:
            raise TransientFetchError(f"MMSC answered {response.status} {response.reason}")
        if response.status >= 400:
            raise PermanentFetchError(f"MMSC answered {response.status} {response.reason}")
        return response.data

    def post(self, url: str, proxy: str | None, source: str | None, body: bytes) -> None:
        response = self._request("POST", url, proxy, source, body)
        if response.status >= 300:
            raise TransientFetchError(f"MMSC answered {response.status} {response.reason} to our report")


@dataclass(frozen=True)
class _Job:
    transfer_id: int
    transaction_id: str
    version: str
    content_location: str
    proxy: str | None
    mmsc_url: str | None
    iccid: str
    apn: Apn
    # Why the APN's password cannot be used (appliance.db.sealed), if it cannot.
    apn_problem: str | None = None


class MmsFetcher:
    """Works the due transfers, one at a time, in its own thread (woken when a notification arrives)."""

    def __init__(self, session_factory: sessionmaker[Session], attachments: AttachmentStore,
                 transport: MmsTransport, bearer: MmsBearer, *, first_retry: timedelta = FIRST_RETRY,
                 check_seconds: float = 5.0, on_retrieved: Callable[[], None] | None = None) -> None:
        self._sessions = session_factory
        self._attachments = attachments
        self._transport = transport
        self._bearer = bearer
        self._on_retrieved = on_retrieved
        self._first_retry = first_retry
        self._check_seconds = check_seconds
        self._routing = RoutingTable()
        self.actions = ActionEngine()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mms-fetch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._check_seconds)
            self._wake.clear()
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - the worker must survive anything one transfer does
                log.exception("MMS fetch round failed")

    def recover_interrupted(self, now: datetime | None = None) -> int:
        """Make pending transfers due now: at start, a lease (``_claim``) can only be one a killed run
        left, and waiting it out would hold its MMS back five minutes. Storing stays once: one row per
        SIM and transaction id. Returns how many were waiting for later."""
        moment = now or utcnow()
        with self._sessions.begin() as session:
            result = session.execute(update(MmsTransfer)
                                     .where(MmsTransfer.status == "pending", MmsTransfer.next_attempt_at > moment)
                                     .values(next_attempt_at=moment))
            return result.rowcount or 0

    def run_due(self, now: datetime | None = None) -> int:
        moment = now or utcnow()
        with self._sessions() as session:
            due = session.scalars(select(MmsTransfer.id).where(MmsTransfer.status == "pending",
                                                               MmsTransfer.next_attempt_at <= moment)
                                  .order_by(MmsTransfer.id)).all()
        for transfer_id in due:
            if self._stopping.is_set():
                break
            self._work(transfer_id, moment)
        return len(due)

    def _work(self, transfer_id: int, now: datetime) -> None:
        job = self._claim(transfer_id, now)
        if job is None:
            return
        if job.apn_problem:
            self._retry_or_expire(transfer_id, f"no data connection: the APN password cannot be used: {job.apn_problem}")
            return
        try:
            with self._bearer.open(job.iccid, job.apn, job.content_location, job.proxy) as source:
                self._fetch(job, source)
        except BearerError as exc:
            self._retry_or_expire(transfer_id, f"no data connection: {exc}")

    def _fetch(self, job: _Job, source: str | None) -> None:
        transfer_id = job.transfer_id
        try:
            body = self._transport.get(job.content_location, job.proxy, source)
        except TransientFetchError as exc:
            self._retry_or_expire(transfer_id, str(exc))
            return
        except PermanentFetchError as exc:
            self._finish(transfer_id, "failed", "failed", str(exc))
            return
        try:
            mms = read_retrieve_conf(body)
            if mms.retrieve_status not in (None, 0x80):
                raise PermanentFetchError(f"MMSC Retrieve-Status 0x{mms.retrieve_status:02X}: "
                                          f"{mms.retrieve_text or 'no text'}")
        except MmsError as exc:
            self._keep_undecodable(transfer_id, body, str(exc))
            self._notify(job, source, "unrecognised")
            return
        except PermanentFetchError as exc:
            self._finish(transfer_id, "failed", "failed", str(exc))
            return
        try:
            self._store(transfer_id, body, mms)
        except (OSError, SQLAlchemyError) as exc:
            # A full disk or a busy database here: the MMSC keeps the MMS, so try again as after any
            # failed attempt rather than leave the transfer on its lease for minutes.
            self._retry_or_expire(transfer_id, f"fetched but not stored: {getattr(exc, 'orig', None) or exc}")
            return
        if self._on_retrieved is not None:
            self._on_retrieved()
        self._notify(job, source, "retrieved")

    def _claim(self, transfer_id: int, now: datetime) -> _Job | None:
        """Take a lease on the transfer (several appliances may share one PostgreSQL)."""
        with self._sessions.begin() as session:
            transfer = session.scalar(select(MmsTransfer).where(MmsTransfer.id == transfer_id,
                                                                MmsTransfer.status == "pending")
                                      .with_for_update(skip_locked=True))
            if transfer is None:
                return None
            if now > (transfer.expiry or transfer.created_at + DEFAULT_LIFETIME):
                self._mark(session, transfer, "expired", "expired",
                           "the MMS expired at the MMSC before it could be fetched")
                return None
            transfer.attempts += 1
            transfer.next_attempt_at = now + timedelta(minutes=5)  # the lease; replaced when done
            access = session.scalar(select(AccessNumber).where(AccessNumber.iccid == transfer.iccid))
            password = access.mms_apn_password if access else None
            locked = password if isinstance(password, LockedSecret) else None
            apn = Apn(access.mms_apn or "", access.mms_apn_user or "", "" if locked else password or "") if access \
                else Apn("")
            return _Job(transfer.id, transfer.transaction_id, transfer.mms_version or "1.2",
                        transfer.content_location, access.mms_proxy if access else None,
                        access.mmsc_url if access else None, transfer.iccid, apn,
                        locked.reason if locked else None)

    def _retry_or_expire(self, transfer_id: int, error: str) -> None:
        with self._sessions.begin() as session:
            transfer = session.get(MmsTransfer, transfer_id)
            assert transfer is not None
            now = utcnow()
            delay = min(self._first_retry * 2 ** (transfer.attempts - 1), MAX_RETRY) * random.uniform(0.8, 1.2)
            deadline = transfer.expiry or transfer.created_at + DEFAULT_LIFETIME
            if now + delay > deadline:
                self._mark(session, transfer, "expired", "expired", f"expired while fetching failed: {error}")
                return
            transfer.next_attempt_at = now + delay
            transfer.last_error = error
            message = session.get(Message, transfer.message_id)
            if message is not None:
                message.error = f"fetch attempt {transfer.attempts} failed: {error}; trying again"
            log.warning("MMS %s: %s; attempt %d in %s", transfer.transaction_id, error, transfer.attempts + 1,
                        delay)

    def _finish(self, transfer_id: int, transfer_status: str, message_status: str, error: str) -> None:
        with self._sessions.begin() as session:
            transfer = session.get(MmsTransfer, transfer_id)
            assert transfer is not None
            self._mark(session, transfer, transfer_status, message_status, error)

    @staticmethod
    def _mark(session: Session, transfer: MmsTransfer, transfer_status: str, message_status: str,
              error: str | None) -> None:
        transfer.status = transfer_status
        transfer.last_error = error
        transfer.finished_at = utcnow()
        message = session.get(Message, transfer.message_id)
        if message is not None:
            message.status = message_status
            message.error = error
        if error:
            log.warning("MMS %s: %s (%s)", transfer.transaction_id, transfer_status, error)

    def _keep_undecodable(self, transfer_id: int, body: bytes, error: str) -> None:
        digest = self._attachments.put(body)
        with self._sessions.begin() as session:
            transfer = session.get(MmsTransfer, transfer_id)
            assert transfer is not None
            transfer.raw_sha256 = digest
            self._mark(session, transfer, "undecodable", "undecodable",
                       f"the MMS from the MMSC does not decode ({error}); its {len(body)} bytes are kept")

    def _store(self, transfer_id: int, body: bytes, mms: MmsMessage) -> None:
        digest = self._attachments.put(body)
        with self._sessions.begin() as session:
            transfer = session.get(MmsTransfer, transfer_id)
            assert transfer is not None
            message = session.get(Message, transfer.message_id)
            assert message is not None
            self._attachments.add_parts(session, message, [
                (p.content_type, p.name, p.data, _charset(p.params), p.content_id, p.content_location)
                for p in mms.parts])
            texts = [p.text for p in mms.parts if p.content_type == "text/plain" and p.text]
            message.text = "\n".join(texts) if texts else None
            message.subject = mms.subject or message.subject
            message.sender = mms.sender or message.sender
            transfer.raw_sha256 = digest
            self._mark(session, transfer, "retrieved", "unmatched", None)
            # Keywords match the MMS text, or its subject when it has no text.
            router = self._routing.router_for(session, message.iccid)
            decision = router.route(message.text or message.subject or "") if router is not None else None
            for name, value in routed_fields(decision, "unmatched").items():
                setattr(message, name, value)
            self.actions.run(session, [message.id])
            enqueue_for_messages(session, [message.id])
            log.info("MMS %s from %s retrieved: %d parts, %d bytes", transfer.transaction_id, message.sender,
                     len(mms.parts), len(body))

    def _notify(self, job: _Job, source: str | None, status: str) -> None:
        """m-notifyresp-ind; losing it only makes the MMSC announce the message again."""
        if not job.mmsc_url:
            log.warning("MMS %s: no MMSC URL for its access number, the MMSC is not told it was %s",
                        job.transaction_id, status)
            return
        try:
            self._transport.post(job.mmsc_url, job.proxy, source,
                                 encode_notifyresp_ind(job.transaction_id, status=status, version=job.version))
        except TransientFetchError as exc:
            log.warning("MMS %s: NotifyResp not delivered (%s); the MMSC may announce it again",
                        job.transaction_id, exc)


def read_retrieve_conf(body: bytes) -> MmsMessage:
    """The fetched MMS; MmsError when it does not decode or when its From is longer than the sender
    column: PostgreSQL would refuse the row and the fetch fail again until the MMS expired."""
    mms = decode_retrieve_conf(body)
    limit = Message.__table__.c.sender.type.length
    if mms.sender is not None and len(mms.sender) > limit:
        raise MmsError(f"From of {len(mms.sender)} characters is longer than the {limit} kept")
    return mms


def _charset(params: dict[str, object]) -> str | None:
    value = params.get("charset")
    return value if isinstance(value, str) else None
