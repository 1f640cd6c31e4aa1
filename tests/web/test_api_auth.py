"""Bearer tokens: how they are made, stored and checked on every API call."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from appliance.db.models import ApiToken
from appliance.web.tokens import TOKEN_PREFIX, create_token, find_token

API_PATHS = ["/api/v1/messages", "/api/v1/messages/1", "/api/v1/modems"]


def assert_unauthorized(response, code):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == code


def stored_token(session_factory, name="tests"):
    with session_factory() as session:
        return session.scalars(select(ApiToken).where(ApiToken.name == name)).one()


def test_create_token_returns_a_prefixed_secret_and_stores_only_its_sha256(session_factory):
    with session_factory() as session:
        secret = create_token(session, "shop integration", admin=True)
        session.commit()

    token = stored_token(session_factory, "shop integration")
    assert secret.startswith(TOKEN_PREFIX)
    assert len(secret) > len(TOKEN_PREFIX) + 40
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.token_hash, token.name)
    assert token.is_admin is True
    assert token.revoked_at is None


def test_every_token_is_different(session_factory):
    with session_factory() as session:
        secrets = {create_token(session, f"token {n}") for n in range(20)}
        session.commit()

    assert len(secrets) == 20


def test_find_token_finds_a_live_token_by_its_secret(session_factory, api_token):
    with session_factory() as session:
        token = find_token(session, api_token)

        assert token is not None
        assert token.name == "tests"
        assert token.is_admin is False


def test_find_token_does_not_find_an_unknown_or_revoked_token(session_factory, api_token):
    with session_factory() as session:
        assert find_token(session, api_token + "x") is None
        assert find_token(session, "") is None
        session.scalars(select(ApiToken)).one().revoked_at = datetime.now(UTC)
        session.commit()

        assert find_token(session, api_token) is None


@pytest.mark.parametrize("path", API_PATHS)
def test_a_request_without_a_token_gets_401(client, path):
    response = client.get(path)

    assert_unauthorized(response, "unauthorized")
    assert "Bearer" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("path", API_PATHS)
def test_an_unknown_token_gets_401_invalid_token(client, api_token, path):
    response = client.get(path, headers={"Authorization": f"Bearer {TOKEN_PREFIX}not-a-real-token"})

    assert_unauthorized(response, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_gets_401(client, session_factory, api_token, auth):
    with session_factory() as session:
        session.scalars(select(ApiToken)).one().revoked_at = datetime.now(UTC)
        session.commit()

    assert_unauthorized(client.get("/api/v1/messages", headers=auth), "invalid_token")


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer   ",
    "Token {token}",
    "{token}",
])
def test_a_malformed_authorization_header_gets_401(client, api_token, header):
    response = client.get("/api/v1/messages", headers={"Authorization": header.format(token=api_token)})

    assert_unauthorized(response, "unauthorized")


def test_the_bearer_scheme_is_case_insensitive(client, api_token):
    response = client.get("/api/v1/messages", headers={"Authorization": f"bearer {api_token}"})

    assert response.status_code == 200


def test_a_valid_token_is_accepted(client, auth):
    assert client.get("/api/v1/messages", headers=auth).status_code == 200


def test_using_a_token_records_when_it_was_last_used(client, session_factory, auth):
    assert stored_token(session_factory).last_used_at is None
    before = datetime.now(UTC)

    client.get("/api/v1/modems", headers=auth)

    last_used = stored_token(session_factory).last_used_at
    assert last_used is not None
    assert before - timedelta(seconds=1) <= last_used <= datetime.now(UTC)


def test_last_used_at_is_written_at_most_once_a_minute(client, session_factory, auth):
    recent = datetime.now(UTC) - timedelta(seconds=20)
    stale = datetime.now(UTC) - timedelta(minutes=5)
    with session_factory() as session:
        session.scalars(select(ApiToken)).one().last_used_at = recent
        session.commit()

    client.get("/api/v1/messages", headers=auth)
    assert abs(stored_token(session_factory).last_used_at - recent) < timedelta(milliseconds=1)

    with session_factory() as session:
        session.scalars(select(ApiToken)).one().last_used_at = stale
        session.commit()

    client.get("/api/v1/messages", headers=auth)
    assert stored_token(session_factory).last_used_at > recent


def test_an_unknown_api_path_answers_404_even_without_a_token(client):
    # Nothing exists there to protect; the answer is JSON like every other API error.
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
