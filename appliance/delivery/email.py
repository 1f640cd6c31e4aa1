"""E-mail forwarding's settings and targets: what the panel, the settings and the outbox need at start.

Rendering and sending live in :mod:`appliance.delivery.email_sending`, imported only when an e-mail
is rendered, sent or a sender address checked: smtplib and the email package's header, policy and
generator modules it needs keep about 0.7 MiB resident, for nothing on the many boxes that never
forward by e-mail (docs/performance.md, "Memory").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.config import Settings

__all__ = [
    "DEFAULT_ATTACH_LIMIT_BYTES",
    "DEFAULT_BODY",
    "DEFAULT_SUBJECT",
    "PLACEHOLDERS",
    "SECURITY_MODES",
    "EmailError",
    "EmailTarget",
    "SmtpSettings",
]

SECURITY_MODES = ("none", "starttls", "ssl")

# "SMS od +48600100200 na 4321"
DEFAULT_SUBJECT = "{kind_label} od {sender} na {access_number}"
# A line whose placeholders all come out empty is left out (render_email), so "Temat:" shows only for
# an MMS with a subject and "Słowo kluczowe:" only for a routed message.
DEFAULT_BODY = (
    "{kind_label} od {sender} na numer {access_number}\n"
    "Odebrano: {received_at}\n"
    "Temat: {subject}\n"
    "Słowo kluczowe: {keyword}\n"
    "\n"
    "{text}\n"
)
DEFAULT_ATTACH_LIMIT_BYTES = 10 * 1024 * 1024
PLACEHOLDERS = ("sender", "access_number", "received_at", "text", "subject", "keyword", "kind_label",
                "message_id")


class EmailError(Exception):
    """An e-mail that could not be built or sent, with a one-line reason for the delivery log.

    ``permanent`` is true when sending the same message again cannot help (the server answered 5xx
    to the sender, the recipient or the message; a target address that is no address), false for
    what may pass later (server down, timeout, TLS, login or ``smtp_*`` settings an administrator
    can fix).
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``ca_bundle`` (a PEM file) replaces the system's CA store for STARTTLS
    and SSL, for a company's own CA; ``timeout`` (seconds) applies to connecting and to each reply."""

    host: str
    port: int = 25
    user: str = ""
    password: str = field(default="", repr=False)
    security: str = "none"  # none | starttls | ssl
    sender: str = ""
    ca_bundle: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"smtp security must be none, starttls or ssl, not {self.security!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings:
        return cls(host=settings.smtp_host, port=settings.smtp_port, user=settings.smtp_user,
                   password=settings.smtp_password, security=settings.smtp_security,
                   sender=settings.smtp_sender)


@dataclass(frozen=True)
class EmailTarget:
    """One e-mail forward target: the address and how its e-mails look (placeholders: PLACEHOLDERS)."""

    address: str
    subject_template: str = DEFAULT_SUBJECT
    body_template: str = DEFAULT_BODY
    attach_limit_bytes: int = DEFAULT_ATTACH_LIMIT_BYTES
