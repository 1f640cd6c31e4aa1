"""Personal data in the panel and the API: an account's retention, and one number's export and erasure
(admins only; the number never in a URL or the audit log)."""

from __future__ import annotations

import io
import json
import re
import zipfile

from sqlalchemy import select

from appliance.db.models import (
    AccessNumber,
    Account,
    AuditEntry,
    Contact,
    ForwardTarget,
    Message,
    OutboundSms,
)
from appliance.web.tokens import create_token

NUMBER = "+48601234567"


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"',  # type: ignore[union-attr]
                     client.get(path).get_data(as_text=True)).group(1)


def account(session_factory, **fields) -> int:
    with session_factory.begin() as session:
        row = Account(name="Kwiaciarnia", opt_out_words=[], **fields)
        session.add(row)
        session.flush()
        return row.id


def bearer(session_factory, **scope) -> dict[str, str]:
    with session_factory.begin() as session:
        return {"Authorization": f"Bearer {create_token(session, 'crm', **scope)}"}


def test_an_admin_sets_an_account_s_retention_through_the_api_and_its_token_may_not(session_factory, client):
    shop = account(session_factory)
    admin, own = bearer(session_factory, admin=True), bearer(session_factory, account_id=shop)

    answer = client.patch(f"/api/v1/accounts/{shop}", json={"retention_days": 90}, headers=admin)
    assert answer.status_code == 200 and answer.get_json()["retention_days"] == 90
    for body, status, complaint in (({"retention_days": 0}, 400, "retention_days: must be at least 1"),
                                    ({"retention_days": "90"}, 400, "retention_days: must be an integer"),
                                    ({"retention_days": 30}, 403, "only an admin")):
        refused = client.patch(f"/api/v1/accounts/{shop}", json=body, headers=own if status == 403 else admin)
        assert refused.status_code == status and complaint in refused.get_json()["error"]["message"]
    assert client.patch(f"/api/v1/accounts/{shop}", json={"retention_days": None}, headers=admin) \
        .get_json()["retention_days"] is None
    assert client.patch(f"/api/v1/accounts/{shop}", json={"name": "Róża"}, headers=own).status_code == 200


def test_the_account_page_sets_and_clears_the_retention_and_refuses_nonsense_at_its_field(panel, session_factory):
    shop = account(session_factory)
    path = f"/accounts/{shop}"
    saved = panel.post(path, data={"csrf_token": csrf(panel, path), "name": "Kwiaciarnia", "retention_days": "365"})
    assert saved.status_code == 302 and 'value="365"' in panel.get(path).get_data(as_text=True)
    refused = panel.post(path, data={"csrf_token": csrf(panel, path), "name": "Kwiaciarnia", "retention_days": "rok"})
    assert refused.status_code == 400 and "retention_days: must be an integer" in refused.get_data(as_text=True)
    panel.post(path, data={"csrf_token": csrf(panel, path), "name": "Kwiaciarnia", "retention_days": " "})
    with session_factory() as session:
        assert session.get(Account, shop).retention_days is None  # type: ignore[union-attr]


def test_the_panel_erases_a_number_and_shows_the_receipt_and_the_number_once(panel, session_factory, store):
    shop = account(session_factory, retention_days=30)
    store.message(sender=NUMBER, text="to ja")
    store.message(sender="+48602765432", text="ktoś inny")
    with session_factory.begin() as session:
        session.add(Contact(account_id=shop, msisdn=NUMBER))
    page = panel.get("/personal-data").get_data(as_text=True)
    assert "Personal data" in page and "30 days" in page and 'href="/personal-data"' in page

    unconfirmed = panel.post("/personal-data/erase", data={"csrf_token": csrf(panel, "/personal-data"),
                                                           "erase-number": "601 234 567"})
    assert unconfirmed.status_code == 400
    answer = panel.post("/personal-data/erase", data={"csrf_token": csrf(panel, "/personal-data"),
                                                      "erase-number": "601 234 567", "erase-understood": "y"})

    html = answer.get_data(as_text=True)
    receipt = re.search(r"<code>(E-\d{8}-[0-9A-F]{8})</code>", html)
    assert answer.status_code == 200 and receipt and NUMBER in html
    with session_factory() as session:
        assert session.scalars(select(Message.sender)).all() == ["+48602765432"]
        assert session.scalars(select(Contact)).all() == []
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "number.erase")).one()
    assert entry.details == {"receipt": receipt.group(1), "contacts": 1, "messages": 1, "statistics_sender_days": 1}
    assert NUMBER not in json.dumps(entry.details) and NUMBER not in (entry.target or "")
    assert entry.actor == "user admin@example.com"
    assert NUMBER not in panel.get("/personal-data").get_data(as_text=True)


