"""Webhooks through the outbox to a real local HTTP(S) server: signed, retried with one idempotency
key, given up visibly, one per message however many SMS parts it came in, and never sent twice at once
by two workers."""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
import xmlschema
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Delivery, DeliveryAttempt, ForwardTarget, Message
from appliance.delivery.channels import WebhookChannel
from appliance.delivery.outbox import OutboxWorker, enqueue_for_messages, retry
from appliance.delivery.webhook import verify_signature
from tests.mms.test_mms_reception import MmsRig
from tests.modem.test_session import Rig, wait_for
from tests.support.http_receiver import HttpReceiver, refusing_port

XSD = Path(__file__).parents[2] / "docs" / "webhook.xsd"


class Outbox:
    """An account with a webhook target, messages stored the way the store stores them, a worker."""

    def __init__(self, sessions: sessionmaker[Session], tmp_path: Path) -> None:
        self.sessions = sessions
        self.tmp_path = tmp_path
        with sessions.begin() as session:
            account = Account(name="Kwiaciarnia")
            session.add(account)
            session.flush()
            self.account = account.id
        self.workers: list[OutboxWorker] = []

    def target(self, url: str, **fields: object) -> ForwardTarget:
        with self.sessions.begin() as session:
            target = ForwardTarget(account_id=self.account, name="CRM", kind="url", address=url,
                                   secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32),
                                   **fields)
            session.add(target)
            session.flush()
            session.expunge(target)
            return target

    def messages(self, count: int, text: str = "Zamawiam 3 róże 🌹") -> list[int]:
        with self.sessions.begin() as session:
            rows = [Message(iccid="8948000000000000001", sender=f"+4860010{n:04d}", text=f"{text} #{n}",
                            status="routed", account_id=self.account, received_at=datetime.now(UTC))
                    for n in range(count)]
            session.add_all(rows)
            session.flush()
            enqueue_for_messages(session, [m.id for m in rows])
            return [m.id for m in rows]

    def worker(self) -> OutboxWorker:
        worker = OutboxWorker(self.sessions, {"url": WebhookChannel(self.tmp_path / "ca")}, "http://appliance.test/",
                              check_seconds=0.1, first_retry=timedelta(seconds=0.2))
        self.workers.append(worker)
        return worker

    def deliveries(self) -> list[Delivery]:
        with self.sessions() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        with self.sessions() as session:
            return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                        .order_by(DeliveryAttempt.id)))


@pytest.fixture
def outbox(session_factory: sessionmaker[Session], tmp_path: Path) -> Iterator[Outbox]:
    outbox = Outbox(session_factory, tmp_path)
    yield outbox
    for worker in outbox.workers:
        worker.stop()


def test_a_message_arrives_once_signed_with_the_targets_secret(outbox: Outbox) -> None:
    with HttpReceiver() as receiver:
        target = outbox.target(receiver.url + "hooks/sms")
        [message_id] = outbox.messages(1)
        outbox.worker().run_due()
        [request] = receiver.requests
    headers = request.headers
    assert request.path == "/hooks/sms" and headers["X-Appliance-Event"] == "sms:received"
    assert headers["X-Appliance-Attempt"] == "1"
    assert verify_signature(target.secret, headers["X-Appliance-Timestamp"], request.body,
                            headers["X-Appliance-Signature"])
    body = json.loads(request.body)
    [delivery] = outbox.deliveries()
    assert body["id"] == delivery.id and body["message"]["id"] == message_id
    assert body["message"]["text"] == "Zamawiam 3 róże 🌹 #0"
    assert headers["X-Appliance-Message-Id"] == delivery.idempotency_key
    assert delivery.status == "delivered" and [a.status_code for a in outbox.attempts(delivery.id)] == [200]


def test_failures_are_retried_with_the_same_idempotency_key_until_a_2xx(outbox: Outbox) -> None:
    with HttpReceiver() as receiver:
        receiver.plan(statuses=[500, 503, 202])
        outbox.target(receiver.url)
        outbox.messages(1)
        outbox.worker().start()
        requests = receiver.wait_for(3)
        wait_for(lambda: outbox.deliveries()[0].status == "delivered", what="delivered")
    assert len({r.headers["X-Appliance-Message-Id"] for r in requests}) == 1
    assert [r.headers["X-Appliance-Attempt"] for r in requests] == ["1", "2", "3"]
    delivery = outbox.deliveries()[0]
    assert [(a.attempt, a.status_code, a.ok) for a in outbox.attempts(delivery.id)] == [
        (1, 500, False), (2, 503, False), (3, 202, True)]
    assert outbox.attempts(delivery.id)[0].error == "HTTP 500 Internal Server Error"


def test_a_receiver_that_never_answers_leaves_a_dead_delivery_that_a_retry_revives(outbox: Outbox) -> None:
    with refusing_port() as port:
        target = outbox.target(f"http://127.0.0.1:{port}/", give_up_hours=1.5 / 3600)
        outbox.messages(1)
        worker = outbox.worker()
        worker.start()
        wait_for(lambda: outbox.deliveries()[0].status == "dead", what="given up")
    delivery = outbox.deliveries()[0]
    assert delivery.attempts >= 2 and delivery.last_error == "connection refused"

    with HttpReceiver() as receiver:
        with outbox.sessions.begin() as session:  # the integrator fixed their server; the owner retries
            session.get(ForwardTarget, target.id).address = receiver.url
            retry(session, session.get(Delivery, delivery.id))
        worker.wake()
        receiver.wait_for(1)
        wait_for(lambda: outbox.deliveries()[0].status == "delivered", what="delivered after the retry")


