"""REST API v1, forwarding: targets, the delivery log, retries and a test send.

    GET    /api/v1/forward-targets?account=          POST /api/v1/forward-targets
    GET    /api/v1/forward-targets/<id>              PUT|PATCH|DELETE /api/v1/forward-targets/<id>
    POST   /api/v1/forward-targets/<id>/test         sends a sample message now; answers the attempt
    GET    /api/v1/deliveries?message=&target=&status=&after_id=&limit=
    GET    /api/v1/deliveries/<id>                   with every attempt
    POST   /api/v1/deliveries/<id>/retry             a pending or dead delivery is tried again now
    GET    /api/v1/messages/<id>/deliveries          the message's deliveries (DESIGN §4.3: a list)

An account's token sees and changes its own account's targets and their deliveries, as in
:mod:`appliance.web.api`; a read-only token reads them all.

What a target is and which messages it gets: :mod:`appliance.delivery.outbox`. A target may not be
deleted once it has deliveries (their log would lose its subject): disable it instead.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appliance.db.models import (
    AccessNumber,
    Account,
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Keyword,
    Message,
    Modem,
    utcnow,
)
from appliance.delivery.outbox import TEST_DELIVERY_ID, DeliveryJob, retry
from appliance.modem.outbound import OutboundError, recipient_number
from appliance.representation import delivery_json, forward_target_json, message_json
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import (
    ApiError,
    _int_param,
    _json_body,
    page_response,
    paginated,
    require_change,
    require_writer,
    visible_message,
)
from appliance.web.api_config import (
    _account_filter,
    _account_ref,
    _bool,
    _choice,
    _invalid,
    _keywords_using,
    _ref,
)

bp = Blueprint("api_forwarding", __name__)
api.bp.register_blueprint(bp)

KINDS = ("url", "email", "sms")
FORMATS = ("json", "xml")
STATUSES = ("pending", "delivered", "dead")
# DESIGN §4.3 names a target's address by its kind; "address" is the one field for all three.
ADDRESS_FIELDS = {"url": "url", "email": "email", "sms": "phone"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PEM = 100_000
MAX_ADDRESS = 2000  # the column's size
MAX_SECRET = 100


def _target(target_id: int) -> ForwardTarget:
    target = db_session().get(ForwardTarget, target_id)
    if target is None or not current_principal().sees(target.account_id):
        raise ApiError(404, "not_found", f"no forward target with id {target_id}")
    return target


def _target_to_change(target_id: int) -> ForwardTarget:
    require_writer()
    target = _target(target_id)
    require_change(target.account_id)
    return target


def _address(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise _invalid("address", "must be a one-line text")
    value = value.strip()
    if len(value) > MAX_ADDRESS:
        raise _invalid("address", f"must be at most {MAX_ADDRESS} characters, not {len(value)}")
    if kind == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _invalid("address", f"must be an http:// or https:// URL, not {value!r}")
    elif kind == "email":
        if not _EMAIL.match(value) or len(value) > 254:
            raise _invalid("address", f"must be an e-mail address, not {value!r}")
    else:
        try:
            value = recipient_number(value)
        except OutboundError as exc:
            raise _invalid("address", str(exc)) from None
    return value


def _number(value: Any, field: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _invalid(field, f"must be a number between {lo:g} and {hi:g}")
    return value


def _apply(target: ForwardTarget, body: dict[str, Any], *, creating: bool) -> None:
    session = db_session()
    if creating or "account" in body:
        account = _account_ref(session, body, required=True)
        assert isinstance(account, Account)
        target.account_id = account.id
    if creating or "kind" in body:
        target.kind = _choice({"kind": body.get("kind")}, "kind", KINDS)
    for field in ADDRESS_FIELDS.values():
        if body.get(field) is not None and not isinstance(body[field], str):
            raise _invalid(field, "must be a text or null")
    by_kind = ADDRESS_FIELDS[target.kind]
    if "address" not in body and body.get(by_kind) is not None:
        body = {**body, "address": body[by_kind]}
    if creating or "address" in body or "kind" in body:
        target.address = _address(target.kind, body.get("address", target.address))
    if creating or "name" in body:
        name = body.get("name", target.address if creating else None)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise _invalid("name", "must be a text of 1 to 200 characters")
        target.name = name.strip()
    for field in ("enabled", "actions_only"):
        if field in body:
            setattr(target, field, _bool(body, field))
    if "format" in body:
        target.format = _choice(body, "format", FORMATS)
    for field, model in (("access_number", AccessNumber), ("keyword", Keyword)):
        if field in body:
            ident = body[field]
            if ident is not None:
                _ref(session, model, ident, field, field.replace("_", " "))
            setattr(target, f"{field}_id", ident)
    if "timeout_seconds" in body:
        target.timeout_seconds = _number(body["timeout_seconds"], "timeout_seconds", 1, 120)
    if "give_up_hours" in body:
        target.give_up_hours = _number(body["give_up_hours"], "give_up_hours", 0.01, 24 * 30)
    if "attach_limit_bytes" in body:
        target.attach_limit_bytes = int(_number(body["attach_limit_bytes"], "attach_limit_bytes", 0, 50_000_000))
    for field in ("subject_template", "body_template", "ca_pem"):
        if field in body:
            value = body[field]
            if value is not None and (not isinstance(value, str) or len(value) > MAX_PEM):
                raise _invalid(field, "must be a text or null")
            if field == "ca_pem" and value and "-----BEGIN CERTIFICATE-----" not in value:
                raise _invalid(field, "must be PEM: one or more -----BEGIN CERTIFICATE----- blocks")
            setattr(target, field, value or None)
    if "secret" in body:
        if not isinstance(body["secret"], str) or not 16 <= len(body["secret"]) <= MAX_SECRET:
            raise _invalid("secret", f"must be a text of 16 to {MAX_SECRET} characters")
        target.secret = body["secret"]


@bp.get("/forward-targets")
def list_targets() -> Response:
    targets, next_after_id = paginated(_account_filter(select(ForwardTarget), ForwardTarget), ForwardTarget.id)
    return page_response([forward_target_json(t) for t in targets], next_after_id)


def new_target() -> ForwardTarget:
    """A target with its secrets drawn and every default set, before ``_apply`` fills in the rest."""
    return ForwardTarget(secret=secrets.token_urlsafe(32), download_token=secrets.token_urlsafe(32), format="json",
                         enabled=True, actions_only=False, timeout_seconds=10.0, give_up_hours=24.0,
                         attach_limit_bytes=10 * 1024 * 1024)


@bp.post("/forward-targets")
def create_target() -> tuple[Response, int]:
    require_writer()
    target = new_target()
    _apply(target, _json_body(), creating=True)
    session = db_session()
    session.add(target)
    session.commit()
    return jsonify(forward_target_json(target)), 201


@bp.get("/forward-targets/<int:target_id>")
def get_target(target_id: int) -> Response:
    return jsonify(forward_target_json(_target(target_id)))


@bp.route("/forward-targets/<int:target_id>", methods=["PUT", "PATCH"])
def update_target(target_id: int) -> Response:
    target = _target_to_change(target_id)
    _apply(target, _json_body(), creating=request.method == "PUT")
    db_session().commit()
    return jsonify(forward_target_json(target))


@bp.delete("/forward-targets/<int:target_id>")
def delete_target(target_id: int) -> tuple[str, int]:
    session, target = db_session(), _target_to_change(target_id)
    remove_target(session, target)
    session.commit()
    return "", 204


def remove_target(session: Session, target: ForwardTarget) -> None:
    """Delete ``target`` unless a keyword's forward action names it or its delivery log would lose
    its subject (409, saying what to do instead)."""
    naming = [session.get(Keyword, ident).keyword
              for ident in _keywords_using(session, target.account_id, "target", target.id)]
    if naming:
        raise ApiError(409, "in_use", f"forward target {target.id} is named by the forward action of keyword(s) "
                                      f"{', '.join(naming)}; change those first")
    count = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.target_id == target.id))
    if count:
        raise ApiError(409, "in_use", f"forward target {target.id} has {count} deliveries in its log; "
                                      "set enabled to false instead")
    session.delete(target)


@bp.post("/forward-targets/<int:target_id>/test")
def test_target(target_id: int) -> Response:
    """Send the account's newest message (or a made-up one) to the target now, outside the outbox."""
    return jsonify(send_test(_target_to_change(target_id)))


