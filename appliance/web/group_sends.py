"""The panel's "Send to group": compose, review (who gets it, how many SMS), confirm; the sends so far
with their progress, updated while they go out, and a cancel button while there is something to stop.

The checks are the domain's (:func:`appliance.campaigns.group_send.check`, the same the API makes);
an error shows next to the field it names. A time to send at is the box's local time, as the shop
owner reads the clock on the wall; it is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateTimeLocalField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from appliance.campaigns.group_send import (
    GroupSendRefused,
    Progress,
    audiences,
    cancel,
    cancellable,
    check,
    group_sends,
    may_send_from,
    progress_of,
    schedule,
)
from appliance.codecs.sms_pdu import measure_text
from appliance.db.models import AccessNumber, Account, Group, GroupMember, GroupSend
from appliance.web import db_session
from appliance.web.access import Principal, current_principal
from appliance.web.sms_counter import alphabet_label, as_typed

bp = Blueprint("group_sends", __name__)

PAGE_SIZE = 50
POLL_INTERVAL_MS = 3000
ROWS_TEMPLATE = "group_sends/rows.html"
EXCERPT_CHARACTERS = 120


class GroupSendForm(FlaskForm):
    access_number = SelectField(_l("From number"), coerce=int, validators=[InputRequired()])
    group = SelectField(_l("To group"), coerce=int, validators=[InputRequired()])
    text = TextAreaField(_l("Text"), filters=[as_typed])
    scheduled_at = DateTimeLocalField(_l("Send at"), format="%Y-%m-%dT%H:%M", validators=[Optional()])


@bp.route("/send", methods=["GET", "POST"])
def index() -> str | BaseResponse | tuple[str, int]:
    """GET: the form and the sends. POST ``action=review`` shows who would get what; ``confirm``
    schedules it; ``edit`` goes back to the form with the values kept."""
    principal, session = current_principal(), db_session()
    form = GroupSendForm()
    numbers, groups = _usable_numbers(principal), _changeable_groups(principal)
    form.access_number.choices = [(n.id, _number_label(n)) for n in numbers]
    form.group.choices = [(g["id"], g["label"]) for g in groups]
    if request.method == "GET":
        return _render_index(form)
    if not form.validate_on_submit():
        return _render_index(form), 400
    action = request.form.get("action", "review")
    if action == "edit":
        return _render_index(form)
    group = session.get(Group, form.group.data)
    number = session.get(AccessNumber, form.access_number.data)
    assert group is not None and number is not None  # the choices hold only rows that exist
    scheduled_at = box_time_to_utc(form.scheduled_at.data)
    try:
        check(group, number, form.text.data or "", scheduled_at)
        if action != "confirm":
            return _render_review(form, group, number, scheduled_at)
        send = schedule(session, group, number, form.text.data or "", scheduled_at)
    except GroupSendRefused as exc:
        session.rollback()
        assert exc.field is not None  # check names the field at fault
        form[exc.field].errors.append(exc.message)
        return _render_index(form), 400
    session.commit()
    if scheduled_at is None:
        flash(_("Sending to %(group)s now: the texts leave within seconds.", group=group.name), "success")
    else:
        flash(_("Scheduled for %(when)s to %(group)s.", when=box_time_text(send.scheduled_at), group=group.name),
              "success")
    return redirect(url_for("group_sends.index", _anchor=f"send-{send.id}"), 303)


@bp.post("/send/<int:send_id>/cancel")
def cancel_send(send_id: int) -> BaseResponse:
    session, send = db_session(), _send(send_id)
    if not current_principal().may_change(send.account_id):
        abort(403)
    try:
        withdrawn = cancel(session, send)
    except GroupSendRefused:
        session.rollback()
        flash(_("Nothing left to cancel: every text of this send has left the box."), "error")
    else:
        session.commit()
        flash(_("Cancelled. Texts withdrawn before sending: %(count)s.", count=withdrawn), "success")
    return redirect(url_for("group_sends.index", _anchor=f"send-{send_id}"), 303)


@bp.get("/send/progress.json")
def progress_rows() -> Response:
    """The rows of the sends ``?ids=`` (those this person sees), rendered as the page renders them."""
    wanted = [int(part) for part in request.args.get("ids", "").split(",") if part.isdigit()][:PAGE_SIZE]
    account = current_principal().only_account
    sends = [s for s in db_session().scalars(select(GroupSend).where(GroupSend.id.in_(wanted)))
             if account is None or s.account_id == account]
    send_row = get_template_attribute(ROWS_TEMPLATE, "send_row")
    return jsonify({"items": [{"id": view["id"], "live": view["live"], "html": str(send_row(view))}
                              for view in _send_views(sends)]})


def box_time_to_utc(local: datetime | None) -> datetime | None:
    """A wall-clock time of the box (naive, from the form) as UTC; Python reads a naive time's
    ``astimezone`` in the system's zone, daylight saving time included."""
    return local.astimezone(UTC) if local is not None else None


