"""The panel's menu: one list, in the order a shop owner looks for things.

An entry shows only when its page is registered (an area may be switched off in a build) and, for
admin entries, only to admins.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: object  # a lazy translation, rendered in the request's language
    section: object
    admin_only: bool = False


_MESSAGES = _l("Messages")
_SETUP = _l("Setup")
_CAMPAIGNS = _l("Campaigns")
_ADMIN = _l("Administration")

NAVIGATION = (
    NavEntry("panel.dashboard", _l("Dashboard"), _MESSAGES),
    NavEntry("panel.messages", _l("Inbox"), _MESSAGES),
    NavEntry("conversations.index", _l("Conversations"), _MESSAGES),
    NavEntry("panel.gallery", _l("MMS gallery"), _MESSAGES),
    NavEntry("group_sends.index", _l("Send to group"), _MESSAGES),
    NavEntry("accounts.index", _l("Accounts"), _SETUP, admin_only=True),
    NavEntry("access_numbers.index", _l("Access numbers"), _SETUP),
    NavEntry("keywords.index", _l("Keywords"), _SETUP),
    NavEntry("autoresponders.index", _l("Autoresponders"), _SETUP),
    NavEntry("contacts.groups", _l("Groups and contacts"), _SETUP),
    NavEntry("panel_forwarding.forwarding_page", _l("Forwarding"), _SETUP),
    NavEntry("polls.index", _l("Polls"), _CAMPAIGNS),
    NavEntry("contests.index", _l("Contests"), _CAMPAIGNS),
    NavEntry("statistics.index", _l("Statistics"), _CAMPAIGNS),
    NavEntry("settings.index", _l("Settings"), _ADMIN),
    NavEntry("system.index", _l("System"), _ADMIN, admin_only=True),
    NavEntry("audit.index", _l("Audit log"), _ADMIN, admin_only=True),
    NavEntry("personal_data.index", _l("Personal data"), _ADMIN, admin_only=True),
)


def navigation() -> list[tuple[object, list[tuple[NavEntry, bool]]]]:
    """Sections with their visible entries, each with whether it is the current page's area."""
    sections: list[tuple[object, list[tuple[NavEntry, bool]]]] = []
    blueprint = (request.endpoint or "").split(".")[0]
    for entry in NAVIGATION:
        if entry.endpoint not in current_app.view_functions:
            continue
        if entry.admin_only and not getattr(current_user, "is_admin", False):
            continue
        current = request.endpoint == entry.endpoint or (
            blueprint not in ("panel",) and entry.endpoint.split(".")[0] == blueprint)
        if not sections or sections[-1][0] is not entry.section:
            sections.append((entry.section, []))
        sections[-1][1].append((entry, current))
    return sections