def send_test(target: ForwardTarget) -> dict[str, Any]:
    """Send the account's newest message (or a made-up one) to ``target`` through its real channel."""
    session = db_session()
    channel = current_app.extensions["appliance.forwarding_channels"].get(target.kind)
    if channel is None:
        raise ApiError(409, "unavailable", f"this appliance cannot send to {target.kind} targets")
    newest = session.scalar(select(Message).where(Message.account_id == target.account_id)
                            .order_by(Message.id.desc()).limit(1))
    sample = newest or Message(id=0, received_at=utcnow(), iccid=_sample_sim(target), sender="+48600000000",
                               kind="sms", text="Wiadomość testowa / test message", status="routed",
                               account_id=target.account_id, parts_total=1, parts_received=1)
    message = message_json(sample, msisdns={} if newest is None else None, base_url=request.host_url)
    session.expunge(target)
    result = channel.deliver(DeliveryJob(TEST_DELIVERY_ID, f"test-{secrets.token_hex(12)}", 1, target, message,
                                         sample.iccid))
    return {"ok": result.ok, "status_code": result.status_code, "error": result.error,
            "excerpt": result.excerpt, "duration_ms": round(result.duration_ms, 1)}


def _sample_sim(target: ForwardTarget) -> str:
    """The SIM a made-up test message "came in on" (an SMS target's test goes out through it): the
    target's access number's, else the modem seen ready last (of the account's own numbers, for an
    account's user or token); empty when there is neither."""
    session = db_session()
    if target.access_number_id is not None:
        number = session.get(AccessNumber, target.access_number_id)
        if number is not None:
            return number.iccid
    query = select(Modem.iccid).where(Modem.state == "ready").order_by(Modem.last_seen_at.desc()).limit(1)
    account = current_principal().only_account
    if account is not None:  # an account's test goes out through its own numbers only
        query = query.where(Modem.iccid.in_(select(AccessNumber.iccid).where(AccessNumber.account_id == account)))
    return session.scalar(query) or ""


