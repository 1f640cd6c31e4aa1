"""What the setup pages (access numbers, keywords, autoresponders) share.

A setup form has no rules of its own. WTForms only reads the posted strings (and refuses a choice the
page did not offer, which keeps an account user to its own rows); the checks are the REST API's: the
page builds the JSON body the API takes and runs the API's functions (appliance.web.api_config), so
the panel accepts and refuses exactly what the API does, in the same words. An API message names its
field ("actions[1].text: an autoreply needs a non-empty text"); the page shows it next to that field,
or above the form when it names none (a conflict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from wtforms import Field
from wtforms.fields.choices import SelectChoice

from appliance.db.models import AccessNumber, Account
from appliance.web.access import current_principal
from appliance.web.api import ApiError


def optional_id(value: Any) -> int | None:
    """A select's value as an id; the empty choice ("none", "any") is None."""
    if value is None or value == "":
        return None
    return int(value)


def show_api_error(error: ApiError, fields: Mapping[str, Field]) -> str | None:
    """Puts the API's message next to the form field it names (``fields`` maps the API's field names
    to the form's); returns the whole message when it names none of them, to be shown above the form."""
    name, separator, text = error.message.partition(": ")
    field = fields.get(name) if error.code == "invalid_field" and separator else None
    if field is None:
        return error.message
    field.errors = [text]
    return None


def visible_or_404(account_id: int | None) -> None:
    """Rows of accounts the user does not see are answered as if they did not exist."""
    if not current_principal().sees(account_id):
        abort(404)


def changeable_or_403(account_id: int | None) -> None:
    if not current_principal().may_change(account_id):
        abort(403)


def account_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Account.id, Account.name)).all())


def reservable_numbers(session: Session) -> list[AccessNumber]:
    """The numbers the user may put keywords and autoresponders on: every number for an admin; for an
    account user the shared ones and its own dedicated ones."""
    principal = current_principal()
    query = select(AccessNumber).order_by(AccessNumber.number)
    if not principal.is_admin:
        query = query.where(or_(AccessNumber.kind == "shared", principal.visible(AccessNumber.account_id)))
    return list(session.scalars(query))


def number_label(number: AccessNumber, accounts: Mapping[int, str]) -> str:
    if number.kind == "shared":
        return _("%(number)s (shared)", number=number.number)
    if number.account_id is None:
        return _("%(number)s (dedicated, no account yet)", number=number.number)
    return _("%(number)s (dedicated to %(account)s)", number=number.number,
             account=accounts.get(number.account_id, number.account_id))


def number_choices(numbers: list[AccessNumber], accounts: Mapping[int, str]) -> list[SelectChoice]:
    """Options carrying the number's owner, which the keyword page's script reads."""
    return [SelectChoice(number.id, number_label(number, accounts), {"data-owner": number.account_id or ""})
            for number in numbers]


def account_choices(accounts: Mapping[int, str], none_label: str | None) -> list[SelectChoice]:
    """The accounts the user may pick: all (and ``none_label`` for none) for an admin, its own for an
    account user."""
    principal = current_principal()
    choices = [SelectChoice("", none_label)] if none_label is not None and principal.is_admin else []
    by_name = sorted(accounts.items(), key=lambda item: item[1].casefold())
    choices += [SelectChoice(ident, name) for ident, name in by_name if principal.may_change(ident)]
    return choices
