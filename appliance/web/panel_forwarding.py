"""The panel's forwarding page: each target with its tallies, the newest deliveries with every attempt,
and a button that tries a pending or dead delivery again now; and the targets themselves, added,
changed, tested and removed.

A target form is checked by the REST API's own rules (:func:`appliance.web.api_forwarding._apply`):
the form turns what was typed into the API's JSON body and shows the API's message next to the field
it names. An account's user sees and manages only that account's targets and deliveries.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField

from appliance.db.models import (
    Delivery,
    DeliveryAttempt,
    ForwardTarget,
    Keyword,
    Message,
)
from appliance.delivery.email import DEFAULT_BODY, DEFAULT_SUBJECT, PLACEHOLDERS
from appliance.delivery.outbox import retry
from appliance.representation import delivery_json, forward_target_json
from appliance.web import db_session
from appliance.web.access import Principal, current_principal
from appliance.web.api import ApiError
from appliance.web.api_forwarding import _apply, new_target, remove_target, send_test
from appliance.web.panel import utc_text
from appliance.web.setup_forms import (
    account_choices,
    account_names,
    changeable_or_403,
    number_label,
    reservable_numbers,
    show_api_error,
    visible_or_404,
)

bp = Blueprint("panel_forwarding", __name__)

PAGE_SIZE = 100
STATUSES = ("pending", "delivered", "dead")
# Fields each kind of target uses; the others are neither shown (with scripts on) nor sent.
KIND_FIELDS = {"url": ("format", "timeout_seconds", "ca_pem"), "email": ("subject_template", "body_template"),
               "sms": ()}
# Session key: the target whose secret the next view of its page shows (once, after creation or rotation).
SECRET_SHOWN = "forward_target_secret_shown"


class TargetForm(FlaskForm):
    """What the shop owner types; the API's validation decides what is acceptable."""

    kind = SelectField(_l("Send to"), choices=[SelectChoice("url", _l("a web address (webhook)")),
                                                SelectChoice("email", _l("an e-mail address")),
                                                SelectChoice("sms", _l("a phone, by SMS"))])
    address = StringField(_l("Address"))
    name = StringField(_l("Name"))
    account = SelectField(_l("Account"), coerce=int)
    format = SelectField(_l("Format"), choices=[SelectChoice("json", "JSON"), SelectChoice("xml", "XML")])
    timeout_seconds = StringField(_l("Timeout (seconds)"))
    ca_pem = TextAreaField(_l("CA certificate (PEM)"))
    subject_template = StringField(_l("Subject"))
    body_template = TextAreaField(_l("Body"))
    access_number = SelectField(_l("Only messages to the number"), coerce=int)
    keyword = SelectField(_l("Only messages with the keyword"), coerce=int)
    actions_only = BooleanField(_l("Only messages a keyword's forward action sends here"))
    give_up_hours = StringField(_l("Give up after (hours)"))
    enabled = BooleanField(_l("Enabled"), default=True)


