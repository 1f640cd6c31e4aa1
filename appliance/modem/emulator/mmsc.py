"""The fake MMSC: the operator's MMS centre and its WAP/HTTP proxy, on one port of 127.0.0.1.

How an MMS reaches an emulated modem (OMA-TS-MMS_CTR, WAP-251 Push):
1. `POST /modems/{id}/mms` `{"from", "subject"?, "parts": [{"content_type", "name", "data_b64",
   "charset"?}], "multipart"?: "related"|"mixed"}` (`Emulator.deliver_mms()`) encodes an
   m-retrieve-conf to the modem's MSISDN: text/* parts get charset UTF-8 unless given; "related"
   (the default, what phones send) puts a SMIL presentation first unless a part is one, "mixed"
   carries the parts alone. `POST /modems/{id}/mms-raw` `{"retrieve_conf_b64", "from",
   "subject"?}` (`deliver_mms_raw()`) takes the bytes as they are, garbage and truncated ones too.
   Both answer `{"modem", "transaction_id", "content_location", "parts", "size", "sms", "expired"}`
   (`parts` null for raw bytes; `smil_added` for /mms).
2. The MMSC keeps the bytes under a new transaction id and a content location
   `http://<operator host>/mms/<token>`; the host is a fake operator name (`mmsc.orange.pl`,
   `mmsc.play.pl`, `mmsc.plus.pl`, `mmsc.t-mobile.pl` by the SIM's MCC+MNC, else `mmsc.example`) that
   nothing but this proxy resolves, as on a real network.
3. The m-notification-ind (version 1.3, from, subject, class personal, size, expiry 7 days relative,
   content location) goes out as a connectionless WSP push (X-Wap-Application-Id mms.ua) in 8-bit
   SMS-DELIVER PDUs to port 2948 from port 9200 (16-bit application port addressing), a
   concatenated set when it does not fit one SMS. The SMS come from the operator's SMSC number: the
   MMS sender is the notification's From, never the SMS originator.
4. The appliance fetches the content location with `GET`, through the proxy
   (`GET http://mmsc.orange.pl/mms/<token> HTTP/1.1` sent to 127.0.0.1:<port>, what
   `urllib3.ProxyManager("http://127.0.0.1:<port>").request("GET", url)` does) or directly
   (`GET http://127.0.0.1:<port>/mms/<token>`). The answer is the stored bytes as they are, with
   `Content-Type: application/vnd.wap.mms-message`. The proxy answers 502 for a host that is not
   an MMSC; an unknown or expired message is 404.
5. It `POST`s m-notifyresp-ind and/or m-acknowledge-ind (Content-Type
   application/vnd.wap.mms-message) to the MMSC URL: any path of an MMSC host through the proxy
   (`http://mmsc.orange.pl/mms`), or `http://127.0.0.1:<port>/mms` (or `/`) directly. Each is decoded
   and logged; the answer is 200 with an empty body (400 with a reason when it does not decode, or is
   another PDU type). The MMSC keeps serving a message after its NotifyResp.

`state_dir/mmsc.json` (and `GET /mmsc`): `{"url": "http://127.0.0.1:<port>/mms", "proxy":
"127.0.0.1:<port>", "operator_proxies": {mcc_mnc: "<address>:8080"} or null, "operators": {mcc_mnc:
"http://<operator host>/mms"}}`. `operator_proxies` are the same proxy at each operator's published
proxy address inside the emulated operator network (operator_network.py), reachable only over a
modem's data call on the operator's MMS APN, as on a real network; null unless the emulator runs
with that network. Fetch and POST log entries carry `client`, the
address the request came from (the data call's address when it came over one).

The log (`GET /modems/{id}/mms-log`, `Emulator.mms_log(id)`; every modem's entries and unmatched
POSTs: `GET /mms-log`) lists `{"transaction_id", "type", "status", "at", "modem"}` in order, `at` in
ISO 8601 UTC with milliseconds, an entry written before the answer it records goes out:
- `m-notification-ind`: status `sent`, or `resent` for a redelivery; `sms` is the number of PDUs.
- `fetch`: status the HTTP status served (`"200"`, `"404"`, `"500"`), `timeout` or `truncated`;
  `bytes` is what is written of the body; `expired` true for an expired message.
- `m-notifyresp-ind`: status the X-Mms-Status as the codec names it (`retrieved`, `deferred`,
  `rejected` …); a NotifyResp for a transaction the MMSC never notified has modem null.
- `m-acknowledge-ind`: status null; `report_allowed` true, false or null.
- `undecodable`: a POST the MMS codec refused (modem null), status the codec's message.

Faults, per modem (`POST /modems/{id}/fault`; `clear` resets them; `count` null means until cleared):
- `mmsc_status` {status=500 (400..599), count=1}: the next fetches answer that status.
- `mmsc_timeout` {seconds=30, count=1}: the connection is accepted and nothing answered; after
  `seconds` it is closed.
- `mmsc_truncate` {bytes, count=1}: the headers announce the whole length, only the first `bytes`
  follow, then the connection closes (a transfer broken off; give truncated bytes to `/mms-raw` for
  a whole answer carrying a truncated MMS).
- `mms_expired` {count=1}: the next notifications carry an absolute expiry an hour past; fetching
  such a message answers 404, as the MMSC has deleted it.
- `mms_redeliver` {seconds, count=1}: for MMS notified from now on, when no m-notifyresp-ind arrives
  within `seconds` the same notification (same transaction id and content location, a new SMS
  concatenation reference) is sent again, at most `count` times per message.
A fetch meets the faults in this order, each spending one of its count: timeout, status, then (an
expired message: 404) truncate.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from appliance.codecs import mms as mms_codec
from appliance.codecs import wsp
from appliance.codecs.sms_pdu import PduError, PortAddress, encode_sms_deliver_data
from appliance.modem.emulator.emulator import BadRequest
from appliance.modem.emulator.sim import OPERATORS

if TYPE_CHECKING:
    import re

    from appliance.modem.emulator.control_api import ControlApi
    from appliance.modem.emulator.emulator import Emulator
    from appliance.modem.emulator.operator_network import OperatorNetwork

log = logging.getLogger(__name__)

MMS_CONTENT_TYPE = "application/vnd.wap.mms-message"
SMIL_TYPE = "application/smil"
WAP_PUSH_PORTS = PortAddress(destination=2948, source=9200, bits=16)  # WAP-259 WDP: WAP push, connectionless
DEFAULT_EXPIRY = timedelta(days=7)
EXPIRED_AGO = timedelta(hours=1)
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_POST = 1 << 20
# Fake MMSC host names per operator (MCC+MNC); only the proxy resolves them.
MMSC_HOSTS = {
    "26003": "mmsc.orange.pl",
    "26006": "mmsc.play.pl",
    "26001": "mmsc.plus.pl",
    "26002": "mmsc.t-mobile.pl",
}
FALLBACK_HOST = "mmsc.example"
MMSC_FAULT_KINDS = ("mmsc_status", "mmsc_timeout", "mmsc_truncate", "mms_expired", "mms_redeliver")


@dataclass
class StoredMms:
    """One message the MMSC holds for a modem's subscriber."""

    modem_id: int
    transaction_id: str
    token: str
    content_location: str
    retrieve_conf: bytes
    push: bytes  # the WSP push PDU carrying the m-notification-ind
    expired: bool
    responded: bool = False  # an m-notifyresp-ind arrived
    resends_left: float = 0.0
    resend_every: float = 0.0
    resend_at: float = math.inf  # time.monotonic()


