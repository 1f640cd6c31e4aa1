"""Forward targets managed in the panel: added, changed, tested, disabled or deleted, each user within
their own account, every form checked by the REST API's own rules."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.config import Settings
from appliance.db.models import AccessNumber, Account, Delivery, ForwardTarget, Keyword, Message, OutboundSms
from appliance.delivery.channels import WebhookChannel, forwarding_channels
from tests.support.http_receiver import HttpReceiver
from tests.web.conftest import LIVE_TIMEOUT_MS, Store, Users

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def add(sessions: sessionmaker[Session], row: Any) -> int:
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return int(row.id)


@pytest.fixture
def flowers(session_factory: sessionmaker[Session]) -> int:
    return add(session_factory, Account(name="Kwiaciarnia"))


@pytest.fixture
def pizzeria(session_factory: sessionmaker[Session]) -> int:
    return add(session_factory, Account(name="Pizzeria"))


def csrf_token(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)  # type: ignore[union-attr]


def form(client: FlaskClient, path: str, **fields: Any) -> dict[str, Any]:
    """What the browser posts from the target form at ``path``: the page's token, the form's defaults
    and the fields given."""
    return {"csrf_token": csrf_token(client, path), "format": "json", "timeout_seconds": "10", "access_number": "0",
            "keyword": "0", "give_up_hours": "24", "enabled": "y", **fields}


def targets(sessions: sessionmaker[Session]) -> list[ForwardTarget]:
    with sessions() as session:
        return list(session.scalars(select(ForwardTarget).order_by(ForwardTarget.id)))


def test_an_admin_adds_a_webhook_target_and_sees_its_secret_once(
        panel: FlaskClient, flowers: int, session_factory: sessionmaker[Session]) -> None:
    response = panel.post("/panel/forwarding/targets/new", data=form(
        panel, "/panel/forwarding/targets/new", kind="url", address=" https://crm.example/hooks/sms ",
        name="CRM", account=flowers, format="xml", timeout_seconds="7,5", give_up_hours="48"))
    assert response.status_code == 303
    [target] = targets(session_factory)
    assert (target.account_id, target.kind, target.address, target.name, target.format) == (
        flowers, "url", "https://crm.example/hooks/sms", "CRM", "xml")
    assert (target.timeout_seconds, target.give_up_hours, target.enabled) == (7.5, 48.0, True)
    first = panel.get(response.headers["Location"]).get_data(as_text=True)
    assert target.secret in first and "shown only this once" in first
    assert target.secret not in panel.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "url", "address": "ftp://crm.example/"}, "must be an http:// or https:// URL"),
    ({"kind": "email", "address": "not an address"}, "must be an e-mail address"),
    ({"kind": "sms", "address": "Kwiaciarnia"}, "Kwiaciarnia"),
    ({"kind": "url", "address": "https://crm.example/", "timeout_seconds": "soon"}, "must be a number between 1 and 120"),
    ({"kind": "url", "address": "https://crm.example/", "ca_pem": "not a certificate"}, "must be PEM"),
])
def test_a_bad_target_is_refused_with_the_apis_message_next_to_its_field_and_nothing_written(
        panel: FlaskClient, flowers: int, session_factory: sessionmaker[Session], fields: dict[str, str],
        message: str) -> None:
    response = panel.post("/panel/forwarding/targets/new",
                          data=form(panel, "/panel/forwarding/targets/new", account=flowers, **fields))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    field = re.search(r'<ul class="errors" id="([a-z_]+)-errors"><li>([^<]*)</li>', html)
    assert field is not None and message in field.group(2).replace("&#39;", "'")
    assert targets(session_factory) == []


def test_a_change_the_api_refuses_leaves_the_target_as_it_was(
        panel: FlaskClient, flowers: int, session_factory: sessionmaker[Session]) -> None:
    target = add(session_factory, ForwardTarget(account_id=flowers, name="CRM", kind="url",
                                                address="https://crm.example/", secret="s" * 43,
                                                download_token="t" * 32))
    path = f"/panel/forwarding/targets/{target}"
    refused = panel.post(path, data=form(panel, path, kind="url", address="https://crm.example/v2", name="CRM 2",
                                         account=flowers, timeout_seconds="500"))
    assert refused.status_code == 400 and "must be a number between 1 and 120" in refused.get_data(as_text=True)
    [unchanged] = targets(session_factory)
    assert (unchanged.address, unchanged.name, unchanged.timeout_seconds) == ("https://crm.example/", "CRM", 10.0)

    saved = panel.post(path, data=form(panel, path, kind="email", address="biuro@kwiaciarnia.example",
                                       name="Biuro", account=flowers, subject_template="SMS od {sender}",
                                       body_template="", give_up_hours="24"))
    assert saved.status_code == 303
    [changed] = targets(session_factory)
    assert (changed.kind, changed.address, changed.subject_template, changed.body_template) == (
        "email", "biuro@kwiaciarnia.example", "SMS od {sender}", None)


def test_without_any_account_the_page_says_to_add_one_first(panel: FlaskClient) -> None:
    html = panel.get("/panel/forwarding/targets/new").get_data(as_text=True)
    assert "there is no account yet" in html and 'name="address"' not in html


def test_a_form_posted_without_the_pages_token_is_refused(panel: FlaskClient, flowers: int,
                                                          session_factory: sessionmaker[Session]) -> None:
    response = panel.post("/panel/forwarding/targets/new", data={
        "csrf_token": "forged", "kind": "url", "address": "https://crm.example/", "account": flowers,
        "access_number": "0", "keyword": "0"})
    assert response.status_code == 400
    assert targets(session_factory) == []


def test_an_account_user_manages_only_their_accounts_targets(
        users: Users, signed_in, flowers: int, pizzeria: int, session_factory: sessionmaker[Session]) -> None:
    own = add(session_factory, ForwardTarget(account_id=flowers, name="Our CRM", kind="url",
                                             address="https://kwiaciarnia.example/", secret="s" * 43,
                                             download_token="a" * 32))
    other = add(session_factory, ForwardTarget(account_id=pizzeria, name="Pizza CRM", kind="url",
                                               address="https://pizza.example/", secret="p" * 43,
                                               download_token="b" * 32))
    message = add(session_factory, Message(iccid="1", sender="+48600100200", text="x", status="routed",
                                           account_id=pizzeria))
    delivery = add(session_factory, Delivery(target_id=other, message_id=message, idempotency_key="k" * 32,
                                             status="dead", give_up_at=T0))
    ala = signed_in(users.create("ala@example.com", admin=False, account_id=flowers))

    listing = ala.get("/panel/forwarding").get_data(as_text=True)
    assert "Our CRM" in listing and "Pizza CRM" not in listing and f'id="delivery-{delivery}"' not in listing
    assert ala.get(f"/panel/forwarding/targets/{own}").status_code == 200
    token = csrf_token(ala, "/panel/forwarding")
    assert ala.get(f"/panel/forwarding/targets/{other}").status_code == 404
    for action in ("", "/test", "/rotate-secret", "/enabled", "/delete"):
        assert ala.post(f"/panel/forwarding/targets/{other}{action}", data={"csrf_token": token}).status_code == 404
    assert ala.post(f"/panel/deliveries/{delivery}/retry", data={"csrf_token": token}).status_code == 404

    new_page = ala.get("/panel/forwarding/targets/new").get_data(as_text=True)
    assert 'name="account"' not in new_page
    created = ala.post("/panel/forwarding/targets/new", data=form(
        ala, "/panel/forwarding/targets/new", kind="email", address="ala@kwiaciarnia.example",
        account=pizzeria))
    assert created.status_code == 303
    with session_factory() as session:
        added = session.scalar(select(ForwardTarget).where(ForwardTarget.address == "ala@kwiaciarnia.example"))
        assert added.account_id == flowers
        assert session.get(ForwardTarget, other).secret == "p" * 43
        assert session.get(Delivery, delivery).status == "dead"


def test_filters_offer_only_the_users_numbers_and_keywords(
        users: Users, signed_in, flowers: int, pizzeria: int, session_factory: sessionmaker[Session]) -> None:
    shared = add(session_factory, AccessNumber(number="+48600100200", iccid="8948000000000000001", kind="shared"))
    pizza_only = add(session_factory, AccessNumber(number="+48600300400", iccid="8948000000000000002",
                                                   account_id=pizzeria))
    add(session_factory, Keyword(access_number_id=shared, account_id=flowers, keyword="ROZA", actions=[]))
    pizza = add(session_factory, Keyword(access_number_id=shared, account_id=pizzeria, keyword="PIZZA", actions=[]))
    ala = signed_in(users.create("ala@example.com", admin=False, account_id=flowers))
    page = ala.get("/panel/forwarding/targets/new").get_data(as_text=True)
    assert "+48600100200" in page and "ROZA on +48600100200" in page
    assert "+48600300400" not in page and "PIZZA" not in page
    refused = ala.post("/panel/forwarding/targets/new", data=form(
        ala, "/panel/forwarding/targets/new", kind="email", address="ala@kwiaciarnia.example",
        access_number=str(pizza_only), keyword=str(pizza)))
    assert refused.status_code == 400 and targets(session_factory) == []


def test_a_target_with_deliveries_is_disabled_and_one_without_is_deleted(
        panel: FlaskClient, flowers: int, session_factory: sessionmaker[Session]) -> None:
    used = add(session_factory, ForwardTarget(account_id=flowers, name="CRM", kind="url",
                                              address="https://crm.example/", secret="s" * 43,
                                              download_token="a" * 32))
    unused = add(session_factory, ForwardTarget(account_id=flowers, name="Spare", kind="sms",
                                                address="+48600100200", secret="x" * 43, download_token="b" * 32))
    message = add(session_factory, Message(iccid="1", sender="+48600100200", text="x", status="routed",
                                           account_id=flowers))
    add(session_factory, Delivery(target_id=used, message_id=message, idempotency_key="k" * 32,
                                  give_up_at=T0))
    page = panel.get(f"/panel/forwarding/targets/{used}").get_data(as_text=True)
    assert "cannot be deleted while its deliveries are in the log" in page and "/delete" not in page
    token = csrf_token(panel, f"/panel/forwarding/targets/{used}")

    refused = panel.post(f"/panel/forwarding/targets/{used}/delete", data={"csrf_token": token},
                         follow_redirects=True)
    assert "has 1 deliveries in its log" in refused.get_data(as_text=True)
    assert panel.post(f"/panel/forwarding/targets/{used}/enabled",
                      data={"csrf_token": token, "enabled": "false"}).status_code == 303
    assert panel.post(f"/panel/forwarding/targets/{unused}/delete", data={"csrf_token": token}).status_code == 303
    [kept] = targets(session_factory)
    assert (kept.id, kept.enabled) == (used, False)


def test_rotating_the_secret_draws_a_new_one_shown_once(panel: FlaskClient, flowers: int,
                                                         session_factory: sessionmaker[Session]) -> None:
    target = add(session_factory, ForwardTarget(account_id=flowers, name="CRM", kind="url",
                                                address="https://crm.example/", secret="s" * 43,
                                                download_token="a" * 32))
    path = f"/panel/forwarding/targets/{target}"
    assert "s" * 43 not in panel.get(path).get_data(as_text=True)
    response = panel.post(f"{path}/rotate-secret", data={"csrf_token": csrf_token(panel, path)})
    [rotated] = targets(session_factory)
    assert response.status_code == 303 and rotated.secret != "s" * 43 and len(rotated.secret) >= 32
    assert rotated.secret in panel.get(path).get_data(as_text=True)
    assert rotated.secret not in panel.get(path).get_data(as_text=True)


def test_send_test_on_an_sms_target_queues_the_sample_through_a_ready_sim(
        app: Flask, panel: FlaskClient, settings: Settings, session_factory: sessionmaker[Session], store: Store,
        flowers: int) -> None:
    app.extensions["appliance.forwarding_channels"] = forwarding_channels(
        settings, session_factory, AttachmentStore(settings.data_dir), wake_sim=lambda iccid: None)
    store.modem(iccid="8948000000000000009", state="ready")
    target = add(session_factory, ForwardTarget(account_id=flowers, name="Owner", kind="sms",
                                                address="+48600999888", secret="x" * 43, download_token="a" * 32))
    path = f"/panel/forwarding/targets/{target}"
    html = panel.post(f"{path}/test", data={"csrf_token": csrf_token(panel, path)}).get_data(as_text=True)
    assert "Delivered" in html and "through SIM 8948000000000000009" in html
    with session_factory() as session:
        [queued] = session.scalars(select(OutboundSms))
        assert (queued.iccid, queued.recipient) == ("8948000000000000009", "+48600999888")
        assert queued.text.startswith("From +48600000000: ") and session.scalar(select(func.count(Delivery.id))) == 0


def test_send_test_against_a_real_receiver_from_the_browser(
        page: Page, server_url: str, app: Flask, session_factory: sessionmaker[Session], flowers: int,
        tmp_path: Path) -> None:
    app.extensions["appliance.forwarding_channels"] = {"url": WebhookChannel(tmp_path / "ca")}
    with HttpReceiver() as receiver:
        page.goto(server_url + "/panel/forwarding")
        page.get_by_role("link", name="Add a forward target").click()
        page.select_option("select[name=kind]", "url")
        expect(page.locator("label[for=address]")).to_have_text("Web address (https://…)")
        expect(page.locator("select[name=subject_template], input[name=subject_template]")).to_be_hidden()
        page.fill("input[name=address]", receiver.url + "hooks/sms")
        page.fill("input[name=name]", "Sklep <CRM>")
        page.select_option("select[name=format]", "json")
        page.get_by_role("button", name="Add target").click()
        expect(page.locator("h1")).to_have_text("Sklep <CRM>")
        secret = page.locator("#secret").inner_text().strip()
        assert secret == targets(session_factory)[0].secret

        page.get_by_role("button", name="Send test").click()
        result = page.locator("#test-result")
        expect(result).to_contain_text("Delivered", timeout=LIVE_TIMEOUT_MS)
        expect(result).to_contain_text("HTTP 200")
        [request] = receiver.requests
        assert request.path == "/hooks/sms" and request.headers["X-Appliance-Event"] == "sms:received"
        signed = f"{request.headers['X-Appliance-Timestamp']}.".encode() + request.body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert request.headers["X-Appliance-Signature"] == f"sha256={expected}"
        expect(page.locator("#secret")).to_have_count(0)  # shown once, not again

        receiver.plan(status=503, body=b"<h1>maintenance</h1>")
        page.get_by_role("button", name="Send test").click()
        expect(result).to_contain_text("Failed", timeout=LIVE_TIMEOUT_MS)
        expect(result.locator("pre.excerpt")).to_have_text("<h1>maintenance</h1>")
