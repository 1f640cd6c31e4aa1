"""E-mail forwarding: a received SMS or MMS rendered as one e-mail and sent over SMTP.

:func:`render_email` is pure: it turns the message object of DESIGN §4.3 (as
:func:`appliance.representation.message_json` builds it) into an :class:`~email.message.EmailMessage`.
:class:`EmailSender` opens one SMTP connection per send (plain, STARTTLS or implicit TLS, with a login
when a user is set) and turns every failure into an :class:`EmailError` with a one-line reason for
the delivery log.

Everything in a message is the sender's and hostile: a CR/LF in a sender, an MMS subject or a part's
name never reaches a header as a line break (header values are flattened to one line, addresses are
validated, names lose control characters), and template placeholders are filled in a single pass,
so a ``{text}`` inside a message's text stays literal text.

What the e-mail holds (docs/forwarding.md, "E-mail"):

- Subject and body from the target's templates; ``Message-ID`` derived from the message, so every
  retry of the same message carries the same one and receivers can drop duplicates; ``Date`` is the
  time the message was received (stable too).
- MMS parts as attachments, in the message's order, while their sizes add up to no more than
  ``attach_limit_bytes``; from the first part that would cross it on, parts are listed at the end of
  the body with their download URL instead.
- Two kinds of part are deliberately not attached: ``text/plain`` parts, because their text already
  is the message's ``text`` (the body's ``{text}``), unless the message has no text; and the SMIL
  presentation, layout that refers to the other parts by name and means nothing to a mail reader
  (it is active content besides: :func:`appliance.codecs.media_types.is_active_content`).

The settings, targets and :class:`EmailError` are in :mod:`appliance.delivery.email`, which loads
none of smtplib and the email package's policy, header and generator modules: they keep about
0.6 MiB resident, so this module is imported only where an e-mail is rendered or sent, or a sender
address checked, and a box that never forwards by e-mail does not pay for them.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from appliance.codecs.media_types import OCTET_STREAM, extension_for, normalise
from appliance.db.sealed import SecretUnavailable, reveal
from appliance.delivery.email import EmailError, EmailTarget, SmtpSettings

__all__ = [
    "EmailSender",
    "email_message_id",
    "render_email",
    "render_test_email",
    "sender_address",
]

log = logging.getLogger(__name__)

LOCAL_TIMEZONE = ZoneInfo("Europe/Warsaw")
RECEIVED_AT_FORMAT = "%d.%m.%Y %H:%M:%S"  # 25.11.2026 14:34:10, as Polish readers write it
# A subject is one line; a whole SMS text in it is cut here (mail clients show ~80 characters anyway).
SUBJECT_MAX_CHARS = 200
LINKS_HEADING = "Części MMS do pobrania z urządzenia:"
UNREADABLE_NOTE = "pliku nie udało się odczytać"
SMIL = "application/smil"

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Everything that could end or fold a header line, or that no header should carry: C0 and C1
# controls, DEL, and the Unicode line and paragraph separators.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# In the body only line breaks and tabs survive; CR LF and lone CR become LF.
_BODY_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# RFC 2045 §5.1 token characters, type "/" subtype: anything else from a phone is application/octet-stream.
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+/[a-z0-9!#$%&'*+.^_`|~-]+")
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\]+")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
_DOMAIN = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                     r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


# --- rendering ---------------------------------------------------------------------------------

def render_email(target: EmailTarget, message: Mapping[str, Any], read_attachment: Callable[[str], bytes],
                 sender: str) -> EmailMessage:
    """The e-mail for *message* (a DESIGN §4.3 message object) to *target*, from *sender*
    (``"sms@firma.pl"`` or ``"Bramka SMS <sms@firma.pl>"``).

    ``read_attachment(sha256)`` returns a part's bytes; it is called only for parts that get
    attached. A part whose bytes cannot be read (``OSError``) is listed with its link instead, so a
    lost file does not hold the whole e-mail back.

    Raises :class:`EmailError` when the target's address (permanent) or the sender (not permanent:
    an appliance setting, which fixed lets the retry pass) is no usable address; nothing in the
    message itself can make rendering fail.
    """
    from_address = sender_address(sender)
    to_address = Address(addr_spec=_addr_spec(target.address, "recipient address"))
    values = _placeholder_values(message)

    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = from_address
    mail["To"] = to_address
    mail["Subject"] = _one_line(_fill(target.subject_template, values), SUBJECT_MAX_CHARS)
    mail["Date"] = format_datetime(_received_at(message) or datetime.now(UTC))
    mail["Message-ID"] = email_message_id(message, from_address.domain)
    # RFC 3834: out-of-office and other auto-responders must not answer a generated message.
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Appliance-Message-Id"] = _one_line(_text(message.get("id")), 40)

    attachments, links = _split_parts(message, target.attach_limit_bytes, read_attachment)
    body = _body_text(_fill(target.body_template, values, drop_empty_lines=True))
    if links:
        body = body.rstrip("\n") + "\n\n" + LINKS_HEADING + "\n" + "".join(links)
    # Quoted-printable keeps Polish text readable in the raw mail and 7-bit clean, so no server's
    # lack of 8BITMIME can mangle it.
    mail.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8", cte="quoted-printable")
    for data, maintype, subtype, filename in attachments:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail


def render_test_email(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    """A plain e-mail from *sender* to *recipient*: what the panel's "send a test e-mail" button sends,
    so an administrator sees the SMTP settings work before a forward depends on them.

    Raises :class:`EmailError` when either address is not usable, as :func:`render_email` does.
    """
    from_address = sender_address(sender)
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = from_address
    mail["To"] = Address(addr_spec=_addr_spec(recipient, "recipient address"))
    mail["Subject"] = _one_line(subject, SUBJECT_MAX_CHARS)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=from_address.domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(_body_text(body).rstrip("\n") + "\n", charset="utf-8", cte="quoted-printable")
    return mail


def email_message_id(message: Mapping[str, Any], domain: str) -> str:
    """``<appliance.17.3f2a9c1b0d4e5f60@firma.pl>``: the same for every rendering of one message.

    The message id alone could repeat between two appliances (each counts from 1) mailing one
    mailbox, so a hash of what never changes for a message (id, reception time, SIM) follows it.
    """
    stable = "|".join(str(message.get(key) or "") for key in ("id", "received_at", "iccid"))
    digest = hashlib.sha256(stable.encode()).hexdigest()[:16]
    if not _DOMAIN.fullmatch(domain or ""):
        domain = "appliance.invalid"
    return f"<appliance.{_id_token(message.get('id'))}.{digest}@{domain}>"


def _id_token(value: object) -> str:
    token = re.sub(r"[^A-Za-z0-9]", "", str(value))
    return token[:20] or "message"


def _placeholder_values(message: Mapping[str, Any]) -> dict[str, str]:
    received = _received_at(message)
    kind = message.get("kind")
    return {
        "sender": _text(message.get("sender")),
        "access_number": _text(message.get("access_number")),
        "received_at": received.astimezone(LOCAL_TIMEZONE).strftime(RECEIVED_AT_FORMAT) if received else "",
        "text": _text(message.get("text")),
        "subject": _text(message.get("subject")),
        "keyword": _text(message.get("keyword")),
        "kind_label": "MMS" if kind == "mms" else "SMS",
        "message_id": _text(message.get("id")),
    }


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _received_at(message: Mapping[str, Any]) -> datetime | None:
    raw = message.get("received_at")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fill(template: str, values: Mapping[str, str], *, drop_empty_lines: bool = False) -> str:
    """Placeholders replaced in one pass over the template: a value is never read for placeholders
    again, and anything in braces that is not a placeholder (``{foo}``, ``{0}``, ``{}``) stays as
    written. With *drop_empty_lines*, a template line with placeholders that all came out empty is
    left out."""

    def substitute(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    lines = []
    for line in template.split("\n"):
        names = [name for name in _PLACEHOLDER.findall(line) if name in values]
        if drop_empty_lines and names and not any(values[name] for name in names):
            continue
        lines.append(_PLACEHOLDER.sub(substitute, line))
    return "\n".join(lines)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(_HEADER_UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _body_text(text: str) -> str:
    return _BODY_UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _split_parts(message: Mapping[str, Any], limit: int, read_attachment: Callable[[str], bytes]
                 ) -> tuple[list[tuple[bytes, str, str, str]], list[str]]:
    """(attachments as (bytes, maintype, subtype, filename), body lines for the linked parts)."""
    attachments: list[tuple[bytes, str, str, str]] = []
    links: list[str] = []
    has_text = bool(message.get("text"))
    total = 0
    over_limit = False
    for index, part in enumerate(message.get("attachments") or [], 1):
        media = normalise(part.get("content_type"))
        if not _MEDIA_TYPE.fullmatch(media):
            media = OCTET_STREAM
        if media == SMIL or (media == "text/plain" and has_text):
            continue
        filename = _filename(part.get("name"), media, index)
        size = int(part.get("size") or 0)
        over_limit = over_limit or total + size > limit
        if not over_limit and part.get("sha256"):
            try:
                data = read_attachment(part["sha256"])
            except OSError as exc:
                log.warning("message %s: part %s (%s) not attached, its file cannot be read: %s",
                            message.get("id"), filename, part["sha256"], exc)
                links.append(_link_line(part, filename, media, size, UNREADABLE_NOTE))
                continue
            total += len(data)
            maintype, subtype = media.split("/", 1)
            if maintype in ("multipart", "message"):
                # The email package gives these types structure; as a forwarded file they are bytes.
                maintype, subtype = "application", "octet-stream"
            attachments.append((data, maintype, subtype, filename))
        else:
            links.append(_link_line(part, filename, media, size))
    return attachments, links


def _filename(name: object, media: str, index: int) -> str:
    cleaned = _NAME_UNSAFE.sub("_", _text(name)).strip().lstrip(".")
    return cleaned[:200] or f"part-{index}.{extension_for(media)}"


def _link_line(part: Mapping[str, Any], filename: str, media: str, size: int, note: str | None = None) -> str:
    details = f"{media}, {_human_size(size)}" + (f", {note}" if note else "")
    return f"- {filename} ({details}): {_one_line(_text(part.get('url')), 2000)}\n"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} kB".replace(".", ",")
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def _addr_spec(value: str, what: str) -> str:
    """``local@domain`` checked and made ASCII (an internationalised domain in IDNA), or EmailError.

    A non-ASCII local part would need SMTPUTF8 from every server on the way: refused here."""
    local, _, domain = (value or "").strip().rpartition("@")
    if not _LOCAL_PART.fullmatch(local):
        raise EmailError(f"{what} {value!r} is not a usable e-mail address", permanent=True)
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise EmailError(f"{what} {value!r} has a domain that cannot be encoded", permanent=True) from None
    if not _DOMAIN.fullmatch(domain):
        raise EmailError(f"{what} {value!r} is not a usable e-mail address", permanent=True)
    return f"{local}@{domain}"


def sender_address(sender: str) -> Address:
    """``sms@firma.pl`` or ``Bramka SMS <sms@firma.pl>`` (the ``smtp_sender`` setting) as an Address."""
    if not sender or not sender.strip():
        raise EmailError("no sender address is configured (smtp_sender)")
    if _HEADER_UNSAFE.search(sender) or len(getaddresses([sender])) != 1:
        raise EmailError(f"sender {sender!r} (smtp_sender) is not one usable e-mail address")
    display_name, addr_spec = parseaddr(sender)
    try:
        address = _addr_spec(addr_spec, "sender (smtp_sender)")
    except EmailError as exc:
        raise EmailError(exc.reason) from None  # the appliance's setting: fixed, the retry passes
    return Address(display_name=display_name, addr_spec=address)


# --- sending -----------------------------------------------------------------------------------

class _DataReplyMixin:
    """smtplib's sendmail() drops the server's answer to DATA; the delivery log wants it."""

    data_reply: tuple[int, bytes] | None = None

    def data(self, msg: Any) -> tuple[int, bytes]:
        reply = super().data(msg)  # type: ignore[misc]
        self.data_reply = reply
        return reply


class _Smtp(_DataReplyMixin, smtplib.SMTP):
    pass


class _SmtpSsl(_DataReplyMixin, smtplib.SMTP_SSL):
    pass


class EmailSender:
    """Sends rendered e-mails through one SMTP server, a new connection for each send."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    @property
    def _where(self) -> str:
        return f"SMTP server {self.settings.host}:{self.settings.port}"

    def send(self, message: EmailMessage) -> str:
        """Send *message*; the server's reply to it (``"250 2.0.0 Ok: queued as 4F2A1"``) for the log.

        Raises :class:`EmailError` with a one-line reason. STARTTLS is never skipped when the
        settings ask for it: a server that does not offer it is an error, not a plain-text send.
        """
        s = self.settings
        if not s.host:
            raise EmailError("no SMTP server is configured (smtp_host)")
        client: _Smtp | _SmtpSsl | None = None
        try:
            password = reveal(s.password) if s.user else ""  # a locked one fails before any connection
            if s.security == "ssl":
                client = _SmtpSsl(s.host, s.port, timeout=s.timeout, context=self._tls_context())
            else:
                client = _Smtp(s.host, s.port, timeout=s.timeout)
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if s.user:
                log.debug("logging in to %s as %s", self._where, s.user)
                client.login(s.user, password)
            client.send_message(message)
        except Exception as exc:
            if client is not None:
                client.close()  # no QUIT: after a failure the connection may be in any state
            error = self._explain(exc, message)
            if error is None:
                raise
            if isinstance(exc, UnicodeEncodeError):
                raise error from None  # the codec's message quotes a character of the password
            raise error from exc
        code, text = client.data_reply or (250, b"")
        reply = _one_line(f"{code} {text.decode('utf-8', 'replace')}", 300)
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            # The message is accepted once DATA is answered; a failed QUIT must not make the caller
            # retry (and deliver it twice).
            client.close()
        log.info("e-mail %s to %s sent through %s: %s", message["Message-ID"], message["To"], self._where, reply)
        return reply

    def _tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.settings.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise EmailError(f"CA bundle {self.settings.ca_bundle} cannot be read: {exc}") from exc

    def _explain(self, exc: BaseException, message: EmailMessage) -> EmailError | None:
        """The EmailError for what went wrong, or None for a programming error to re-raise."""
        where, s = self._where, self.settings
        if isinstance(exc, EmailError):
            return exc
        if isinstance(exc, SecretUnavailable):
            return EmailError(f"{where}: the SMTP password cannot be used: {exc}")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            address, (code, text) = next(iter(exc.recipients.items()))
            return EmailError(f"{where} refused recipient {address}: {_reply(code, text)}",
                              permanent=500 <= code < 600)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return EmailError(f"{where} refused sender {exc.sender}: {_reply(exc.smtp_code, exc.smtp_error)}",
                              permanent=500 <= exc.smtp_code < 600)
        if isinstance(exc, smtplib.SMTPDataError):
            return EmailError(f"{where} refused the message: {_reply(exc.smtp_code, exc.smtp_error)}",
                              permanent=500 <= exc.smtp_code < 600)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return EmailError(f"{where} refused the login of {s.user}: {_reply(exc.smtp_code, exc.smtp_error)}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            text = str(exc).lower()
            if "starttls" in text:
                return EmailError(f"{where} does not offer STARTTLS")
            if "auth" in text:
                return EmailError(f"{where} does not offer a login (AUTH)"
                                  + (" without TLS" if s.security == "none" else ""))
            return EmailError(f"{where}: {_one_line(str(exc), 200)}")
        if isinstance(exc, smtplib.SMTPException) and "no suitable authentication method" in str(exc):
            return EmailError(f"{where} offers no login method this appliance knows (PLAIN, LOGIN, CRAM-MD5)")
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):
                return EmailError(f"{where} did not answer within {s.timeout:g} s")
            return EmailError(f"{where} closed the connection: {_one_line(str(exc), 200)}")
        if isinstance(exc, smtplib.SMTPResponseException):
            return EmailError(f"{where}: {_reply(exc.smtp_code, exc.smtp_error)}")
        if isinstance(exc, smtplib.SMTPException):
            return EmailError(f"{where}: {_one_line(str(exc), 200)}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return EmailError(f"{where}: TLS certificate not trusted ({exc.verify_message})"
                              + ("" if s.ca_bundle else "; a private CA needs ca_bundle"))
        if isinstance(exc, ssl.SSLError):
            return EmailError(f"{where}: TLS handshake failed ({exc.reason or exc})")
        if isinstance(exc, TimeoutError):
            return EmailError(f"{where} did not answer within {s.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return EmailError(f"{where} refused the connection")
        if isinstance(exc, socket.gaierror):
            return EmailError(f"SMTP server name {s.host} does not resolve ({exc.strerror})")
        if isinstance(exc, OSError):
            return EmailError(f"{where} cannot be reached ({exc.strerror or exc})")
        if isinstance(exc, UnicodeEncodeError):
            # smtplib sends AUTH in ASCII only.
            return EmailError(f"{where}: the SMTP user name and password must be ASCII for this appliance")
        return None


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _one_line(f"{code} {text}", 300)
