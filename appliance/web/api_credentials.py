"""REST API v1, who may use the box: API tokens and panel users (admin token only).

    GET  /api/v1/tokens                      → a page of tokens
    POST /api/v1/tokens                      {"name", "scope": "admin"|"account"|"read_only", "account"?}
                                             → 201 token + "token": the secret, this once only
    POST /api/v1/tokens/<id>/revoke          → token (revoked_at set; refused from then on)
    GET  /api/v1/users                       → a page of users
    POST /api/v1/users                       {"email", "password", "admin": bool, "account"?} → 201 user
    POST /api/v1/users/<id>/disable|enable   → user
    POST /api/v1/users/<id>/password         {"password"} → user (signed out of every browser)

token = ``{"id", "name", "scope", "account", "user", "created_at", "last_used_at", "revoked_at"}``;
user = ``{"id", "email", "admin", "account", "created_at", "last_login_at", "disabled_at"}``. Only the
token's hash is stored: a lost secret cannot be read back, only revoked and replaced. The rules are
the panel's (:mod:`appliance.users`, :mod:`appliance.web.tokens`); an admin token made by a user acts
as that user, so it cannot disable them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify
from sqlalchemy import select

from appliance.db.models import ApiToken, User
from appliance.representation import iso_utc
from appliance.users import UserError, UserExists, create_user, disable_user, enable_user, set_password
from appliance.web import api, db_session
from appliance.web.api import MAX_INTEGER, ApiError, _json_body, _require_admin, page_response, paginated
from appliance.web.tokens import TokenError, create_scoped_token, revoke_token, token_scope

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_credentials", __name__)
api.bp.register_blueprint(bp)


@bp.before_request
def _admins_only() -> None:
    _require_admin()


def token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "scope": token_scope(token), "account": token.account_id,
            "user": token.user_id, "created_at": iso_utc(token.created_at),
            "last_used_at": iso_utc(token.last_used_at), "revoked_at": iso_utc(token.revoked_at)}


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "admin": user.is_admin, "account": user.account_id,
            "created_at": iso_utc(user.created_at), "last_login_at": iso_utc(user.last_login_at),
            "disabled_at": iso_utc(user.disabled_at)}


@bp.get("/tokens")
def list_tokens() -> Response:
    tokens, next_after_id = paginated(select(ApiToken), ApiToken.id)
    return page_response([token_json(t) for t in tokens], next_after_id)


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    body = _json_body()
    name, scope, account = body.get("name"), body.get("scope"), body.get("account")
    if not isinstance(name, str):
        raise ApiError(400, "invalid_name", "name: is required, a string")
    if not isinstance(scope, str):
        raise ApiError(400, "invalid_scope", "scope: is required, one of admin, account, read_only")
    if account is not None and not _is_id(account):
        raise ApiError(400, "invalid_account", "account: an account id (integer)")
    session = db_session()
    try:
        token, secret = create_scoped_token(session, name, scope, account, user_id=g.api_token.user_id)
    except TokenError as exc:
        session.rollback()
        raise ApiError(400, "invalid_token_request", str(exc)) from None
    session.commit()
    return jsonify({**token_json(token), "token": secret}), 201


@bp.post("/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> Response:
    session = db_session()
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ApiError(404, "not_found", f"no token with id {token_id}")
    revoke_token(token)
    session.commit()
    return jsonify(token_json(token))


@bp.get("/users")
def list_users() -> Response:
    users, next_after_id = paginated(select(User), User.id)
    return page_response([user_json(u) for u in users], next_after_id)


@bp.post("/users")
def create() -> tuple[Response, int]:
    body = _json_body()
    email, password, admin, account = body.get("email"), body.get("password"), body.get("admin", False), \
        body.get("account")
    if not isinstance(email, str):
        raise ApiError(400, "invalid_email", "email: is required, a string")
    if not isinstance(password, str):
        raise ApiError(400, "invalid_password", "password: is required, a string")
    if not isinstance(admin, bool):
        raise ApiError(400, "invalid_admin", "admin: true or false")
    if account is not None and not _is_id(account):
        raise ApiError(400, "invalid_account", "account: an account id (integer)")
    session = db_session()
    try:
        user = create_user(session, email, password, admin=admin, account_id=account)
    except UserError as exc:
        session.rollback()
        raise ApiError(409 if isinstance(exc, UserExists) else 400, "invalid_user", str(exc)) from None
    session.commit()
    return jsonify(user_json(user)), 201


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int) -> Response:
    session = db_session()
    user = _user(user_id)
    try:
        disable_user(session, user, g.api_token.user_id)
    except UserError as exc:
        session.rollback()
        raise ApiError(409, "refused", str(exc)) from None
    session.commit()
    return jsonify(user_json(user))


@bp.post("/users/<int:user_id>/enable")
def enable(user_id: int) -> Response:
    user = _user(user_id)
    enable_user(user)
    db_session().commit()
    return jsonify(user_json(user))


@bp.post("/users/<int:user_id>/password")
def new_password(user_id: int) -> Response:
    password = _json_body().get("password")
    if not isinstance(password, str):
        raise ApiError(400, "invalid_password", "password: is required, a string")
    user = _user(user_id)
    try:
        set_password(user, password)
    except UserError as exc:
        db_session().rollback()
        raise ApiError(400, "invalid_password", f"password: {exc}") from None
    db_session().commit()
    return jsonify(user_json(user))


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_INTEGER


def _user(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return user
