"""Which audit log entries a page, an export or an API call asks for, read from the query string.

One reading for the panel page, its CSV and JSON export and ``GET /api/v1/audit``, so the export has
exactly what the page showed. Names: ``action`` (exact, e.g. ``keyword.update``), ``actor`` (part of
it, any case: ``ala@`` finds "user ala@example.com"), ``from`` / ``to`` (YYYY-MM-DD, inclusive, days
of the box's clock as in the inbox). A value that cannot be read is ignored by the page and refused
by the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement
from werkzeug.datastructures import MultiDict

from appliance.db.engine import unicode_lower
from appliance.db.models import AuditEntry
from appliance.representation import iso_utc
from appliance.web.inbox_filter import day_end, day_start

MAX_FILTER_LENGTH = 300


class BadFilter(ValueError):
    """A filter value that is not what its name takes; the message names it."""


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    first_day: date | None = None
    last_day: date | None = None

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> AuditFilter:
        """The filters in ``args``; raises :class:`BadFilter` for a day that is no date."""
        return cls(action=args.get("action", "").strip()[:MAX_FILTER_LENGTH],
                   actor=" ".join(args.get("actor", "").split())[:MAX_FILTER_LENGTH],
                   first_day=_day(args.get("from"), "from"), last_day=_day(args.get("to"), "to"))

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments, only those that are set."""
        found = {"action": self.action, "actor": self.actor,
                 "from": self.first_day.isoformat() if self.first_day else "",
                 "to": self.last_day.isoformat() if self.last_day else ""}
        return {name: value for name, value in found.items() if value}

    @property
    def active(self) -> bool:
        return bool(self.args())

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.action:
            found.append(AuditEntry.action == self.action)
        if self.actor:
            found.append(unicode_lower(AuditEntry.actor).contains(self.actor.lower(), autoescape=True))
        if self.first_day is not None:
            found.append(AuditEntry.at >= day_start(self.first_day))
        if self.last_day is not None:
            found.append(AuditEntry.at < day_end(self.last_day))
        return found


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadFilter(f"{name}: {text!r} is not a day such as 2026-05-01") from None
    if not date.min < day < date.max:  # their midnights cannot be held in UTC
        raise BadFilter(f"{name}: {text!r} is out of range")
    return day


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API and the JSON export give it."""
    return {"id": entry.id, "at": iso_utc(entry.at), "actor": entry.actor, "address": entry.address,
            "action": entry.action, "target": entry.target, "details": entry.details}
