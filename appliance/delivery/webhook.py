"""One webhook POST (DESIGN §4.4): signed, TLS verified, never redirected, always answered with a result.

The outbox decides what to send and when to retry; this module only makes the attempt and says how it
went, in a line a support person can act on ("HTTP 500 Internal Server Error", "connection refused",
"TLS: certificate verify failed: unable to get local issuer certificate"). Network trouble never
raises.

Signature: ``X-Appliance-Signature: sha256=<hex HMAC-SHA256>`` keyed with the target's secret (its
UTF-8 bytes) over ``"<X-Appliance-Timestamp>."`` followed by the raw body. Receivers check it with
:func:`verify_signature` and should refuse timestamps older than five minutes (replays).

The POST goes out on urllib3 itself, not requests: requests would add some 4 MiB to the daemon's
resident memory, most of it charset_normalizer guessing text encodings we never need.
"""

from __future__ import annotations

import email.message
import hashlib
import hmac
import http.client
import os
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3

from appliance import __version__

USER_AGENT = f"appliance-webhook/{__version__}"
# Enough of an answer to show what the receiver said; a receiver answering with a gigabyte costs us
# this much and no more.
RESPONSE_READ_LIMIT = 64 * 1024
EXCERPT_CHARS = 500

_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]+")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 over ``"<timestamp>."`` + body, keyed with the secret."""
    return _signature(secret, str(int(timestamp)), body)


def verify_signature(secret: str, timestamp: int | str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``X-Appliance-Signature``) signs ``body`` at ``timestamp`` (the
    ``X-Appliance-Timestamp`` header, as received or as an int); compares in constant time.

    It does not judge the timestamp's age: a receiver should also refuse one older than 5 minutes.
    """
    if header is None:
        return False
    expected = _signature(secret, timestamp if isinstance(timestamp, str) else str(int(timestamp)), body)
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", errors="replace"))


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class WebhookTarget:
    """Where to POST: ``url`` (http or https), the signing ``secret``, an optional PEM ``ca_bundle``
    to trust instead of the system's CAs (a receiver with a private CA), and a ``timeout`` in seconds
    for connecting, for the answer and for reading the answer's body."""

    url: str
    secret: str
    ca_bundle: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhookResult:
    """How one attempt went. ``ok`` only for a 2xx answer; ``excerpt`` is the start of the answer's
    body (at most 500 characters, decoded leniently); ``error`` a one-line reason when not ``ok``."""

    ok: bool
    status_code: int | None
    excerpt: str
    error: str | None
    duration_ms: float


class WebhookSender:
    """Makes webhook attempts. Holds no connections between attempts: each ``post`` opens and closes
    its own, so one sender can serve any number of threads."""

    def post(self, target: WebhookTarget, body: bytes, content_type: str, *, event: str,
             idempotency_key: str, attempt: int, now: float | None = None) -> WebhookResult:
        """POST ``body`` to the target, signed at ``now`` (Unix seconds; default: the clock).

        ``idempotency_key`` goes out as ``X-Appliance-Message-Id`` and must be the same on every
        attempt of one delivery; ``attempt`` counts from 1. Raises ValueError only for arguments no
        attempt could carry (a header value with spaces or non-ASCII, an attempt below 1).
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        for name, value in (("event", event), ("idempotency_key", idempotency_key)):
            if not _HEADER_VALUE.fullmatch(value):
                raise ValueError(f"{name} {value!r} cannot be a header value (visible ASCII only)")
        timestamp = int(time.time() if now is None else now)
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            # Uncompressed, please: a compressed answer could inflate far past what we mean to read.
            "Accept-Encoding": "identity",
            "X-Appliance-Event": event,
            "X-Appliance-Message-Id": idempotency_key,
            "X-Appliance-Attempt": str(attempt),
            "X-Appliance-Timestamp": str(timestamp),
            "X-Appliance-Signature": signature(target.secret, timestamp, body),
        }
        started = time.monotonic()
        status, excerpt, error = self._attempt(target, body, headers, started)
        duration_ms = (time.monotonic() - started) * 1000
        return WebhookResult(ok=error is None, status_code=status, excerpt=excerpt, error=error,
                             duration_ms=duration_ms)

    def _attempt(self, target: WebhookTarget, body: bytes, headers: dict[str, str],
                 started: float) -> tuple[int | None, str, str | None]:
        problem = _url_problem(target.url)
        if problem:
            return None, "", f"invalid URL: {problem}"
        # urllib3 takes no proxy, CA bundle or .netrc from the appliance's environment, which is not
        # the target's; retries=False: no second attempt and no redirect followed behind the outbox.
        with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=target.timeout, read=target.timeout),
                                 cert_reqs="CERT_REQUIRED", ca_certs=target.ca_bundle or _system_ca_bundle()) as pool:
            try:
                response = pool.request("POST", target.url, body=body, headers=headers, preload_content=False)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                return None, "", _reason(exc, target)
            try:
                excerpt = _read_excerpt(response, started + target.timeout)
            finally:
                response.close()
            return response.status, excerpt, _status_error(response)


def _url_problem(url: str) -> str | None:
    """What makes ``url`` no webhook address, if anything (urllib3 would take one without a scheme
    as http)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return f"{_one_line(str(exc))} in {_one_line(url)!r}"
    if parts.scheme not in ("http", "https"):
        return f"{_one_line(url)!r} is not an http:// or https:// address"
    if not host:
        return f"{_one_line(url)!r} names no host"
    return None


