"""REST API bearer tokens: created once, stored only as a SHA-256, found again by that hash.

A token is long and random (256 bits), so a plain SHA-256 is enough: there is nothing to brute-force
that a slow password hash would protect.

Scopes (:mod:`appliance.web.access`): ``admin`` (every account, read and write), ``account`` (one
account, read and write) and ``read_only`` (every account, read only).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.db.models import Account, ApiToken, User

# Makes a leaked token recognisable in logs, pastes and secret scanners.
TOKEN_PREFIX = "apl_"
SCOPES = ("admin", "account", "read_only")
MAX_NAME_LENGTH = 120


class TokenError(ValueError):
    """A token that cannot be made as asked; the message says why, in words for a form or an API error."""


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str, admin: bool = False, account_id: int | None = None,
                 user_id: int | None = None) -> str:
    """Add a token named ``name`` and return its secret, the only time it is ever available.

    The row is flushed, not committed: the caller commits (or rolls back) with its own transaction.
    """
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(secret), is_admin=admin, account_id=account_id,
                         user_id=user_id))
    session.flush()
    return secret


def create_scoped_token(session: Session, name: str, scope: str, account_id: int | None = None,
                        user_id: int | None = None) -> tuple[ApiToken, str]:
    """A token of ``scope`` (one of :data:`SCOPES`), checked; the row and its secret. Who may ask for
    which scope is the caller's rule (the panel's and the API's)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TokenError(f"the name is required, at most {MAX_NAME_LENGTH} characters")
    if scope not in SCOPES:
        raise TokenError(f"the scope is one of {', '.join(SCOPES)}, not {scope!r}")
    if scope == "account":
        if account_id is None:
            raise TokenError("an account token needs its account")
        if session.get(Account, account_id) is None:
            raise TokenError(f"there is no account {account_id}")
    elif account_id is not None:
        raise TokenError(f"a token of scope {scope} sees every account; leave the account empty")
    secret = create_token(session, name, admin=scope == "admin", account_id=account_id, user_id=user_id)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    assert token is not None
    return token, secret


def token_scope(token: ApiToken) -> str:
    if token.is_admin:
        return "admin"
    return "account" if token.account_id is not None else "read_only"


def revoke_token(token: ApiToken, now: datetime | None = None) -> None:
    """Refused from the next request on; the row stays, so the list still shows who had it and when."""
    if token.revoked_at is None:
        token.revoked_at = now or datetime.now(UTC)


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The usable token with this secret; ``None`` when it is unknown, revoked, or its user is disabled
    (disabling someone must stop the scripts they set up, too)."""
    row = session.execute(select(ApiToken, User.disabled_at).outerjoin(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == hash_token(secret))).first()
    if row is None:
        return None
    token, user_disabled_at = row
    if token.revoked_at is not None or user_disabled_at is not None:
        return None
    return token
