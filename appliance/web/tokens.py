"""REST API bearer tokens: created once, stored only as a SHA-256, found again by that hash.

A token is long and random (256 bits), so a plain SHA-256 is enough: there is nothing to brute-force
that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.db.models import ApiToken

# Makes a leaked token recognisable in logs, pastes and secret scanners.
TOKEN_PREFIX = "apl_"


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


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The usable token with this secret; ``None`` when it is unknown or revoked."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token
