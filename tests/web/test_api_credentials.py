"""REST API for tokens and users: an admin token only; a token's secret is answered once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from appliance.db.models import Account, ApiToken, User
from appliance.web.tokens import create_token
from tests.web.conftest import PASSWORD


@pytest.fixture
def admin_auth(session_factory) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "ops", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def shop(session_factory) -> int:
    with session_factory.begin() as session:
        account = Account(name="Kwiaciarnia")
        session.add(account)
        session.flush()
        return account.id


def test_an_admin_token_makes_a_token_whose_secret_is_answered_once(client, admin_auth, shop):
    made = client.post("/api/v1/tokens", headers=admin_auth, json={"name": "sklep", "scope": "account",
                                                                    "account": shop})
    assert made.status_code == 201
    body = made.json
    assert body["scope"] == "account" and body["account"] == shop and body["revoked_at"] is None
    assert body["token"].startswith("apl_")
    listed = client.get("/api/v1/tokens", headers=admin_auth).json["items"]
    assert [t["name"] for t in listed] == ["ops", "sklep"] and all("token" not in t for t in listed)

    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/messages", headers=bearer).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=admin_auth)
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    assert client.get("/api/v1/messages", headers=bearer).status_code == 401


@pytest.mark.parametrize("body, code", [
    ({"name": "x", "scope": "account"}, "an account token needs its account"),
    ({"name": "x", "scope": "account", "account": 999}, "there is no account 999"),
    ({"name": "x", "scope": "admin", "account": 1}, "leave the account empty"),
    ({"name": "", "scope": "admin"}, "the name is required"),
    ({"name": "x", "scope": "owner"}, "the scope is one of admin, account, read_only"),
    ({"name": "x"}, "scope: is required"),
    ({"scope": "admin"}, "name: is required"),
])
def test_a_token_that_cannot_be_made_is_400_and_nothing_is_written(client, admin_auth, session_factory, body, code):
    response = client.post("/api/v1/tokens", headers=admin_auth, json=body)
    assert response.status_code == 400 and code in response.json["error"]["message"]
    with session_factory() as session:
        assert session.scalars(select(ApiToken.name)).all() == ["ops"]


def test_tokens_and_users_need_an_admin_token(client, auth):
    for method, path in (("get", "/api/v1/tokens"), ("post", "/api/v1/tokens"), ("post", "/api/v1/tokens/1/revoke"),
                         ("get", "/api/v1/users"), ("post", "/api/v1/users"), ("post", "/api/v1/users/1/disable")):
        response = getattr(client, method)(path, headers=auth, json={})
        assert response.status_code == 403, path
    assert client.get("/api/v1/tokens").status_code == 401


def test_an_admin_token_manages_users(client, admin_auth, shop, session_factory):
    made = client.post("/api/v1/users", headers=admin_auth, json={"email": "Ala@Kwiaciarnia.pl", "password": PASSWORD,
                                                                   "account": shop})
    assert made.status_code == 201
    user = made.json
    assert (user["email"], user["admin"], user["account"], user["disabled_at"]) == ("ala@kwiaciarnia.pl", False,
                                                                                    shop, None)
    again = client.post("/api/v1/users", headers=admin_auth, json={"email": "ala@kwiaciarnia.pl",
                                                                    "password": PASSWORD, "account": shop})
    assert again.status_code == 409
    weak = client.post("/api/v1/users", headers=admin_auth, json={"email": "x@y.pl", "password": "123", "admin": True})
    assert weak.status_code == 400 and "at least 10" in weak.json["error"]["message"]

    disabled = client.post(f"/api/v1/users/{user['id']}/disable", headers=admin_auth)
    assert disabled.status_code == 200 and disabled.json["disabled_at"] is not None
    enabled = client.post(f"/api/v1/users/{user['id']}/enable", headers=admin_auth)
    assert enabled.json["disabled_at"] is None
    assert client.post(f"/api/v1/users/{user['id']}/password", headers=admin_auth,
                       json={"password": "short"}).status_code == 400
    assert client.post(f"/api/v1/users/{user['id']}/password", headers=admin_auth,
                       json={"password": "a brand new password"}).status_code == 200
    assert [u["email"] for u in client.get("/api/v1/users", headers=admin_auth).json["items"]] == [
        "ala@kwiaciarnia.pl"]
    assert client.post("/api/v1/users/999/disable", headers=admin_auth).status_code == 404


def test_the_last_admin_cannot_be_disabled_through_the_api(client, admin_auth, admin_user, session_factory):
    response = client.post(f"/api/v1/users/{admin_user.id}/disable", headers=admin_auth)
    assert response.status_code == 409 and "last admin" in response.json["error"]["message"]
    with session_factory() as session:
        assert session.get(User, admin_user.id).disabled_at is None  # type: ignore[union-attr]
