"""The panel's forwarding page: each target with its tallies, the newest deliveries with every attempt,
and a button that tries a pending or dead delivery again now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from appliance.db.models import Delivery, DeliveryAttempt, ForwardTarget, Message
from appliance.delivery.outbox import retry
from appliance.representation import delivery_json, forward_target_json
from appliance.web import db_session
from appliance.web.panel import utc_text

bp = Blueprint("panel_forwarding", __name__)

PAGE_SIZE = 100
STATUSES = ("pending", "delivered", "dead")


@bp.get("/panel/forwarding")
def forwarding_page() -> str:
    session = db_session()
    tallies: dict[int, dict[str, int]] = {}
    for target_id, status, count in session.execute(
            select(Delivery.target_id, Delivery.status, func.count()).group_by(Delivery.target_id, Delivery.status)):
        tallies.setdefault(target_id, {})[status] = count
    targets = []
    for target in session.scalars(select(ForwardTarget).order_by(ForwardTarget.id)):
        view = forward_target_json(target)
        view["tally"] = {status: tallies.get(target.id, {}).get(status, 0) for status in STATUSES}
        targets.append(view)
    names = {t["id"]: t["name"] for t in targets}

    query = select(Delivery).order_by(Delivery.id.desc()).limit(PAGE_SIZE)
    status = request.args.get("status", "")
    if status in STATUSES:
        query = query.where(Delivery.status == status)
    for name, column in (("message", Delivery.message_id), ("target", Delivery.target_id)):
        value = request.args.get(name, "")
        if value.isdigit():
            query = query.where(column == int(value))
    deliveries = list(session.scalars(query))
    attempts: dict[int, list[DeliveryAttempt]] = {}
    for attempt in session.scalars(select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_([d.id for d in deliveries])).order_by(DeliveryAttempt.id)):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    senders = dict(session.execute(select(Message.id, Message.sender).where(
        Message.id.in_([d.message_id for d in deliveries]))).all())
    views: list[dict[str, Any]] = []
    for delivery in deliveries:
        view = delivery_json(delivery, attempts.get(delivery.id, []))
        view["target_name"] = names.get(delivery.target_id, f"target {delivery.target_id}")
        view["sender"] = senders.get(delivery.message_id)
        view["created_text"] = utc_text(delivery.created_at)
        views.append(view)
    return render_template("panel/forwarding.html", targets=targets, deliveries=views, status=status,
                           statuses=STATUSES)


@bp.post("/panel/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int) -> BaseResponse:
    session = db_session()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        abort(404)
    if delivery.status != "delivered":
        retry(session, delivery)
        session.commit()
        wake = current_app.extensions.get("appliance.wake_outbox")
        if wake is not None:
            wake()
    return redirect(url_for("panel_forwarding.forwarding_page", _anchor=f"delivery-{delivery_id}"), 303)
