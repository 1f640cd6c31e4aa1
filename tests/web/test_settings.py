"""The panel's Settings: own password, e-mail server with a test e-mail, users, API tokens, backup.

Every form: what it does, a 400 naming what is wrong with nothing written, refusal without the
page's CSRF token, and 403 for an account's user on the admins' sections.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Account, ApiToken, Message, User
from appliance.panel_settings import stored_values
from appliance.users import disable_user
from appliance.web.tokens import create_token, hash_token
from tests.support.smtp_receiver import smtp_receiver
from tests.web.conftest import PASSWORD, Users

NEW_PASSWORD = "a much newer password"


def csrf(client: FlaskClient, path: str = "/settings") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None, *, page: str = "/settings",
         **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf(client, page), **(data or {})}, **kwargs)


def add_account(sessions: sessionmaker[Session], name: str) -> int:
    with sessions.begin() as session:
        account = Account(name=name)
        session.add(account)
        session.flush()
        return account.id


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


@pytest.fixture
def shop(session_factory) -> int:
    return add_account(session_factory, "Kwiaciarnia")


@pytest.fixture
def shop_user(users: Users, shop: int) -> User:
    return users.create("ala@kwiaciarnia.pl", admin=False, account_id=shop)


@pytest.fixture
def shop_browser(signed_in, shop_user: User) -> FlaskClient:
    return signed_in(shop_user)


def password_hash(sessions: sessionmaker[Session], user_id: int) -> str:
    with sessions() as session:
        return session.get(User, user_id).password_hash  # type: ignore[union-attr]


def sign_in_works(client: FlaskClient, email: str, password: str) -> bool:
    other = client.application.test_client()
    token = csrf(other, "/login")
    return other.post("/login", data={"csrf_token": token, "email": email, "password": password}).status_code == 302


# --- your account -------------------------------------------------------------------------------

def test_every_user_changes_their_own_password_with_the_current_one(shop_browser, signed_in, shop_user, session_factory):
    other_browser = signed_in(shop_user)
    response = post(shop_browser, "/settings", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD})
    assert response.status_code == 303
    assert "Your password was changed" in text(shop_browser.get("/settings"))  # still signed in here
    assert other_browser.get("/settings").status_code == 302  # signed out there
    assert sign_in_works(shop_browser, shop_user.email, NEW_PASSWORD)
    assert not sign_in_works(shop_browser, shop_user.email, PASSWORD)


@pytest.mark.parametrize("fields, complaint", [
    ({"current_password": "not my password"}, "the current password is wrong"),
    ({"confirm": "something else entirely"}, "The passwords differ."),
    ({"new_password": "short", "confirm": "short"}, "at least 10"),
    ({"new_password": PASSWORD, "confirm": PASSWORD}, "the same as the current one"),
])
def test_a_wrong_own_password_change_is_refused_and_nothing_changes(panel, admin_user, session_factory, fields,
                                                                    complaint):
    before = password_hash(session_factory, admin_user.id)
    response = post(panel, "/settings", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                         "confirm": NEW_PASSWORD, **fields})
    assert response.status_code == 400 and complaint in text(response)
    assert password_hash(session_factory, admin_user.id) == before


def test_a_password_change_without_the_pages_token_is_refused(panel, admin_user, session_factory):
    before = password_hash(session_factory, admin_user.id)
    response = panel.post("/settings", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                             "confirm": NEW_PASSWORD})
    assert response.status_code == 400 and "security token" in text(response)
    assert password_hash(session_factory, admin_user.id) == before


def test_an_account_user_sees_only_their_password_and_their_tokens(shop_browser):
    html = text(shop_browser.get("/settings"))
    assert 'href="/settings/tokens"' in html
    for admin_section in ("/settings/smtp", "/settings/users", "/settings/backup"):
        assert f'href="{admin_section}"' not in html
        assert shop_browser.get(admin_section).status_code == 403


# --- e-mail server ------------------------------------------------------------------------------

def smtp_form(**fields: object) -> dict[str, object]:
    return {"host": "smtp.sklep.example", "port": "587", "security": "starttls", "user": "bramka",
            "password": "tajne-haslo", "sender": "Bramka SMS <sms@sklep.example>", **fields}


def stored(sessions: sessionmaker[Session]) -> dict[str, object]:
    """The panel's settings as the appliance reads them (the password opened: it is stored sealed)."""
    with sessions() as session:
        return stored_values(session)


