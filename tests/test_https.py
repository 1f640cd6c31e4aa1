"""The running appliance serves its panel over HTTPS beside HTTP, with the certificate it made at first
start (the fingerprint it logged is the one a TLS client sees), redirects and sends HSTS only when the
admin turned them on, and serves an uploaded certificate from the next connection, without a restart.
Describing and installing a certificate is a child process's work, described once per fingerprint; a
child that fails or hangs is a clear error, never a certificate half changed by the daemon."""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import re
import socket
import ssl
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from appliance import https
from appliance.certificate import MDNS_NAME, check_pair, generate
from appliance.cli import main
from appliance.config import Settings
from appliance.db.models import AuditEntry
from appliance.https import (
    CERTIFICATE_FILE,
    KEY_FILE,
    CertificateError,
    CertificateUnavailable,
    describe_certificate,
    install_certificate,
    served_fingerprint,
    server_context,
)
from appliance.panel_settings import save_https
from appliance.runtime import Appliance
from appliance.setup_code import read_code
from tests.support.broken_cryptography import HANGING, break_cryptography
from tests.web.conftest import Users, sign_in_browser


@pytest.fixture
def appliance(tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> Iterator[Appliance]:
    caplog.set_level(logging.INFO, logger="appliance.runtime")
    running = Appliance(Settings(data_dir=tmp_path / "data", database_url=database_url, http_port=0, https_port=0,
                                 udev_discovery=False, http_threads=4, secret_key="https tests"))
    running.start()
    yield running
    running.stop()


def peer_certificate(port: int) -> bytes:
    """The DER certificate the server on ``port`` presents, as a browser that has not trusted it yet sees it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=MDNS_NAME) as tls:
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def colon_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()


def get(appliance: Appliance, path: str, *, secure: bool) -> http.client.HTTPResponse:
    if secure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", appliance.https_port, timeout=10, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", appliance.http_port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def assert_serves_http_without_https(data_dir: Path, https_port: int = 0) -> None:
    """An appliance started on ``data_dir`` answers the panel over HTTP and serves no HTTPS."""
    running = Appliance(Settings(data_dir=data_dir, http_port=0, https_port=https_port, udev_discovery=False,
                                 http_threads=2))
    running.start()
    try:
        assert get(running, "/login", secure=False).status == 302
        with pytest.raises(RuntimeError, match="no HTTPS"):
            running.https_port  # noqa: B018 - the property raises
    finally:
        running.stop()


def test_https_answers_with_the_certificate_whose_fingerprint_the_start_logged(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    der = peer_certificate(appliance.https_port)
    [logged] = [r.getMessage() for r in caplog.get_records("setup") if "fingerprint" in r.getMessage()]
    fingerprint = re.search(r"([0-9A-F]{2}(?::[0-9A-F]{2}){31})", logged).group(1)  # type: ignore[union-attr]
    assert fingerprint.replace(":", "") == colon_hex(der)
    certificate = x509.load_der_x509_certificate(der)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert MDNS_NAME in names.get_values_for_type(x509.DNSName)
    assert socket.gethostname() in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    data_dir = appliance.settings.data_dir
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    # The console shows the same fingerprint (the image prints this command's output at boot).
    note = CliRunner().invoke(main, ["console-note"], env={"APPLIANCE_DATA_DIR": str(data_dir)})
    assert note.exit_code == 0 and fingerprint in note.output
    assert f"First-run setup code (the panel asks for it once): {read_code(data_dir)}" in note.output
    # The panel answers over both.
    assert get(appliance, "/login", secure=True).status == 302
    assert get(appliance, "/login", secure=False).status == 302


def test_the_server_context_speaks_tls_1_2_or_newer_without_compression_and_loads_no_ca_store(
        tmp_path: Path) -> None:
    certificate, key = generate([MDNS_NAME], [])
    (tmp_path / CERTIFICATE_FILE).write_bytes(certificate)
    (tmp_path / KEY_FILE).write_bytes(key)
    context = server_context(tmp_path)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ssl.OP_NO_COMPRESSION in context.options and ssl.OP_CIPHER_SERVER_PREFERENCE in context.options
    # No client is asked for a certificate, so there is nothing to verify one against.
    assert context.verify_mode == ssl.CERT_NONE and context.cert_store_stats()["x509_ca"] == 0


def test_the_console_note_says_when_the_certificate_cannot_be_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"APPLIANCE_DATA_DIR": str(data_dir)}
    assert "HTTPS" not in CliRunner().invoke(main, ["console-note"], env=env).output  # none made yet
    (data_dir / CERTIFICATE_FILE).write_text("-----BEGIN CERTIFICATE-----\nMIIB")  # an upload cut short
    note = CliRunner().invoke(main, ["console-note"], env=env)
    assert note.exit_code == 0
    assert note.output == f"HTTPS certificate: cannot be read ({data_dir / CERTIFICATE_FILE} holds no PEM certificate)\n"


def test_the_redirect_and_hsts_appear_only_when_turned_on(appliance: Appliance) -> None:
    plain, secure = get(appliance, "/setup", secure=False), get(appliance, "/setup", secure=True)
    assert plain.status == 200 and secure.status == 200
    assert secure.getheader("Strict-Transport-Security") is None
    with appliance.sessions.begin() as session:
        save_https(session, appliance.settings, redirect=True, hsts=False)
    redirected = get(appliance, "/setup?next=x", secure=False)
    assert redirected.status == 307
    assert redirected.getheader("Location") == f"https://127.0.0.1:{appliance.https_port}/setup?next=x"
    assert get(appliance, "/setup", secure=True).getheader("Strict-Transport-Security") is None
    # The API is not redirected: a token sent in clear has crossed the LAN already.
    assert get(appliance, "/api/v1/messages", secure=False).status == 401
    with appliance.sessions.begin() as session:
        save_https(session, appliance.settings, redirect=False, hsts=True)
    assert get(appliance, "/setup", secure=False).status == 200
    assert get(appliance, "/setup", secure=False).getheader("Strict-Transport-Security") is None
    assert get(appliance, "/setup", secure=True).getheader("Strict-Transport-Security") == "max-age=31536000"


def test_an_uploaded_certificate_is_served_from_the_next_connection(
        appliance: Appliance, session_factory, tmp_path: Path) -> None:
    generated = peer_certificate(appliance.https_port)
    own_certificate, own_key = generate(["sms.kwiaciarnia.example"], [])
    admin = Users(session_factory).create("owner@shop.pl")
    browser = sign_in_browser(appliance.app.test_client(), admin)
    html = browser.get("/settings/https").get_data(as_text=True)
    assert colon_hex(generated)[:8] in html.replace(":", "")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    response = browser.post("/settings/https/certificate", data={
        "csrf_token": token, "certificate": (io.BytesIO(own_certificate), "cert.pem"),
        "key": (io.BytesIO(own_key), "key.pem")})
    assert response.status_code == 303
    served = peer_certificate(appliance.https_port)
    assert served == x509.load_pem_x509_certificate(own_certificate).public_bytes(Encoding.DER)
    assert (appliance.settings.data_dir / CERTIFICATE_FILE).read_bytes() == own_certificate
    with session_factory() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "https.certificate"))
    assert entry.actor == "user owner@shop.pl" and entry.details["names"] == ["sms.kwiaciarnia.example"]
    assert entry.details["fingerprint"].replace(":", "") == colon_hex(served)


def test_a_certificate_that_does_not_load_leaves_https_off_and_http_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    certificate, _ = generate([MDNS_NAME], [], now=datetime.now(UTC) - timedelta(days=1))
    _, other_key = generate([MDNS_NAME], [])
    (data_dir / CERTIFICATE_FILE).write_bytes(certificate)
    (data_dir / KEY_FILE).write_bytes(other_key)
    assert_serves_http_without_https(data_dir)


def test_a_certificate_that_cannot_be_made_leaves_https_off_and_http_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    (data_dir / KEY_FILE).mkdir(parents=True)  # where the key would go: nothing can be written there
    assert_serves_http_without_https(data_dir)
    assert f"HTTPS is off: no certificate could be made in {data_dir} (exit status 1)" in caplog.text
    # The child that tried says why, in the same log.
    assert "appliance.certificate: the HTTPS certificate cannot be written: [Errno 21] Is a directory" in \
        capfd.readouterr().err
    assert not (data_dir / CERTIFICATE_FILE).exists()


# cheroot drops the socket that failed to bind without closing it (server.py, prepare()): its leak.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_https_port_in_use_leaves_https_off_and_http_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_serves_http_without_https(tmp_path / "data", https_port=port)
    assert any(f"HTTPS is off: cannot listen on 127.0.0.1 port {port}" in r.getMessage() for r in caplog.records)


def test_the_certificate_in_use_is_described_by_a_child_once_for_each_fingerprint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert describe_certificate(data_dir) is None  # none made yet
    certificate, key = generate(["sms.kwiaciarnia.example"], [])
    installed = install_certificate(data_dir, certificate, key)
    assert installed == check_pair(certificate, key)
    described = describe_certificate(data_dir)
    assert described == installed and described.fingerprint == served_fingerprint(data_dir)
    assert described.names == ("sms.kwiaciarnia.example",) and described.self_signed
    # From now on no child can describe anything: the same certificate needs none.
    break_cryptography(monkeypatch, tmp_path / "broken")
    assert describe_certificate(data_dir) == described
    # Another certificate has another fingerprint, so a child is asked, and says why it cannot answer.
    other_certificate, other_key = generate(["other.kwiaciarnia.example"], [])
    (data_dir / CERTIFICATE_FILE).write_bytes(other_certificate)
    (data_dir / KEY_FILE).write_bytes(other_key)
    with pytest.raises(CertificateUnavailable, match=rf"^the certificate in {data_dir} could not be read "
                                                      r"\(exit status 1\); see the error above$"):
        describe_certificate(data_dir)
    assert "ImportError: cryptography cannot be loaded" in capfd.readouterr().err


def test_a_certificate_file_that_holds_no_certificate_cannot_be_described(tmp_path: Path) -> None:
    (tmp_path / CERTIFICATE_FILE).write_text("-----BEGIN CERTIFICATE-----\nMIIB")  # an upload cut short
    with pytest.raises(CertificateUnavailable, match="holds no PEM certificate"):
        describe_certificate(tmp_path)
    # PEM armour around bytes that are no certificate: only cryptography, in the child, can tell.
    (tmp_path / CERTIFICATE_FILE).write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateUnavailable, match="holds no certificate that can be read"):
        describe_certificate(tmp_path)


def test_an_upload_the_child_refuses_raises_its_reason_and_changes_nothing(tmp_path: Path) -> None:
    certificate, key = generate([MDNS_NAME], [])
    install_certificate(tmp_path, certificate, key)
    expired, expired_key = generate(["old.example.pl"], [], now=datetime.now(UTC) - timedelta(days=4000))
    der = x509.load_pem_x509_certificate(certificate).public_bytes(Encoding.DER)
    for refused, refused_key in ((expired, expired_key), (der, key), (certificate, b"")):
        with pytest.raises(CertificateError) as refusal:
            install_certificate(tmp_path, refused, refused_key)
        with pytest.raises(CertificateError) as in_process:
            check_pair(refused, refused_key)
        assert str(refusal.value) == str(in_process.value)  # the same words the form showed before
    assert (tmp_path / CERTIFICATE_FILE).read_bytes() == certificate and (tmp_path / KEY_FILE).read_bytes() == key


def test_a_child_that_cannot_load_cryptography_installs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    break_cryptography(monkeypatch, tmp_path / "broken")
    certificate, key = generate([MDNS_NAME], [])
    with pytest.raises(CertificateUnavailable, match=r"^the uploaded certificate could not be checked "
                                                      r"\(exit status 1\); see the error above$"):
        install_certificate(tmp_path / "data", certificate, key)
    assert "ImportError: cryptography cannot be loaded" in capfd.readouterr().err
    assert not (tmp_path / "data").exists()


def test_a_child_that_does_not_finish_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    break_cryptography(monkeypatch, tmp_path / "broken", HANGING)
    monkeypatch.setattr(https, "CHILD_TIMEOUT", 2.0)
    certificate, key = generate([MDNS_NAME], [])
    with pytest.raises(CertificateUnavailable, match=r"^the uploaded certificate could not be checked: "
                                                      r"`python -m appliance.certificate install` did not "
                                                      r"finish within 2 s and was stopped$"):
        install_certificate(tmp_path / "data", certificate, key)
    assert not (tmp_path / "data").exists()