@dataclass
class MmscFaults:
    """What the MMSC does wrong for one modem's messages."""

    status: int = 500
    statuses_left: float = 0.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    timeouts_left: float = 0.0
    truncate_bytes: int = 0
    truncations_left: float = 0.0
    expired_left: float = 0.0
    redeliver_seconds: float | None = None
    redeliver_count: float = 0.0


@dataclass
class _Fetch:
    """How the MMSC answers one GET."""

    status: int = 200
    body: bytes = b""
    stored: StoredMms | None = None
    timeout: float | None = None  # answer nothing, close after this many seconds
    truncate: int | None = None  # write only this many bytes of the body
    log_status: str = "200"
    extra: dict[str, Any] = field(default_factory=dict)


class FakeMmsc:
    """The MMSC and MMS proxy the emulated modems' operators run; see the module docstring."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._by_token: dict[str, StoredMms] = {}
        self._by_transaction: dict[str, StoredMms] = {}
        self._faults: dict[int, MmscFaults] = {}
        self._log: list[dict[str, Any]] = []
        self._rng = random.Random(f"mmsc:{emulator.seed}")
        self._counter = 0
        self._wsp_tid = 0
        self._stopping = threading.Event()
        self._wakeup = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-mmsc", daemon=True
        )
        self._redeliver_thread = threading.Thread(
            target=self._redeliver_loop, name="fake-mmsc-redeliver", daemon=True
        )
        self._operator_server: ThreadingHTTPServer | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def proxy(self) -> str:
        """host:port of the MMS proxy (the same server)."""
        return f"{self._server.server_address[0]}:{self.port}"

    @property
    def url(self) -> str:
        """The MMSC URL reached directly, without the proxy."""
        return f"http://{self.proxy}/mms"

    @property
    def operator_proxies(self) -> dict[str, str] | None:
        """Each operator's proxy (host:port) inside the operator network, reachable over a data call."""
        if self._operator_server is None:
            return None
        return {operator.mcc_mnc: operator.mms_proxy for operator in OPERATORS}

    def start(self) -> None:
        self._serve_thread.start()
        self._redeliver_thread.start()

    def listen_in_operator_network(self, network: OperatorNetwork) -> None:
        """Serve the proxy on the operator network's proxy address too, as the operator does."""
        server = ThreadingHTTPServer(("0.0.0.0", 0), _handler_class(self), bind_and_activate=False)
        server.socket.close()
        server.socket = network.listen()
        server.server_address = server.socket.getsockname()
        server.daemon_threads = True
        self._operator_server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-mmsc-operator", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()  # ends the silences of mmsc_timeout
        with self._wakeup:
            self._wakeup.notify_all()
        for server in (self._server, self._operator_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._serve_thread.join(timeout=5)
        self._redeliver_thread.join(timeout=5)

    def describe(self) -> dict[str, Any]:
        """What mmsc.json holds: the direct URL, the proxy, and each operator's MMSC URL behind it."""
        return {
            "url": self.url,
            "proxy": self.proxy,
            "operator_proxies": self.operator_proxies,
            "operators": {mcc_mnc: f"http://{host}/mms" for mcc_mnc, host in MMSC_HOSTS.items()},
        }

    # ---- messages in ----------------------------------------------------------------------

    def deliver_mms(
        self,
        modem_id: int,
        sender: str,
        parts: Sequence[tuple[Any, ...]],
        subject: str | None = None,
        multipart: str = "related",
    ) -> dict[str, Any]:
        """Encode an m-retrieve-conf of `parts` ((content_type, name, data[, charset]); text/* parts
        default to UTF-8), store it and notify the modem. `multipart` "related" (what phones send)
        puts a SMIL presentation first unless the parts hold one; "mixed" carries the parts alone."""
        modem = self.emulator.modem(modem_id)
        _check_sender(sender)
        if subject is not None and not isinstance(subject, str):
            raise BadRequest('"subject" must be a string')
        if multipart not in ("related", "mixed"):
            raise BadRequest(f'"multipart" {multipart!r} is neither "related" nor "mixed"')
        if not isinstance(parts, list | tuple):
            raise BadRequest("parts must be a list of (content_type, name, data[, charset])")
        encoded_parts = [_codec_part(index, part) for index, part in enumerate(parts)]
        if not encoded_parts:
            raise BadRequest("an MMS needs at least one part")
        has_smil = any(part[0].lower() == SMIL_TYPE for part in encoded_parts)
        recipient = _recipient(modem.device, modem_id)
        transaction_id = self._new_transaction_id()
        try:
            retrieve_conf = mms_codec.encode_retrieve_conf(
                sender=sender,
                to=recipient,
                subject=subject,
                parts=encoded_parts,
                date=datetime.now(UTC).replace(microsecond=0),
                message_id=f"{transaction_id}@{self._host_for(modem)}",
                transaction_id=transaction_id,
                multipart=multipart,
                smil="auto",
            )
        except (mms_codec.MmsError, ValueError) as error:
            raise BadRequest(f"cannot encode this MMS: {error}") from None
        result = self._store_and_notify(modem_id, retrieve_conf, sender, subject, transaction_id)
        return {**result, "parts": len(encoded_parts), "smil_added": multipart == "related" and not has_smil}

    def deliver_raw(
        self, modem_id: int, retrieve_conf: bytes, sender: str, subject: str | None = None
    ) -> dict[str, Any]:
        """Store `retrieve_conf` as it is (garbage and truncated bytes included) and notify the modem."""
        self.emulator.modem(modem_id)
        _check_sender(sender)
        if subject is not None and not isinstance(subject, str):
            raise BadRequest('"subject" must be a string')
        result = self._store_and_notify(
            modem_id, bytes(retrieve_conf), sender, subject, self._new_transaction_id()
        )
        return {**result, "parts": None}

    def _store_and_notify(
        self, modem_id: int, retrieve_conf: bytes, sender: str, subject: str | None, transaction_id: str
    ) -> dict[str, Any]:
        modem = self.emulator.modem(modem_id)
        _recipient(modem.device, modem_id)
        with self._lock:
            faults = self._faults.setdefault(modem_id, MmscFaults())
            expired = faults.expired_left > 0
            if expired:
                faults.expired_left -= 1
            redeliver_seconds, redeliver_count = faults.redeliver_seconds, faults.redeliver_count
            token = f"{self._rng.getrandbits(64):016x}"
            self._wsp_tid = self._wsp_tid % 255 + 1
            wsp_tid = self._wsp_tid
        content_location = f"http://{self._host_for(modem)}/mms/{token}"
        if expired:
            expiry: datetime | timedelta = datetime.now(UTC).replace(microsecond=0) - EXPIRED_AGO
        else:
            expiry = DEFAULT_EXPIRY
        try:
            notification = mms_codec.encode_notification_ind(
                transaction_id=transaction_id,
                sender=sender,
                subject=subject,
                message_class="personal",
                size=len(retrieve_conf),
                expiry=expiry,
                content_location=content_location,
            )
            push = wsp.encode_push(
                wsp_tid,
                MMS_CONTENT_TYPE,
                {"X-Wap-Application-Id": "x-wap-application:mms.ua"},
                notification,
            )
        except (mms_codec.MmsError, ValueError) as error:
            raise BadRequest(f"cannot encode the notification: {error}") from None
        stored = StoredMms(
            modem_id=modem_id,
            transaction_id=transaction_id,
            token=token,
            content_location=content_location,
            retrieve_conf=retrieve_conf,
            push=push,
            expired=expired,
        )
        if redeliver_seconds is not None and redeliver_count > 0:
            stored.resends_left = redeliver_count
            stored.resend_every = redeliver_seconds
            stored.resend_at = time.monotonic() + redeliver_seconds
        with self._lock:
            self._by_token[token] = stored
            self._by_transaction[transaction_id] = stored
        sms = self._send_push(stored, "sent")
        with self._wakeup:
            self._wakeup.notify_all()
        return {
            "modem": modem_id,
            "transaction_id": transaction_id,
            "content_location": content_location,
            "size": len(retrieve_conf),
            "sms": sms,
            "expired": expired,
        }

    def _send_push(self, stored: StoredMms, status: str) -> int:
        """The notification goes to the modem's queue in the SMS network; returns the PDU count."""
        modem = self.emulator.modem(stored.modem_id)
        device = modem.device
        if device.sim is None:
            raise BadRequest(f"modem {stored.modem_id} has no SIM card: no number to notify")
        operator = device.sim.identity.operator
        try:
            pdus = encode_sms_deliver_data(
                operator.smsc,
                stored.push,
                datetime.now().astimezone().replace(microsecond=0),
                ports=WAP_PUSH_PORTS,
                smsc=operator.smsc,
                concat_reference=device.smsc.next_concat_reference(),
            )
        except PduError as error:
            raise BadRequest(f"cannot carry the notification in SMS: {error}") from None
        device.smsc.enqueue(pdus)
        modem.wake()
        self._record(stored.modem_id, stored.transaction_id, "m-notification-ind", status, sms=len(pdus))
        return len(pdus)

    def _new_transaction_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"EMU{self._counter:05d}{self._rng.getrandbits(32):08x}"

    @staticmethod
    def _host_for(modem: Any) -> str:
        sim = modem.device.sim
        if sim is None:
            return FALLBACK_HOST
        return MMSC_HOSTS.get(sim.identity.operator.mcc_mnc, FALLBACK_HOST)

    # ---- redelivery -----------------------------------------------------------------------

    def _redeliver_loop(self) -> None:
        while not self._stopping.is_set():
            with self._wakeup:
                now = time.monotonic()
                due = [s for s in self._by_transaction.values() if s.resend_at <= now]
                for stored in due:
                    stored.resends_left -= 1
                    stored.resend_at = now + stored.resend_every if stored.resends_left > 0 else math.inf
                if not due:
                    next_at = min((s.resend_at for s in self._by_transaction.values()), default=math.inf)
                    self._wakeup.wait(timeout=min(max(next_at - now, 0.0), 1.0))
                    continue
            for stored in due:
                try:
                    self._send_push(stored, "resent")
                except Exception as error:  # a modem gone or without a SIM: nothing to page
                    log.warning("fake MMSC: cannot redeliver %s: %s", stored.transaction_id, error)

    # ---- faults -----------------------------------------------------------------------------

    def fault(self, modem_id: int, kind: str, **params: Any) -> dict[str, Any]:
        handler = {
            "mmsc_status": self._fault_status,
            "mmsc_timeout": self._fault_timeout,
            "mmsc_truncate": self._fault_truncate,
            "mms_expired": self._fault_expired,
            "mms_redeliver": self._fault_redeliver,
        }.get(kind)
        if handler is None:
            raise BadRequest(f"unknown MMSC fault kind {kind!r}; known: {', '.join(MMSC_FAULT_KINDS)}")
        with self._lock:
            faults = self._faults.setdefault(modem_id, MmscFaults())
            return handler(faults, **params)

    def clear_faults(self, modem_id: int) -> None:
        with self._lock:
            self._faults[modem_id] = MmscFaults()

    @staticmethod
    def _fault_status(faults: MmscFaults, status: int = 500, count: int | None = 1) -> dict[str, Any]:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise BadRequest(f"status {status!r} is not an HTTP error status 400..599")
        faults.status, faults.statuses_left = status, _count(count)
        return {"status": status, "count": count}

    @staticmethod
    def _fault_timeout(
        faults: MmscFaults, seconds: float = DEFAULT_TIMEOUT_SECONDS, count: int | None = 1
    ) -> dict[str, Any]:
        faults.timeout_seconds, faults.timeouts_left = _seconds(seconds), _count(count)
        return {"seconds": faults.timeout_seconds, "count": count}

    @staticmethod
    def _fault_truncate(faults: MmscFaults, bytes: int, count: int | None = 1) -> dict[str, Any]:  # noqa: A002
        if isinstance(bytes, bool) or not isinstance(bytes, int) or bytes < 0:
            raise BadRequest(f"bytes {bytes!r} is not a count of bytes >= 0")
        faults.truncate_bytes, faults.truncations_left = bytes, _count(count)
        return {"bytes": bytes, "count": count}

    @staticmethod
    def _fault_expired(faults: MmscFaults, count: int | None = 1) -> dict[str, Any]:
        faults.expired_left = _count(count)
        return {"count": count}

    @staticmethod
    def _fault_redeliver(faults: MmscFaults, seconds: float, count: int | None = 1) -> dict[str, Any]:
        faults.redeliver_seconds, faults.redeliver_count = _seconds(seconds), _count(count)
        return {"seconds": faults.redeliver_seconds, "count": count}

    # ---- the HTTP side ---------------------------------------------------------------------

    def fetch(self, token: str) -> _Fetch:
        """How to answer GET /mms/<token>; the faults of the message's modem are spent here."""
        with self._lock:
            stored = self._by_token.get(token)
            if stored is None:
                return _Fetch(404, b"no such message\n", log_status="404")
            faults = self._faults.setdefault(stored.modem_id, MmscFaults())
            if faults.timeouts_left > 0:
                faults.timeouts_left -= 1
                return _Fetch(stored=stored, timeout=faults.timeout_seconds, log_status="timeout")
            if faults.statuses_left > 0:
                faults.statuses_left -= 1
                status = faults.status
                return _Fetch(status, f"MMSC error {status}\n".encode(), stored, log_status=str(status))
            if stored.expired:
                return _Fetch(404, b"message expired\n", stored, log_status="404", extra={"expired": True})
            if faults.truncations_left > 0:
                faults.truncations_left -= 1
                return _Fetch(
                    200, stored.retrieve_conf, stored, truncate=faults.truncate_bytes, log_status="truncated"
                )
            return _Fetch(200, stored.retrieve_conf, stored)

    def receive_post(self, body: bytes, client: str | None = None) -> tuple[int, bytes]:
        """An m-notifyresp-ind or m-acknowledge-ind from a client: decode, log, answer."""
        try:
            pdu = mms_codec.decode_mms_pdu(body)
        except mms_codec.MmsError as error:
            self._record(None, None, "undecodable", str(error), bytes=len(body))
            return 400, f"not an MMS PDU: {error}\n".encode()
        message_type = pdu.message_type
        transaction_id = pdu.headers.get("X-Mms-Transaction-Id")
        if not isinstance(transaction_id, str):
            transaction_id = None
        with self._lock:
            stored = self._by_transaction.get(transaction_id) if transaction_id else None
        modem_id = stored.modem_id if stored is not None else None
        if message_type == "m-notifyresp-ind":
            if stored is not None:
                with self._lock:
                    stored.responded = True
                    stored.resend_at = math.inf
            status = pdu.headers.get("X-Mms-Status")
            self._record(modem_id, transaction_id, message_type, None if status is None else str(status),
                         client=client)
            return 200, b""
        if message_type == "m-acknowledge-ind":
            self._record(
                modem_id,
                transaction_id,
                message_type,
                None,
                report_allowed=pdu.headers.get("X-Mms-Report-Allowed"),
            )
            return 200, b""
        self._record(modem_id, transaction_id, message_type, "unsupported")
        return (
            400,
            f"the fake MMSC takes m-notifyresp-ind and m-acknowledge-ind, not {message_type}\n".encode(),
        )

    def record_fetch(self, fetch: _Fetch, written: int, client: str | None = None) -> None:
        stored = fetch.stored
        self._record(
            stored.modem_id if stored else None,
            stored.transaction_id if stored else None,
            "fetch",
            fetch.log_status,
            bytes=written,
            client=client,
            **fetch.extra,
        )

    def wait_stopping(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # ---- the log ----------------------------------------------------------------------------

    def _record(
        self, modem_id: int | None, transaction_id: str | None, kind: str, status: str | None, **extra: Any
    ) -> None:
        entry = {
            "transaction_id": transaction_id,
            "type": kind,
            "status": status,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "modem": modem_id,
            **extra,
        }
        with self._lock:
            self._log.append(entry)
        log.debug("fake MMSC: %s", entry)

    def log_entries(self, modem_id: int | None = None) -> list[dict[str, Any]]:
        """The log in order; one modem's entries, or every entry (unmatched POSTs too) for None."""
        with self._lock:
            return [dict(e) for e in self._log if modem_id is None or e["modem"] == modem_id]

    def stored(self, transaction_id: str) -> StoredMms | None:
        with self._lock:
            return self._by_transaction.get(transaction_id)


def _count(value: Any) -> float:
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"count {value!r} is not a count >= 0 or null")
    return float(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise BadRequest(f"seconds {value!r} is not a number of seconds >= 0")
    return float(value)


def _check_sender(sender: Any) -> None:
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest('"from" must be a non-empty string (a phone number or an e-mail address)')


def _recipient(device: Any, modem_id: int) -> str:
    if device.sim is None:
        raise BadRequest(f"modem {modem_id} has no SIM card: no number to send an MMS to")
    return device.sim.identity.msisdn


def _codec_part(index: int, part: Any) -> tuple[str, str, bytes, str | None]:
    """(content_type, name, data[, charset]) → the codec's 4-tuple; text/* defaults to UTF-8."""
    if not isinstance(part, tuple | list) or len(part) not in (3, 4):
        raise BadRequest(f"part {index}: expected (content_type, name, data[, charset])")
    content_type, name, data = part[0], part[1], part[2]
    charset = part[3] if len(part) == 4 else None
    if not isinstance(content_type, str) or "/" not in content_type:
        raise BadRequest(f'part {index}: "content_type" must be a media type such as "image/jpeg"')
    if not isinstance(name, str):
        raise BadRequest(f'part {index}: "name" must be a string')
    if not isinstance(data, bytes | bytearray):
        raise BadRequest(f"part {index}: data must be bytes")
    if charset is None and content_type.lower().startswith("text/"):
        charset = "utf-8"
    if charset is not None and not isinstance(charset, str):
        raise BadRequest(f'part {index}: "charset" must be a string or null')
    return content_type, name, bytes(data), charset


# ---- HTTP ---------------------------------------------------------------------------------


def _handler_class(mmsc: FakeMmsc) -> type[BaseHTTPRequestHandler]:
    own_hosts = {*MMSC_HOSTS.values(), FALLBACK_HOST}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeMMSC/1.0"

        def _target(self) -> str | None:
            """The path asked for, or None after answering a proxy request for a foreign host."""
            if self.path.startswith("/"):
                return self.path.split("?", 1)[0]
            url = urlsplit(self.path)
            local = url.hostname in ("127.0.0.1", "localhost") and (url.port or 80) == mmsc.port
            if url.scheme != "http" or not (url.hostname in own_hosts or local):
                self._answer(502, f"the MMS proxy reaches only the MMSC, not {self.path}\n".encode())
                return None
            return url.path or "/"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self._target()
            if path is None:
                return
            if not path.startswith("/mms/"):
                self._answer(404, b"no such message\n")
                return
            fetch = mmsc.fetch(path.removeprefix("/mms/").strip("/"))
            if fetch.timeout is not None:
                mmsc.record_fetch(fetch, 0, self.client_address[0])
                mmsc.wait_stopping(fetch.timeout)  # accepted, never answered
                self.close_connection = True
                return
            content_type = MMS_CONTENT_TYPE if fetch.status == 200 else "text/plain"
            # logged before the answer goes out: a client that has its answer finds it in the log
            mmsc.record_fetch(fetch, len(fetch.body[: fetch.truncate]), self.client_address[0])
            self._answer(fetch.status, fetch.body, content_type, truncate=fetch.truncate)

        def do_POST(self) -> None:  # noqa: N802
            if self._target() is None:
                return
            body = self._read_body()
            if body is None:
                return
            status, answer = mmsc.receive_post(body, self.client_address[0])
            self._answer(status, answer)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(405, b"")

        def _read_body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers
                            pass
                        return bytes(body)
                    body += self.rfile.read(size)
                    self.rfile.readline()
                    if len(body) > MAX_POST:
                        break
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if length <= MAX_POST:
                    return self.rfile.read(length)
            self.close_connection = True
            self._answer(413, b"request body too large\n")
            return None

        def _answer(
            self, status: int, body: bytes, content_type: str = "text/plain", *, truncate: int | None = None
        ) -> int:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if truncate is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            sent = body if truncate is None else body[:truncate]
            self.wfile.write(sent)
            if truncate is not None:
                self.wfile.flush()
                self.close_connection = True  # the rest never comes
            return len(sent)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fake MMSC: " + format, *args)

    return Handler


# ---- control API routes ---------------------------------------------------------------------


def add_mms_routes(api: ControlApi) -> None:
    """The MMS endpoints of DESIGN §4.2, and the MMSC's log."""
    api.add_route("POST", r"/modems/(?P<id>\d+)/mms", post_mms)
    api.add_route("POST", r"/modems/(?P<id>\d+)/mms-raw", post_mms_raw)
    api.add_route("GET", r"/modems/(?P<id>\d+)/mms-log", get_mms_log)
    api.add_route("GET", r"/mms-log", get_all_mms_log)
    api.add_route("GET", r"/mmsc", get_mmsc)


def _running(emulator: Emulator) -> FakeMmsc:
    mmsc = emulator.mmsc
    if mmsc is None:
        raise BadRequest("the emulator runs no fake MMSC: start it with --mmsc-port (Emulator.start_mmsc())")
    return mmsc


def _request_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not valid base64") from None


def _parts_from_json(value: Any) -> list[tuple[str, str, bytes, str | None]]:
    if not isinstance(value, list) or not value:
        raise BadRequest('"parts" must be a non-empty list of {"content_type", "name", "data_b64"}')
    parts = []
    for index, part in enumerate(value):
        if not isinstance(part, dict):
            raise BadRequest(f"part {index} must be an object")
        for key in ("content_type", "data_b64"):
            if key not in part:
                raise BadRequest(f'part {index}: missing "{key}"')
        name = part.get("name", f"part{index + 1}")
        data = _b64(part["data_b64"], f'part {index}: "data_b64"')
        parts.append((part["content_type"], name, data, part.get("charset")))
    return parts


def post_mms(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    request = _request_object(body)
    if "from" not in request:
        raise BadRequest('missing "from"')
    parts = _parts_from_json(request.get("parts"))
    modem_id = int(match["id"])
    emulator.modem(modem_id)  # 404 before 400 for an unknown modem
    multipart = request.get("multipart", "related")
    return 200, emulator.deliver_mms(
        modem_id, request["from"], parts, subject=request.get("subject"), multipart=multipart
    )


def post_mms_raw(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    request = _request_object(body)
    if "from" not in request:
        raise BadRequest('missing "from"')
    data = _b64(request.get("retrieve_conf_b64"), '"retrieve_conf_b64"')
    modem_id = int(match["id"])
    emulator.modem(modem_id)
    return 200, emulator.deliver_mms_raw(modem_id, data, request["from"], subject=request.get("subject"))


def get_mms_log(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    modem_id = int(match["id"])
    emulator.modem(modem_id)
    return 200, emulator.mms_log(modem_id)


def get_all_mms_log(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, _running(emulator).log_entries()


def get_mmsc(emulator: Emulator, match: re.Match[str], body: Any) -> tuple[int, Any]:
    return 200, _running(emulator).describe()


def write_mmsc_json(emulator: Emulator) -> None:
    """state_dir/mmsc.json, beside modems.json: {"url", "proxy", "operators": {mcc_mnc: url}}."""
    path = emulator.state_dir / "mmsc.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(_running(emulator).describe(), indent=2) + "\n")
    temporary.replace(path)
