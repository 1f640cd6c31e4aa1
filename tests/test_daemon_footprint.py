"""What the ``appliance run`` process keeps in its memory (issue 9: under 80 MB with 16 modems).

requests (about 4.6 MiB resident, 2.6 of it charset_normalizer guessing text encodings) is never
loaded: webhooks and MMS fetches go out on urllib3 alone. A real daemon forwards a text and fetches an
MMS, and its own ``sys.modules`` is written as it exits.

cryptography (its Rust extension brings its own OpenSSL, about 7 MiB resident) is needed only to make,
describe and check HTTPS certificates, which child processes do: a daemon serving HTTPS and signing
webhooks with a sealed secret, at its first start and at the next, never maps it, nor one whose
Settings → HTTPS page an admin opened and uploaded a certificate through. A real daemon is started as
systemd starts it, and its memory map read from /proc.

smtplib and the email package's policy and header modules (about 0.7 MiB resident) wait for the
first e-mail: a daemon with an SMTP server set that forwards by URL never loads them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3
from sqlalchemy.orm import Session

from appliance.certificate import generate
from appliance.db.engine import make_engine
from appliance.delivery.webhook import verify_signature
from appliance.https import CERTIFICATE_FILE, served_fingerprint
from appliance.modem.emulator.emulator import run_emulator
from appliance.users import create_user
from appliance.web.tokens import create_token
from tests.support.http_receiver import HttpReceiver
from tests.support.modem_pool import wait_for
from tests.support.notify_socket import NotifySocket
from tests.support.panel_browser import csrf_token, page, sign_in
from tests.support.smtp_receiver import smtp_receiver

WEBHOOK_SECRET = "whsec-Kwiaciarnia-footprint-5e8d1a"


# `appliance` with the given arguments, its sys.modules written to a file when it exits.
RUN_RECORDING_MODULES = """
import atexit, runpy, sys
modules_file, *arguments = sys.argv[1:]
atexit.register(lambda: open(modules_file, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["appliance", *arguments]
runpy.run_module("appliance.cli", run_name="__main__")
"""


class Daemon:
    """``python -m appliance.cli run`` on free ports, its log in a file, until :meth:`stop`; *settings*
    (``APPLIANCE_*`` variables) added to its environment; with *modules_file*, the names of the modules
    it imported are written there as it exits."""

    def __init__(self, data_dir: Path, log_path: Path, settings: dict[str, str] | None = None,
                 modules_file: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        manager = NotifySocket()
        env = {**os.environ, "NOTIFY_SOCKET": manager.address, "APPLIANCE_DATA_DIR": str(data_dir),
               "APPLIANCE_HTTP_PORT": "0", "APPLIANCE_HTTPS_PORT": "0", "APPLIANCE_UDEV_DISCOVERY": "false",
               "APPLIANCE_MODEMS": "[]", **(settings or {})}
        command = (["-c", RUN_RECORDING_MODULES, str(modules_file)] if modules_file else ["-m", "appliance.cli"])
        with log_path.open("w") as log:
            self.process = subprocess.Popen([sys.executable, *command, "run"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=log)
        try:
            manager.wait_for("READY", timeout=90)
        finally:
            manager.close()
        self.log = log_path.read_text()
        self.http_port = int(re.search(r"panel on http://[^:]+:(\d+)", self.log).group(1))  # type: ignore[union-attr]
        self.https_port = int(re.search(r"panel on https://[^:]+:(\d+)", self.log).group(1))  # type: ignore[union-attr]

    def mapped_files(self) -> str:
        """The files mapped into the daemon's memory: every shared library and extension module it loaded."""
        return Path(f"/proc/{self.process.pid}/maps").read_text()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.log_path.read_text()


@contextmanager
def daemon(data_dir: Path, log_path: Path, settings: dict[str, str] | None = None,
           modules_file: Path | None = None) -> Iterator[Daemon]:
    running = Daemon(data_dir, log_path, settings, modules_file)
    try:
        yield running
        running.stop()
    finally:
        running.process.kill()
        running.process.wait()


def admin_token(data_dir: Path) -> str:
    """An admin API token, made in the daemon's database as ``appliance token create --admin`` would."""
    engine = make_engine(f"sqlite:///{data_dir / 'appliance.db'}")
    with Session(engine) as session:
        token = create_token(session, "footprint test", admin=True)
        session.commit()
    engine.dispose()
    return token


def api(url: str, token: str, body: dict[str, Any] | None = None, *, trusting: Path | None = None) -> Any:
    """A JSON call to the REST API; over HTTPS trusting the box's own certificate, as a client that
    pinned it would."""
    request = urllib.request.Request(url, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=trusting) if trusting else None
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:
        return json.loads(answer.read())


def test_the_daemon_never_loads_cryptography(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    certificate = data_dir / CERTIFICATE_FILE
    with HttpReceiver() as webhooks:
        with daemon(data_dir, tmp_path / "first-start.log") as first:
            # The first start had its certificate made (in a child) and serves it.
            assert "made a self-signed HTTPS certificate" in first.log
            fingerprint = served_fingerprint(data_dir)
            assert fingerprint is not None and f"HTTPS certificate SHA-256 fingerprint: {fingerprint}" in first.log
            token = admin_token(data_dir)
            https = f"https://127.0.0.1:{first.https_port}/api/v1"
            account = api(f"http://127.0.0.1:{first.http_port}/api/v1/accounts", token, {"name": "Kwiaciarnia"})
            target = api(f"{https}/forward-targets", token, trusting=certificate, body={
                "account": account["id"], "kind": "url", "url": webhooks.url + "hooks/sms", "secret": WEBHOOK_SECRET})
            assert api(f"{https}/forward-targets/{target['id']}/test", token, {}, trusting=certificate)["ok"]
            first_maps = first.mapped_files()
        issued = certificate.read_bytes()

        with daemon(data_dir, tmp_path / "second-start.log") as second:
            assert "made a self-signed HTTPS certificate" not in second.log
            assert f"HTTPS certificate SHA-256 fingerprint: {fingerprint}" in second.log
            https = f"https://127.0.0.1:{second.https_port}/api/v1"
            assert api(f"{https}/forward-targets/{target['id']}/test", token, {}, trusting=certificate)["ok"]
            second_maps = second.mapped_files()
        assert certificate.read_bytes() == issued

        # Each webhook was signed with the secret the daemon sealed, then opened (after the restart too).
        assert len(webhooks.requests) == 2
        for request in webhooks.requests:
            assert verify_signature(WEBHOOK_SECRET, request.headers["X-Appliance-Timestamp"], request.body,
                                    request.headers["X-Appliance-Signature"])
    for maps in (first_maps, second_maps):
        assert not [line for line in maps.splitlines() if "/cryptography/" in line]
        assert "/Crypto/Cipher/_raw_aes" in maps  # pycryptodome sealed and opened the secret: the map shows modules


def signed_in_panel(base_url: str, data_dir: Path) -> urllib.request.OpenerDirector:
    """A browser signed in through the form as an admin made in the daemon's database."""
    engine = make_engine(f"sqlite:///{data_dir / 'appliance.db'}")
    with Session(engine) as session:
        create_user(session, "owner@kwiaciarnia.example", "a long enough password", admin=True)
        session.commit()
    engine.dispose()
    return sign_in(base_url, "owner@kwiaciarnia.example", "a long enough password")


def test_the_daemon_shows_and_takes_a_certificate_without_loading_cryptography(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    modules_file = tmp_path / "modules.txt"
    own_certificate, own_key = generate(["sms.kwiaciarnia.example"], [ipaddress.ip_address("127.0.0.1")])
    with daemon(data_dir, tmp_path / "daemon.log", modules_file=modules_file) as running:
        base = f"http://127.0.0.1:{running.http_port}"
        browser = signed_in_panel(base, data_dir)
        html = page(browser, f"{base}/settings/https")
        assert f'id="fingerprint">{served_fingerprint(data_dir)}<' in html
        body, content_type = urllib3.encode_multipart_formdata({
            "csrf_token": csrf_token(html), "certificate": ("certificate.pem", own_certificate),
            "key": ("key.pem", own_key)})
        html = page(browser, f"{base}/settings/https/certificate", body, content_type)  # after the redirect
        assert "The certificate was saved and is served from now on." in html
        fingerprint = served_fingerprint(data_dir)
        assert f'id="fingerprint">{fingerprint}<' in html and "sms.kwiaciarnia.example" in html
        served = ssl.get_server_certificate(("127.0.0.1", running.https_port), timeout=30)
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(own_certificate.decode())
        maps = running.mapped_files()
    assert not [line for line in maps.splitlines() if "/cryptography/" in line]
    loaded = modules_file.read_text().split()
    assert "appliance.web.settings_https" in loaded, "not the daemon that served the page"
    assert [name for name in loaded if name.split(".")[0] == "cryptography" or name == "appliance.certificate"] == []


def test_the_daemon_never_loads_requests(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    modules_file = tmp_path / "modules.txt"
    emulator = run_emulator(modems=1, control_port=0, state_dir=tmp_path / "emulator", mmsc_port=0)
    [modem] = emulator.modems()
    mmsc = emulator.mmsc.describe()
    settings = {"APPLIANCE_MODEMS": json.dumps([emulator.port(modem["id"])]), "APPLIANCE_MMS_BEARER": "lan"}
    try:
        with HttpReceiver() as webhooks, daemon(data_dir, tmp_path / "daemon.log", settings, modules_file) as running:
            token = admin_token(data_dir)
            base = f"http://127.0.0.1:{running.http_port}/api/v1"
            wait_for(lambda: any(m["state"] == "ready" for m in api(f"{base}/modems", token)["items"]),
                     "the daemon's modem ready", timeout=60)
            account = api(f"{base}/accounts", token, {"name": "Kwiaciarnia"})
            api(f"{base}/access-numbers", token, {
                "number": modem["msisdn"], "iccid": modem["iccid"], "kind": "dedicated", "account": account["id"],
                "mms_enabled": True, "mmsc_url": mmsc["url"], "mms_proxy": mmsc["proxy"], "mms_apn": "mms"})
            api(f"{base}/forward-targets", token, {"account": account["id"], "kind": "url",
                                                  "url": webhooks.url + "hooks/sms", "secret": WEBHOOK_SECRET})
            emulator.deliver_sms(1, "+48600100200", "Poproszę bukiet róż")
            emulator.deliver_mms(1, "+48600100200", [("image/jpeg", "bukiet.jpg", b"\xff\xd8 bukiet \xff\xd9")])
            wait_for(lambda: len(webhooks.requests) >= 2, "the webhooks of the text and of the fetched MMS", timeout=60)
    finally:
        emulator.stop()

    loaded = modules_file.read_text().split()
    assert "urllib3.poolmanager" in loaded and "appliance.mms.fetch" in loaded, "not the daemon that forwarded"
    assert [name for name in loaded if name.split(".")[0] in ("requests", "charset_normalizer")] == []


EMAIL_MACHINERY = ("smtplib", "email.policy", "email.headerregistry", "email._header_value_parser",
                   "email.generator", "email.contentmanager")


def test_the_daemon_loads_smtplib_only_to_send_an_email(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with HttpReceiver() as webhooks, smtp_receiver() as smtp:
        settings = {"APPLIANCE_SMTP_HOST": smtp.host, "APPLIANCE_SMTP_PORT": str(smtp.port),
                    "APPLIANCE_SMTP_SENDER": "Bramka SMS <bramka@kwiaciarnia.example>"}
        by_url_modules = tmp_path / "by-url-modules.txt"
        with daemon(data_dir, tmp_path / "by-url.log", settings, by_url_modules) as by_url:
            token = admin_token(data_dir)
            base = f"http://127.0.0.1:{by_url.http_port}/api/v1"
            account = api(f"{base}/accounts", token, {"name": "Kwiaciarnia"})
            webhook = api(f"{base}/forward-targets", token, {
                "account": account["id"], "kind": "url", "url": webhooks.url + "hooks/sms", "secret": WEBHOOK_SECRET})
            assert api(f"{base}/forward-targets/{webhook['id']}/test", token, {})["ok"]
        by_email_modules = tmp_path / "by-email-modules.txt"
        with daemon(data_dir, tmp_path / "by-email.log", settings, by_email_modules) as by_email:
            base = f"http://127.0.0.1:{by_email.http_port}/api/v1"
            mailbox = api(f"{base}/forward-targets", token, {
                "account": account["id"], "kind": "email", "address": "biuro@kwiaciarnia.example"})
            assert api(f"{base}/forward-targets/{mailbox['id']}/test", token, {})["ok"]
        assert len(webhooks.requests) == 1
        assert [mail.rcpt_tos for mail in smtp.received] == [["biuro@kwiaciarnia.example"]]

    loaded_by_url = by_url_modules.read_text().split()
    assert "appliance.delivery.webhook" in loaded_by_url and "appliance.web.settings" in loaded_by_url
    assert [name for name in EMAIL_MACHINERY if name in loaded_by_url] == []
    # The same daemon, once it has sent an e-mail: the list above is not empty by accident.
    loaded_by_email = by_email_modules.read_text().split()
    assert [name for name in EMAIL_MACHINERY if name in loaded_by_email] == list(EMAIL_MACHINERY)
