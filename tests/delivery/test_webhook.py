"""Webhook attempts (DESIGN §4.4) against a real local HTTP(S) server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
import pytest

from appliance.delivery.payload import webhook_body
from appliance.delivery.webhook import (
    RESPONSE_READ_LIMIT,
    WebhookResult,
    WebhookSender,
    WebhookTarget,
    signature,
    verify_signature,
)
from tests.support.http_receiver import HttpReceiver, refusing_port

SECRET = "s3cr3t-żółw"
MESSAGE = {
    "id": 17, "received_at": "2026-11-25T13:45:47Z", "access_number": "+48580462081",
    "sender": "+48601234567", "text": "PIZZA 2x margherita", "kind": "sms", "subject": None,
    "keyword": "PIZZA", "account": 3, "attachments": [], "status": "routed", "error": None,
    "parts_total": 2, "parts_received": 2, "smsc_time": None, "iccid": "8948062191294405133",
    "payload": "2x margherita", "route_reason": "keyword",
}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def sender() -> WebhookSender:
    return WebhookSender()


def send(sender: WebhookSender, target: WebhookTarget, *, message=MESSAGE, fmt: str = "json",
         key: str = "delivery-42", attempt: int = 1, now: float | None = None) -> WebhookResult:
    body, content_type = webhook_body(42, message, fmt)
    return sender.post(target, body, content_type, event="sms:received", idempotency_key=key,
                       attempt=attempt, now=now)


def target(url: str, **options) -> WebhookTarget:
    return WebhookTarget(url=url, secret=SECRET, **options)


# --- what goes out -------------------------------------------------------------------------------

def test_a_webhook_is_one_post_with_the_body_and_every_contract_header(sender, receiver):
    result = send(sender, target(receiver.url + "hooks/sms"), attempt=3, now=1_800_000_000.9)

    assert result.ok
    [request] = receiver.requests
    body, content_type = webhook_body(42, MESSAGE, "json")
    assert (request.method, request.path, request.body) == ("POST", "/hooks/sms", body)
    assert request.headers["Content-Type"] == content_type == "application/json; charset=utf-8"
    assert request.headers["X-Appliance-Event"] == "sms:received"
    assert request.headers["X-Appliance-Message-Id"] == "delivery-42"
    assert request.headers["X-Appliance-Attempt"] == "3"
    assert request.headers["X-Appliance-Timestamp"] == "1800000000"
    assert request.headers["X-Appliance-Signature"] == signature(SECRET, 1_800_000_000, body)
    assert request.headers["User-Agent"].startswith("appliance-webhook/")


def test_the_timestamp_is_the_current_unix_second_by_default(sender, receiver):
    before = int(time.time())
    send(sender, target(receiver.url))
    assert before <= int(receiver.requests[0].headers["X-Appliance-Timestamp"]) <= time.time()


def test_the_signature_verifies_with_the_receivers_copy_of_the_secret(sender, receiver):
    send(sender, target(receiver.url), fmt="xml")
    [request] = receiver.requests
    timestamp, header = request.headers["X-Appliance-Timestamp"], request.headers["X-Appliance-Signature"]

    assert verify_signature(SECRET, timestamp, request.body, header)
    assert verify_signature(SECRET, int(timestamp), request.body, header)
    assert not verify_signature("another secret", timestamp, request.body, header)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), request.body, header)
    assert not verify_signature(SECRET, timestamp, request.body + b" ", header)
    assert not verify_signature(SECRET, timestamp, request.body, None)
    assert not verify_signature(SECRET, timestamp, request.body, "sha256=żółw")


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body_as_documented():
    body = b'{"event":"sms:received"}'
    expected = hmac.new(SECRET.encode("utf-8"), b"1800000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_800_000_000, body) == "sha256=" + expected


def test_the_idempotency_header_is_the_same_on_every_attempt_and_the_attempt_number_counts(sender, receiver):
    receiver.plan(statuses=[500, 200])
    first = send(sender, target(receiver.url), key="delivery-42", attempt=1)
    second = send(sender, target(receiver.url), key="delivery-42", attempt=2)

    assert (first.ok, second.ok) == (False, True)
    headers = [request.headers for request in receiver.requests]
    assert [h["X-Appliance-Message-Id"] for h in headers] == ["delivery-42", "delivery-42"]
    assert [h["X-Appliance-Attempt"] for h in headers] == ["1", "2"]
    assert all(verify_signature(SECRET, h["X-Appliance-Timestamp"], r.body, h["X-Appliance-Signature"])
               for h, r in zip(headers, receiver.requests, strict=True))


def test_a_hostile_text_arrives_byte_for_byte_as_well_formed_xml_and_valid_json(sender, receiver):
    hostile = {**MESSAGE, "text": "]]> <&> \x00\x1b\ufffe 😀 שלום \u202e\r\n" + "ą" * 100_000}
    send(sender, target(receiver.url), message=hostile, fmt="xml")
    send(sender, target(receiver.url), message=hostile, fmt="json")

    xml_request, json_request = receiver.requests
    assert xml_request.body == webhook_body(42, hostile, "xml")[0]
    assert SafeET.fromstring(xml_request.body).findtext("message/text").startswith(
        "]]> <&> \ufffd\ufffd\ufffd 😀 שלום \u202e\r\n")
    assert json.loads(json_request.body)["message"]["text"] == hostile["text"]


def test_a_proxy_in_the_environment_is_not_used(sender, receiver, monkeypatch):
    with refusing_port() as port:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert send(sender, target(receiver.url)).ok
    assert len(receiver.requests) == 1


def test_an_attempt_below_one_or_a_key_that_cannot_be_a_header_is_a_programming_error(sender, receiver):
    with pytest.raises(ValueError, match="attempt"):
        send(sender, target(receiver.url), attempt=0)
    with pytest.raises(ValueError, match="idempotency_key"):
        send(sender, target(receiver.url), key="delivery-42\r\nX-Evil: 1")
    assert receiver.requests == []


# --- answers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_answer_is_a_success(sender, receiver, status):
    receiver.plan(status=status, body=b'{"received": true}')
    result = send(sender, target(receiver.url))
    assert (result.ok, result.status_code, result.error) == (True, status, None)
    assert result.excerpt == ('{"received": true}' if status != 204 else "")
    assert result.duration_ms > 0


@pytest.mark.parametrize(("status", "error"), [
    (400, "HTTP 400 Bad Request"), (401, "HTTP 401 Unauthorized"), (404, "HTTP 404 Not Found"),
    (410, "HTTP 410 Gone"), (429, "HTTP 429 Too Many Requests"),
])
def test_a_4xx_answer_is_a_failure_that_names_the_status_and_keeps_what_the_receiver_said(
        sender, receiver, status, error):
    receiver.plan(status=status, body=b"signature mismatch")
    result = send(sender, target(receiver.url))
    assert (result.ok, result.status_code, result.error) == (False, status, error)
    assert result.excerpt == "signature mismatch"


def test_a_500_answer_is_a_failure(sender, receiver):
    receiver.plan(status=500)
    result = send(sender, target(receiver.url))
    assert (result.ok, result.status_code) == (False, 500)
    assert result.error == "HTTP 500 Internal Server Error"
    assert result.excerpt == "500 Internal Server Error"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(sender, receiver, status):
    receiver.plan(status=status, location=receiver.url + "elsewhere")
    result = send(sender, target(receiver.url + "hook"))
    assert (result.ok, result.status_code) == (False, status)
    assert result.error == f"redirect not followed ({status} to {receiver.url}elsewhere)"
    assert [request.path for request in receiver.requests] == ["/hook"]


def test_a_receiver_slower_than_the_timeout_is_a_timeout(sender, receiver):
    receiver.plan(delay=5)
    started = time.monotonic()
    result = send(sender, target(receiver.url, timeout=0.3))
    assert time.monotonic() - started < 3
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "timed out after 0.3 s waiting for the answer"
    assert 300 <= result.duration_ms < 3000


def test_a_refused_connection_is_a_failure_not_an_exception(sender):
    with refusing_port() as port:
        result = send(sender, target(f"http://127.0.0.1:{port}/hook"))
    assert (result.ok, result.status_code, result.error) == (False, None, "connection refused")


def test_an_unusable_url_is_a_failure_not_an_exception(sender):
    result = send(sender, target("ftp://example.invalid/hook"))
    assert not result.ok and result.error.startswith("invalid URL")


def test_a_huge_answer_is_read_only_up_to_the_limit(sender, receiver):
    receiver.plan(body_size=1 << 30)  # a gigabyte, streamed
    started = time.monotonic()
    result = send(sender, target(receiver.url))
    assert time.monotonic() - started < 5
    assert result.ok and result.excerpt == "x" * 500
    [request] = receiver.wait_for(1)
    # What the kernel's socket buffers held is on top of what we read; a gigabyte it is not.
    assert RESPONSE_READ_LIMIT <= request.bytes_sent < 64 * 1024 * 1024


def test_an_answer_that_is_not_valid_text_is_shown_leniently(sender, receiver):
    receiver.plan(status=502, body=b"bad \xff\xfe gateway \x00 " + "ą".encode() * 600,
                  content_type="text/html; charset=utf-8")
    result = send(sender, target(receiver.url))
    assert result.error == "HTTP 502 Bad Gateway"
    assert result.excerpt.startswith("bad \ufffd\ufffd gateway \ufffd ą")
    assert len(result.excerpt) == 500


def test_a_status_without_a_reason_phrase_is_reported_by_its_number(sender, receiver):
    receiver.plan(status=599)
    assert send(sender, target(receiver.url)).error == "HTTP 599"


# --- TLS -----------------------------------------------------------------------------------------

@pytest.fixture
def tls_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver(tls=True) as receiver:
        yield receiver


def test_tls_with_the_receivers_ca_bundle_succeeds(sender, tls_receiver):
    assert tls_receiver.url.startswith("https://")
    result = send(sender, target(tls_receiver.url + "hook", ca_bundle=tls_receiver.ca_path))
    assert result.ok, result.error
    assert tls_receiver.requests[0].headers["X-Appliance-Message-Id"] == "delivery-42"


def test_tls_is_verified_against_the_system_store_when_no_bundle_is_given(sender, tls_receiver):
    result = send(sender, target(tls_receiver.url + "hook"))
    assert (result.ok, result.status_code) == (False, None)
    assert result.error.startswith("TLS: certificate verify failed")
    assert tls_receiver.requests == []


def test_a_ca_bundle_that_does_not_exist_is_a_failure_not_an_exception(sender, tls_receiver):
    result = send(sender, target(tls_receiver.url, ca_bundle="/nonexistent/ca.pem"))
    assert not result.ok and result.error.startswith("TLS: CA bundle unusable")
    assert tls_receiver.requests == []


# --- the receiver used by these tests --------------------------------------------------------------

def test_the_receiver_answers_a_seeded_share_of_failures(sender, receiver):
    receiver.plan(failure_ratio=0.3, seed=7)
    first = [send(sender, target(receiver.url)).status_code for _ in range(30)]
    receiver.plan(failure_ratio=0.3, seed=7)
    again = [send(sender, target(receiver.url)).status_code for _ in range(30)]
    assert first == again
    assert 3 <= first.count(500) <= 18 and set(first) == {200, 500}


def test_leaving_the_receiver_ends_its_threads_even_with_a_slow_answer_pending(sender):
    before = set(threading.enumerate())
    started = time.monotonic()
    with HttpReceiver() as receiver:
        receiver.plan(delay=60)
        assert send(sender, target(receiver.url, timeout=0.2)).error.startswith("timed out")
    assert time.monotonic() - started < 5
    assert set(threading.enumerate()) <= before