def test_the_admin_saves_the_smtp_server_and_the_password_is_never_shown_back(panel, session_factory):
    response = post(panel, "/settings/smtp", smtp_form(), page="/settings/smtp")
    assert response.status_code == 303
    assert stored(session_factory) == {"smtp_host": "smtp.sklep.example", "smtp_port": 587,
                                       "smtp_security": "starttls", "smtp_user": "bramka",
                                       "smtp_password": "tajne-haslo", "smtp_sender": "Bramka SMS <sms@sklep.example>"}
    html = text(panel.get("/settings/smtp"))
    assert 'value="smtp.sklep.example"' in html and "tajne-haslo" not in html
    assert "A password is stored" in html

    # An empty password field keeps the stored one; the box removes it.
    assert post(panel, "/settings/smtp", smtp_form(password="", port="465", security="ssl"),
                page="/settings/smtp").status_code == 303
    assert stored(session_factory)["smtp_password"] == "tajne-haslo" and stored(session_factory)["smtp_port"] == 465
    assert post(panel, "/settings/smtp", smtp_form(password="", clear_password="y"),
                page="/settings/smtp").status_code == 303
    assert stored(session_factory)["smtp_password"] == ""


@pytest.mark.parametrize("fields, complaint", [
    ({"port": "0"}, "Number must be between 1 and 65535"),
    ({"port": "abc"}, "Not a valid integer value"),
    ({"security": "tls"}, "Not a valid choice"),
    ({"sender": "not an address"}, "is not a usable e-mail address"),
    ({"host": "smtp sklep"}, "without spaces"),
])
def test_smtp_settings_that_cannot_work_are_refused_and_nothing_is_stored(panel, session_factory, fields, complaint):
    response = post(panel, "/settings/smtp", smtp_form(**fields), page="/settings/smtp")
    assert response.status_code == 400 and complaint in text(response)
    assert stored(session_factory) == {}


def test_smtp_settings_without_the_pages_token_or_from_an_account_user_are_refused(panel, shop_browser,
                                                                                   session_factory):
    assert panel.post("/settings/smtp", data=smtp_form()).status_code == 400
    assert post(shop_browser, "/settings/smtp", smtp_form()).status_code == 403
    assert post(shop_browser, "/settings/smtp/test", {"recipient": "x@y.pl"}).status_code == 403
    assert stored(session_factory) == {}


def test_the_test_email_goes_through_the_saved_server_and_shows_its_answer(panel):
    with smtp_receiver(user="bramka", password="tajne-haslo") as server:
        post(panel, "/settings/smtp", smtp_form(host=server.host, port=str(server.port), security="none"),
             page="/settings/smtp")
        response = post(panel, "/settings/smtp/test", {"recipient": "owner@sklep.example"}, page="/settings/smtp")
    assert response.status_code == 200
    assert "The server accepted the e-mail" in text(response) and "250 2.0.0 Ok: queued as TEST1" in text(response)
    [mail] = server.received
    assert mail.rcpt_tos == ["owner@sklep.example"] and mail.logged_in_as == "bramka"
    assert mail.parsed()["From"] == "Bramka SMS <sms@sklep.example>"
    assert "Test e-mail" in mail.parsed()["Subject"]


def test_the_test_email_says_why_the_server_refused_it(panel):
    with smtp_receiver(user="bramka", password="tajne-haslo") as server:
        post(panel, "/settings/smtp", smtp_form(host=server.host, port=str(server.port), security="none",
                                                password="wrong password"), page="/settings/smtp")
        response = post(panel, "/settings/smtp/test", {"recipient": "owner@sklep.example"}, page="/settings/smtp")
    assert "The e-mail was not sent" in text(response) and "refused the login of bramka: 535" in text(response)
    assert server.received == []


