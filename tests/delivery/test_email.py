"""E-mail forwarding: what a forwarded SMS or MMS looks like in a mailbox, and how sending fails.

Mail goes to a real SMTP server (aiosmtpd on 127.0.0.1, tests/support/smtp_receiver.py) and is
checked as it arrived, byte for byte where bytes matter.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import socket
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from appliance.config import Settings
from appliance.delivery.email import DEFAULT_BODY, DEFAULT_SUBJECT, EmailError, EmailTarget, SmtpSettings
from appliance.delivery.email_sending import EmailSender, render_email
from tests.support.smtp_receiver import SmtpReceiver, smtp_receiver

SENDER = "Bramka SMS Łódź <bramka@firma.example>"
TO = "biuro@klient.example"
USER, PASSWORD = "bramka", "Tajne-Haslo-123"


# --- building blocks ---------------------------------------------------------------------------

def sms(**fields: Any) -> dict[str, Any]:
    """A message object as representation.message_json gives it."""
    return {
        "id": 17, "received_at": "2026-11-25T13:34:10Z", "access_number": "4321",
        "sender": "+48600100200", "text": "Zażółć gęślą jaźń 😀", "kind": "sms", "subject": None,
        "keyword": "PROMO", "account": 1, "attachments": [], "status": "routed",
        "iccid": "89480610001234567890", **fields,
    }


class Store(dict[str, bytes]):
    """Attachment files by SHA-256, and the part objects pointing at them."""

    def part(self, data: bytes, content_type: str, name: str, part_id: int) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        self[digest] = data
        return {"id": part_id, "content_type": content_type, "name": name, "size": len(data),
                "url": f"http://bramka.local:8080/api/v1/attachments/{part_id}", "sha256": digest}

    def read(self, sha256: str) -> bytes:
        return self[sha256]


def jpeg(side: int, seed: int = 6) -> bytes:
    """A real JPEG of noise (noise does not compress: about 0.9 byte a pixel)."""
    rng = random.Random(seed)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "JPEG", quality=90)
    return out.getvalue()


SMIL = (b'<smil><head><layout><region id="Image"/></layout></head>'
        b'<body><par><img src="zdjecie.jpg" region="Image"/></par></body></smil>')


def settings_for(server: SmtpReceiver, **overrides: Any) -> SmtpSettings:
    return SmtpSettings(**{"host": server.host, "port": server.port, "sender": SENDER, "timeout": 10.0,
                           **overrides})


def send(server: SmtpReceiver, message: dict[str, Any], target: EmailTarget | None = None,
         store: Store | None = None, **overrides: Any) -> str:
    mail = render_email(target or EmailTarget(TO), message, (store or Store()).read, SENDER)
    return EmailSender(settings_for(server, **overrides)).send(mail)


def body_of(mail: Any) -> str:
    return mail.get_body(("plain",)).get_content()


def wire(mail: Any) -> Any:
    """The e-mail as a receiver parses it after it crossed the wire (and stored it with LF line ends)."""
    return BytesParser(policy=policy.default).parsebytes(bytes(mail).replace(b"\r\n", b"\n"))


def kb(data: bytes) -> str:
    return f"{len(data) / 1024:.1f} kB".replace(".", ",")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def plain_server() -> Iterator[SmtpReceiver]:
    with smtp_receiver() as server:
        yield server


# --- what arrives ------------------------------------------------------------------------------

def test_an_sms_arrives_with_its_subject_and_body_intact_polish_letters_and_emoji_included(
        plain_server: SmtpReceiver) -> None:
    message = sms(text="Zażółć gęślą jaźń 😀\nDruga linia\n.\nPo kropce")

    reply = send(plain_server, message)

    assert reply == "250 2.0.0 Ok: queued as TEST1"
    [received] = plain_server.received
    assert received.mail_from == "bramka@firma.example"
    assert received.rcpt_tos == [TO]
    mail = received.parsed()
    assert mail["Subject"] == "SMS od +48600100200 na 4321"
    assert mail["From"] == SENDER
    assert mail["To"] == TO
    assert mail["Auto-Submitted"] == "auto-generated"
    assert body_of(mail) == (
        "SMS od +48600100200 na numer 4321\n"
        "Odebrano: 25.11.2026 14:34:10\n"
        "Słowo kluczowe: PROMO\n"
        "\n"
        "Zażółć gęślą jaźń 😀\nDruga linia\n.\nPo kropce\n"
    )
    assert not mail.is_multipart()


def test_polish_letters_and_emoji_in_the_subject_travel_as_rfc2047_encoded_words(
        plain_server: SmtpReceiver) -> None:
    target = EmailTarget(TO, subject_template="{kind_label}: {text}")

    send(plain_server, sms(text="Zażółć gęślą jaźń 😀"), target)

    [received] = plain_server.received
    headers = received.data.split(b"\r\n\r\n", 1)[0]
    headers.decode("ascii")  # every header 7-bit clean
    assert b"=?utf-8?" in headers
    assert received.parsed()["Subject"] == "SMS: Zażółć gęślą jaźń 😀"


def test_an_mms_arrives_with_its_jpeg_attached_byte_for_byte(plain_server: SmtpReceiver) -> None:
    photo = jpeg(480)
    assert 150_000 < len(photo) < 300_000
    store = Store()
    message = sms(kind="mms", subject="Zdjęcie z wakacji", text="Pozdrowienia z Łeby", attachments=[
        store.part(SMIL, "application/smil", "smil.smil", 1),
        store.part("Pozdrowienia z Łeby".encode(), "text/plain", "text_0.txt", 2),
        store.part(photo, "image/jpeg", "zdjęcie.jpg", 3),
    ])

    send(plain_server, message, store=store)

    mail = plain_server.received[0].parsed()
    assert mail["Subject"] == "MMS od +48600100200 na 4321"
    body = body_of(mail)
    assert "Temat: Zdjęcie z wakacji\n" in body
    assert "Pozdrowienia z Łeby" in body
    # The text part is the body and the SMIL only lays the slides out: the photo is the attachment.
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "image/jpeg"
    assert attachment.get_filename() == "zdjęcie.jpg"
    assert attachment.get_content() == photo
    assert "smil" not in body.lower()
    Image.open(io.BytesIO(attachment.get_content())).verify()


def test_parts_that_would_cross_the_size_cap_are_download_links_instead(plain_server: SmtpReceiver) -> None:
    small, large, another_small = jpeg(64, seed=1), jpeg(480, seed=2), jpeg(64, seed=3)
    store = Store()
    message = sms(kind="mms", text=None, attachments=[
        store.part(small, "image/jpeg", "pierwsze.jpg", 1),
        store.part(large, "image/jpeg", "duże.jpg", 2),
        store.part(another_small, "image/jpeg", "ostatnie.jpg", 3),
    ])
    target = EmailTarget(TO, attach_limit_bytes=len(small) + 100_000)

    send(plain_server, message, target, store)

    mail = plain_server.received[0].parsed()
    assert [a.get_filename() for a in mail.iter_attachments()] == ["pierwsze.jpg"]
    assert next(mail.iter_attachments()).get_content() == small
    body = body_of(mail)
    # In order: from the first part that does not fit on, every part is a link.
    assert body.endswith(
        "Części MMS do pobrania z urządzenia:\n"
        f"- duże.jpg (image/jpeg, {kb(large)}): http://bramka.local:8080/api/v1/attachments/2\n"
        f"- ostatnie.jpg (image/jpeg, {kb(another_small)}): http://bramka.local:8080/api/v1/attachments/3\n")


def test_an_mms_without_text_has_its_text_parts_attached_and_nothing_is_lost() -> None:
    store = Store()
    message = sms(kind="mms", text=None, attachments=[
        store.part(b"BEGIN:VCARD\r\nFN:Jan\r\nEND:VCARD\r\n", "text/x-vcard", "jan.vcf", 1),
        store.part("nie zdekodowany".encode("utf-16"), "text/plain", "", 2),
    ])

    mail = wire(render_email(EmailTarget(TO), message, store.read, SENDER))

    assert [(a.get_content_type(), a.get_filename()) for a in mail.iter_attachments()] == [
        ("text/x-vcard", "jan.vcf"), ("text/plain", "part-2.txt")]


def test_a_part_whose_file_cannot_be_read_is_listed_with_its_link(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    photo = jpeg(32)
    message = sms(kind="mms", attachments=[store.part(photo, "image/jpeg", "zgubione.jpg", 9)])

    def missing(sha256: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", sha256)

    mail = wire(render_email(EmailTarget(TO), message, missing, SENDER))

    assert list(mail.iter_attachments()) == []
    assert (f"- zgubione.jpg (image/jpeg, {kb(photo)}, pliku nie udało się odczytać): "
            "http://bramka.local:8080/api/v1/attachments/9") in body_of(mail)
    assert "zgubione.jpg" in caplog.text


def test_the_time_received_is_shown_in_warsaw_time_winter_and_summer() -> None:
    target = EmailTarget(TO, subject_template="{received_at}")
    winter = render_email(target, sms(received_at="2026-01-15T13:34:10Z"), Store().read, SENDER)
    summer = render_email(target, sms(received_at="2026-07-15T13:34:10Z"), Store().read, SENDER)

    assert winter["Subject"] == "15.01.2026 14:34:10"
    assert summer["Subject"] == "15.07.2026 15:34:10"
    assert winter["Date"] == "Thu, 15 Jan 2026 13:34:10 +0000"


def test_every_placeholder_is_filled() -> None:
    target = EmailTarget(TO, subject_template="x", body_template=(
        "{sender}|{access_number}|{received_at}|{text}|{subject}|{keyword}|{kind_label}|{message_id}"))
    message = sms(kind="mms", subject="Temat")

    mail = render_email(target, message, Store().read, SENDER)

    assert body_of(mail) == ("+48600100200|4321|25.11.2026 14:34:10|Zażółć gęślą jaźń 😀|Temat|PROMO|MMS|17\n")


def test_default_templates_leave_out_lines_with_nothing_to_show() -> None:
    assert "{kind_label}" in DEFAULT_SUBJECT
    message = sms(keyword=None, text=None, subject=None)

    mail = render_email(EmailTarget(TO), message, Store().read, SENDER)

    assert DEFAULT_BODY.count("\n") == 6
    assert body_of(mail) == "SMS od +48600100200 na numer 4321\nOdebrano: 25.11.2026 14:34:10\n\n"


# --- hostile content ---------------------------------------------------------------------------

def test_line_breaks_in_a_sender_subject_or_part_name_never_become_headers(plain_server: SmtpReceiver) -> None:
    store = Store()
    message = sms(
        kind="mms",
        sender="+48600100200\r\nBcc: ofiara@example.com",
        subject="Promocja\r\nX-Injected: tak\n\nTreść podłożona",
        attachments=[store.part(jpeg(32), "image/jpeg\r\nX-Part-Injected: tak",
                                "a.jpg\r\nContent-Type: text/html", 1)],
    )
    target = EmailTarget(TO, subject_template="{subject} od {sender}")

    send(plain_server, message, target, store)

    [received] = plain_server.received
    assert received.rcpt_tos == [TO]
    mail = received.parsed()
    assert mail["Subject"] == "Promocja X-Injected: tak Treść podłożona od +48600100200 Bcc: ofiara@example.com"
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    [attachment] = list(mail.iter_attachments())
    assert attachment["X-Part-Injected"] is None
    assert attachment.get_content_type() == "application/octet-stream"  # a mangled type is no type
    assert attachment.get_filename() == "a.jpg_Content-Type: text_html"


HEADER_NAMES = {"from", "to", "subject", "date", "message-id", "auto-submitted", "x-appliance-message-id",
                "mime-version", "content-type", "content-transfer-encoding"}
PART_HEADER_NAMES = {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
hostile_text = st.text(alphabet=st.sampled_from(list("aź😀:{}\r\n\t\x00\x0b\x85\u2028 .=?Bcc-X")), max_size=40)


@given(sender=hostile_text, subject=hostile_text, text=hostile_text, keyword=hostile_text, name=hostile_text,
       content_type=st.one_of(hostile_text, hostile_text.map(lambda s: "image/" + s)))
def test_no_message_content_can_add_a_header_or_break_rendering(sender: str, subject: str, text: str, keyword: str,
                                                                name: str, content_type: str) -> None:
    store = Store()
    message = sms(kind="mms", sender=sender, subject=subject, text=text, keyword=keyword,
                  attachments=[store.part(b"\xff\xd8\xff", content_type, name, 1)])
    target = EmailTarget(TO, subject_template="{subject} {sender} {text} {keyword}",
                         body_template="{text}\n{subject}\n{sender}")

    mail = wire(render_email(target, message, store.read, SENDER))

    # multipart/mixed (the part makes it so): the transfer encoding is the parts' business.
    assert {name.lower() for name in mail.keys()} == HEADER_NAMES - {"content-transfer-encoding"}
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    assert mail["To"] == TO
    for part in mail.iter_parts():
        assert {name.lower() for name in part.keys()} <= PART_HEADER_NAMES


def test_unknown_placeholders_stay_as_written_and_braces_in_a_text_are_never_filled_in() -> None:
    target = EmailTarget(TO, subject_template="{nieznany} {sender} {0} {} {sender.__class__} {{ }",
                         body_template="{text}|{ sender }|{__init__}")
    message = sms(text="{keyword} {text} {0} {message_id} {__class__} %s {{", sender="{access_number}")

    mail = render_email(target, message, Store().read, SENDER)

    assert mail["Subject"] == "{nieznany} {access_number} {0} {} {sender.__class__} {{ }"
    assert body_of(mail) == "{keyword} {text} {0} {message_id} {__class__} %s {{|{ sender }|{__init__}\n"


def test_a_target_address_that_is_no_address_is_a_permanent_error() -> None:
    for address in ("biuro@klient.example\r\nBcc: ofiara@example.com", "biuro", "a@b@c", "", "<>",
                    "biuro@klient.example, ofiara@example.com", "zażółć@klient.example"):
        with pytest.raises(EmailError, match="recipient address") as error:
            render_email(EmailTarget(address), sms(), Store().read, SENDER)
        assert error.value.permanent


def test_an_internationalised_domain_is_sent_in_idna() -> None:
    mail = render_email(EmailTarget("biuro@łódź.example"), sms(), Store().read, "bramka@żółw.example")

    assert mail["To"] == "biuro@xn--d-uga0v4h.example"
    assert mail["From"] == "bramka@xn--w-uga1v8h.example"


def test_a_missing_or_broken_sender_setting_is_an_error_that_a_fixed_setting_cures() -> None:
    for sender in ("", "bramka", "bramka@firma.example\r\nBcc: x@y.example", "a@b.example, c@d.example"):
        with pytest.raises(EmailError, match=r"smtp_sender") as error:
            render_email(EmailTarget(TO), sms(), Store().read, sender)
        assert not error.value.permanent


# --- Message-ID --------------------------------------------------------------------------------

def test_a_retried_message_arrives_with_the_same_message_id_so_receivers_can_drop_the_copy(
        plain_server: SmtpReceiver) -> None:
    send(plain_server, sms())
    send(plain_server, sms())
    send(plain_server, sms(id=18))

    first, retry, other = (r.parsed()["Message-ID"] for r in plain_server.received)
    assert first == retry
    assert other != first
    assert first.startswith("<appliance.17.") and first.endswith("@firma.example>")


def test_the_same_message_id_on_another_appliance_gives_another_message_id() -> None:
    here = render_email(EmailTarget(TO), sms(), Store().read, SENDER)
    there = render_email(EmailTarget(TO), sms(iccid="89480610009999999999", received_at="2026-11-25T13:40:00Z"),
                         Store().read, SENDER)

    assert here["Message-ID"] != there["Message-ID"]


# --- connections, TLS and login ----------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_a_login_is_made_when_a_user_is_set(mechanism: str) -> None:
    with smtp_receiver(user=USER, password=PASSWORD, mechanisms=[mechanism]) as server:
        send(server, sms(), user=USER, password=PASSWORD)

    assert server.received[0].logged_in_as == USER


def test_starttls_verified_against_the_configured_ca_carries_the_login_and_the_mail(
        server_cert: trustme.LeafCert, ca_bundle: str) -> None:
    with smtp_receiver(security="starttls", identity=server_cert, user=USER, password=PASSWORD) as server:
        reply = send(server, sms(), security="starttls", ca_bundle=ca_bundle, user=USER, password=PASSWORD)

    assert reply.startswith("250 ")
    [received] = server.received
    assert received.tls and received.logged_in_as == USER
    assert received.parsed()["Subject"] == "SMS od +48600100200 na 4321"


def test_starttls_to_a_server_whose_certificate_is_not_trusted_fails_before_anything_is_sent(
        server_cert: trustme.LeafCert) -> None:
    with smtp_receiver(security="starttls", identity=server_cert, user=USER, password=PASSWORD) as server:
        with pytest.raises(EmailError) as error:
            send(server, sms(), security="starttls", user=USER, password=PASSWORD)

    assert str(error.value).startswith(f"SMTP server 127.0.0.1:{server.port}: TLS certificate not trusted (")
    assert "ca_bundle" in str(error.value)
    assert not error.value.permanent
    assert server.received == [] and server.failed_logins == 0


def test_a_server_without_starttls_is_an_error_never_a_plain_text_send(plain_server: SmtpReceiver,
                                                                       ca_bundle: str) -> None:
    with pytest.raises(EmailError, match=r"^SMTP server 127\.0\.0\.1:\d+ does not offer STARTTLS$"):
        send(plain_server, sms(), security="starttls", ca_bundle=ca_bundle)

    assert plain_server.received == []


def test_implicit_tls_works(server_cert: trustme.LeafCert, ca_bundle: str) -> None:
    with smtp_receiver(security="ssl", identity=server_cert, user=USER, password=PASSWORD) as server:
        reply = send(server, sms(), security="ssl", ca_bundle=ca_bundle, user=USER, password=PASSWORD)

    assert reply.startswith("250 ")
    assert server.received[0].tls and server.received[0].logged_in_as == USER


def test_implicit_tls_without_the_ca_fails_clearly(server_cert: trustme.LeafCert) -> None:
    with smtp_receiver(security="ssl", identity=server_cert) as server:
        with pytest.raises(EmailError, match="TLS certificate not trusted"):
            send(server, sms(), security="ssl")


def test_a_wrong_password_is_a_clear_error_that_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_receiver(user=USER, password=PASSWORD) as server:
        with pytest.raises(EmailError) as error:
            send(server, sms(), user=USER, password="zle-haslo-42")

    assert str(error.value) == (f"SMTP server 127.0.0.1:{server.port} refused the login of bramka: "
                                "535 5.7.8 Authentication credentials invalid")
    assert not error.value.permanent
    assert "zle-haslo-42" not in caplog.text and "zle-haslo-42" not in repr(error.value)
    assert server.received == []


def test_a_login_asked_of_a_server_that_offers_none_is_an_error(plain_server: SmtpReceiver) -> None:
    with pytest.raises(EmailError, match=r"^SMTP server 127\.0\.0\.1:\d+ does not offer a login \(AUTH\) without TLS$"):
        send(plain_server, sms(), user=USER, password=PASSWORD)

    assert plain_server.received == []


def test_a_password_smtplib_cannot_send_is_refused_without_quoting_it() -> None:
    with smtp_receiver(user=USER, password=PASSWORD) as server:
        with pytest.raises(EmailError, match="user name and password must be ASCII") as error:
            send(server, sms(), user=USER, password="zażółć")

    assert "ż" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__  # a traceback shows no codec error


def test_a_server_that_refuses_the_recipient_gives_a_permanent_error(plain_server: SmtpReceiver) -> None:
    plain_server.refused_recipients.add(TO)

    with pytest.raises(EmailError) as error:
        send(plain_server, sms())

    assert str(error.value) == (f"SMTP server 127.0.0.1:{plain_server.port} refused recipient {TO}: "
                                f"550 5.1.1 <{TO}>: mailbox unavailable")
    assert error.value.permanent


def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(EmailError, match=rf"^SMTP server 127\.0\.0\.1:{port} refused the connection$") as error:
        EmailSender(SmtpSettings(host="127.0.0.1", port=port, sender=SENDER)).send(
            render_email(EmailTarget(TO), sms(), Store().read, SENDER))
    assert not error.value.permanent


def test_a_server_that_never_answers_times_out_with_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never greets
        port = silent.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, timeout=0.5)
        with pytest.raises(EmailError, match=rf"^SMTP server 127\.0\.0\.1:{port} did not answer within 0\.5 s$"):
            EmailSender(settings).send(render_email(EmailTarget(TO), sms(), Store().read, SENDER))


def test_no_smtp_server_configured_is_a_clear_error() -> None:
    with pytest.raises(EmailError, match=r"no SMTP server is configured \(smtp_host\)"):
        EmailSender(SmtpSettings(host="")).send(render_email(EmailTarget(TO), sms(), Store().read, SENDER))


# --- settings ----------------------------------------------------------------------------------

def test_smtp_settings_come_from_the_appliance_settings_and_never_show_the_password() -> None:
    settings = Settings(smtp_host="poczta.firma.example", smtp_port=587, smtp_user=USER,
                        smtp_password="sekret-99", smtp_security="starttls", smtp_sender=SENDER)

    smtp = SmtpSettings.from_settings(settings)

    assert smtp == SmtpSettings(host="poczta.firma.example", port=587, user=USER, password="sekret-99",
                                security="starttls", sender=SENDER, ca_bundle=None, timeout=30.0)
    assert "sekret-99" not in repr(smtp)


def test_an_unknown_security_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpSettings(host="poczta.firma.example", security="tls")