def box_time_text(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def box_zone_text() -> str:
    now = datetime.now().astimezone()
    offset = now.strftime("%z")
    return f"{now.tzname()}, UTC{offset[:3]}:{offset[3:]}"


def _render_index(form: GroupSendForm) -> str:
    before_id = request.args.get("before_id", type=int)
    sends, more = group_sends(db_session(), for_account=current_principal().only_account, limit=PAGE_SIZE,
                              before_id=before_id)
    views = _send_views(sends)
    return render_template(
        "group_sends/index.html",
        form=form,
        sends=views,
        live_ids=[v["id"] for v in views if v["live"]],
        progress_url=url_for("group_sends.progress_rows"),
        poll_interval_ms=POLL_INTERVAL_MS,
        older_url=url_for("group_sends.index", before_id=sends[-1].id) if more else None,
        newest_url=url_for("group_sends.index") if before_id is not None else None,
        zone=box_zone_text(),
    )


def _render_review(form: GroupSendForm, group: Group, number: AccessNumber, scheduled_at: datetime | None) -> str:
    audience = audiences(db_session(), [group.id])[group.id]
    size = measure_text((form.text.data or "").strip())
    return render_template(
        "group_sends/review.html",
        form=form,
        group=group,
        number=number,
        audience=audience,
        size=size,
        alphabet=alphabet_label(size.alphabet),
        total_sms=audience.recipients * size.parts,
        when=box_time_text(scheduled_at) if scheduled_at is not None else None,
        personalised="{name}" in (form.text.data or ""),
    )


def _usable_numbers(principal: Principal) -> list[AccessNumber]:
    """Every number for the admin; for an account's user, the shared ones and the account's own."""
    numbers = db_session().scalars(select(AccessNumber).order_by(AccessNumber.number))
    account = principal.only_account
    return [n for n in numbers if account is None or may_send_from(n, account)]


def _changeable_groups(principal: Principal) -> list[dict[str, Any]]:
    session = db_session()
    accounts = dict(session.execute(select(Account.id, Account.name)).all())
    members = dict(session.execute(select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id))
                   .all())
    groups = []
    for group in session.scalars(select(Group).order_by(Group.account_id, Group.name)):
        if not principal.may_change(group.account_id):
            continue
        label = _("%(group)s (%(count)s contacts)", group=group.name, count=members.get(group.id, 0))
        if principal.only_account is None:
            label = f"{accounts.get(group.account_id, '?')} · {label}"
        groups.append({"id": group.id, "label": label})
    return groups


def _number_label(number: AccessNumber) -> str:
    if number.kind == "shared":
        return _("%(number)s (shared)", number=number.number)
    return _("%(number)s (dedicated)", number=number.number)


def _send(send_id: int) -> GroupSend:
    send = db_session().get(GroupSend, send_id)
    if send is None or not current_principal().sees(send.account_id):
        abort(404)
    return send


def _send_views(sends: list[GroupSend]) -> list[dict[str, Any]]:
    session = db_session()
    progress = progress_of(session, sends)
    groups = dict(session.execute(select(Group.id, Group.name).where(Group.id.in_({s.group_id for s in sends})))
                  .all())
    numbers = dict(session.execute(select(AccessNumber.id, AccessNumber.number)
                                   .where(AccessNumber.id.in_({s.access_number_id for s in sends}))).all())
    views = []
    for send in sends:
        done = progress[send.id]
        state = _state(send, done)
        views.append({
            "id": send.id,
            "group": groups.get(send.group_id, "?"),
            "number": numbers.get(send.access_number_id, "?"),
            "excerpt": send.text if len(send.text) <= EXCERPT_CHARACTERS else send.text[:EXCERPT_CHARACTERS] + "…",
            "parts": measure_text(send.text).parts,
            "state": state,
            "when": box_time_text(send.scheduled_at),
            "progress": done,
            "cancellable": cancellable(send, done),
            "cancel_url": url_for("group_sends.cancel_send", send_id=send.id),
            "live": state in ("scheduled", "sending"),
        })
    return views


def _state(send: GroupSend, progress: Progress) -> str:
    """``scheduled``, ``sending`` (texts still leaving), ``finished``, ``cancelled`` or ``failed``."""
    if send.status in ("scheduled", "cancelled", "failed"):
        return send.status
    return "sending" if send.status == "sending" or progress.pending else "finished"
