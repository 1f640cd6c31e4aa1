"""The businesses using the box: accounts with their opt-out words, for the admin.

Every number, keyword, group, poll and contest belongs to an account, and a user who is not an admin
belongs to one; so an admin creates accounts first. The fields are checked by the same code as
``/api/v1/accounts`` (:func:`appliance.web.api_config.apply_account`), and an account is deleted only
once nothing belongs to it any more.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from appliance.db.models import AccessNumber, Account, Keyword, User
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import apply_account, remove_account

bp = Blueprint("accounts", __name__)


class AccountForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    opt_out_words = TextAreaField(_l("Opt-out words besides STOP"))
    retention_days = StringField(_l("Keep messages for (days)"), validators=[Length(max=10)])


@bp.before_request
def _admins_only() -> None:
    if not current_principal().is_admin:
        abort(403)


@bp.get("/accounts")
def index() -> str:
    return _render_index(AccountForm(formdata=None))


@bp.post("/accounts")
def create() -> BaseResponse | tuple[str, int]:
    form = AccountForm()
    session = db_session()
    if form.validate():
        account = Account(opt_out_words=[])
        if _applied(form, account):
            session.add(account)
            session.commit()
            flash(_("Account %(name)s created.", name=account.name), "success")
            return redirect(f"/accounts/{account.id}")
    session.rollback()
    return _render_index(form), 400


@bp.get("/accounts/<int:account_id>")
def edit(account_id: int) -> str:
    account = _account(account_id)
    return _render_edit(account, _filled_form(account))


@bp.post("/accounts/<int:account_id>")
def update(account_id: int) -> BaseResponse | tuple[str, int]:
    account = _account(account_id)
    form = AccountForm()
    if form.validate() and _applied(form, account):
        db_session().commit()
        flash(_("Account %(name)s saved.", name=account.name), "success")
        return redirect(f"/accounts/{account.id}")
    db_session().rollback()
    return _render_edit(_account(account_id), form), 400


@bp.post("/accounts/<int:account_id>/delete")
def delete(account_id: int) -> BaseResponse | tuple[str, int]:
    account = _account(account_id)
    name = account.name
    try:
        remove_account(db_session(), account)
    except ApiError as refusal:
        db_session().rollback()
        account = _account(account_id)
        return _render_edit(account, _filled_form(account), refusal=refusal.message), 409
    flash(_("Account %(name)s deleted.", name=name), "success")
    return redirect("/accounts")


def _applied(form: AccountForm, account: Account) -> bool:
    """Apply the form through the API's checks; a refusal goes to the field it names."""
    words = [word for word in re.split(r"[,\n]", form.opt_out_words.data or "") if word.strip()]
    body: dict[str, object] = {"name": form.name.data or "", "opt_out_words": words}
    if account.id is not None:  # the create form has no retention: new accounts keep messages forever
        days = (form.retention_days.data or "").strip()
        body["retention_days"] = int(days) if days.isdigit() else days or None
    try:
        apply_account(db_session(), account, body)
    except ApiError as refusal:
        field = next((f for f in (form.opt_out_words, form.retention_days) if refusal.message.startswith(f.name)),
                     form.name)
        field.errors = [*field.errors, refusal.message]
        return False
    return True


def _filled_form(account: Account) -> AccountForm:
    return AccountForm(formdata=None, name=account.name, opt_out_words="\n".join(account.opt_out_words or []),
                       retention_days="" if account.retention_days is None else str(account.retention_days))


def _account(account_id: int) -> Account:
    account = db_session().get(Account, account_id)
    if account is None:
        abort(404)
    return account


def _render_index(form: AccountForm) -> str:
    session = db_session()
    counts = {model: dict(session.execute(select(model.account_id, func.count()).group_by(model.account_id)).all())
              for model in (AccessNumber, Keyword, User)}
    accounts = [{"account": account, "numbers": counts[AccessNumber].get(account.id, 0),
                 "keywords": counts[Keyword].get(account.id, 0), "users": counts[User].get(account.id, 0)}
                for account in session.scalars(select(Account).order_by(Account.name))]
    return render_template("accounts/index.html", accounts=accounts, form=form)


def _render_edit(account: Account, form: AccountForm, refusal: str | None = None) -> str:
    session = db_session()
    numbers = session.scalars(select(AccessNumber).where(AccessNumber.account_id == account.id)
                              .order_by(AccessNumber.number)).all()
    users = session.scalars(select(User).where(User.account_id == account.id).order_by(User.email)).all()
    return render_template("accounts/edit.html", account=account, form=form, numbers=numbers, users=users,
                           refusal=refusal)
