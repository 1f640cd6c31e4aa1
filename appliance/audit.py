"""The audit log: one way to record who changed the box's configuration or touched personal data.

Callers record inside the transaction of the change itself, so the log never claims a change that
rolled back and never misses one that committed. In a request, :func:`record_request` fills in the
principal and the client address; jobs and the command line call :func:`record` with their own actor.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from appliance.db.models import AuditEntry

SYSTEM = "system"
CONSOLE = "console"


def record(session: Session, action: str, *, actor: str, address: str | None = None,
           target: str | None = None, details: Mapping[str, object] | None = None) -> AuditEntry:
    """Add one entry to ``session``; it commits (or rolls back) with the change it describes.

    ``details`` must be JSON-serialisable and must not hold a phone number in clear (see
    :class:`~appliance.db.models.AuditEntry`)."""
    entry = AuditEntry(action=action, actor=actor[:300], address=address,
                       target=None if target is None else target[:300],
                       details=None if details is None else dict(details))
    session.add(entry)
    return entry


def record_request(session: Session, action: str, *, target: str | None = None,
                   details: Mapping[str, object] | None = None) -> AuditEntry:
    """:func:`record` for the panel or API request being answered: its principal and client address."""
    from flask import request

    from appliance.web.access import current_principal

    return record(session, action, actor=current_principal().label, address=request.remote_addr,
                  target=target, details=details)