def _visible_deliveries() -> Any:
    """Deliveries to the targets the principal sees."""
    return select(Delivery).where(Delivery.target_id.in_(
        select(ForwardTarget.id).where(current_principal().visible(ForwardTarget.account_id))))


@bp.get("/deliveries")
def list_deliveries() -> Response:
    query = _visible_deliveries()
    for name, column in (("message", Delivery.message_id), ("target", Delivery.target_id)):
        value = _int_param(name, default=0, minimum=1)
        if value:
            query = query.where(column == value)
    status = request.args.get("status", "").strip()
    if status:
        if status not in STATUSES:
            raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}")
        query = query.where(Delivery.status == status)
    rows, next_after_id = paginated(query, Delivery.id)
    return page_response([delivery_json(d) for d in rows], next_after_id)


@bp.get("/messages/<int:message_id>/deliveries")
def list_message_deliveries(message_id: int) -> Response:
    """The forwards of one message, a plain list as DESIGN §4.3 has it: one per target, so never long."""
    visible_message(message_id)
    rows = db_session().scalars(_visible_deliveries().where(Delivery.message_id == message_id).order_by(Delivery.id))
    return jsonify([delivery_json(d) for d in rows])


def _delivery(delivery_id: int) -> Delivery:
    delivery = db_session().get(Delivery, delivery_id)
    target = db_session().get(ForwardTarget, delivery.target_id) if delivery is not None else None
    if target is None or not current_principal().sees(target.account_id):
        raise ApiError(404, "not_found", f"no delivery with id {delivery_id}")
    return delivery


@bp.get("/deliveries/<int:delivery_id>")
def get_delivery(delivery_id: int) -> Response:
    delivery = _delivery(delivery_id)
    attempts = list(db_session().scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
                                         .order_by(DeliveryAttempt.id)))
    return jsonify(delivery_json(delivery, attempts))


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int) -> Response:
    require_writer()
    delivery = _delivery(delivery_id)
    require_change(db_session().get(ForwardTarget, delivery.target_id).account_id)
    if delivery.status == "delivered":
        raise ApiError(409, "delivered", f"delivery {delivery.id} was delivered at {delivery.delivered_at}")
    retry(db_session(), delivery)
    db_session().commit()
    wake = current_app.extensions.get("appliance.wake_outbox")
    if wake is not None:
        wake()
    return jsonify(delivery_json(delivery))

