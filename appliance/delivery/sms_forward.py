"""Forwarding by SMS: the message, as "From <sender>: <text>", to a phone, through the SIM it came in on.

The text goes into the pool's outbound queue (concatenated when long, sent by the SIM's session at
its pace, delivery report tracked there). Queueing and marking the delivery done are one transaction,
so a crash can neither lose the forward nor queue it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Delivery, utcnow
from appliance.delivery.outbox import TEST_DELIVERY_ID, AttemptResult, DeliveryJob
from appliance.modem.outbound import OutboundError, enqueue_sms


def forward_text(message: dict[str, Any]) -> str:
    """What the phone gets: who wrote, and what (an MMS: its subject, text and how many parts)."""
    sender = message.get("sender") or "?"
    if message.get("kind") == "mms":
        pieces = [f"[MMS] {message['subject']}" if message.get("subject") else "[MMS]"]
        if message.get("text"):
            pieces.append(message["text"])
        count = len(message.get("attachments") or [])
        pieces.append(f"({count} attachment{'' if count == 1 else 's'})")
        return f"From {sender}: " + " ".join(pieces)
    return f"From {sender}: {message.get('text') or ''}"


class SmsChannel:
    def __init__(self, session_factory: sessionmaker[Session], wake_sim: Callable[[str], None]) -> None:
        self._sessions = session_factory
        self._wake_sim = wake_sim

    def deliver(self, job: DeliveryJob) -> AttemptResult:
        if not job.iccid:
            return AttemptResult(False, error="no SIM to send through: bind an access number to a SIM, "
                                              "or wait until a modem is ready")
        try:
            with self._sessions.begin() as session:
                if job.delivery_id != TEST_DELIVERY_ID:
                    delivery = session.get(Delivery, job.delivery_id, with_for_update=True)
                    if delivery is None or delivery.status != "pending":
                        return AttemptResult(True, excerpt="queued by an earlier attempt")
                    delivery.status, delivery.delivered_at = "delivered", utcnow()
                outbound = enqueue_sms(session, job.iccid, job.target.address, forward_text(job.message),
                                       account_id=job.target.account_id)
                queued = f"queued as outbound SMS {outbound.id} ({len(outbound.parts)} parts) through SIM {job.iccid}"
        except OutboundError as exc:
            return AttemptResult(False, error=str(exc))
        self._wake_sim(job.iccid)
        return AttemptResult(True, excerpt=queued)
