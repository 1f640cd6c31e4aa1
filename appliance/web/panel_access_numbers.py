"""Access numbers: which phone number each SIM answers to, for whom, and how its MMS are fetched.

The admin binds a SIM the appliance has seen (a modem no access number is bound to) to its phone
number, shared or dedicated, and edits and deletes numbers. An account user sees its own dedicated
numbers and changes their default reply only: the SIM, the kind, the owner and the MMS settings decide
what other accounts receive and how the box talks to the operator, so they stay the admin's. Every
change is checked by the REST API's own code (appliance.web.api_config).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from appliance.db.models import AccessNumber, Keyword, Modem
from appliance.mms.operator_presets import MMS_PRESETS
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _apply_access_number, _commit, remove_access_number
from appliance.web.panel_dashboard import modem_tone
from appliance.web.setup_forms import (
    account_choices,
    account_names,
    changeable_or_403,
    optional_id,
    show_api_error,
    visible_or_404,
)

bp = Blueprint("access_numbers", __name__)

KIND_CHOICES = [SelectChoice("dedicated", _l("Dedicated")), SelectChoice("shared", _l("Shared"))]
MMS_FIELDS = ("mmsc_url", "mms_proxy", "mms_apn", "mms_apn_user")


class BindForm(FlaskForm):
    """Shown once per unassigned SIM, each with its own prefix."""

    number = StringField(_l("Phone number"))
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    account = SelectField(_l("Account"), coerce=optional_id)


class AccessNumberForm(FlaskForm):
    number = StringField(_l("Phone number"))
    iccid = SelectField(_l("SIM"))
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    account = SelectField(_l("Account"), coerce=optional_id)
    unmatched_reply = TextAreaField(_l("Default reply"))
    mms_enabled = BooleanField(_l("Receive MMS on this number"))
    preset = SelectField(_l("Operator preset"), validate_choice=False)
    mmsc_url = StringField(_l("MMSC URL"))
    mms_proxy = StringField(_l("MMS proxy (host:port)"))
    mms_apn = StringField(_l("APN"))
    mms_apn_user = StringField(_l("APN user"))
    mms_apn_password = PasswordField(_l("APN password"))
    clear_password = BooleanField(_l("Remove the stored password"))


class DefaultReplyForm(FlaskForm):
    unmatched_reply = TextAreaField(_l("Default reply"))


@bp.get("/access-numbers")
def index() -> str:
    return _render_index()


@bp.post("/access-numbers/bind")
def bind() -> BaseResponse | tuple[str, int]:
    """An unassigned SIM becomes an access number; then its page, for the MMS settings."""
    if not current_principal().is_admin:
        abort(403)
    session = db_session()
    modem = session.get(Modem, request.form.get("modem", type=int) or 0)
    if modem is None:
        abort(404)
    form = _bind_form(session, modem)
    if not form.validate():
        return _render_index(form, modem.id), 400
    number = AccessNumber(mms_enabled=False)
    body = {"number": form.number.data, "iccid": modem.iccid, "kind": form.kind.data, "account": form.account.data}
    try:
        _apply_access_number(session, number, body, creating=True)
        session.add(number)
        _commit(session, f"the number {number.number} or the ICCID {number.iccid} is taken")
    except ApiError as error:
        session.rollback()
        shown = show_api_error(error, {field.short_name: field for field in form})
        return _render_index(form, modem.id, shown), error.status
    flash(_("%(number)s is bound to SIM %(iccid)s.", number=number.number, iccid=modem.iccid), "success")
    return redirect(url_for("access_numbers.edit", ident=number.id), 303)


@bp.route("/access-numbers/<int:ident>", methods=["GET", "POST"])
def edit(ident: int) -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    number = _number(session, ident)
    principal = current_principal()
    if request.method == "POST":
        changeable_or_403(number.account_id)
    if principal.is_admin:
        form: AccessNumberForm | DefaultReplyForm = _number_form(session, number)
    else:
        form = DefaultReplyForm(data={"unmatched_reply": number.unmatched_reply or ""})
    if not form.is_submitted():
        return _render_number(number, form)
    if not form.validate():
        return _render_number(number, form), 400
    try:
        with session.no_autoflush:
            _apply_access_number(session, number, _body(form), creating=False)
        _commit(session, f"the number {number.number} or the ICCID {number.iccid} is taken")
    except ApiError as error:
        session.rollback()
        shown = show_api_error(error, {field.short_name: field for field in form})
        return _render_number(_number(session, ident), form, shown), error.status
    flash(_("%(number)s is saved.", number=number.number), "success")
    return redirect(url_for("access_numbers.edit", ident=ident), 303)


@bp.post("/access-numbers/<int:ident>/delete")
def delete(ident: int) -> BaseResponse | tuple[str, int]:
    session = db_session()
    number = _number(session, ident)
    if not current_principal().is_admin:
        abort(403)
    shown = number.number
    try:
        remove_access_number(session, number)
    except ApiError as error:
        session.rollback()
        number = _number(session, ident)
        return _render_number(number, _number_form(session, number), error.message), error.status
    flash(_("%(number)s is deleted.", number=shown), "success")
    return redirect(url_for("access_numbers.index"), 303)


def _number(session: Session, ident: int) -> AccessNumber:
    number = session.get(AccessNumber, ident)
    if number is None:
        abort(404)
    visible_or_404(number.account_id)
    return number


def _body(form: AccessNumberForm | DefaultReplyForm) -> dict[str, Any]:
    """The API's body for what the form lets this user change. An empty password field keeps the
    stored password (it is never shown back)."""
    if isinstance(form, DefaultReplyForm):
        return {"unmatched_reply": form.unmatched_reply.data}
    body = {name: form[name].data for name in ("number", "iccid", "kind", "account", "unmatched_reply",
                                                "mms_enabled", *MMS_FIELDS)}
    if form.mms_apn_password.data:
        body["mms_apn_password"] = form.mms_apn_password.data
    elif form.clear_password.data:
        body["mms_apn_password"] = None
    return body


def _unassigned_modems(session: Session) -> list[Modem]:
    bound = select(AccessNumber.iccid)
    return list(session.scalars(select(Modem).where(Modem.iccid.not_in(bound)).order_by(Modem.id)))


def _bind_form(session: Session, modem: Modem) -> BindForm:
    form = BindForm(prefix=f"sim-{modem.id}", data={"number": modem.msisdn or "", "kind": "dedicated"})
    form.account.choices = account_choices(account_names(session), _("— none yet —"))
    return form


def _number_form(session: Session, number: AccessNumber) -> AccessNumberForm:
    data = {name: getattr(number, name) for name in ("number", "iccid", "kind", "account_id", "unmatched_reply",
                                                      "mms_enabled", *MMS_FIELDS)}
    data["account"] = data.pop("account_id")
    form = AccessNumberForm(data={k: "" if v is None else v for k, v in data.items()})
    form.account.choices = account_choices(account_names(session), _("— none —"))
    modems = {m.iccid: m for m in session.scalars(select(Modem))}
    sims = [number.iccid] + [m.iccid for m in _unassigned_modems(session) if m.iccid != number.iccid]
    form.iccid.choices = [SelectChoice(iccid, _sim_label(iccid, modems.get(iccid))) for iccid in sims]
    form.preset.choices = [SelectChoice("", _("— choose an operator to fill in the fields —"))] + [
        SelectChoice(preset.key, f"{preset.name} ({preset.mcc_mnc[:3]} {preset.mcc_mnc[3:]})",
                     {f"data-{name.replace('_', '-')}": getattr(preset, name)
                      for name in (*MMS_FIELDS, "mms_apn_password")})
        for preset in MMS_PRESETS]
    return form


def _sim_label(iccid: str, modem: Modem | None) -> str:
    if modem is None:
        return _("%(iccid)s (not seen in a modem)", iccid=iccid)
    return f"{iccid} ({modem.operator or '?'}, {modem.state})"


def _render_index(bind_form: BindForm | None = None, bind_modem_id: int | None = None,
                  bind_error: str | None = None) -> str:
    session = db_session()
    principal = current_principal()
    numbers = list(session.scalars(select(AccessNumber).where(principal.visible(AccessNumber.account_id))
                                   .order_by(AccessNumber.number)))
    modems = {m.iccid: m for m in session.scalars(select(Modem))}
    keyword_counts = dict(session.execute(select(Keyword.access_number_id, func.count())
                                          .group_by(Keyword.access_number_id)).all())
    unassigned = []
    if principal.is_admin:
        for modem in _unassigned_modems(session):
            form = bind_form if modem.id == bind_modem_id and bind_form is not None else _bind_form(session, modem)
            unassigned.append({"modem": modem, "tone": modem_tone(modem), "form": form,
                               "error": bind_error if modem.id == bind_modem_id else None})
    rows = [{"number": n, "modem": modems.get(n.iccid), "tone": modem_tone(modems[n.iccid])
             if n.iccid in modems else "neutral", "keywords": keyword_counts.get(n.id, 0)} for n in numbers]
    return render_template("setup/access_numbers.html", rows=rows, unassigned=unassigned,
                           accounts=account_names(session), is_admin=principal.is_admin)


def _render_number(number: AccessNumber, form: AccessNumberForm | DefaultReplyForm, error: str | None = None) -> str:
    session = db_session()
    modem = session.scalar(select(Modem).where(Modem.iccid == number.iccid))
    keywords = session.scalar(select(func.count()).select_from(Keyword)
                              .where(Keyword.access_number_id == number.id)) or 0
    return render_template("setup/access_number.html", number=number, form=form, error=error, modem=modem,
                           tone=modem_tone(modem) if modem else "neutral", keywords=keywords,
                           accounts=account_names(session), is_admin=current_principal().is_admin,
                           password_set=bool(number.mms_apn_password))
