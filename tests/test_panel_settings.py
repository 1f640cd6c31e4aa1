"""Settings changed in the panel lie over the settings file, and the e-mail channel reads them at
every send: a new SMTP server works from the next e-mail on, without a restart."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from appliance.attachments import AttachmentStore
from appliance.config import Settings
from appliance.db.models import ForwardTarget
from appliance.delivery.channels import forwarding_channels
from appliance.delivery.outbox import DeliveryJob
from appliance.panel_settings import SettingError, SmtpChange, effective_settings, save_smtp, stored_values
from tests.support.smtp_receiver import smtp_receiver

FILE = Settings(smtp_host="file.example", smtp_port=2525, smtp_user="file-user", smtp_password="file-secret",
                smtp_sender="file@example.com")


def change(**fields: object) -> SmtpChange:
    values: dict[str, object] = {"host": "127.0.0.1", "port": 25, "security": "none", "user": "",
                                 "sender": "SMS <sms@sklep.example>"}
    values.update(fields)
    return SmtpChange(**values)  # type: ignore[arg-type]


def test_without_panel_values_the_file_is_in_force(session_factory):
    with session_factory() as session:
        assert effective_settings(FILE, session) == FILE


def test_saved_values_replace_the_files_and_an_empty_password_keeps_the_one_in_force(session_factory):
    with session_factory() as session:
        save_smtp(session, change(host="smtp.sklep.example", port=587, security="starttls", user="bramka"))
        session.commit()
    with session_factory() as session:
        settings = effective_settings(FILE, session)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_user,
            settings.smtp_sender) == ("smtp.sklep.example", 587, "starttls", "bramka", "SMS <sms@sklep.example>")
    assert settings.smtp_password == "file-secret"  # not sent: kept

    with session_factory() as session:
        save_smtp(session, change(password="nowe-haslo"))
        session.commit()
        assert effective_settings(FILE, session).smtp_password == "nowe-haslo"
        save_smtp(session, change(password=""))
        session.commit()
        assert effective_settings(FILE, session).smtp_password == ""


@pytest.mark.parametrize("fields, key", [
    ({"host": "smtp example.com"}, "smtp_host"),
    ({"port": 0}, "smtp_port"),
    ({"port": 70000}, "smtp_port"),
    ({"security": "tls"}, "smtp_security"),
    ({"sender": "not an address"}, "smtp_sender"),
    ({"sender": ""}, "smtp_sender"),
    ({"sender": "a@b.pl\r\nBcc: x@y.pl"}, "smtp_sender"),
    ({"user": "użytkownik"}, "smtp_user"),
    ({"password": "hasło"}, "smtp_password"),
])
def test_a_value_that_cannot_work_is_refused_naming_its_field_and_nothing_is_stored(session_factory, fields, key):
    with session_factory() as session:
        with pytest.raises(SettingError) as refused:
            save_smtp(session, change(**fields))
        assert refused.value.key == key
        session.rollback()
        assert stored_values(session) == {}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_email_channel_uses_a_server_changed_after_it_was_built(session_factory, tmp_path):
    file = Settings(smtp_host="127.0.0.1", smtp_port=closed_port(), smtp_sender="file@example.com")
    channel = forwarding_channels(file, session_factory, AttachmentStore(tmp_path), lambda _iccid: None)["email"]
    target = ForwardTarget(id=1, account_id=1, name="biuro", kind="email", address="biuro@sklep.example",
                           secret="s", download_token="t", attach_limit_bytes=1024)
    job = DeliveryJob(delivery_id=1, idempotency_key="k", attempt=1, target=target, iccid="1", message={
        "id": 7, "received_at": datetime(2026, 12, 5, 10, 0, tzinfo=UTC).isoformat(), "access_number": "4321",
        "sender": "+48600100200", "text": "Zamawiam", "kind": "sms", "subject": None, "keyword": None,
        "account": 1, "attachments": [], "status": "unmatched"})

    with smtp_receiver(user="bramka", password="tajne-haslo") as server:
        refused = channel.deliver(job)  # the file's server: nobody listens there
        assert not refused.ok and "refused the connection" in (refused.error or "")
        with session_factory() as session:
            save_smtp(session, change(host=server.host, port=server.port, user="bramka", password="tajne-haslo"))
            session.commit()

        result = channel.deliver(job)

    assert result.ok, result.error
    [mail] = server.received
    assert mail.rcpt_tos == ["biuro@sklep.example"] and mail.mail_from == "sms@sklep.example"
    assert mail.logged_in_as == "bramka"
