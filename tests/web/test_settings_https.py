"""Settings → HTTPS: admins only; the switches are turned on from HTTPS only and recorded; an uploaded
certificate is checked (key belongs to it, valid now, PEM) and refused with a reason, changing nothing.
When the child process that reads and checks certificates fails, the page still answers and says so."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.certificate import MDNS_NAME, generate, make_self_signed
from appliance.db.models import Account, AuditEntry, PanelSetting
from appliance.https import CERTIFICATE_FILE, KEY_FILE
from tests.support.broken_cryptography import break_cryptography

HTTPS = "https://localhost"


def token(client: FlaskClient, base_url: str = "http://localhost") -> str:
    html = client.get("/settings/https", base_url=base_url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def switches(client: FlaskClient, base_url: str, **values: str):
    return client.post("/settings/https", base_url=base_url, headers={"Referer": base_url + "/settings/https"},
                       data={"csrf_token": token(client, base_url), **values})


def upload(client: FlaskClient, certificate: bytes, key: bytes):
    return client.post("/settings/https/certificate", data={
        "csrf_token": token(client), "certificate": (io.BytesIO(certificate), "certificate.pem"),
        "key": (io.BytesIO(key), "key.pem")})


def test_the_page_shows_the_fingerprint_to_admins_only(panel, signed_in, users, session_factory, settings):
    info = make_self_signed(settings.data_dir)
    assert MDNS_NAME in info.names
    html = panel.get("/settings/https").get_data(as_text=True)
    assert info.fingerprint in html and MDNS_NAME in html
    with session_factory() as session:
        shop = Account(name="Kwiaciarnia")
        session.add(shop)
        session.commit()
        shop_id = shop.id
    clerk = signed_in(users.create("ala@kwiaciarnia.pl", admin=False, account_id=shop_id))
    assert clerk.get("/settings/https").status_code == 403
    assert "/settings/https" not in clerk.get("/settings").get_data(as_text=True)


def test_the_switches_are_turned_on_over_https_only_and_recorded(panel, session_factory):
    refused = switches(panel, "http://localhost", redirect="y")
    assert refused.status_code == 400 and "Open this page over HTTPS first" in refused.get_data(as_text=True)
    with session_factory() as session:
        assert session.scalars(select(PanelSetting)).all() == []
    saved = switches(panel, HTTPS, redirect="y", hsts="y")
    assert saved.status_code == 303
    with session_factory() as session:
        stored = {row.key: row.value for row in session.scalars(select(PanelSetting))}
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "https.settings"))
    assert stored == {"https_redirect": True, "https_hsts": True}
    assert entry.details == {"https_redirect": [False, True], "https_hsts": [False, True]}
    assert entry.actor == "user admin@example.com"
    # Turning them off needs no HTTPS: it cannot lock anyone out.
    assert switches(panel, "http://localhost").status_code == 303
    with session_factory() as session:
        assert {row.key: row.value for row in session.scalars(select(PanelSetting))} == {
            "https_redirect": False, "https_hsts": False}


def test_an_own_certificate_is_stored_and_served_from_the_next_start_without_a_server(panel, settings):
    certificate, key = generate(["sms.example.pl"], [])
    response = upload(panel, certificate, key)
    assert response.status_code == 303
    assert "served from the next start" in panel.get("/settings/https").get_data(as_text=True)
    assert (settings.data_dir / CERTIFICATE_FILE).read_bytes() == certificate
    assert (settings.data_dir / KEY_FILE).read_bytes() == key
    assert "sms.example.pl" in panel.get("/settings/https").get_data(as_text=True)


def _encrypted(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"sekret"))


def _other_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.mark.parametrize("pair, reason", [
    (lambda c, k: (c, _other_key()), "the private key does not belong to the certificate"),
    (lambda c, k: generate(["old.example.pl"], [], now=datetime.now(UTC) - timedelta(days=4000)),
     "the certificate expired on"),
    (lambda c, k: (b"hello", k), "holds no PEM certificate"),
    (lambda c, k: (c, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "holds no PEM private key"),
    (lambda c, k: (c, _encrypted(k)), "protected by a passphrase"),
])
def test_a_certificate_that_cannot_be_served_is_refused_and_changes_nothing(panel, settings, session_factory,
                                                                             pair, reason):
    make_self_signed(settings.data_dir)
    before = (settings.data_dir / CERTIFICATE_FILE).read_bytes(), (settings.data_dir / KEY_FILE).read_bytes()
    certificate, key = generate(["sms.example.pl"], [])
    response = upload(panel, *pair(certificate, key))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "The certificate was not changed:" in html and reason in html
    assert ((settings.data_dir / CERTIFICATE_FILE).read_bytes(), (settings.data_dir / KEY_FILE).read_bytes()) == before
    with session_factory() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "https.certificate")).all() == []


def test_the_page_says_when_the_certificate_cannot_be_read_and_still_works(panel, settings, tmp_path, monkeypatch,
                                                                           caplog):
    make_self_signed(settings.data_dir)
    break_cryptography(monkeypatch, tmp_path / "broken")
    response = panel.get("/settings/https")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The certificate in use could not be read; the appliance's log says why." in html
    assert 'action="/settings/https/certificate"' in html and 'name="redirect"' in html
    assert (f"Settings → HTTPS cannot show the certificate in use: the certificate in {settings.data_dir} could "
            "not be read (exit status 1); see the error above") in caplog.text
    # The switches still work.
    assert switches(panel, HTTPS, redirect="y").status_code == 303


def test_an_upload_the_child_cannot_check_changes_nothing_and_says_so(panel, settings, session_factory, tmp_path,
                                                                      monkeypatch, caplog):
    make_self_signed(settings.data_dir)
    before = (settings.data_dir / CERTIFICATE_FILE).read_bytes(), (settings.data_dir / KEY_FILE).read_bytes()
    described = panel.get("/settings/https").get_data(as_text=True)  # read while the child still works
    certificate, key = generate(["sms.example.pl"], [])
    break_cryptography(monkeypatch, tmp_path / "broken")
    response = upload(panel, certificate, key)
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "The certificate could not be checked: the appliance's certificate tool failed" in html
    assert "The certificate was not changed:" not in html
    # The certificate in use was described before, and its fingerprint has not changed: no child needed.
    fingerprint = re.search(r'id="fingerprint">([^<]+)<', described).group(1)  # type: ignore[union-attr]
    assert fingerprint in html
    assert ("admin@example.com uploaded an HTTPS certificate: the uploaded certificate could not be checked "
            "(exit status 1); see the error above") in caplog.text
    assert ((settings.data_dir / CERTIFICATE_FILE).read_bytes(), (settings.data_dir / KEY_FILE).read_bytes()) == before
    with session_factory() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "https.certificate")).all() == []
