"""The audit log: one way to record who changed the box's configuration or touched personal data.

Callers record inside the transaction of the change itself, so the log never claims a change that
rolled back and never misses one that committed. In a request, :func:`record_request` fills in the
principal and the client address; jobs and the command line call :func:`record` with their own actor.

**Configuration changes record themselves.** Sessions from
:func:`appliance.db.engine.make_session_factory` watch the configuration models (accounts, users,
access numbers, keywords, autoresponders, groups, polls, contests, forward targets, API tokens and
the panel's settings): every row of them created, changed or deleted in a transaction becomes one
entry when that transaction commits, with the old and new value of each changed column. One choke
point below the panel forms, the REST API and the command line, rather than a call beside every
``commit()``: a new page or route that changes configuration cannot forget to record it. What is
not a row change (signing in and out, a backup, an export) calls :func:`record` itself.

The actor is the request's principal and client address in the panel and the API, what
:func:`acting_as` set (the command line: :data:`CONSOLE`), else :data:`SYSTEM`.

What an entry never holds: secrets (a column or setting named with the word password, secret,
token, pin, hash or key shows only as :data:`SECRET` or :data:`NEW_SECRET`, so an entry says one was
set, replaced or removed) and phone numbers in clear (an
access number or an SMS forward target shows only its last digits), see
:class:`~appliance.db.models.AuditEntry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from appliance.db.models import (
    AccessNumber,
    Account,
    ApiToken,
    AuditEntry,
    Autoresponder,
    Base,
    Contest,
    ForwardTarget,
    Group,
    Keyword,
    PanelSetting,
    Poll,
    User,
)

SYSTEM = "system"
CONSOLE = "console"
# What a secret's value shows as: that there is one (and, after a change, that it is another), never
# what it is.
SECRET = "(secret)"
NEW_SECRET = "(new secret)"
# A phone number keeps this many last digits, enough to tell a shop's numbers apart.
SHOWN_DIGITS = 3


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


# --- who is acting -------------------------------------------------------------------------------

_acting: ContextVar[tuple[str, str | None] | None] = ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(actor: str, address: str | None = None) -> Iterator[None]:
    """Changes committed inside the block are recorded as ``actor``'s (the command line: ``console``)."""
    token = _acting.set((actor, address))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> tuple[str, str | None]:
    """Who the changes being committed now are recorded as, and from which address."""
    acting = _acting.get()
    if acting is not None:
        return acting
    from flask import g, has_request_context, request

    if has_request_context():
        principal = g.get("principal")
        return (principal.label if principal is not None else "anonymous"), request.remote_addr
    return SYSTEM, None


def is_change(action: str) -> bool:
    """Whether an entry's details are ``{"field": [old, new]}`` (an update) rather than values."""
    return action.rsplit(".", 1)[-1] in CHANGE_VERBS


def masked_number(number: str | None) -> str | None:
    """``+48500100200`` → ``…200``: which number it was, to someone who knows the box's numbers."""
    if number is None:
        return None
    digits = [c for c in number if c.isdigit()]
    return "…" + "".join(digits[-SHOWN_DIGITS:])


# --- the configuration models --------------------------------------------------------------------

_BOOKKEEPING = frozenset({"id", "created_at", "updated_at"})


@dataclass(frozen=True)
class Watched:
    """How one configuration model is written in the log."""

    kind: str  # the action's first part: "keyword" → "keyword.create"
    label: str | None = None  # the column naming a row in ``target``: "keyword 12 (PIZZA)"
    phone: frozenset[str] = frozenset()
    # Bookkeeping the application writes by itself (a token's last use), not a change anyone made;
    # the id, which the target names already.
    ignored: frozenset[str] = _BOOKKEEPING


WATCHED: dict[type[Base], Watched] = {
    Account: Watched("account", "name"),
    User: Watched("user", "email", ignored=_BOOKKEEPING | {"last_login_at", "language"}),
    AccessNumber: Watched("access_number", "number", phone=frozenset({"number"})),
    Keyword: Watched("keyword", "keyword"),
    Autoresponder: Watched("autoresponder"),
    Group: Watched("group", "name"),
    Poll: Watched("poll", "question"),
    Contest: Watched("contest", "name"),
    ForwardTarget: Watched("forward_target", "name"),
    ApiToken: Watched("token", "name", ignored=_BOOKKEEPING | {"last_used_at", "token_hash"}),
}
# A column or setting is a secret when a word of its name is one of these: "password_hash",
# "mms_apn_password", "download_token", "smtp_password", and any such column added later, without a
# list here to forget to extend.
SECRET_WORDS = frozenset({"password", "secret", "token", "pin", "hash", "key"})
_PENDING = "audit.pending"
# The last part of the actions whose details are [old, new] pairs.
CHANGE_VERBS = ("update", "revoke")


@dataclass
class _Change:
    """One row's change in the transaction so far, with the values it was created or deleted with,
    or ``[old, new]`` of each column it changed."""

    kind: str
    action: str  # create | update | delete
    target: str | None
    values: dict[str, Any] = field(default_factory=dict)


def install(sessions: sessionmaker[Session]) -> None:
    """Record configuration changes of every session from this factory when it commits."""
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "before_commit", _before_commit)
    event.listen(sessions, "after_transaction_end", _forget)


