"""What the panel's campaign pages share (groups and contacts, polls, contests, statistics), on top of
what the setup pages share (:mod:`appliance.web.setup_forms`).

Their forms write through the REST API's own code (:mod:`appliance.web.api_config`): a form becomes
the JSON body the API would get, the API's functions check and write it, and :func:`write_through_api`
commits, or shows the API's refusal on the form ("closes_at: must be after opens_at" beside the
closing time) and writes nothing. So a rule lives in one place, and the panel says what the API says.

Rows are looked up through :func:`visible_row` and :func:`changeable_row`: another account's row is
404, as if it did not exist.

Times are entered and shown in the box's zone, the one the statistics count days in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from flask import abort
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import DateTimeLocalField, FieldList
from wtforms.validators import Optional

from appliance.db.models import Account
from appliance.statistics import DEFAULT_TIMEZONE
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError
from appliance.web.api_config import _commit
from appliance.web.setup_forms import account_choices, changeable_or_403, show_api_error, visible_or_404

BOX_ZONE = ZoneInfo(DEFAULT_TIMEZONE)


class AccountRow(Protocol):
    account_id: Any


Row = TypeVar("Row", bound=AccountRow)
T = TypeVar("T")


def visible_row(model: type[Row], ident: int) -> Row:
    """The row, or 404 when there is none or it is another account's."""
    row = db_session().get(model, ident)
    if row is None:
        abort(404)
    visible_or_404(row.account_id)
    return row


def changeable_row(model: type[Row], ident: int) -> Row:
    """The row, 404 as :func:`visible_row`, or 403 when the user may only read it."""
    row = visible_row(model, ident)
    changeable_or_403(row.account_id)
    return row


def account_names() -> dict[int, str]:
    """The accounts whose rows the user sees, by name: every one for an admin, its own for an
    account's user (the account column, the filters, one export per account)."""
    query = select(Account.id, Account.name).where(current_principal().visible(Account.id)).order_by(Account.name)
    return dict(db_session().execute(query).all())


def offer_accounts(form: FlaskForm) -> None:
    """Offers the accounts the user may create rows for in ``form.account``."""
    form.account.choices = account_choices(account_names(), None)  # type: ignore[attr-defined]


def write_through_api(form: FlaskForm | None, write: Callable[[Session], T], conflict: str) -> T | ApiError:
    """Runs ``write`` (the API's checks and changes), commits and gives what it returned. When the API
    refuses, nothing is written and the refusal is shown on ``form`` (beside the field it names, else
    above the form) and returned: its status is the page's."""
    session = db_session()
    try:
        result = write(session)
        _commit(session, conflict)
    except ApiError as error:
        session.rollback()
        if form is not None:
            # An option of a poll ("options[1].code: …") is no field of its own: above the form.
            fields = {field.short_name: field for field in form if not isinstance(field, FieldList)}
            message = show_api_error(error, fields)
            if message is not None:
                form.form_errors.append(message)
        return error
    return result


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
