"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in its own thread, recording what arrives.

    with smtp_receiver(security="starttls", identity=cert, user="bramka", password="tajne") as server:
        EmailSender(SmtpSettings(host=server.host, port=server.port, ...)).send(mail)
    server.received[0].data       # the message exactly as it came over the wire (bytes)
    server.received[0].parsed()   # the same, parsed

``security``: "none" (plain), "starttls" (STARTTLS offered and required before MAIL) or "ssl"
(implicit TLS from the first byte). ``identity`` is the server's certificate, a
``trustme.LeafCert`` (issue it for "127.0.0.1"); clients trust it through the issuing CA.
With ``user`` and ``password`` the server offers AUTH (LOGIN and PLAIN, or the given
``mechanisms``) and accepts only that pair; mail is accepted with or without a login, and each
received mail records who was logged in. Over plain SMTP AUTH is offered in the clear
(aiosmtpd's ``auth_require_tls=False``), as some LAN relays do.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ALL_MECHANISMS = ("LOGIN", "PLAIN")


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    logged_in_as: str | None
    tls: bool

    def parsed(self) -> EmailMessage:
        """The mail as a mailbox stores it: CRLF line ends as LF (so a text body compares as text)."""
        message = BytesParser(policy=policy.default).parsebytes(self.data.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class SmtpReceiver:
    host: str
    port: int = 0
    received: list[ReceivedMail] = field(default_factory=list)
    refused_recipients: set[str] = field(default_factory=set)
    failed_logins: int = 0


class _Recorder:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.receiver.refused_recipients:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.receiver.received.append(ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), data=envelope.original_content,
            # session.ssl is set by STARTTLS only; an implicit TLS connection shows on the transport.
            logged_in_as=login, tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None))
        return f"250 2.0.0 Ok: queued as TEST{len(self.receiver.received)}"


class _Controller(Controller):
    """Listens on a free port (port 0): the port is read back before the start-up probe connects."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_receiver(*, security: str = "none", identity: trustme.LeafCert | None = None,
                  user: str | None = None, password: str | None = None,
                  mechanisms: Iterable[str] = ALL_MECHANISMS) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(host="127.0.0.1")
    options: dict[str, Any] = {"server_hostname": "smtp.test", "ident": "test SMTP receiver"}
    if security != "none":
        assert identity is not None, "STARTTLS and SSL need the server's certificate"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        identity.configure_cert(context)
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif security == "ssl":
            options.update(ssl_context=context)
        else:
            raise ValueError(security)
    if user is not None:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            if (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
                    and auth_data.password == (password or "").encode()):
                return AuthResult(success=True, auth_data=auth_data)
            receiver.failed_logins += 1
            return AuthResult(success=False, handled=False)

        options.update(authenticator=authenticator, auth_require_tls=False,
                       auth_exclude_mechanism=[m for m in ALL_MECHANISMS if m not in set(mechanisms)])
    controller = _Controller(_Recorder(receiver), hostname=receiver.host, port=0, **options)
    controller.start()
    receiver.port = controller.port
    try:
        yield receiver
    finally:
        controller.stop()


class SmtpServer:
    """A plain SMTP server that can go down and come back on the same port (a relay restarting),
    everything it received in one :class:`SmtpReceiver` across the restarts."""

    def __init__(self) -> None:
        self.receiver = SmtpReceiver(host="127.0.0.1")
        self._controller: _Controller | None = None

    def start(self) -> None:
        controller = _Controller(_Recorder(self.receiver), hostname=self.receiver.host, port=self.receiver.port,
                                 server_hostname="smtp.test", ident="test SMTP receiver")
        controller.start()
        self.receiver.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