def _pending(session: Session) -> dict[tuple[Any, ...], _Change]:
    return session.info.setdefault(_PENDING, {})


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    """Deleted rows are read now, while their unloaded columns can still be loaded."""
    for obj in session.deleted:
        watched = WATCHED.get(type(obj))
        if watched is not None:
            _note(session, obj, watched, "delete", _values(watched, obj, partial(getattr, obj)))
        elif isinstance(obj, PanelSetting):
            _note_setting(session, obj.key, obj.value, None)


def _after_flush(session: Session, _context: object) -> None:
    """New rows have their ids now, and changed columns still their history."""
    for obj in session.new:
        watched = WATCHED.get(type(obj))
        if watched is not None:
            state = inspect(obj).dict  # read without loading: no SQL in the middle of a flush
            _note(session, obj, watched, "create", _values(watched, obj, state.get))
        elif isinstance(obj, PanelSetting):
            _note_setting(session, obj.key, None, obj.value)
    for obj in session.dirty:
        watched = WATCHED.get(type(obj))
        if watched is not None:
            changes = {}
            for column in _columns(obj, watched):
                history = inspect(obj).attrs[column].history
                if history.added or history.deleted:
                    old = history.deleted[0] if history.deleted else None
                    new = history.added[0] if history.added else None
                    if is_secret(column):
                        changes[column] = _secret_change(old, new)
                    else:
                        changes[column] = [_shown(watched, obj, column, old), _shown(watched, obj, column, new)]
            if changes:
                _note(session, obj, watched, "update", changes)
        elif isinstance(obj, PanelSetting):
            history = inspect(obj).attrs["value"].history
            if history.added or history.deleted:
                _note_setting(session, obj.key, history.deleted[0] if history.deleted else None, obj.value)


def _columns(obj: Base, watched: Watched) -> list[str]:
    return [c.key for c in inspect(type(obj)).column_attrs if c.key not in watched.ignored]


def _values(watched: Watched, obj: Base, read: Callable[[str], Any]) -> dict[str, Any]:
    """The row's values as the log may hold them, those that are set (a creation lists what it made)."""
    shown = {c: _shown(watched, obj, c, read(c)) for c in _columns(obj, watched)}
    return {c: value for c, value in shown.items() if value is not None}


def _shown(watched: Watched, obj: Base, column: str, value: Any) -> Any:
    """``value`` as the log may hold it: a secret as :data:`SECRET`, a phone number masked, a time
    in ISO 8601."""
    if value is None:
        return None
    if is_secret(column):
        return SECRET if value != "" else ""
    if column in watched.phone or (isinstance(obj, ForwardTarget) and column == "address" and obj.kind == "sms"):
        return masked_number(str(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def is_secret(name: str) -> bool:
    return not SECRET_WORDS.isdisjoint(name.lower().split("_"))


def _secret_change(old: Any, new: Any) -> list[str | None]:
    """A secret's change as ``[old, new]`` without either: set, replaced or removed."""
    if old == new:
        return [None, None] if old in (None, "") else [SECRET, SECRET]
    return [SECRET if old not in (None, "") else None, NEW_SECRET if new not in (None, "") else None]


def _note(session: Session, obj: Base, watched: Watched, action: str, values: dict[str, Any]) -> None:
    """Merge this flush's change of ``obj`` into the transaction's: a row created and then changed
    is one creation with its final values, one changed twice one change from first to last value."""
    state = inspect(obj)
    ident = state.identity[0] if state.identity else state.dict["id"]  # a new row's is set after the flush
    key = (type(obj), ident)
    label = _shown(watched, obj, watched.label, state.dict.get(watched.label)) if watched.label else None
    label = label[:60] + "…" if isinstance(label, str) and len(label) > 60 else label
    target = f"{watched.kind} {ident}" + (f" ({label})" if label else "")
    pending = _pending(session)
    earlier = pending.get(key)
    if earlier is None:
        pending[key] = _Change(watched.kind, action, target, values)
    elif action == "delete" and earlier.action == "create":
        del pending[key]  # never was, as far as the committed database goes
    elif action == "delete":
        pending[key] = _Change(watched.kind, action, earlier.target, values)
    elif earlier.action == "create":
        for column, (_old, new) in values.items():
            if new is None:
                earlier.values.pop(column, None)
            else:
                earlier.values[column] = SECRET if new == NEW_SECRET else new
        earlier.target = target
    else:
        for column, (old, new) in values.items():
            earlier.values[column] = [earlier.values[column][0] if column in earlier.values else old, new]
        earlier.target = target


def _note_setting(session: Session, key: str, old: Any, new: Any) -> None:
    if is_secret(key):
        old, new = _secret_change(old, new)
    change = _pending(session).setdefault((PanelSetting,), _Change("settings", "update", None))
    first = change.values.get(key, [old, None])[0]
    change.values[key] = [first, new]


def _before_commit(session: Session) -> None:
    session.flush()  # what is still unflushed is noted too
    actor, address = current_actor()
    for change in _pending(session).values():
        values = change.values
        action = change.action
        if action == "update":
            values = {c: pair for c, pair in values.items() if pair[0] != pair[1]}
            if not values:
                continue
            if change.kind == "token" and list(values) == ["revoked_at"] and values["revoked_at"][0] is None:
                action = "revoke"
        record(session, f"{change.kind}.{action}", actor=actor, address=address, target=change.target,
               details=values)
    session.info.pop(_PENDING, None)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """Committed, rolled back or closed: what was noted is recorded or void either way."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
