"""The JSON shape of stored things, shared by the REST API, the panel and (later) webhooks.

DESIGN §4.3 is the contract for the message object: its fields keep their names and meaning; fields
are only ever added. This module knows nothing of Flask so that the delivery worker can build the
same object for a webhook body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from appliance.db.models import (
    AccessNumber,
    Account,
    Attachment,
    Autoresponder,
    Contact,
    Contest,
    ContestDraw,
    ContestEntry,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Group,
    GroupSend,
    Keyword,
    Message,
    Modem,
    OutboundSms,
    Poll,
)
from appliance.db.sealed import LockedSecret

if TYPE_CHECKING:
    from appliance.campaigns.dialogue import ConversationSummary, Entry
    from appliance.campaigns.group_send import Progress
    from appliance.codecs.sms_pdu import TextSize


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the second: ``2026-11-25T13:34:10Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def smsc_time_iso(message: Message) -> str | None:
    """The SMSC timestamp with the offset the SMSC stamped (``+01:00``), so the sender's local time stays
    readable; the same instant as UTC when the offset is unknown."""
    if message.smsc_time is None:
        return None
    if message.smsc_tz_minutes is None:
        return iso_utc(message.smsc_time)
    zone = timezone(timedelta(minutes=message.smsc_tz_minutes))
    return message.smsc_time.astimezone(zone).replace(microsecond=0).isoformat()


def msisdns_by_iccid(session: Session, iccids: Iterable[str]) -> dict[str, str | None]:
    """Each SIM's access number by ICCID, looked up once for a whole page of messages.

    The number an access number binds to the SIM wins; a SIM not bound yet shows its own number
    (``AT+CNUM``), when the SIM knows it.
    """
    wanted = set(iccids)
    if not wanted:
        return {}
    numbers: dict[str, str | None] = {
        iccid: msisdn for iccid, msisdn in session.execute(
            select(Modem.iccid, Modem.msisdn).where(Modem.iccid.in_(wanted)))}
    numbers.update((iccid, number) for iccid, number in session.execute(
        select(AccessNumber.iccid, AccessNumber.number).where(AccessNumber.iccid.in_(wanted))))
    return numbers


def message_json(message: Message, *, msisdns: Mapping[str, str | None] | None = None,
                 base_url: str | None = None) -> dict[str, Any]:
    """The message object of DESIGN §4.3, plus fields integrators find useful.

    ``access_number`` is, until access numbers exist, the number of the SIM the message came in on
    (``Modem.msisdn`` by ICCID). Pass ``msisdns`` (from :func:`msisdns_by_iccid`) when rendering many
    messages; without it the number is looked up in the message's own session, if it has one.

    ``base_url`` (``http://appliance.local:8080/``; the API passes ``request.host_url``) makes the
    attachment URLs absolute, as the contract wants them; without it they are paths.
    """
    if msisdns is None:
        session = object_session(message)
        msisdns = msisdns_by_iccid(session, [message.iccid]) if session is not None else {}
    return {
        "id": message.id,
        "received_at": iso_utc(message.received_at),
        "access_number": msisdns.get(message.iccid),
        "sender": message.sender,
        "text": message.text,
        "kind": message.kind,
        "subject": message.subject,
        "keyword": message.keyword,
        "account": message.account_id,
        "attachments": [attachment_json(a, base_url=base_url) for a in message.attachments],
        "status": message.status,
        # Additions to the contract.
        "error": message.error,
        "parts_total": message.parts_total,
        "parts_received": message.parts_received,
        "smsc_time": smsc_time_iso(message),
        "iccid": message.iccid,
        "payload": message.payload,
        "route_reason": message.route_reason,
    }


def attachment_json(attachment: Attachment, *, base_url: str | None = None) -> dict[str, Any]:
    """An MMS part as a message lists it; ``url`` downloads the bytes (``GET /api/v1/attachments/{id}``).

    ``thumbnail_url`` (an addition) is there only for images that got a JPEG thumbnail.
    """
    url = f"{(base_url or '').rstrip('/')}/api/v1/attachments/{attachment.id}"
    return {
        "id": attachment.id,
        "content_type": attachment.content_type,
        "name": attachment.name,
        "size": attachment.size,
        "url": url,
        # Additions to the contract.
        "thumbnail_url": f"{url}/thumbnail" if attachment.thumbnail_sha256 else None,
        "sha256": attachment.sha256,
    }


def modem_json(modem: Modem, access_number: AccessNumber | None = None) -> dict[str, Any]:
    """A modem as ``GET /api/v1/modems`` lists it: the last known state of one SIM's modem.

    ``assigned`` is false for a SIM no access number is bound to yet: the panel offers to bind it.
    """
    return {
        "id": modem.id,
        "iccid": modem.iccid,
        "imsi": modem.imsi,
        "imei": modem.imei,
        "msisdn": modem.msisdn,
        "manufacturer": modem.manufacturer,
        "model": modem.model,
        "revision": modem.revision,
        "operator": modem.operator,
        "port": modem.port,
        "state": modem.state,
        "state_detail": modem.state_detail,
        "signal_dbm": modem.signal_dbm,
        "registration": modem.registration,
        "storage_used": modem.storage_used,
        "storage_total": modem.storage_total,
        "last_seen_at": iso_utc(modem.last_seen_at),
        "access_number": access_number.number if access_number else None,
        "assigned": access_number is not None,
    }


def outbound_json(outbound: OutboundSms, access_number: str | None = None) -> dict[str, Any]:
    """An outbound SMS and where each of its parts stands (``POST``/``GET /api/v1/sms``)."""
    return {
        "id": outbound.id,
        "status": outbound.status,
        "to": outbound.recipient,
        "text": outbound.text,
        "access_number": access_number,
        "iccid": outbound.iccid,
        "attempts": outbound.attempts,
        "last_error": outbound.last_error,
        "created_at": iso_utc(outbound.created_at),
        "sent_at": iso_utc(outbound.sent_at),
        "finished_at": iso_utc(outbound.finished_at),
        "parts": [{"sequence": p.sequence, "status": p.status, "message_reference": p.message_reference,
                   "report_status": p.report_status} for p in outbound.parts],
    }


def device_issue_json(issue: Any) -> dict[str, Any]:
    """A plugged USB device that is no working modem yet, and what the installer should do."""
    return {"kind": issue.kind.value, "usb_port": issue.usb_port, "usb_id": f"{issue.vendor_id}:{issue.product_id}",
            "what": issue.what, "remedy": issue.remedy}


# --- configuration (REST API CRUD, DESIGN §4.3) --------------------------------------------------

def account_json(account: Account) -> dict[str, Any]:
    return {"id": account.id, "name": account.name, "opt_out_words": list(account.opt_out_words or []),
            "retention_days": account.retention_days, "created_at": iso_utc(account.created_at)}


def access_number_json(number: AccessNumber) -> dict[str, Any]:
    """An access number; the APN password is never shown, only whether one is set."""
    return {
        "id": number.id,
        "number": number.number,
        "iccid": number.iccid,
        "kind": number.kind,
        "account": number.account_id,
        "mms_enabled": number.mms_enabled,
        # Additions to the contract.
        "mmsc_url": number.mmsc_url,
        "mms_proxy": number.mms_proxy,
        "mms_apn": number.mms_apn,
        "mms_apn_user": number.mms_apn_user,
        "mms_apn_password_set": bool(number.mms_apn_password),
        "unmatched_reply": number.unmatched_reply,
    }


def keyword_json(keyword: Keyword, number: str | None = None) -> dict[str, Any]:
    """A keyword; ``access_number`` is the access number's id, ``number`` (an addition) its number."""
    return {
        "id": keyword.id,
        "access_number": keyword.access_number_id,
        "account": keyword.account_id,
        "keyword": keyword.keyword,
        "mode": keyword.mode,
        "typo_tolerant": keyword.typo_tolerant,
        "actions": list(keyword.actions or []),
        "number": number,
    }


def group_json(group: Group, members: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": group.id, "account": group.account_id, "name": group.name}
    if members is not None:
        body["members"] = members
    return body


def contact_json(contact: Contact, groups: Iterable[int] = ()) -> dict[str, Any]:
    """A contact; ``groups`` are the ids of the groups it belongs to."""
    return {
        "id": contact.id,
        "account": contact.account_id,
        "msisdn": contact.msisdn,
        "name": contact.name,
        "groups": sorted(groups),
        "opted_out_at": iso_utc(contact.opted_out_at),
        "created_at": iso_utc(contact.created_at),
    }


def autoresponder_json(autoresponder: Autoresponder) -> dict[str, Any]:
    return {
        "id": autoresponder.id,
        "account": autoresponder.account_id,
        "access_number": autoresponder.access_number_id,
        "keyword": autoresponder.keyword_id,
        "text": autoresponder.text,
        "enabled": autoresponder.enabled,
        "max_per_sender": autoresponder.max_per_sender,
        "window_seconds": autoresponder.window_seconds,
    }


def poll_json(poll: Poll) -> dict[str, Any]:
    return {
        "id": poll.id,
        "account": poll.account_id,
        "question": poll.question,
        "options": [{"code": o["code"], "label": o.get("label")} for o in poll.options or []],
        "policy": poll.policy,
        "opens_at": iso_utc(poll.opens_at),
        "closes_at": iso_utc(poll.closes_at),
        "confirmation": poll.confirmation,
        "closed_reply": poll.closed_reply,
    }


def poll_results_json(poll: Poll, votes: Mapping[str, int]) -> dict[str, Any]:
    """Votes per option in the poll's order (zero included); votes for codes since removed from the
    options follow, with ``label`` null, so no vote silently disappears from the count."""
    options = [{"code": o["code"], "label": o.get("label"), "votes": votes.get(o["code"], 0)}
               for o in poll.options or []]
    known = {o["code"] for o in options}
    options += [{"code": code, "label": None, "votes": count}
                for code, count in sorted(votes.items()) if code not in known]
    return {"options": options, "voters": sum(votes.values())}


def contest_json(contest: Contest) -> dict[str, Any]:
    return {
        "id": contest.id,
        "account": contest.account_id,
        "answer": contest.answer,
        "opens_at": iso_utc(contest.opens_at),
        "closes_at": iso_utc(contest.closes_at),
        "entries_per_number": contest.entries_per_number,
        "name": contest.name,
    }


def contest_entry_json(entry: ContestEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "msisdn": entry.msisdn,
        "answer": entry.answer,
        "correct": entry.correct,
        "entered_at": iso_utc(entry.entered_at),
        "message": entry.message_id,
    }


def contest_draw_json(draw: ContestDraw) -> dict[str, Any]:
    return {
        "id": draw.id,
        "contest": draw.contest_id,
        "seed": draw.seed,
        "method": draw.method,
        "winners": list(draw.winners),
        "drawn_at": iso_utc(draw.drawn_at),
    }


# --- dialogue (appliance.campaigns.dialogue) -----------------------------------------------------

def conversation_json(summary: ConversationSummary) -> dict[str, Any]:
    """A row of ``GET /access-numbers/{id}/conversations``: who, how many each way, the last message;
    ``last_sent`` (an addition) is the newest text to the person and where it stands."""
    last, text = summary.last, summary.last_sent
    return {
        "sender": summary.sender,
        "received": summary.received,
        "sent": summary.sent,
        "last_at": iso_utc(last.at),
        "last": {"direction": last.direction, "id": last.item.id, "text": _entry_text(last.item),
                 "status": last.item.status},
        # Additions.
        "access_number": summary.number.id,
        "number": summary.number.number,
        "last_sent": {"id": text.id, "status": text.status, "at": iso_utc(text.created_at)} if text else None,
    }


def conversation_entry_json(entry: Entry, access_number: str | None, *, base_url: str | None = None) -> dict[str, Any]:
    """One message of a conversation: the message object (in) or the outbound SMS object (out), with
    ``direction`` and ``at`` (when it was received, or queued) in front."""
    head = {"direction": entry.direction, "at": iso_utc(entry.at)}
    if isinstance(entry.item, Message):
        return {**head, **message_json(entry.item, msisdns={entry.item.iccid: access_number}, base_url=base_url)}
    return {**head, **outbound_json(entry.item, access_number)}


def _entry_text(item: Message | OutboundSms) -> str | None:
    if isinstance(item, OutboundSms):
        return item.text
    return item.text if item.text is not None else item.subject


# --- group sends (appliance.campaigns.group_send) --------------------------------------------------

def group_send_json(send: GroupSend, progress: Progress, size: TextSize, *, cancellable: bool) -> dict[str, Any]:
    """A group send: what goes to whom from where and when, how many SMS each text takes, and where
    the texts stand (``progress``: before the send, as the group stands now)."""
    return {
        "id": send.id,
        "account": send.account_id,
        "group": send.group_id,
        "access_number": send.access_number_id,
        "text": send.text,
        "scheduled_at": iso_utc(send.scheduled_at),
        "status": send.status,
        "created_at": iso_utc(send.created_at),
        "finished_at": iso_utc(send.finished_at),
        "sms": {"alphabet": size.alphabet, "units": size.units, "parts": size.parts},
        "progress": {"recipients": progress.recipients, "pending": progress.pending, "sent": progress.sent,
                     "delivered": progress.delivered, "failed": progress.failed, "cancelled": progress.cancelled,
                     "opted_out": progress.opted_out},
        "cancellable": cancellable,
    }


def forward_target_json(target: ForwardTarget) -> dict[str, Any]:
    """A forward target; ``secret`` signs its webhooks (receivers need it), the CA is shown as set or not."""
    return {
        "id": target.id,
        "account": target.account_id,
        "name": target.name,
        "kind": target.kind,
        "address": target.address,
        # DESIGN §4.3's names of the address, each set for its kind only.
        "url": target.address if target.kind == "url" else None,
        "email": target.address if target.kind == "email" else None,
        "phone": target.address if target.kind == "sms" else None,
        "enabled": target.enabled,
        "access_number": target.access_number_id,
        "keyword": target.keyword_id,
        "actions_only": target.actions_only,
        "format": target.format,
        # None when the key file at hand cannot open it (appliance.db.sealed): set a new one.
        "secret": None if isinstance(target.secret, LockedSecret) else target.secret,
        "ca_pem_set": bool(target.ca_pem),
        "timeout_seconds": target.timeout_seconds,
        "subject_template": target.subject_template,
        "body_template": target.body_template,
        "attach_limit_bytes": target.attach_limit_bytes,
        "give_up_hours": target.give_up_hours,
        "created_at": iso_utc(target.created_at),
    }


def delivery_json(delivery: Delivery, attempts: list[DeliveryAttempt] | None = None) -> dict[str, Any]:
    """One message's forward to one target, with its attempts (oldest first) when given."""
    body: dict[str, Any] = {
        "id": delivery.id,
        "target": delivery.target_id,
        "message": delivery.message_id,
        "idempotency_key": delivery.idempotency_key,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso_utc(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "give_up_at": iso_utc(delivery.give_up_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso_utc(delivery.created_at),
        "delivered_at": iso_utc(delivery.delivered_at),
    }
    if attempts is not None:
        body["log"] = [{"attempt": a.attempt, "started_at": iso_utc(a.started_at),
                        "duration_ms": round(a.duration_ms, 1), "ok": a.ok, "status_code": a.status_code,
                        "error": a.error, "excerpt": a.excerpt} for a in attempts]
    return body
