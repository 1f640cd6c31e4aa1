"""Forwarding over the REST API: targets, the delivery log, retries, and attachment links for receivers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Account, Attachment, Delivery, DeliveryAttempt, Message
from appliance.web.tokens import create_token

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "integration", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def reader(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "reader")
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def account(session_factory: sessionmaker[Session]) -> int:
    with session_factory.begin() as session:
        row = Account(name="Kwiaciarnia")
        session.add(row)
        session.flush()
        return row.id


def add(sessions: sessionmaker[Session], row: Any) -> int:
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return int(row.id)


def create(client: FlaskClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/forward-targets", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_webhook_target_is_created_with_a_secret_and_listed(client: FlaskClient, admin: dict[str, str],
                                                              account: int) -> None:
    target = create(client, admin, account=account, kind="url", address="https://shop.example/hooks/sms",
                    format="xml")
    assert (target["kind"], target["format"], target["enabled"], target["give_up_hours"]) == ("url", "xml", True, 24.0)
    assert len(target["secret"]) >= 32 and target["name"] == "https://shop.example/hooks/sms"
    listed = client.get(f"/api/v1/forward-targets?account={account}", headers=admin).get_json()["items"]
    assert [t["id"] for t in listed] == [target["id"]]


@pytest.mark.parametrize(("kind", "field", "address"), [
    ("url", "url", "https://shop.example/hooks/sms"),
    ("email", "email", "sklep@example.com"),
    ("sms", "phone", "+48600100200"),
])
def test_a_targets_address_also_goes_by_designs_name_for_its_kind(client: FlaskClient, admin: dict[str, str],
                                                                  account: int, kind: str, field: str,
                                                                  address: str) -> None:
    target = create(client, admin, account=account, kind=kind, **{field: address})
    assert target["address"] == target[field] == address
    assert [target[other] for other in ("url", "email", "phone") if other != field] == [None, None]
    # Sent back as it was read, the target stays as it is.
    response = client.put(f"/api/v1/forward-targets/{target['id']}", json=target, headers=admin)
    assert response.status_code == 200 and response.get_json() == target


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "url", "address": "ftp://shop.example/"}, "address"),
    ({"kind": "url", "address": "https://shop.example/\r\nX-Evil: 1"}, "address"),
    ({"kind": "email", "address": "not an address"}, "address"),
    ({"kind": "sms", "address": "Kwiaciarnia"}, "address"),
    ({"kind": "fax", "address": "+48600100200"}, "kind"),
    ({"kind": "url", "address": "https://shop.example/", "format": "yaml"}, "format"),
    ({"kind": "url", "address": "https://shop.example/", "timeout_seconds": 0}, "timeout_seconds"),
    ({"kind": "url", "address": "https://shop.example/", "ca_pem": "not a certificate"}, "ca_pem"),
    ({"kind": "url", "address": "https://shop.example/", "keyword": 999}, "keyword"),
])
def test_a_bad_target_is_refused_naming_the_field(client: FlaskClient, admin: dict[str, str], account: int,
                                                  body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/forward-targets", json={"account": account, **body}, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(f"{field}:")


def test_only_an_admin_token_changes_targets(client: FlaskClient, reader: dict[str, str], account: int) -> None:
    response = client.post("/api/v1/forward-targets", json={"account": account, "kind": "url",
                                                            "address": "https://shop.example/"}, headers=reader)
    assert response.status_code == 403


def test_a_target_is_updated_and_a_target_with_deliveries_is_disabled_not_deleted(
        client: FlaskClient, admin: dict[str, str], account: int, session_factory: sessionmaker[Session]) -> None:
    target = create(client, admin, account=account, kind="email", address="jan@example.com")
    changed = client.patch(f"/api/v1/forward-targets/{target['id']}", headers=admin,
                           json={"subject_template": "SMS od {sender}", "enabled": False}).get_json()
    assert (changed["subject_template"], changed["enabled"]) == ("SMS od {sender}", False)
    message = add(session_factory, Message(iccid="1", sender="+48600100200", text="x", status="routed",
                                           account_id=account, received_at=T0))
    add(session_factory, Delivery(target_id=target["id"], message_id=message, idempotency_key="k" * 32,
                                  give_up_at=T0 + timedelta(hours=24)))
    refused = client.delete(f"/api/v1/forward-targets/{target['id']}", headers=admin)
    assert refused.status_code == 409 and "enabled" in refused.get_json()["error"]["message"]


def test_the_delivery_log_shows_every_attempt_and_a_dead_delivery_can_be_retried(
        client: FlaskClient, admin: dict[str, str], account: int, session_factory: sessionmaker[Session]) -> None:
    target = create(client, admin, account=account, kind="url", address="https://shop.example/hook")
    message = add(session_factory, Message(iccid="1", sender="+48600100200", text="x", status="routed",
                                           account_id=account, received_at=T0))
    delivery = add(session_factory, Delivery(target_id=target["id"], message_id=message, idempotency_key="k" * 32,
                                             status="dead", attempts=2, give_up_at=T0, last_error="HTTP 500"))
    for n, (code, error) in enumerate([(500, "HTTP 500 Internal Server Error"), (None, "connection refused")], 1):
        add(session_factory, DeliveryAttempt(delivery_id=delivery, attempt=n, duration_ms=12.5, ok=False,
                                             status_code=code, error=error, excerpt="oops" if code else None))

    dead = client.get(f"/api/v1/deliveries?message={message}&status=dead", headers=admin).get_json()["items"]
    assert [d["id"] for d in dead] == [delivery]
    log = client.get(f"/api/v1/deliveries/{delivery}", headers=admin).get_json()["log"]
    assert [(a["attempt"], a["status_code"], a["error"]) for a in log] == [
        (1, 500, "HTTP 500 Internal Server Error"), (2, None, "connection refused")]

    retried = client.post(f"/api/v1/deliveries/{delivery}/retry", headers=admin).get_json()
    assert retried["status"] == "pending" and retried["next_attempt_at"] is not None
    assert datetime.fromisoformat(retried["give_up_at"].replace("Z", "+00:00")) > datetime.now(UTC) + timedelta(hours=23)


def test_a_delivered_delivery_is_not_retried(client: FlaskClient, admin: dict[str, str], account: int,
                                             session_factory: sessionmaker[Session]) -> None:
    target = create(client, admin, account=account, kind="url", address="https://shop.example/hook")
    message = add(session_factory, Message(iccid="1", sender="+48600100200", text="x", status="routed",
                                           account_id=account, received_at=T0))
    delivery = add(session_factory, Delivery(target_id=target["id"], message_id=message, idempotency_key="k" * 32,
                                             status="delivered", give_up_at=T0, delivered_at=T0))
    assert client.post(f"/api/v1/deliveries/{delivery}/retry", headers=admin).status_code == 409


def test_a_targets_download_token_opens_its_accounts_attachments_and_nothing_else(
        client: FlaskClient, admin: dict[str, str], account: int, session_factory: sessionmaker[Session],
        app: Any) -> None:
    from appliance.attachments import AttachmentStore

    store = AttachmentStore(app.config["APPLIANCE_SETTINGS"].data_dir)
    app.extensions["appliance.attachments"] = store
    other_account = add(session_factory, Account(name="Piekarnia"))
    picture = b"\xff\xd8\xff\xe0 a picture \xff\xd9"
    digest = store.put(picture)
    attachments = []
    for owner in (account, other_account):
        message = add(session_factory, Message(iccid="1", sender="+48600100200", kind="mms", status="routed",
                                               account_id=owner, received_at=T0))
        attachments.append(add(session_factory, Attachment(message_id=message, sequence=1, content_type="image/jpeg",
                                                           name="a.jpg", size=len(picture), sha256=digest)))
    token = create(client, admin, account=account, kind="url", address="https://shop.example/hook")
    with session_factory() as session:
        from appliance.db.models import ForwardTarget

        download_token = session.get(ForwardTarget, token["id"]).download_token

    own = client.get(f"/api/v1/attachments/{attachments[0]}?token={download_token}")
    assert own.status_code == 200 and own.data == picture
    assert client.get(f"/api/v1/attachments/{attachments[1]}?token={download_token}").status_code == 401
    assert client.get(f"/api/v1/attachments/{attachments[0]}?token=wrong").status_code == 401


def test_send_test_posts_a_sample_to_the_receiver_and_answers_what_it_said(
        client: FlaskClient, admin: dict[str, str], account: int, app: Any, tmp_path: Any) -> None:
    from appliance.delivery.channels import WebhookChannel
    from tests.support.http_receiver import HttpReceiver

    app.extensions["appliance.forwarding_channels"] = {"url": WebhookChannel(tmp_path / "ca")}
    with HttpReceiver() as receiver:
        target = create(client, admin, account=account, kind="url", address=receiver.url + "hook", format="xml")
        answer = client.post(f"/api/v1/forward-targets/{target['id']}/test", headers=admin).get_json()
        assert answer["ok"] is True and answer["status_code"] == 200
        [request] = receiver.requests
        assert request.headers["X-Appliance-Event"] == "sms:received"
        assert "Wiadomość testowa".encode() in request.body
        receiver.plan(status=503)
        failed = client.post(f"/api/v1/forward-targets/{target['id']}/test", headers=admin).get_json()
    assert failed["ok"] is False and failed["error"] == "HTTP 503 Service Unavailable"
