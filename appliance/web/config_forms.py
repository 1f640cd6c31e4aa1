"""What the panel's campaign pages share (groups and contacts, polls, contests, statistics).

Their forms write through the REST API's own code (:mod:`appliance.web.api_config`): a form becomes
the JSON body the API would get, the API's validator checks it and raises ``ApiError`` whose message
names the field ("closes_at: must be after opens_at"), and :func:`show_api_error` puts that message
next to the field. So a rule lives in one place, and the panel says what the API says.

Rows are looked up through :func:`visible_row` and :func:`changeable_row`: another account's row is
404, as if it did not exist; a row that may be read but not changed (a read-only user) is 403.

Times are entered and shown in the box's zone, the one the statistics count days in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from flask import abort
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import DateTimeLocalField, FieldList, SelectChoice, SelectField
from wtforms.validators import Optional

from appliance.db.models import Account
from appliance.statistics import DEFAULT_TIMEZONE
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _commit

BOX_ZONE = ZoneInfo(DEFAULT_TIMEZONE)


class AccountRow(Protocol):
    account_id: Any


Row = TypeVar("Row", bound=AccountRow)


def visible_row(model: type[Row], ident: int) -> Row:
    """The row, or 404 when there is none or it is another account's."""
    row = db_session().get(model, ident)
    if row is None or not current_principal().sees(row.account_id):
        abort(404)
    return row


def changeable_row(model: type[Row], ident: int) -> Row:
    """The row, 404 as :func:`visible_row`, or 403 when the user may only read it."""
    row = visible_row(model, ident)
    if not current_principal().may_change(row.account_id):
        abort(403)
    return row


def visible_accounts() -> list[Account]:
    """The accounts whose rows the user sees, by name (an admin's filter, an account's one entry)."""
    query = select(Account).where(current_principal().visible(Account.id)).order_by(Account.name)
    return list(db_session().scalars(query))


def writable_accounts() -> list[Account]:
    """The accounts the user may create rows for: every one for an admin, their own for an account
    user, none for a read-only user."""
    principal = current_principal()
    return [account for account in visible_accounts() if principal.may_change(account.id)]


def account_names() -> dict[int, str]:
    return {account.id: account.name for account in visible_accounts()}


def account_field(form: FlaskForm) -> None:
    """Offers the accounts the user may create rows for in ``form.account``."""
    field = form.account  # type: ignore[attr-defined]
    assert isinstance(field, SelectField)
    field.choices = [SelectChoice(account.id, account.name) for account in writable_accounts()]


def write_through_api(form: FlaskForm | None, write: Callable[[Session], object], conflict: str) -> ApiError | None:
    """Runs ``write`` (the API's validators and changes) and commits. When the API refuses, nothing is
    written, the refusal is shown on ``form`` and returned, its status the page's."""
    session = db_session()
    try:
        write(session)
        _commit(session, conflict)
    except ApiError as error:
        session.rollback()
        if form is not None:
            show_api_error(form, error)
        return error
    return None


def show_api_error(form: FlaskForm, error: ApiError) -> None:
    """The API's message beside the field it names; above the form when it names none (a conflict,
    an option of a list)."""
    named = re.match(r"([a-z_]+): (.*)", error.message, re.DOTALL)
    field = form._fields.get(named.group(1)) if named else None
    if error.code == "invalid_field" and field is not None and not isinstance(field, FieldList):
        field.errors = [*field.errors, named.group(2)]  # type: ignore[union-attr]
    else:
        form.form_errors.append(error.message)


def local_time_field(label: object) -> DateTimeLocalField:
    """A date and time typed in the box's zone; empty is None."""
    return DateTimeLocalField(label, validators=[Optional()], tz=BOX_ZONE,
                              format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])


def api_time(moment: datetime | None) -> str | None:
    """A form's time as the API takes it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def local_text(moment: datetime | None) -> str:
    """A stored time on the box's clock, with its zone's abbreviation: "2026-05-01 12:00 CEST"."""
    if moment is None:
        return ""
    return moment.astimezone(BOX_ZONE).strftime("%Y-%m-%d %H:%M %Z")


def window_state(opens_at: datetime | None, closes_at: datetime | None, now: datetime | None = None) -> str:
    """``scheduled``, ``open`` or ``closed``, as the campaign engine decides whether a vote or an
    entry counts: open from ``opens_at`` (inclusive) until ``closes_at`` (exclusive)."""
    now = now or datetime.now(UTC)
    if opens_at is not None and now < opens_at:
        return "scheduled"
    if closes_at is not None and now >= closes_at:
        return "closed"
    return "open"
