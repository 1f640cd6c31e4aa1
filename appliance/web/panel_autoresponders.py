"""Autoresponders: automatic answers of an account, on one of its numbers or all of them, to every
message or to one keyword's, each with a limit per sender.

An admin manages every account's; an account user its own. The checks are the REST API's
(appliance.web.api_config). The API counts the limit's window in seconds; the page in hours.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DecimalField, Field, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice

from appliance.db.models import AccessNumber, Autoresponder, Keyword
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _apply_autoresponder, _commit
from appliance.web.setup_forms import (
    account_choices,
    account_names,
    changeable_or_403,
    number_choices,
    optional_id,
    reservable_numbers,
    show_api_error,
    visible_or_404,
)

bp = Blueprint("autoresponders", __name__)

SECONDS_PER_HOUR = 3600


class AutoresponderForm(FlaskForm):
    account = SelectField(_l("Account"), coerce=optional_id)
    access_number = SelectField(_l("Access number"), coerce=optional_id)
    keyword = SelectField(_l("Only for the keyword"), coerce=optional_id)
    text = TextAreaField(_l("Reply text"))
    enabled = BooleanField(_l("Enabled"))
    max_per_sender = IntegerField(_l("At most this many answers to one sender"))
    window_hours = DecimalField(_l("… within this many hours"), places=None)


@bp.get("/autoresponders")
def index() -> str:
    session = db_session()
    principal = current_principal()
    responders = list(session.scalars(select(Autoresponder).where(principal.visible(Autoresponder.account_id))
                                      .order_by(Autoresponder.account_id, Autoresponder.id)))
    numbers = dict(session.execute(select(AccessNumber.id, AccessNumber.number)).all())
    keywords = dict(session.execute(select(Keyword.id, Keyword.keyword)).all())
    return render_template("setup/autoresponders.html", responders=responders, numbers=numbers, keywords=keywords,
                           accounts=account_names(session), hours=_hours)


@bp.route("/autoresponders/new", methods=["GET", "POST"])
def create() -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    form = _form(session, {"enabled": True, "max_per_sender": 3, "window_hours": Decimal(24),
                           "account": current_principal().account_id})
    if not form.is_submitted():
        return _render(form, None)
    responder = Autoresponder()
    refused = _save(session, form, responder, creating=True)
    if refused is not None:
        return refused
    flash(_("The autoresponder is saved."), "success")
    return redirect(url_for("autoresponders.index"), 303)


@bp.route("/autoresponders/<int:ident>", methods=["GET", "POST"])
def edit(ident: int) -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    responder = _responder(session, ident)
    if request.method == "POST":
        changeable_or_403(responder.account_id)
    form = _form(session, {"account": responder.account_id, "access_number": responder.access_number_id,
                           "keyword": responder.keyword_id, "text": responder.text, "enabled": responder.enabled,
                           "max_per_sender": responder.max_per_sender,
                           "window_hours": _hours(responder.window_seconds)})
    if not form.is_submitted():
        return _render(form, responder)
    refused = _save(session, form, responder, creating=False)
    if refused is not None:
        return refused
    flash(_("The autoresponder is saved."), "success")
    return redirect(url_for("autoresponders.index"), 303)


@bp.post("/autoresponders/<int:ident>/delete")
def delete(ident: int) -> BaseResponse:
    session = db_session()
    responder = _responder(session, ident)
    changeable_or_403(responder.account_id)
    session.delete(responder)
    _commit(session, f"autoresponder {ident} is still referenced")
    flash(_("The autoresponder is deleted."), "success")
    return redirect(url_for("autoresponders.index"), 303)


def _responder(session: Session, ident: int) -> Autoresponder:
    responder = session.get(Autoresponder, ident)
    if responder is None:
        abort(404)
    visible_or_404(responder.account_id)
    return responder


def _hours(seconds: int) -> Decimal:
    """24 for 86400, 1.5 for 5400: no trailing zeros in the form."""
    return (Decimal(seconds) / SECONDS_PER_HOUR).quantize(Decimal("0.001")).normalize()


def _save(session: Session, form: AutoresponderForm, responder: Autoresponder,
          *, creating: bool) -> tuple[str, int] | None:
    existing = None if creating else responder
    if not form.validate():
        return _render(form, existing), 400
    principal = current_principal()
    body: dict[str, Any] = {"account": form.account.data if principal.is_admin else principal.account_id,
                            "access_number": form.access_number.data, "keyword": form.keyword.data,
                            "text": form.text.data, "enabled": form.enabled.data,
                            "max_per_sender": form.max_per_sender.data,
                            "window_seconds": round(form.window_hours.data * SECONDS_PER_HOUR)
                            if form.window_hours.data is not None else None}
    fields: dict[str, Field] = {name: form[name] for name in ("account", "access_number", "keyword", "text",
                                                              "enabled", "max_per_sender")}
    fields["window_seconds"] = form.window_hours
    try:
        with session.no_autoflush:
            _apply_autoresponder(session, responder, body, creating=creating)
        if creating:
            session.add(responder)
        _commit(session, "the autoresponder could not be stored")
    except ApiError as error:
        session.rollback()
        return _render(form, existing, show_api_error(error, fields)), error.status
    return None


def _form(session: Session, data: dict[str, Any]) -> AutoresponderForm:
    form = AutoresponderForm(data=data)
    principal = current_principal()
    accounts = account_names(session)
    form.account.choices = account_choices(accounts, None)
    if not principal.is_admin:
        form.account.data = principal.account_id  # not on its page: always the user's own account
    numbers = reservable_numbers(session)
    form.access_number.choices = [SelectChoice("", _("Every number of the account")),
                                  *number_choices(numbers, accounts)]
    number_text = {n.id: n.number for n in numbers}
    keywords = session.scalars(select(Keyword).where(principal.visible(Keyword.account_id),
                                                     Keyword.access_number_id.in_(number_text))
                               .order_by(Keyword.keyword))
    form.keyword.choices = [SelectChoice("", _("Every message of the account")),
                            *(SelectChoice(k.id, f"{k.keyword} ({number_text[k.access_number_id]})") for k in keywords)]
    return form


def _render(form: AutoresponderForm, responder: Autoresponder | None, error: str | None = None) -> str:
    return render_template("setup/autoresponder.html", form=form, responder=responder, error=error,
                           is_admin=current_principal().is_admin)