def test_https_with_the_targets_own_ca_works_and_without_it_fails_on_tls(outbox: Outbox) -> None:
    with HttpReceiver(tls=True) as receiver:
        trusted = outbox.target(receiver.url + "a", ca_pem=Path(receiver.ca_path).read_text())
        untrusted = outbox.target(receiver.url + "b")
        outbox.messages(1)
        outbox.worker().run_due()
        assert [r.path for r in receiver.requests] == ["/a"]
    by_target = {d.target_id: d for d in outbox.deliveries()}
    assert by_target[trusted.id].status == "delivered"
    assert by_target[untrusted.id].status == "pending"
    assert by_target[untrusted.id].last_error.startswith("TLS: certificate verify failed")


def test_an_xml_target_gets_a_body_the_shipped_xsd_validates(outbox: Outbox) -> None:
    with HttpReceiver() as receiver:
        outbox.target(receiver.url, format="xml")
        outbox.messages(1, text="<b>&amp; ]]> \x07 zażółć")
        outbox.worker().run_due()
        [request] = receiver.requests
    assert request.headers["Content-Type"].startswith("application/xml")
    xmlschema.XMLSchema(str(XSD)).validate(request.body.decode("utf-8"))
    root = SafeET.fromstring(request.body)
    assert root.findtext("message/text").startswith("<b>&amp; ]]> \ufffd zażółć")


def test_two_workers_on_one_database_never_send_a_delivery_twice(outbox: Outbox) -> None:
    with HttpReceiver() as receiver:
        receiver.plan(delay=0.002)
        outbox.target(receiver.url)
        outbox.messages(120)
        workers = [outbox.worker(), outbox.worker()]

        def drain(worker: OutboxWorker) -> None:
            while worker.run_due():
                pass

        threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        keys = Counter(r.headers["X-Appliance-Message-Id"] for r in receiver.requests)
    assert len(keys) == 120 and max(keys.values()) == 1
    assert {d.status for d in outbox.deliveries()} == {"delivered"}


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Rig]:
    rig = Rig(tmp_path, session_factory)
    yield rig
    rig.stop()


def test_a_multipart_sms_through_a_modem_is_one_webhook(rig: Rig, tmp_path: Path) -> None:
    rig.emulator.add_modem("quectel")
    info = rig.emulator.modem(1).info()
    outbox = Outbox(rig.sessions, tmp_path)
    with rig.sessions.begin() as session:
        session.add(AccessNumber(number=str(info["msisdn"]), iccid=str(info["iccid"]), kind="dedicated",
                                 account_id=outbox.account))
    rig.session(1)
    text = "Dzień dobry, chciałbym zamówić wiązankę na piątek. " * 6  # four SMS parts
    with HttpReceiver() as receiver:
        outbox.target(receiver.url)
        worker = outbox.worker()
        worker.start()
        try:
            rig.emulator.deliver_sms(1, "+48600100200", text)
            receiver.wait_for(1)
            worker.run_due()
            bodies = [json.loads(r.body) for r in receiver.requests]
        finally:
            worker.stop()
    assert len(bodies) == 1 and bodies[0]["message"]["text"] == text
    assert bodies[0]["message"]["parts_total"] == bodies[0]["message"]["parts_received"] > 1


def test_an_mms_is_one_webhook_once_fetched_with_token_links_to_its_parts(tmp_path: Path,
                                                                          session_factory: sessionmaker[Session]) -> None:
    outbox = Outbox(session_factory, tmp_path)
    rig = MmsRig(tmp_path / "mms", session_factory, account_id=outbox.account)
    try:
        with HttpReceiver() as receiver:
            target = outbox.target(receiver.url)
            worker = outbox.worker()
            worker.start()
            rig.emulator.deliver_mms(1, "+48600100200", [
                ("image/jpeg", "a.jpg", b"\xff\xd8\xff\xe0 picture \xff\xd9"),
                ("text/plain", "t.txt", "Róże na sobotę".encode(), "utf-8")], subject="Zamówienie")
            receiver.wait_for(1)
            worker.run_due()
            bodies = [json.loads(r.body) for r in receiver.requests]
            events = [r.headers["X-Appliance-Event"] for r in receiver.requests]
    finally:
        for worker in outbox.workers:
            worker.stop()
        rig.stop()
    assert events == ["mms:received"] and len(bodies) == 1
    message = bodies[0]["message"]
    assert (message["subject"], message["text"]) == ("Zamówienie", "Róże na sobotę")
    urls = [a["url"] for a in message["attachments"]]
    assert urls and all(u.startswith("http://appliance.test/api/v1/attachments/") for u in urls)
    assert all(u.endswith(f"?token={target.download_token}") for u in urls)
