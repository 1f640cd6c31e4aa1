"""The channels the outbox worker sends through, one per target kind, built from the settings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.config import Settings
from appliance.db.sealed import SecretUnavailable, reveal
from appliance.delivery.email import DEFAULT_BODY, DEFAULT_SUBJECT, EmailError, EmailTarget, SmtpSettings
from appliance.delivery.outbox import AttemptResult, Channel, DeliveryJob
from appliance.delivery.payload import event_for, webhook_body
from appliance.delivery.sms_forward import SmsChannel
from appliance.delivery.webhook import WebhookSender, WebhookTarget
from appliance.panel_settings import smtp_settings_reader


class WebhookChannel:
    """POSTs the message (DESIGN §4.4); a target's private CA (PEM in the database) is written to a file
    named by its hash under ``ca_dir`` for the TLS client to read."""

    def __init__(self, ca_dir: Path, sender: WebhookSender | None = None) -> None:
        self._ca_dir = ca_dir
        self._sender = sender or WebhookSender()

    def _ca_file(self, pem: str | None) -> str | None:
        if not pem:
            return None
        path = self._ca_dir / f"{hashlib.sha256(pem.encode()).hexdigest()}.pem"
        if not path.exists():
            self._ca_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(pem)
            temporary.replace(path)
        return str(path)

    def deliver(self, job: DeliveryJob) -> AttemptResult:
        target = job.target
        body, content_type = webhook_body(job.delivery_id, job.message, target.format)
        try:
            secret = reveal(target.secret)
        except SecretUnavailable as exc:  # retried: putting the key file back makes the next attempt work
            return AttemptResult(False, error=f"the webhook secret cannot be used: {exc}")
        result = self._sender.post(
            WebhookTarget(target.address, secret, ca_bundle=self._ca_file(target.ca_pem),
                          timeout=target.timeout_seconds),
            body, content_type, event=event_for(job.message), idempotency_key=job.idempotency_key,
            attempt=job.attempt)
        return AttemptResult(result.ok, result.status_code, result.error, result.excerpt, result.duration_ms)


class EmailChannel:
    """Sends with the SMTP settings in force at that moment (``smtp_settings()``), so a server changed
    in the panel is used from the next e-mail on, without a restart."""

    def __init__(self, smtp_settings: Callable[[], SmtpSettings], attachments: AttachmentStore) -> None:
        self._smtp_settings = smtp_settings
        self._attachments = attachments

    def deliver(self, job: DeliveryJob) -> AttemptResult:
        # Here, not at the top: smtplib and the email package's header modules keep about 0.7 MiB
        # resident, loaded only by a box that forwards by e-mail (docs/performance.md, "Memory").
        from appliance.delivery.email_sending import EmailSender, render_email

        target = job.target
        smtp = self._smtp_settings()
        try:
            email = render_email(
                EmailTarget(target.address, target.subject_template or DEFAULT_SUBJECT,
                            target.body_template or DEFAULT_BODY, target.attach_limit_bytes),
                job.message, self._attachments.read, smtp.sender)
            reply = EmailSender(smtp).send(email)
        except EmailError as exc:
            return AttemptResult(False, error=str(exc), permanent=exc.permanent)
        return AttemptResult(True, excerpt=reply)


def forwarding_channels(settings: Settings, session_factory: sessionmaker[Session], attachments: AttachmentStore,
                        wake_sim: Callable[[str], None]) -> dict[str, Channel]:
    return {
        "url": WebhookChannel(settings.data_dir / "forward-ca"),
        "email": EmailChannel(smtp_settings_reader(settings, session_factory), attachments),
        "sms": SmsChannel(session_factory, wake_sim),
    }