def test_a_test_email_needs_a_recipient(panel):
    response = post(panel, "/settings/smtp/test", {"recipient": ""}, page="/settings/smtp")
    assert response.status_code == 400 and "This field is required." in text(response)


# --- users --------------------------------------------------------------------------------------

def test_the_admin_creates_a_user_of_an_account_chosen_from_a_list(panel, shop, session_factory):
    html = text(panel.get("/settings/users"))
    assert f'<option value="account:{shop}">User of Kwiaciarnia</option>' in html
    response = post(panel, "/settings/users", {"email": "Jan@Kwiaciarnia.pl", "password": PASSWORD,
                                               "role": f"account:{shop}"})
    assert response.status_code == 303
    with session_factory() as session:
        user = session.scalar(select(User).where(User.email == "jan@kwiaciarnia.pl"))
    assert user is not None and user.account_id == shop and not user.is_admin
    assert "jan@kwiaciarnia.pl" in text(panel.get("/settings/users"))
    assert sign_in_works(panel, "jan@kwiaciarnia.pl", PASSWORD)


def test_the_admin_creates_another_admin(panel, session_factory):
    assert post(panel, "/settings/users", {"email": "szef@sklep.pl", "password": PASSWORD,
                                           "role": "admin"}).status_code == 303
    with session_factory() as session:
        user = session.scalar(select(User).where(User.email == "szef@sklep.pl"))
    assert user is not None and user.is_admin and user.account_id is None


@pytest.mark.parametrize("fields, complaint", [
    ({"password": "short"}, "at least 10"),
    ({"email": "admin@example.com"}, "there is a user admin@example.com already"),
    ({"email": "not-an-address"}, "is not an e-mail address"),
    ({"role": "account:999"}, "Not a valid choice"),
])
def test_a_user_that_cannot_be_made_is_refused_and_nothing_is_written(panel, admin_user, shop, session_factory,
                                                                      fields, complaint):
    response = post(panel, "/settings/users", {"email": "jan@kwiaciarnia.pl", "password": PASSWORD,
                                               "role": f"account:{shop}", **fields})
    assert response.status_code == 400 and complaint in text(response)
    with session_factory() as session:
        assert session.scalars(select(User.email)).all() == [admin_user.email]