@bp.get("/panel/forwarding")
def forwarding_page() -> str:
    db, principal = db_session(), current_principal()
    visible_targets = list(db.scalars(select(ForwardTarget).where(principal.visible(ForwardTarget.account_id))
                                            .order_by(ForwardTarget.id)))
    tallies = _tallies(db, [t.id for t in visible_targets])
    targets = []
    for target in visible_targets:
        view = forward_target_json(target)
        view["tally"] = tallies.get(target.id, dict.fromkeys(STATUSES, 0))
        targets.append(view)
    names = {t["id"]: t["name"] for t in targets}

    query = (select(Delivery).join(ForwardTarget, ForwardTarget.id == Delivery.target_id)
             .where(principal.visible(ForwardTarget.account_id)).order_by(Delivery.id.desc()).limit(PAGE_SIZE))
    status = request.args.get("status", "")
    if status in STATUSES:
        query = query.where(Delivery.status == status)
    for name, column in (("message", Delivery.message_id), ("target", Delivery.target_id)):
        value = request.args.get(name, "")
        if value.isdigit():
            query = query.where(column == int(value))
    deliveries = list(db.scalars(query))
    attempts: dict[int, list[DeliveryAttempt]] = {}
    for attempt in db.scalars(select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_([d.id for d in deliveries])).order_by(DeliveryAttempt.id)):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    senders = dict(db.execute(select(Message.id, Message.sender).where(
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
    db = db_session()
    delivery = db.get(Delivery, delivery_id)
    if delivery is None:
        abort(404)
    _changeable(delivery.target_id)
    if delivery.status != "delivered":
        retry(db, delivery)
        db.commit()
        wake = current_app.extensions.get("appliance.wake_outbox")
        if wake is not None:
            wake()
    return redirect(url_for("panel_forwarding.forwarding_page", _anchor=f"delivery-{delivery_id}"), 303)


@bp.route("/panel/forwarding/targets/new", methods=["GET", "POST"])
def new_target_page() -> str | BaseResponse | tuple[str, int]:
    principal = current_principal()
    form = _form(principal, posted=True)
    if form.validate_on_submit():
        target = new_target()
        try:
            _apply(target, _body(form, principal), creating=True)
        except ApiError as error:
            return _render_target(form, None, status=error.status, form_error=_show(error, form))
        db_session().add(target)
        db_session().commit()
        session[SECRET_SHOWN] = target.id
        flash(_("Forward target %(name)s added.", name=target.name), "success")
        return redirect(url_for("panel_forwarding.target_page", target_id=target.id), 303)
    return _render_target(form, None, status=400 if form.is_submitted() else 200)


@bp.route("/panel/forwarding/targets/<int:target_id>", methods=["GET", "POST"])
def target_page(target_id: int) -> str | BaseResponse | tuple[str, int]:
    posted = request.method == "POST"
    target = _changeable(target_id) if posted else _visible(target_id)
    principal = current_principal()
    form = _form(principal, target, posted=posted)
    if form.validate_on_submit():
        try:
            # No flush half-way: _apply sets fields one by one and may refuse the next.
            with db_session().no_autoflush:
                _apply(target, _body(form, principal), creating=False)
        except ApiError as error:
            db_session().rollback()
            return _render_target(form, target, status=error.status, form_error=_show(error, form))
        db_session().commit()
        flash(_("Forward target %(name)s saved.", name=target.name), "success")
        return redirect(url_for("panel_forwarding.target_page", target_id=target.id), 303)
    return _render_target(form, target, status=400 if form.is_submitted() else 200)


@bp.post("/panel/forwarding/targets/<int:target_id>/test")
def test_target(target_id: int) -> tuple[str, int]:
    """Send a sample through the target's real channel now and show what the receiver answered."""
    target = _changeable(target_id)
    form = _form(current_principal(), target)
    try:
        result = send_test(target)
    except ApiError as exc:
        return _render_target(form, target, status=exc.status, test_error=exc.message)
    return _render_target(form, target, status=200, test_result=result)


@bp.post("/panel/forwarding/targets/<int:target_id>/rotate-secret")
def rotate_secret(target_id: int) -> BaseResponse:
    target = _changeable(target_id)
    _apply(target, {"secret": secrets.token_urlsafe(32)}, creating=False)
    db_session().commit()
    session[SECRET_SHOWN] = target.id
    flash(_("A new secret was drawn; receivers must use it from now on."), "success")
    return redirect(url_for("panel_forwarding.target_page", target_id=target.id), 303)


@bp.post("/panel/forwarding/targets/<int:target_id>/enabled")
def set_enabled(target_id: int) -> BaseResponse:
    target = _changeable(target_id)
    _apply(target, {"enabled": request.form.get("enabled") == "true"}, creating=False)
    db_session().commit()
    flash(_("Forward target %(name)s enabled.", name=target.name) if target.enabled
          else _("Forward target %(name)s disabled: nothing more is sent to it.", name=target.name), "success")
    return redirect(url_for("panel_forwarding.target_page", target_id=target.id), 303)


@bp.post("/panel/forwarding/targets/<int:target_id>/delete")
def delete_target(target_id: int) -> BaseResponse:
    target = _changeable(target_id)
    name = target.name
    try:
        remove_target(db_session(), target)
    except ApiError as exc:
        db_session().rollback()
        flash(exc.message, "error")
        return redirect(url_for("panel_forwarding.target_page", target_id=target_id), 303)
    db_session().commit()
    flash(_("Forward target %(name)s deleted.", name=name), "success")
    return redirect(url_for("panel_forwarding.forwarding_page"), 303)


def _visible(target_id: int) -> ForwardTarget:
    """The target, or 404 when it does not exist or belongs to an account this user does not see."""
    target = db_session().get(ForwardTarget, target_id)
    if target is None:
        abort(404)
    visible_or_404(target.account_id)
    return target


def _changeable(target_id: int) -> ForwardTarget:
    target = _visible(target_id)
    changeable_or_403(target.account_id)
    return target


def _tallies(db: Session, target_ids: list[int]) -> dict[int, dict[str, int]]:
    tallies: dict[int, dict[str, int]] = {}
    for target_id, status, count in db.execute(
            select(Delivery.target_id, Delivery.status, func.count()).where(Delivery.target_id.in_(target_ids))
            .group_by(Delivery.target_id, Delivery.status)):
        tallies.setdefault(target_id, dict.fromkeys(STATUSES, 0))[status] = count
    return tallies


def _form(principal: Principal, target: ForwardTarget | None = None, *, posted: bool = False) -> TargetForm:
    """The form as posted (``posted``) or filled from ``target`` or the defaults, its lists limited to
    what this user may pick."""
    formdata = {} if posted else {"formdata": None}
    form = (TargetForm(obj=target, **formdata) if target is not None
            else TargetForm(timeout_seconds="10", give_up_hours="24", **formdata))
    if target is not None and not posted:
        form.account.data = target.account_id
        form.access_number.data = target.access_number_id or 0
        form.keyword.data = target.keyword_id or 0
        form.timeout_seconds.data = f"{target.timeout_seconds:g}"
        form.give_up_hours.data = f"{target.give_up_hours:g}"
    db = db_session()
    accounts = account_names(db)
    form.account.choices = account_choices(accounts, None)
    numbers = reservable_numbers(db)
    form.access_number.choices = [SelectChoice(0, _("any"))] + [
        SelectChoice(n.id, number_label(n, accounts)) for n in numbers]
    on_number = {n.id: n.number for n in numbers}
    keywords = (select(Keyword).where(principal.visible(Keyword.account_id))
                .order_by(Keyword.account_id, Keyword.keyword))
    # An admin picks among every account's keywords: grouped by account.
    form.keyword.choices = [SelectChoice(0, _("any"))] + [
        SelectChoice(k.id, _("%(keyword)s on %(number)s", keyword=k.keyword,
                             number=on_number.get(k.access_number_id, "?")),
                     optgroup=accounts.get(k.account_id) if principal.is_admin else None)
        for k in db.scalars(keywords)]
    if not principal.is_admin:
        del form.account  # an account's user adds targets to that account only
    return form


def _body(form: TargetForm, principal: Principal) -> dict[str, Any]:
    """The API's JSON body for what was typed: only the chosen kind's own fields, numbers as numbers
    when they read as one (else as typed, for the API to name the field)."""
    address = (form.address.data or "").strip()
    body: dict[str, Any] = {
        "account": form.account.data if "account" in form else principal.account_id,
        "kind": form.kind.data,
        "address": address,
        "name": (form.name.data or "").strip() or address,
        "enabled": bool(form.enabled.data),
        "actions_only": bool(form.actions_only.data),
        "access_number": form.access_number.data or None,
        "keyword": form.keyword.data or None,
    }
    if (form.give_up_hours.data or "").strip():
        body["give_up_hours"] = _number(form.give_up_hours.data)
    for field in KIND_FIELDS.get(form.kind.data or "", ()):
        value = form[field].data
        if field == "timeout_seconds":
            if (value or "").strip():
                body[field] = _number(value)
        elif field == "format":
            body[field] = value
        else:
            body[field] = (value or "").strip() or None  # empty: no CA of its own, the default template
    return body


def _number(text: str) -> float | str:
    try:
        return float(text.strip().replace(",", "."))  # "1,5" as Polish writes it
    except ValueError:
        return text



def _show(error: ApiError, form: TargetForm) -> str | None:
    """The API's message next to the field it names ("timeout_seconds: must be …"); else returned,
    for above the form."""
    return show_api_error(error, {field.short_name: field for field in form})


def _render_target(form: TargetForm, target: ForwardTarget | None, *, status: int, form_error: str | None = None,
                   test_result: dict[str, Any] | None = None, test_error: str | None = None) -> tuple[str, int]:
    show_secret = target is not None and session.pop(SECRET_SHOWN, None) == target.id
    deliveries = 0
    if target is not None:
        deliveries = db_session().scalar(select(func.count()).select_from(Delivery)
                                         .where(Delivery.target_id == target.id)) or 0
    return render_template("panel/forward_target.html", form=form, form_error=form_error, target=target,
                           show_secret=show_secret,
                           deliveries=deliveries, kind_fields=KIND_FIELDS, test_result=test_result,
                           test_error=test_error, default_subject=DEFAULT_SUBJECT, default_body=DEFAULT_BODY,
                           placeholders=", ".join(f"{{{name}}}" for name in PLACEHOLDERS)), status
