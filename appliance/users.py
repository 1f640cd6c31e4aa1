"""People who sign in to the panel: creation, password checks and the sign-in rate limit.

Passwords are hashed with Argon2id at OWASP's Password Storage Cheat Sheet's lowest-memory setting:
7 MiB, 5 passes, 1 lane, which the cheat sheet lists as equal in defence to its 19 MiB and 2 passes
(the settings differ only in trading CPU for memory). Not argon2-cffi's default, RFC 9106's second
recommendation (64 MiB, 3 passes, 4 lanes): every sign-in took 64 MiB while it ran, on a box that
must stay under 80 MB (docs/performance.md). A hash records its parameters, so older ones keep
verifying and are replaced at the next successful sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from appliance.db.models import Account, LoginFailure, User

MIN_PASSWORD_LENGTH = 10
# Five wrong passwords for one address book entry, or twenty from one network address, in the window
# stop further tries until the oldest of them leaves it.
FAILURES_PER_EMAIL = 5
FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = timedelta(minutes=15)
# Wrong first-run setup codes (appliance.setup_code) are kept with the refused sign-ins under this
# name, which no e-mail address can be, and limited per network address only: a limit for everyone
# would let any guest on the LAN keep the owner from setting the box up.
SETUP_CODE_ATTEMPT = "(setup code)"
SETUP_CODE_FAILURES_PER_ADDRESS = 5

_hasher = PasswordHasher(memory_cost=7 * 1024, time_cost=5, parallelism=1)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UserError(ValueError):
    """A user could not be created or changed; the message says why, in words for the form."""


class UserExists(UserError):
    """The e-mail address belongs to a user already (an API answers 409 rather than 400)."""


@dataclass(frozen=True)
class SignInRefused:
    reason: str  # "rate_limited" or "invalid"
    retry_after_seconds: int = 0


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise UserError("the password may not start or end with spaces")


def create_user(session: Session, email: str, password: str, *, admin: bool = False,
                account_id: int | None = None) -> User:
    """Add a user (flushed, not committed). An admin has no account; any other user has exactly one."""
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise UserError(f"{email!r} is not an e-mail address")
    check_password_strength(password)
    if admin and account_id is not None:
        raise UserError("an admin sees every account; leave the account empty")
    if not admin:
        if account_id is None:
            raise UserError("a user who is not an admin belongs to an account")
        if session.get(Account, account_id) is None:
            raise UserError(f"there is no account {account_id}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists(f"there is a user {email} already")
    user = User(email=email, password_hash=_hasher.hash(password), is_admin=admin, account_id=account_id)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = _hasher.hash(password)


def change_own_password(user: User, current_password: str, new_password: str) -> None:
    """The user's own change: the current password first, so an unlocked, unattended browser is not enough."""
    if not _verify(user, current_password):
        raise UserError("the current password is wrong")
    if new_password == current_password:
        raise UserError("the new password is the same as the current one")
    set_password(user, new_password)


def disable_user(session: Session, user: User, acting_user_id: int | None, now: datetime | None = None) -> None:
    """Stop ``user`` signing in (their browsers are signed out at the next request, their API tokens
    refused); the row and what it made stay. Nobody disables themselves, and the last admin who can
    sign in stays, so the box never locks everyone out."""
    if user.disabled_at is not None:
        return
    if acting_user_id is not None and user.id == acting_user_id:
        raise UserError("you cannot disable yourself; another admin can")
    if user.is_admin and not _other_active_admins(session, user):
        raise UserError(f"{user.email} is the last admin who can sign in; make another admin first")
    user.disabled_at = now or datetime.now(UTC)


def enable_user(user: User) -> None:
    user.disabled_at = None


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count(User.id)).where(
        User.is_admin.is_(True), User.disabled_at.is_(None), User.id != user.id)) or 0


def any_user_exists(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None


def sign_in(session: Session, email: str, password: str, address: str,
            now: datetime | None = None) -> User | SignInRefused:
    """The user these credentials open, or why not; a refusal is recorded (the caller commits)."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)[:254]
    since = now - FAILURE_WINDOW
    session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    wait = _rate_limited(session, since, now, [(LoginFailure.email, email, FAILURES_PER_EMAIL),
                                               (LoginFailure.address, address, FAILURES_PER_ADDRESS)])
    if wait:
        return SignInRefused("rate_limited", wait)
    user = session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled_at is not None or not _verify(user, password):
        session.add(LoginFailure(email=email, address=address[:64], at=now))
        return SignInRefused("invalid")
    user.last_login_at = now
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return user


def _verify(user: User | None, password: str) -> bool:
    dummy = _dummy_hash()
    try:
        _hasher.verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user is not None


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so that a wrong e-mail takes as long as a
    wrong password and response times do not tell which accounts exist. Made at the first check of
    any password, not at import, where every process importing this module (the daemon, each CLI
    command) would pay for a hash."""
    return _hasher.hash("not a password of anyone")


def setup_code_wait(session: Session, address: str, now: datetime | None = None) -> int:
    """Seconds until ``address`` may try another setup code; 0 when it may now."""
    now = now or datetime.now(UTC)
    since = now - FAILURE_WINDOW
    session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    return _rate_limited(session, since, now, [(LoginFailure.address, address[:64], SETUP_CODE_FAILURES_PER_ADDRESS)],
                         LoginFailure.email == SETUP_CODE_ATTEMPT)


def record_wrong_setup_code(session: Session, address: str, now: datetime | None = None) -> None:
    """Count a wrong setup code against ``address`` (the caller commits)."""
    session.add(LoginFailure(email=SETUP_CODE_ATTEMPT, address=address[:64], at=now or datetime.now(UTC)))


def _rate_limited(session: Session, since: datetime, now: datetime,
                  limits: list[tuple[InstrumentedAttribute[str], str, int]],
                  *only: ColumnElement[bool]) -> int:
    """Seconds until another try is allowed; 0 when it is allowed now. ``limits``: (column, value,
    failures allowed in the window); ``only`` narrows the failures counted."""
    waits = []
    for column, value, limit in limits:
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == value, LoginFailure.at >= since,
                                                                  *only)).one()
        if count >= limit:
            waits.append(max(1, int((oldest + FAILURE_WINDOW - now).total_seconds()) + 1))
    return max(waits, default=0)

