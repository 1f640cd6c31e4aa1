"""Signing in to the panel: first-run setup, sign-in and its rate limit, cookies, CSRF, roles."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher, extract_parameters
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.cli import main
from appliance.db.models import Account, ApiToken, User
from appliance.setup_code import read_code
from appliance.users import FAILURES_PER_EMAIL, UserError, create_user, set_password
from appliance.web.access import Principal
from tests.web.conftest import PASSWORD


def form_token(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def sign_in(client: FlaskClient, email: str, password: str, next_path: str = "") -> tuple[int, str]:
    token = form_token(client, "/login")
    response = client.post("/login" + (f"?next={next_path}" if next_path else ""),
                           data={"csrf_token": token, "email": email, "password": password})
    return response.status_code, response.headers.get("Location", "")


def test_a_new_box_leads_every_page_to_the_setup_form(client):
    for path in ("/", "/login", "/panel/forwarding"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/setup"


def test_setup_creates_the_admin_signs_in_and_is_gone_for_good(client, session_factory, settings):
    token = form_token(client, "/setup")
    response = client.post("/setup", data={"csrf_token": token, "code": read_code(settings.data_dir),
                                           "email": "Owner@Shop.pl", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # signed in by the setup itself
    with session_factory() as session:
        [admin] = session.scalars(select(User))
    assert admin.email == "owner@shop.pl" and admin.is_admin and admin.account_id is None
    assert PASSWORD not in admin.password_hash and admin.password_hash.startswith("$argon2id$")
    # The form cannot make a second admin, signed in or not.
    assert client.get("/setup").headers["Location"] == "/login"
    stranger = client.application.test_client()
    token = form_token(stranger, "/login")
    assert stranger.post("/setup", data={"csrf_token": token, "code": "anything", "email": "x@y.pl",
                                         "password": PASSWORD, "confirm": PASSWORD}).headers["Location"] == "/login"


@pytest.mark.parametrize("fields, complaint", [
    ({"password": "short", "confirm": "short"}, "at least 10"),
    ({"confirm": "something else entirely"}, "The passwords differ."),
    ({"email": "not-an-address"}, "is not an e-mail address"),
])
def test_setup_refuses_a_weak_or_mistyped_password_and_creates_nothing(client, session_factory, settings, fields,
                                                                       complaint):
    data = {"csrf_token": form_token(client, "/setup"), "code": read_code(settings.data_dir),
            "email": "owner@shop.pl", "password": PASSWORD, "confirm": PASSWORD, **fields}
    response = client.post("/setup", data=data)
    assert response.status_code == 400 and complaint in response.get_data(as_text=True)
    with session_factory() as session:
        assert session.scalars(select(User)).all() == []


def test_signing_in_leads_to_the_page_asked_for_and_never_to_another_site(client, admin_user):
    assert client.get("/panel/forwarding").headers["Location"] == "/login?next=/panel/forwarding"
    assert sign_in(client, admin_user.email.upper(), PASSWORD, "/panel/forwarding") == (302, "/panel/forwarding")
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        other = client.application.test_client()
        status, location = sign_in(other, admin_user.email, PASSWORD, hostile)
        assert status == 302 and "evil" not in location


def test_a_wrong_password_is_refused_without_saying_which_half_was_wrong(client, admin_user):
    token = form_token(client, "/login")
    wrong_password = client.post("/login", data={"csrf_token": token, "email": admin_user.email, "password": "nope"})
    unknown_user = client.post("/login", data={"csrf_token": token, "email": "who@else.pl", "password": PASSWORD})
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401 and "Wrong e-mail or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_a_password_hashed_with_the_old_parameters_signs_in_and_is_hashed_again_with_the_new(
        client, admin_user, session_factory):
    # Before December 2026 every hash was made with argon2-cffi's defaults: 64 MiB, 3 passes, 4 lanes.
    with session_factory() as session:
        session.get(User, admin_user.id).password_hash = PasswordHasher().hash(PASSWORD)
        session.commit()
    assert sign_in(client, admin_user.email, PASSWORD)[0] == 302
    with session_factory() as session:
        rehashed = session.get(User, admin_user.id).password_hash
    parameters = extract_parameters(rehashed)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (7 * 1024, 5, 1)
    assert sign_in(client.application.test_client(), admin_user.email, PASSWORD)[0] == 302


def test_sign_in_is_rate_limited_per_e_mail_even_with_the_right_password(client, admin_user):
    for _ in range(FAILURES_PER_EMAIL):
        assert sign_in(client, admin_user.email, "wrong password")[0] == 401
    token = form_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 429 and "Too many failed attempts" in response.get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused(client, admin_user):
    response = client.post("/login", data={"email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(client, admin_user):
    token = form_token(client, "/login")
    plain = client.post("/login", data={"csrf_token": token, "email": admin_user.email, "password": PASSWORD})
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = client.application.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',  # type: ignore[union-attr]
                      https.get("/login", base_url="https://box.local").get_data(as_text=True)).group(1)
    secure = https.post("/login", base_url="https://box.local", headers={"Referer": "https://box.local/login"},
                        data={"csrf_token": token, "email": admin_user.email, "password": PASSWORD})
    assert secure.status_code == 302 and "Secure" in secure.headers["Set-Cookie"]


def test_signing_out_ends_the_session(panel):
    token = form_token(panel, "/")
    assert panel.post("/logout", data={"csrf_token": token}).headers["Location"] == "/login"
    assert panel.get("/").status_code == 302


def test_a_new_password_or_a_disabled_user_signs_out_every_browser(panel, admin_user, session_factory):
    assert panel.get("/").status_code == 200
    with session_factory() as session:
        user = session.get(User, admin_user.id)
        set_password(user, "a brand new password")
        session.commit()
    assert panel.get("/").status_code == 302


def test_the_language_follows_the_browser_and_the_switch(panel):
    assert 'lang="pl"' in panel.get("/", headers={"Accept-Language": "pl-PL,pl;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in panel.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    token = form_token(panel, "/")
    assert panel.post("/language", data={"csrf_token": token, "language": "pl"},
                      headers={"Referer": "http://localhost/panel/forwarding"}).headers["Location"] == "/panel/forwarding"
    assert 'lang="pl"' in panel.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_an_account_user_is_scoped_to_the_account_and_an_admin_to_none(users, session_factory):
    with session_factory() as session:
        shop = Account(name="Kwiaciarnia")
        session.add(shop)
        session.commit()
        shop_id = shop.id
    user = users.create("ala@kwiaciarnia.pl", admin=False, account_id=shop_id)
    assert user.account_id == shop_id and not user.is_admin
    with session_factory() as session, pytest.raises(UserError, match="belongs to an account"):
        create_user(session, "bob@x.pl", PASSWORD)
    with session_factory() as session, pytest.raises(UserError, match="no account 999"):
        create_user(session, "bob@x.pl", PASSWORD, account_id=999)
    with session_factory() as session, pytest.raises(UserError, match="already"):
        create_user(session, "ALA@kwiaciarnia.pl", PASSWORD, account_id=shop_id)


def test_principals_see_and_change_what_their_role_allows():
    admin = Principal(is_admin=True, account_id=None, label="admin")
    shop = Principal(is_admin=False, account_id=7, label="shop")
    reader = Principal(is_admin=False, account_id=None, label="reader")
    assert admin.sees(None) and admin.sees(7) and admin.may_change(8)
    assert shop.sees(7) and not shop.sees(8) and not shop.sees(None)
    assert shop.may_change(7) and not shop.may_change(8) and not shop.may_change(None)
    assert reader.read_only and reader.sees(8) and reader.sees(None) and not reader.may_change(8)


def test_the_cli_creates_users_and_account_tokens(tmp_path, database_url, session_factory):
    env = {"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_DATABASE_URL": database_url}
    with session_factory() as session:
        session.add(Account(name="Piekarnia"))
        session.commit()
        account_id = session.scalar(select(Account.id))
    made = CliRunner().invoke(main, ["user", "create", "jan@piekarnia.pl", "--account", str(account_id),
                                     "--password-stdin"], input=PASSWORD + "\n", env=env)
    assert made.exit_code == 0, made.output
    weak = CliRunner().invoke(main, ["user", "create", "x@y.pl", "--admin", "--password-stdin"], input="123\n", env=env)
    assert weak.exit_code != 0 and "at least 10" in weak.output
    token = CliRunner().invoke(main, ["token", "create", "crm", "--account", str(account_id)], env=env)
    assert token.exit_code == 0, token.output
    with session_factory() as session:
        user = session.scalar(select(User))
        stored = session.scalar(select(ApiToken))
    assert user is not None and user.email == "jan@piekarnia.pl" and user.account_id == account_id
    assert stored is not None and stored.account_id == account_id and not stored.is_admin