def test_user_forms_need_the_pages_token_and_an_admin(panel, shop_browser, shop_user, shop, session_factory):
    data = {"email": "jan@kwiaciarnia.pl", "password": PASSWORD, "role": f"account:{shop}"}
    assert panel.post("/settings/users", data=data).status_code == 400
    assert post(shop_browser, "/settings/users", data).status_code == 403
    assert post(shop_browser, f"/settings/users/{shop_user.id}/disable").status_code == 403
    assert post(shop_browser, f"/settings/users/{shop_user.id}/password",
                {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 403
    assert panel.post(f"/settings/users/{shop_user.id}/disable").status_code == 400
    with session_factory() as session:
        assert session.scalar(select(User).where(User.email == "jan@kwiaciarnia.pl")) is None
        assert session.get(User, shop_user.id).disabled_at is None  # type: ignore[union-attr]


def test_a_disabled_user_is_signed_out_and_their_tokens_refused_until_enabled(panel, shop_browser, shop_user, client,
                                                                             session_factory):
    with session_factory() as session:
        secret = create_token(session, "sklep", account_id=shop_user.account_id, user_id=shop_user.id)
        session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/messages", headers=bearer).status_code == 200

    assert post(panel, f"/settings/users/{shop_user.id}/disable", page="/settings/users").status_code == 303
    assert shop_browser.get("/settings").status_code == 302
    assert client.get("/api/v1/messages", headers=bearer).status_code == 401
    assert not sign_in_works(panel, shop_user.email, PASSWORD)
    assert "disabled" in text(panel.get("/settings/users"))

    assert post(panel, f"/settings/users/{shop_user.id}/enable", page="/settings/users").status_code == 303
    assert client.get("/api/v1/messages", headers=bearer).status_code == 200
    assert sign_in_works(panel, shop_user.email, PASSWORD)


def test_an_admin_cannot_disable_themselves(panel, admin_user, session_factory):
    response = post(panel, f"/settings/users/{admin_user.id}/disable", page="/settings/users")
    assert response.status_code == 400 and "you cannot disable yourself" in text(response)
    with session_factory() as session:
        assert session.get(User, admin_user.id).disabled_at is None  # type: ignore[union-attr]


def test_the_last_admin_who_can_sign_in_is_never_disabled(admin_user, users, session_factory):
    second = users.create("szef@sklep.pl")
    with session_factory() as session:
        disable_user(session, session.get(User, second.id), acting_user_id=admin_user.id)  # type: ignore[arg-type]
        session.commit()
        with pytest.raises(ValueError, match="last admin"):
            disable_user(session, session.get(User, admin_user.id), acting_user_id=None)  # type: ignore[arg-type]


def test_the_admin_sets_a_new_password_for_someone_who_forgot_theirs(panel, shop_browser, shop_user):
    response = post(panel, f"/settings/users/{shop_user.id}/password",
                    {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page="/settings/users")
    assert response.status_code == 303
    assert shop_browser.get("/settings").status_code == 302
    assert sign_in_works(panel, shop_user.email, NEW_PASSWORD)


def test_a_new_password_that_is_too_short_or_ones_own_is_refused(panel, admin_user, shop_user, session_factory):
    before = password_hash(session_factory, shop_user.id)
    response = post(panel, f"/settings/users/{shop_user.id}/password", {"password": "short", "confirm": "short"})
    assert response.status_code == 400 and "at least 10" in text(response)
    assert password_hash(session_factory, shop_user.id) == before
    own = password_hash(session_factory, admin_user.id)
    response = post(panel, f"/settings/users/{admin_user.id}/password",
                    {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400 and "Change your own password under Your account" in text(response)
    assert password_hash(session_factory, admin_user.id) == own


# --- API tokens ---------------------------------------------------------------------------------

def created_secret(response) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'id="new-token"[^>]*value="(apl_[^"]+)"', text(response)).group(1)  # type: ignore[union-attr]


def test_a_new_tokens_secret_is_shown_once_works_and_stops_working_when_revoked(panel, client, shop, session_factory):
    response = post(panel, "/settings/tokens", {"name": "Sklep <WWW>", "scope": f"account:{shop}"},
                    page="/settings/tokens")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = created_secret(response)
    assert "shown only this once" in text(response)
    assert "Token Sklep &lt;WWW&gt; created" in text(response) and "<WWW>" not in text(response)
    with session_factory() as session:
        token = session.scalar(select(ApiToken))
    assert token is not None and token.account_id == shop and not token.is_admin
    assert token.token_hash == hash_token(secret) and secret not in token.token_hash
    assert secret not in text(panel.get("/settings/tokens"))  # never again

    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/messages", headers=bearer).status_code == 200
    assert post(panel, f"/settings/tokens/{token.id}/revoke", page="/settings/tokens").status_code == 303
    refused = client.get("/api/v1/messages", headers=bearer)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"  # type: ignore[index]
    assert "revoked" in text(panel.get("/settings/tokens"))


@pytest.mark.parametrize("scope, admin, account", [("admin", True, False), ("read_only", False, False)])
def test_an_admin_gives_any_scope(panel, session_factory, scope, admin, account):
    post(panel, "/settings/tokens", {"name": "crm", "scope": scope}, page="/settings/tokens")
    with session_factory() as session:
        token = session.scalar(select(ApiToken))
    assert token is not None and token.is_admin == admin and (token.account_id is not None) == account


def test_an_account_user_makes_tokens_only_for_their_account_and_sees_only_those(shop_browser, shop, session_factory,
                                                                                  client):
    other = add_account(session_factory, "Piekarnia")
    with session_factory() as session:
        create_token(session, "piekarnia", account_id=other)
        create_token(session, "admin-crm", admin=True)
        session.commit()
    html = text(shop_browser.get("/settings/tokens"))
    assert "piekarnia" not in html and "admin-crm" not in html and 'name="scope"' not in html

    response = post(shop_browser, "/settings/tokens", {"name": "kwiaciarnia-www", "scope": "admin"},
                    page="/settings/tokens")
    secret = created_secret(response)
    with session_factory() as session:
        made = session.scalar(select(ApiToken).where(ApiToken.name == "kwiaciarnia-www"))
        others = session.scalars(select(ApiToken).where(ApiToken.name != "kwiaciarnia-www")).all()
    assert made is not None and not made.is_admin and made.account_id == shop
    assert client.post("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"},
                       json={"name": "x", "scope": "admin"}).status_code == 403
    # Another account's token is not there to be revoked.
    assert post(shop_browser, f"/settings/tokens/{others[0].id}/revoke", page="/settings/tokens").status_code == 404
    with session_factory() as session:
        assert all(t.revoked_at is None for t in session.scalars(select(ApiToken)))


def test_a_token_without_a_name_or_the_pages_token_is_refused(panel, shop_browser, session_factory):
    response = post(panel, "/settings/tokens", {"name": "", "scope": "admin"}, page="/settings/tokens")
    assert response.status_code == 400 and "This field is required." in text(response)
    assert panel.post("/settings/tokens", data={"name": "crm", "scope": "admin"}).status_code == 400
    assert shop_browser.post("/settings/tokens", data={"name": "crm"}).status_code == 400
    with session_factory() as session:
        assert session.scalars(select(ApiToken)).all() == []


# --- backup and restore -------------------------------------------------------------------------

def test_the_admin_downloads_a_backup_and_restores_it(panel, store, session_factory):
    store.message(text="Zamawiam tulipany")
    # Buffered: the test client reads the whole answer and closes it, as a WSGI server does.
    response = post(panel, "/settings/backup/download", page="/settings/backup", buffered=True)
    assert response.status_code == 200 and response.mimetype == "application/gzip"
    assert re.match(r'attachment; filename=sms-appliance-backup-\d{8}-\d{6}\.tar\.gz',
                    response.headers["Content-Disposition"])
    archive = response.get_data()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["rows"]["messages"] == 1

    store.message(text="after the backup")
    response = post(panel, "/settings/backup/restore", {"archive": (io.BytesIO(archive), "backup.tar.gz"),
                                                        "confirm": "y"}, page="/settings/backup")
    assert response.status_code == 200
    assert "The backup was restored" in text(response) and "Messages: 1" in text(response)
    with session_factory() as session:
        assert session.scalars(select(Message.text)).all() == ["Zamawiam tulipany"]


@pytest.mark.parametrize("upload, confirm, complaint", [
    (b"not a backup", True, "Nothing was changed:"),
    (b"not a backup", False, "Tick the box to confirm."),
    (None, True, "Choose a backup file."),
])
def test_a_restore_that_cannot_be_done_says_why_and_changes_nothing(panel, store, session_factory, upload, confirm,
                                                                   complaint):
    store.message(text="kept")
    data: dict[str, object] = {"confirm": "y"} if confirm else {}
    if upload is not None:
        data["archive"] = (io.BytesIO(upload), "x.tar.gz")
    response = post(panel, "/settings/backup/restore", data, page="/settings/backup")
    assert response.status_code == 400 and complaint in text(response)
    with session_factory() as session:
        assert session.scalars(select(Message.text)).all() == ["kept"]


def test_backup_and_restore_need_the_pages_token_and_an_admin(panel, shop_browser, store, session_factory):
    store.message(text="kept")
    assert panel.post("/settings/backup/download").status_code == 400
    assert panel.post("/settings/backup/restore", data={"confirm": "y"}).status_code == 400
    assert post(shop_browser, "/settings/backup/download").status_code == 403
    assert post(shop_browser, "/settings/backup/restore",
                {"archive": (io.BytesIO(b"x"), "x.tar.gz"), "confirm": "y"}).status_code == 403
    with session_factory() as session:
        assert session.scalars(select(Message.text)).all() == ["kept"]
