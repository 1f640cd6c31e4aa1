"""Who is asking, and which accounts that lets them see: one rule for the panel and the REST API.

A signed-in user and an API token both become a :class:`Principal`. An admin sees and changes every
account. A user of an account, or a token made for one, sees and changes only that account's numbers,
keywords, messages and contacts. A token made with neither (``appliance token create NAME``) reads
every account and changes nothing: a reporting tool's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import InstrumentedAttribute


@dataclass(frozen=True)
class Principal:
    is_admin: bool
    account_id: int | None
    # Said in logs and, later, the audit log: "user ala@example.com", "token 'crm'".
    label: str
    user_id: int | None = None
    token_id: int | None = None

    @property
    def read_only(self) -> bool:
        return not self.is_admin and self.account_id is None

    @property
    def only_account(self) -> int | None:
        """The one account this principal is confined to; None when it sees every account."""
        return None if self.is_admin or self.read_only else self.account_id

    def sees(self, account_id: int | None) -> bool:
        """Whether a row of ``account_id`` (None: no account, e.g. an unmatched message) is visible."""
        if self.is_admin or self.read_only:
            return True
        return account_id is not None and account_id == self.account_id

    def may_change(self, account_id: int | None) -> bool:
        """Whether a row of ``account_id`` may be created, changed or deleted."""
        if self.is_admin:
            return True
        return not self.read_only and account_id is not None and account_id == self.account_id

    def visible(self, column: InstrumentedAttribute[int | None] | ColumnElement[int | None]) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows of ``column``'s account this principal sees."""
        if self.is_admin or self.read_only:
            return true()
        if self.account_id is None:
            return false()
        return column == self.account_id


def current_principal() -> Principal:
    """The principal of this request, set by the panel's sign-in check or the API's token check."""
    return g.principal
