"""The Personal data page (admins): export or erase everything about one phone number, and how long
each account keeps its messages.

Export and erasure go through the API's own functions (:mod:`appliance.web.api_personal_data`), so
the checks, the refusals and the audit entries are the same. After an erasure the page is rendered
in the answer to the POST, not after a redirect: the number shown beside the receipt id then never
sits in a cookie or a URL.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from appliance.db.models import Account
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_personal_data import erase, export, forms_of, zip_response

bp = Blueprint("personal_data", __name__)

# What an erasure counts (appliance.erasure), as the receipt shows it.
KIND_LABELS = {
    "messages": _l("Messages received"), "sms_parts": _l("Raw SMS parts"), "attachments": _l("MMS attachments"),
    "files": _l("Attachment files"), "mms_transfers": _l("MMS downloads"), "outbound_sms": _l("Texts sent"),
    "outbound_parts": _l("Parts of texts sent"), "status_reports": _l("Delivery reports"),
    "deliveries": _l("Forwards"), "delivery_attempts": _l("Forwarding attempts"), "contacts": _l("Contacts"),
    "group_members": _l("Group memberships"), "contact_events": _l("Opt-in and opt-out history"),
    "group_send_recipients": _l("Group send recipients"), "poll_votes": _l("Poll votes"),
    "contest_entries": _l("Contest entries"), "draw_winners": _l("Contest draws (winner erased)"),
    "auto_replies": _l("Automatic answers"), "statistics_sender_days": _l("Statistics sender records"),
    "login_failures": _l("Refused sign-ins"),
}


class ExportForm(FlaskForm):
    number = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])


class EraseForm(FlaskForm):
    number = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])
    understood = BooleanField(_l("I understand that this cannot be undone"), validators=[DataRequired()])


@bp.before_request
def _admins_only() -> None:
    if not current_principal().is_admin:
        abort(403)


@bp.get("/personal-data")
def index() -> str:
    return _render(ExportForm(formdata=None, prefix="export"), EraseForm(formdata=None, prefix="erase"))


@bp.post("/personal-data/export")
def export_number() -> BaseResponse | tuple[str, int]:
    form = ExportForm(prefix="export")
    if form.validate():
        try:
            return zip_response(export(forms_of(form.number.data)))
        except ApiError as refusal:
            form.number.errors = [*form.number.errors, refusal.message]
    db_session().rollback()
    return _render(form, EraseForm(formdata=None, prefix="erase")), 400


@bp.post("/personal-data/erase")
def erase_number() -> tuple[str, int] | str:
    form = EraseForm(prefix="erase")
    if form.validate():
        try:
            forms = forms_of(form.number.data)
            receipt, removed = erase(forms)
        except ApiError as refusal:
            form.number.errors = [*form.number.errors, refusal.message]
        else:
            return _render(ExportForm(formdata=None, prefix="export"), EraseForm(formdata=None, prefix="erase"),
                           erased={"number": forms.international, "receipt": receipt, "counts": removed.summary()})
    db_session().rollback()
    return _render(ExportForm(formdata=None, prefix="export"), form), 400


def _render(export_form: ExportForm, erase_form: EraseForm, erased: dict[str, object] | None = None) -> str:
    accounts = db_session().scalars(select(Account).order_by(Account.name)).all()
    return render_template("panel/personal_data.html", export_form=export_form, erase_form=erase_form,
                           erased=erased, accounts=accounts, kind_labels=KIND_LABELS)