def test_one_of_the_box_s_own_numbers_is_not_erased(panel, session_factory, store):
    with session_factory.begin() as session:
        session.add(AccessNumber(number=NUMBER, iccid="8948000000000000001", kind="shared"))
    store.message(sender=NUMBER)
    answer = panel.post("/personal-data/erase", data={"csrf_token": csrf(panel, "/personal-data"),
                                                      "erase-number": NUMBER, "erase-understood": "y"})
    assert answer.status_code == 400 and "one of the box" in answer.get_data(as_text=True)
    with session_factory() as session:
        assert session.scalars(select(Message.sender)).all() == [NUMBER]
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "number.erase")).all() == []


def test_the_panel_downloads_a_number_s_export(panel, session_factory, store):
    store.message(sender=NUMBER, text="Zamawiam róże 🌹")
    answer = panel.post("/personal-data/export", data={"csrf_token": csrf(panel, "/personal-data"),
                                                       "export-number": "0048 601 234 567"})
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(answer.data)).read("data.json"))
    assert [m["text"] for m in data["messages_received"]] == ["Zamawiam róże 🌹"]
    bad = panel.post("/personal-data/export", data={"csrf_token": csrf(panel, "/personal-data"),
                                                    "export-number": "pizza"})
    assert bad.status_code == 400 and "not a phone number" in bad.get_data(as_text=True)


def test_only_admins_reach_personal_data(users, signed_in, session_factory, client, store):
    shop = account(session_factory)
    store.message(sender=NUMBER)
    user = signed_in(users.create("ala@example.com", admin=False, account_id=shop))
    assert user.get("/personal-data").status_code == 403
    assert 'href="/personal-data"' not in user.get("/").get_data(as_text=True)
    for headers in (bearer(session_factory, account_id=shop), bearer(session_factory)):
        for path in ("/api/v1/numbers/erase", "/api/v1/numbers/export"):
            assert client.post(path, json={"number": NUMBER}, headers=headers).status_code == 403
    admin = bearer(session_factory, admin=True)
    invalid = client.post("/api/v1/numbers/erase", json={"number": "12"}, headers=admin)
    assert invalid.status_code == 400 and invalid.get_json()["error"]["message"].startswith("number:")
    with session_factory() as session:
        assert session.scalars(select(Message.sender)).all() == [NUMBER]


def test_erasure_waits_for_a_text_being_sent_and_for_a_forwarding_target_to_change(session_factory, client, store):
    shop = account(session_factory)
    store.message(sender=NUMBER)
    with session_factory.begin() as session:
        text = OutboundSms(iccid="8948000000000000001", recipient=NUMBER, text="Dziękujemy", status="sending")
        session.add(text)
        session.flush()
        text_id = text.id
    admin = bearer(session_factory, admin=True)

    busy = client.post("/api/v1/numbers/erase", json={"number": NUMBER}, headers=admin)
    assert busy.status_code == 409 and "being sent right now" in busy.get_json()["error"]["message"]
    with session_factory.begin() as session:
        session.get(OutboundSms, text_id).status = "delivered"  # type: ignore[union-attr]
        session.add(ForwardTarget(account_id=shop, name="Szef", kind="sms", address=NUMBER, secret="s",
                                  download_token="t"))
    target = client.post("/api/v1/numbers/erase", json={"number": NUMBER}, headers=admin)
    assert target.status_code == 409 and "forwarding target 'Szef'" in target.get_json()["error"]["message"]
    with session_factory() as session:
        assert session.scalars(select(Message.sender)).all() == [NUMBER]
        assert session.scalars(select(OutboundSms.id)).all() == [text_id]
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "number.erase")).all() == []