def _system_ca_bundle() -> str:
    """The operating system's CA bundle (Debian: ca-certificates, where an administrator adds a
    company CA), else certifi's."""
    cafile = ssl.get_default_verify_paths().cafile
    return cafile if cafile and os.path.isfile(cafile) else certifi.where()


def _read_excerpt(response: urllib3.BaseHTTPResponse, deadline: float) -> str:
    """The start of the body, read up to RESPONSE_READ_LIMIT bytes or until the deadline passes."""
    received = bytearray()
    try:
        for chunk in response.stream(8192):
            received += chunk
            if len(received) >= RESPONSE_READ_LIMIT or time.monotonic() > deadline:
                break
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # the status line decides; a body cut short is still worth showing
    try:
        text = bytes(received).decode(_charset(response.headers.get("Content-Type")), errors="replace")
    except LookupError:
        text = bytes(received).decode("utf-8", errors="replace")
    # NUL cannot be stored in a PostgreSQL text column.
    return text[:EXCERPT_CHARS].replace("\x00", "\ufffd")


def _charset(content_type: str | None) -> str:
    """The charset the answer declares; text without one is ISO-8859-1 (RFC 2616), anything else is
    read as UTF-8."""
    if not content_type:
        return "utf-8"
    header = email.message.Message()
    header["Content-Type"] = content_type
    return header.get_content_charset() or ("iso-8859-1" if header.get_content_maintype() == "text" else "utf-8")


def _status_error(response: urllib3.BaseHTTPResponse) -> str | None:
    code = response.status
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        location = response.headers.get("Location")
        where = f"to {_one_line(location)}" if location else "without a Location"
        return f"redirect not followed ({code} {where})"
    return f"HTTP {code} {_one_line(response.reason or _phrase(code))}".rstrip()


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _reason(exc: BaseException, target: WebhookTarget) -> str:
    """A one-line reason for an attempt that got no answer."""
    timeout = f"{target.timeout:g} s"
    # urllib3's NewConnectionError (refused, no such host) is a ConnectTimeoutError too.
    timed_out = isinstance(exc, urllib3.exceptions.TimeoutError) \
        and not isinstance(exc, urllib3.exceptions.NewConnectionError)
    if timed_out and isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return f"timed out after {timeout} connecting"
    if timed_out:
        return f"timed out after {timeout} waiting for the answer"
    if isinstance(exc, urllib3.exceptions.LocationValueError):
        return f"invalid URL: {_one_line(str(exc))}"
    if isinstance(exc, urllib3.exceptions.SSLError) and isinstance(exc.__cause__, OSError) \
            and not isinstance(exc.__cause__, ssl.SSLError):
        # urllib3 loads the bundle when it connects; its OSError is the file's, not the network's.
        unusable = exc.__cause__.strerror or str(exc.__cause__)
        return f"TLS: CA bundle unusable ({_one_line(f'{unusable}: {target.ca_bundle}')})"
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: certificate verify failed: {cause.verify_message}"
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            return f"TLS: {_one_line(cause.reason or str(cause))}"
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return f"host name not found: {urlsplit(target.url).hostname}"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the receiver"
        if isinstance(cause, http.client.RemoteDisconnected):
            return "connection closed without an answer"
    return f"request failed: {_one_line(str(exc))}"


def _causes(exc: BaseException):
    """The exception and everything it wraps: urllib3 wraps the socket's and the ssl module's."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__, getattr(current, "reason", None))
                       if isinstance(e, BaseException))
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))


def _one_line(text: str) -> str:
    return _NOT_ONE_LINE.sub(" ", text).strip()[:300]
