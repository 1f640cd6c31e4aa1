"""A database file copied alone reveals no secret (issue 10), while the running box goes on using them.

Every kind of secret is set the way an owner sets it (the REST API, the panel's SMTP form); then a text
and an MMS arrive through an emulated modem: the webhook must come signed with the target's secret,
the e-mail must be sent after logging in with the SMTP password, and the MMS's attachment link must
open with the target's download token. Only then is the database copied (the SQLite file with its
WAL, or a ``pg_dump``) and searched for each secret, as text, base64 and hex.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from appliance.db.models import User
from appliance.db.sealed import KEY_FILE
from appliance.delivery.webhook import verify_signature
from appliance.users import create_user
from appliance.web.tokens import create_token
from tests.e2e.conftest import Box
from tests.support.http_receiver import HttpReceiver
from tests.support.postgres import _bin
from tests.support.smtp_receiver import smtp_receiver

OWNER, OWNER_PASSWORD = "owner@kwiaciarnia.example", "correct horse battery"
WEBHOOK_SECRET = "whsec-Kwiaciarnia-7f3a9c2e41d8b6"
SMTP_USER, SMTP_PASSWORD = "bramka-sms", "smtp-Haslo-do-poczty-93b1e7"
APN_USER, APN_PASSWORD = "mms-user-kwiaciarnia", "apn-Haslo-operatora-5d20c4"
CUSTOMER = "+48600100200"


def forms_of(secret: str) -> dict[str, bytes]:
    """The ways a secret could sit in a file: as text, and encoded as base64 (both alphabets) or hex."""
    raw = secret.encode()
    return {"text": raw, "base64": base64.b64encode(raw).rstrip(b"="),
            "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
            "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}


def copy_of_database(box: Box, tmp_path: Path) -> bytes:
    """What someone walking off with the database gets: for SQLite the file and its WAL (where recent
    writes live until a checkpoint) plus a checkpointed copy; for PostgreSQL a plain pg_dump."""
    url = make_url(box.appliance.settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        stolen = b"".join(path.read_bytes() for path in sorted(database.parent.glob(database.name + "*")))
        copy = tmp_path / "stolen.db"
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        return stolen + copy.read_bytes()
    libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([_bin("pg_dump"), "--no-owner", libpq_url], check=True, capture_output=True).stdout


def signed_in_panel(box: Box) -> requests.Session:
    browser = requests.Session()
    page = browser.get(box.url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = browser.post(box.url + "/login", data={"csrf_token": token.group(1), "email": OWNER,
                                                    "password": OWNER_PASSWORD}, timeout=10)
    assert answer.ok and "/login" not in answer.url
    return browser


def test_a_database_file_copied_alone_reveals_no_secret(box: Box, tmp_path: Path) -> None:
    with box.appliance.sessions.begin() as session:
        create_user(session, OWNER, OWNER_PASSWORD, admin=True)
        api_token = create_token(session, "secrets test", admin=True)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_token}"
    modem = box.emulator.modems()[0]
    mmsc = box.emulator.mmsc.describe()

    with HttpReceiver() as webhooks, smtp_receiver(user=SMTP_USER, password=SMTP_PASSWORD) as mail:
        account = api.post(box.url + "/api/v1/accounts", json={"name": "Kwiaciarnia"}, timeout=10).json()
        number = api.post(box.url + "/api/v1/access-numbers", timeout=10, json={
            "number": modem["msisdn"], "iccid": modem["iccid"], "kind": "dedicated", "account": account["id"],
            "mms_enabled": True, "mmsc_url": mmsc["url"], "mms_proxy": mmsc["proxy"], "mms_apn": "mms",
            "mms_apn_user": APN_USER, "mms_apn_password": APN_PASSWORD})
        assert number.status_code == 201, number.text
        hook = api.post(box.url + "/api/v1/forward-targets", timeout=10, json={
            "account": account["id"], "kind": "url", "url": webhooks.url + "hooks/sms", "secret": WEBHOOK_SECRET})
        assert hook.status_code == 201 and hook.json()["secret"] == WEBHOOK_SECRET, hook.text
        by_mail = api.post(box.url + "/api/v1/forward-targets", timeout=10, json={
            "account": account["id"], "kind": "email", "email": "zamowienia@kwiaciarnia.example"})
        assert by_mail.status_code == 201, by_mail.text

        panel = signed_in_panel(box)
        form = panel.get(box.url + "/settings/smtp", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        saved = panel.post(box.url + "/settings/smtp", timeout=10, data={
            "csrf_token": csrf.group(1), "host": mail.host, "port": str(mail.port), "security": "none",
            "user": SMTP_USER, "password": SMTP_PASSWORD, "sender": "bramka@kwiaciarnia.example"})
        assert saved.ok and "were saved" in saved.text

        box.emulator.deliver_sms(1, CUSTOMER, "Poproszę bukiet róż na sobotę")
        box.wait_until(lambda: len(webhooks.requests) >= 1 and len(mail.received) >= 1,
                       "the webhook and the e-mail of the text")
        picture = b"\xff\xd8\xff\xe0 bukiet \xff\xd9"
        box.emulator.deliver_mms(1, CUSTOMER, [("image/jpeg", "bukiet.jpg", picture)], subject="Taki bukiet?")
        box.wait_until(lambda: len(webhooks.requests) >= 2, "the webhook of the MMS")

        for request in webhooks.requests:
            assert verify_signature(WEBHOOK_SECRET, request.headers["X-Appliance-Timestamp"], request.body,
                                    request.headers["X-Appliance-Signature"])
        assert mail.received[0].logged_in_as == SMTP_USER and mail.failed_logins == 0
        [link] = [a["url"] for r in webhooks.requests for a in json.loads(r.body)["message"]["attachments"]
                  if a["name"] == "bukiet.jpg"]
        download_token = link.split("?token=", 1)[1]
        download = requests.get(link, timeout=10)
        assert download.status_code == 200 and download.content == picture

    stolen = copy_of_database(box, tmp_path)
    assert b"hooks/sms" in stolen and APN_USER.encode() in stolen and SMTP_USER.encode() in stolen, \
        "the copy holds the settings beside the secrets: a plain secret would be found"
    secrets = {"webhook secret": WEBHOOK_SECRET, "SMTP password": SMTP_PASSWORD, "APN password": APN_PASSWORD,
               "download token": download_token, "API token": api_token, "panel password": OWNER_PASSWORD}
    found = [f"{what} as {form}" for what, secret in secrets.items()
             for form, pattern in forms_of(secret).items() if pattern in stolen]
    assert found == []

    key_file = box.appliance.settings.data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip().encode() not in stolen
    with box.appliance.sessions() as session:
        assert session.scalar(select(User.email)) == OWNER

