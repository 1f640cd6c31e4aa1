"""The audit log: every configuration change, sign-in, failed sign-in, token, backup and export is
recorded with who, when, from where and what changed; admins read and export it; nobody edits it.

Each change goes through the real panel form, REST API call or command, as a person would make it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from appliance.audit import NEW_SECRET, SECRET
from appliance.cli import main
from appliance.db.models import (
    AccessNumber,
    Account,
    ApiToken,
    AuditEntry,
    Contact,
    Contest,
    ContestEntry,
    ForwardTarget,
    Group,
    GroupMember,
    Keyword,
    User,
)
from appliance.setup_code import read_code
from appliance.web.tokens import create_token
from tests.web.conftest import PASSWORD, Store, Users

ADDRESS = "127.0.0.1"  # the test client's


def csrf(client: FlaskClient, page: str = "/settings") -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get(page).get_data(as_text=True))
    assert found is not None, page
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Posts as the page's form would, with this browser's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)


def entries(sessions: sessionmaker[Session], action: str | None = None) -> list[AuditEntry]:
    with sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def the_entry(sessions: sessionmaker[Session], action: str) -> AuditEntry:
    found = entries(sessions, action)
    assert len(found) == 1, [(e.action, e.target, e.details) for e in entries(sessions)]
    return found[0]


def everything_recorded(sessions: sessionmaker[Session]) -> str:
    """Every entry's every field, as one text to search for what must not be there."""
    return json.dumps([[e.actor, e.address, e.action, e.target, e.details] for e in entries(sessions)],
                      ensure_ascii=False)


def add(sessions: sessionmaker[Session], row: Any) -> int:
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return int(row.id)


@pytest.fixture
def shop(session_factory: sessionmaker[Session]) -> int:
    return add(session_factory, Account(name="Kwiaciarnia"))


@pytest.fixture
def admin_api(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "crm", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


# --- signing in and out ----------------------------------------------------------------------------

def test_a_failed_sign_in_is_recorded_with_the_e_mail_tried_and_the_address(client, admin_user, session_factory):
    token = csrf(client, "/login")
    assert client.post("/login", data={"csrf_token": token, "email": "szef@sklep.pl", "password": "zgadnij"},
                       environ_base={"REMOTE_ADDR": "192.168.1.77"}).status_code == 401

    failed = the_entry(session_factory, "login.failed")
    assert (failed.actor, failed.address, failed.target, failed.details) == (
        "anonymous", "192.168.1.77", "user szef@sklep.pl", {"reason": "invalid"})
    assert "zgadnij" not in everything_recorded(session_factory)


def test_a_password_typed_into_the_e_mail_field_is_not_kept(client, admin_user, session_factory):
    token = csrf(client, "/login")
    client.post("/login", data={"csrf_token": token, "email": "Tajne haslo 123", "password": "x"})
    failed = the_entry(session_factory, "login.failed")
    assert (failed.target, failed.address) == (None, ADDRESS)
    assert "Tajne" not in everything_recorded(session_factory)


def test_signing_in_and_out_is_recorded(client, admin_user, session_factory):
    token = csrf(client, "/login")
    assert client.post("/login", data={"csrf_token": token, "email": admin_user.email,
                                       "password": PASSWORD}).status_code == 302
    assert post(client, "/logout").status_code == 302

    login, logout = the_entry(session_factory, "login"), the_entry(session_factory, "logout")
    assert (login.actor, login.address) == ("user admin@example.com", ADDRESS)
    assert (logout.actor, logout.address) == ("user admin@example.com", ADDRESS)
    assert PASSWORD not in everything_recorded(session_factory)
    # The fixture made the user; signing in (its last_login_at) changes no configuration.
    assert [e.action for e in entries(session_factory)] == ["user.create", "login", "logout"]


def test_the_first_run_setup_is_recorded_as_the_new_admin_s(client, settings, session_factory):
    token = csrf(client, "/setup")
    assert client.post("/setup", data={"csrf_token": token, "code": read_code(settings.data_dir),
                                       "email": "owner@shop.pl", "password": PASSWORD,
                                       "confirm": PASSWORD}).status_code == 302

    setup, created = the_entry(session_factory, "setup"), the_entry(session_factory, "user.create")
    assert (setup.actor, setup.address) == ("user owner@shop.pl", ADDRESS)
    assert (created.actor, created.target) == ("user owner@shop.pl", "user 1 (owner@shop.pl)")
    assert created.details is not None and created.details["password_hash"] == SECRET
    assert created.details["is_admin"] is True


# --- configuration through the panel ------------------------------------------------------------

def test_an_account_created_renamed_and_deleted_in_the_panel_is_recorded_with_its_values(panel, session_factory):
    assert post(panel, "/accounts", {"name": "Kwiaciarnia", "opt_out_words": "WYPISZ"}).status_code == 302
    with session_factory() as session:
        shop = session.scalar(select(Account.id))
    assert post(panel, f"/accounts/{shop}", {"name": "Kwiaciarnia Róża", "opt_out_words": "WYPISZ"}).status_code == 302
    assert post(panel, f"/accounts/{shop}/delete").status_code == 302

    created = the_entry(session_factory, "account.create")
    assert (created.actor, created.address, created.target) == ("user admin@example.com", ADDRESS,
                                                                f"account {shop} (Kwiaciarnia)")
    assert created.details == {"name": "Kwiaciarnia", "opt_out_words": ["WYPISZ"]}
    renamed = the_entry(session_factory, "account.update")
    assert renamed.details == {"name": ["Kwiaciarnia", "Kwiaciarnia Róża"]}
    assert renamed.target == f"account {shop} (Kwiaciarnia Róża)"
    deleted = the_entry(session_factory, "account.delete")
    assert deleted.details is not None and deleted.details["name"] == "Kwiaciarnia Róża"


def test_users_made_disabled_and_given_a_new_password_show_that_it_changed_never_the_password(
        panel, shop, session_factory):
    assert post(panel, "/settings/users", {"email": "jan@kwiaciarnia.pl", "password": PASSWORD,
                                           "role": f"account:{shop}"}).status_code == 303
    with session_factory() as session:
        jan = session.scalar(select(User).where(User.email == "jan@kwiaciarnia.pl"))
    assert jan is not None
    assert post(panel, f"/settings/users/{jan.id}/disable").status_code in (302, 303)
    assert post(panel, f"/settings/users/{jan.id}/password",
                {"password": "nowe haslo 12345", "confirm": "nowe haslo 12345"}).status_code in (302, 303)

    created = entries(session_factory, "user.create")[-1]  # after the fixture's admin
    assert created.target == f"user {jan.id} (jan@kwiaciarnia.pl)"
    assert created.details is not None and created.details["account_id"] == shop
    assert created.details["password_hash"] == SECRET
    updates = [e.details for e in entries(session_factory, "user.update")]
    assert updates[0] is not None and list(updates[0]) == ["disabled_at"] and updates[0]["disabled_at"][0] is None
    assert updates[1] == {"password_hash": [SECRET, NEW_SECRET]}
    recorded = everything_recorded(session_factory)
    assert PASSWORD not in recorded and "nowe haslo" not in recorded and "$argon2" not in recorded


def test_binding_a_sim_is_recorded_without_the_number_in_clear(panel, shop, store: Store, session_factory):
    modem = store.modem(iccid="8948060000000000017", msisdn=None)
    response = post(panel, "/access-numbers/bind", {
        "modem": modem.id, f"sim-{modem.id}-number": "+48 790 100 200", f"sim-{modem.id}-kind": "dedicated",
        f"sim-{modem.id}-account": shop})
    assert response.status_code == 303

    created = the_entry(session_factory, "access_number.create")
    with session_factory() as session:
        number_id = session.scalar(select(AccessNumber.id))
    assert created.target == f"access_number {number_id} (…200)"
    assert created.details is not None
    assert (created.details["number"], created.details["iccid"], created.details["account_id"]) == (
        "…200", "8948060000000000017", shop)
    recorded = everything_recorded(session_factory)
    assert "790100200" not in recorded and "790 100 200" not in recorded


def test_an_access_number_s_new_number_and_apn_password_are_recorded_masked(panel, shop, session_factory):
    number = add(session_factory, AccessNumber(number="+48500100300", iccid="8948030000000000029", kind="dedicated",
                                               account_id=shop))
    form = {"number": "+48500100399", "iccid": "8948030000000000029", "kind": "dedicated", "account": shop,
            "unmatched_reply": "", "mms_enabled": "y", "mmsc_url": "http://mms.orange.pl",
            "mms_proxy": "192.168.6.104:8080", "mms_apn": "mms", "mms_apn_user": "mms",
            "mms_apn_password": "haslo-apn"}
    assert post(panel, f"/access-numbers/{number}", form).status_code == 303

    changed = the_entry(session_factory, "access_number.update")
    assert changed.target == f"access_number {number} (…399)"
    assert changed.details is not None
    assert changed.details["number"] == ["…300", "…399"]
    assert changed.details["mms_apn_password"] == [None, NEW_SECRET]
    assert changed.details["mmsc_url"] == [None, "http://mms.orange.pl"]
    recorded = everything_recorded(session_factory)
    assert "500100399" not in recorded and "500100300" not in recorded and "haslo-apn" not in recorded


def test_users_made_through_the_api_and_the_console_are_recorded_as_theirs(client, admin_api, session_factory,
                                                                          database_url, tmp_path: Path):
    assert client.post("/api/v1/users", json={"email": "ola@sklep.pl", "password": PASSWORD, "admin": True},
                       headers=admin_api).status_code == 201
    result = CliRunner().invoke(main, ["user", "create", "jan@sklep.pl", "--admin", "--password-stdin"],
                                input=PASSWORD + "\n",
                                env={"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output

    created = [(e.actor, e.address, e.target) for e in entries(session_factory, "user.create")]
    assert created == [("token 'crm'", ADDRESS, "user 1 (ola@sklep.pl)"), ("console", None, "user 2 (jan@sklep.pl)")]
    assert PASSWORD not in everything_recorded(session_factory)


def test_a_keyword_changed_in_the_panel_records_old_and_new_values(panel, shop, session_factory):
    number = add(session_factory, AccessNumber(number="+48500100101", iccid="8948000000000000101",
                                               kind="dedicated", account_id=shop))
    assert post(panel, "/keywords/new", {"access_number": number, "account": shop, "keyword": "PIZZA",
                                         "mode": "base"}).status_code == 303
    with session_factory() as session:
        keyword = session.scalar(select(Keyword))
    assert keyword is not None
    assert post(panel, f"/keywords/{keyword.id}", {"access_number": number, "account": shop, "keyword": "PIZZA",
                                                   "mode": "exact"}).status_code == 303

    assert the_entry(session_factory, "keyword.create").target == f"keyword {keyword.id} (PIZZA)"
    changed = the_entry(session_factory, "keyword.update")
    assert (changed.actor, changed.address, changed.details) == (
        "user admin@example.com", ADDRESS, {"mode": ["base", "exact"]})


def test_an_autoresponder_and_a_group_made_in_the_panel_are_recorded(panel, shop, session_factory):
    assert post(panel, "/autoresponders/new", {
        "account": shop, "access_number": "", "keyword": "", "text": "Odpiszemy jutro.", "enabled": "y",
        "max_per_sender": "2", "window_hours": "1.5"}).status_code == 303
    assert post(panel, "/groups", {"account": shop, "name": "Stali klienci"}).status_code in (302, 303)

    responder = the_entry(session_factory, "autoresponder.create")
    assert responder.details is not None
    assert (responder.details["text"], responder.details["window_seconds"]) == ("Odpiszemy jutro.", 5400)
    with session_factory() as session:
        group = session.scalar(select(Group.id))
    assert the_entry(session_factory, "group.create").target == f"group {group} (Stali klienci)"


def test_polls_and_contests_made_in_the_panel_are_recorded(panel, shop, session_factory):
    assert post(panel, "/polls", {"account": str(shop), "question": "Ulubiony kwiat?", "options-0-code": "A",
                                  "options-0-label": "Róża", "policy": "keep_first", "opens_at": "",
                                  "closes_at": "", "confirmation": "", "closed_reply": ""}).status_code == 303
    assert post(panel, "/contests", {"account": shop, "name": "Majówka", "answer": "Kraków",
                                     "opens_at": "2026-05-01T00:00", "closes_at": "",
                                     "entries_per_number": "1"}).status_code == 303

    poll = the_entry(session_factory, "poll.create")
    assert poll.details is not None and poll.details["options"] == [{"code": "A", "label": "Róża"}]
    contest = the_entry(session_factory, "contest.create")
    assert contest.details is not None and contest.details["opens_at"] == "2026-04-30T22:00:00+00:00"


def test_forward_targets_are_recorded_without_their_secret_or_a_phone_number(panel, shop, session_factory):
    defaults = {"format": "json", "timeout_seconds": "10", "access_number": "0", "keyword": "0",
                "give_up_hours": "24", "enabled": "y", "account": shop}
    assert post(panel, "/panel/forwarding/targets/new", {**defaults, "kind": "url", "name": "CRM",
                                                         "address": "https://crm.example/sms"}).status_code == 303
    assert post(panel, "/panel/forwarding/targets/new", {**defaults, "kind": "sms", "name": "Szef",
                                                         "address": "+48601234567"}).status_code == 303
    with session_factory() as session:
        webhook, phone = session.scalars(select(ForwardTarget).order_by(ForwardTarget.id)).all()
    assert post(panel, f"/panel/forwarding/targets/{webhook.id}/rotate-secret").status_code in (302, 303)

    created = entries(session_factory, "forward_target.create")
    assert [e.details["address"] for e in created] == ["https://crm.example/sms", "…567"]  # type: ignore[index]
    assert created[0].details["secret"] == SECRET  # type: ignore[index]
    rotated = the_entry(session_factory, "forward_target.update")
    assert rotated.details == {"secret": [SECRET, NEW_SECRET]}
    recorded = everything_recorded(session_factory)
    with session_factory() as session:
        secrets = [t.secret for t in session.scalars(select(ForwardTarget))] + [webhook.secret, webhook.download_token]
    assert not any(secret in recorded for secret in secrets)
    assert "601234567" not in recorded and phone.address == "+48601234567"


def test_smtp_settings_record_which_changed_and_never_the_password(panel, session_factory):
    form = {"host": "smtp.sklep.example", "port": "587", "security": "starttls", "user": "bramka",
            "password": "tajne-haslo", "sender": "sms@sklep.example"}
    assert post(panel, "/settings/smtp", form).status_code in (302, 303)
    assert post(panel, "/settings/smtp", {**form, "port": "465", "security": "ssl",
                                          "password": "inne-haslo"}).status_code in (302, 303)

    first, second = entries(session_factory, "settings.update")
    assert first.details is not None and first.details["smtp_host"] == [None, "smtp.sklep.example"]
    assert first.details["smtp_password"] == [None, NEW_SECRET]
    assert second.details == {"smtp_port": [587, 465], "smtp_security": ["starttls", "ssl"],
                              "smtp_password": [SECRET, NEW_SECRET]}
    recorded = everything_recorded(session_factory)
    assert "tajne" not in recorded and "inne-haslo" not in recorded


# --- configuration through the REST API, the command line -----------------------------------------

def test_an_api_change_is_recorded_as_the_token_s_and_a_refused_one_not_at_all(client, admin_api, shop,
                                                                               session_factory):
    assert client.patch(f"/api/v1/accounts/{shop}", json={"opt_out_words": ["NIE"]}, headers=admin_api,
                        environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200
    add(session_factory, Account(name="Pizzeria"))
    assert client.patch(f"/api/v1/accounts/{shop}", json={"name": "Pizzeria"}, headers=admin_api).status_code == 409

    changed = the_entry(session_factory, "account.update")
    assert (changed.actor, changed.address, changed.target, changed.details) == (
        "token 'crm'", "10.0.0.5", f"account {shop} (Kwiaciarnia)", {"opt_out_words": [[], ["NIE"]]})


def test_a_contest_draw_is_recorded_with_its_seed_but_not_the_winners_numbers(client, admin_api, shop, store,
                                                                                session_factory):
    contest = add(session_factory, Contest(account_id=shop, name="Majówka", entries_per_number=1))
    message = store.message()
    add(session_factory, ContestEntry(contest_id=contest, msisdn="+48600000011", answer="x", correct=True,
                                      message_id=message.id))
    assert client.post(f"/api/v1/contests/{contest}/draw", json={"winners": 1, "seed": "majowka-1"},
                       headers=admin_api).status_code == 201

    draw = the_entry(session_factory, "contest.draw")
    assert (draw.actor, draw.target, draw.details) == (
        "token 'crm'", f"contest {contest} (Majówka)", {"seed": "majowka-1", "method": "random", "winners": 1})
    assert "600000011" not in everything_recorded(session_factory)


def test_tokens_made_and_revoked_in_the_panel_the_api_and_the_console_are_recorded(
        panel, client, admin_api, session_factory, database_url, tmp_path: Path):
    assert post(panel, "/settings/tokens", {"name": "www", "scope": "admin"}).status_code == 200
    made = client.post("/api/v1/tokens", json={"name": "raporty", "scope": "read_only"}, headers=admin_api)
    assert made.status_code == 201
    assert client.post(f"/api/v1/tokens/{made.json['id']}/revoke", headers=admin_api).status_code == 200
    with session_factory() as session:
        www = session.scalar(select(ApiToken).where(ApiToken.name == "www"))
    assert www is not None
    assert post(panel, f"/settings/tokens/{www.id}/revoke").status_code in (302, 303)
    result = CliRunner().invoke(main, ["token", "create", "kasa", "--admin"],
                                env={"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output

    created = [(e.actor, e.target) for e in entries(session_factory, "token.create")]
    assert created == [("system", "token 1 (crm)"),  # the fixture's
                       ("user admin@example.com", f"token {www.id} (www)"),
                       ("token 'crm'", f"token {made.json['id']} (raporty)"),
                       ("console", f"token {www.id + 2} (kasa)")]
    revoked = [(e.actor, e.target) for e in entries(session_factory, "token.revoke")]
    assert revoked == [("token 'crm'", f"token {made.json['id']} (raporty)"),
                       ("user admin@example.com", f"token {www.id} (www)")]
    recorded = everything_recorded(session_factory)
    assert made.json["token"] not in recorded and result.output.strip() not in recorded
    assert "token_hash" not in recorded
    # Using a token (its last_used_at) is no change.
    assert not entries(session_factory, "token.update")


def test_a_backup_downloaded_and_restored_in_the_panel_is_recorded_and_the_log_outlives_the_restore(
        panel, session_factory):
    archive = post(panel, "/settings/backup/download", buffered=True)
    assert archive.status_code == 200
    add(session_factory, Account(name="Po kopii"))
    restored = post(panel, "/settings/backup/restore", {"archive": (io.BytesIO(archive.data), "kopia.tar.gz"),
                                                         "confirm": "y"}, content_type="multipart/form-data")
    assert restored.status_code == 200

    actions = [e.action for e in entries(session_factory)][1:]  # after the fixture's admin
    # The account made after the backup is recorded, and stays recorded although the restore removed it.
    assert actions == ["backup.download", "account.create", "backup.restore"]
    restore = the_entry(session_factory, "backup.restore")
    assert restore.actor == "user admin@example.com" and restore.details is not None
    assert restore.details["file"] == "kopia.tar.gz"


# --- reading, exporting, and never changing the log -------------------------------------------------

def test_only_admins_read_the_log(users: Users, signed_in, shop, client, auth, session_factory):
    shop_user = users.create("ala@kwiaciarnia.pl", admin=False, account_id=shop)
    browser = signed_in(shop_user)
    assert browser.get("/audit").status_code == 403
    assert browser.post("/audit/export", data={"csrf_token": csrf(browser), "format": "csv"}).status_code == 403
    assert "Audit log" not in browser.get("/settings").get_data(as_text=True)
    with session_factory() as session:
        shop_token = create_token(session, "sklep", account_id=shop)
        session.commit()
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {shop_token}"}).status_code == 403
    assert client.get("/api/v1/audit", headers=auth).status_code == 403  # a read-only token
    assert client.get("/api/v1/audit").status_code == 401


def test_the_page_shows_the_newest_first_with_what_changed_and_filters(panel, shop, session_factory):
    post(panel, f"/accounts/{shop}", {"name": "<b>Róża</b>", "opt_out_words": ""})
    post(panel, "/groups", {"account": shop, "name": "Stali"})

    page = panel.get("/audit").get_data(as_text=True)
    assert page.index('"action">group.create') < page.index('"action">account.update')
    assert "Kwiaciarnia" in page and "&lt;b&gt;Róża&lt;/b&gt;" in page and "<b>Róża" not in page
    filtered = panel.get("/audit?action=account.update&actor=ADMIN@&from=2000-01-01").get_data(as_text=True)
    assert "account.update" in filtered and "group.create</code>" not in filtered
    assert "No entries match" in panel.get("/audit?actor=nobody").get_data(as_text=True)
    assert "is not a day" in panel.get("/audit?from=wczoraj").get_data(as_text=True)


def test_the_page_pages_back_fifty_at_a_time(panel, session_factory):
    with session_factory.begin() as session:
        session.add_all(Account(name=f"Sklep {n:02}") for n in range(60))
    page = panel.get("/audit").get_data(as_text=True)
    assert "Sklep 59" in page and "Sklep 10" in page and "Sklep 09" not in page
    older = re.search(r'href="([^"]+)" rel="next"', page)
    assert older is not None
    second = panel.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Sklep 09" in second and "Sklep 00" in second and "Sklep 10" not in second


def test_the_export_has_the_filtered_entries_and_is_recorded_itself(panel, session_factory):
    add(session_factory, Account(name="=HYPERLINK(\"http://evil\")"))
    add(session_factory, Account(name="Pizzeria"))

    exported = post(panel, "/audit/export", {"format": "csv", "action": "account.create"})
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["id", "at", "actor", "address", "action", "target", "details"]
    assert [row[4] for row in rows[1:]] == ["account.create", "account.create"]
    assert rows[1][5].startswith("account 1 (=HYPERLINK")  # mid-cell: harmless as it is
    assert all(not cell.startswith("=") for row in rows for cell in row)

    as_json = post(panel, "/audit/export", {"format": "json"})
    listed = json.loads(as_json.get_data(as_text=True))
    assert [e["action"] for e in listed] == ["user.create", "account.create", "account.create", "audit.export",
                                             "audit.export"]
    export = entries(session_factory, "audit.export")
    assert [e.details for e in export] == [{"format": "csv", "filters": {"action": "account.create"}},
                                           {"format": "json", "filters": {}}]
    assert export[0].actor == "user admin@example.com" and export[0].address == ADDRESS


def test_the_api_pages_and_filters_the_log(client, admin_api, session_factory):
    for name in ("Kwiaciarnia", "Pizzeria", "Piekarnia"):
        add(session_factory, Account(name=name))
    first = client.get("/api/v1/audit?limit=2&action=account.create", headers=admin_api).json
    assert [e["target"] for e in first["items"]] == ["account 1 (Kwiaciarnia)", "account 2 (Pizzeria)"]
    second = client.get(f"/api/v1/audit?limit=2&action=account.create&after_id={first['next_after_id']}",
                        headers=admin_api).json
    assert [e["target"] for e in second["items"]] == ["account 3 (Piekarnia)"] and second["next_after_id"] is None
    entry = second["items"][0]
    assert (entry["actor"], entry["address"], entry["details"]["name"]) == ("system", None, "Piekarnia")
    assert entry["at"].endswith("Z")
    assert client.get("/api/v1/audit?from=yesterday", headers=admin_api).status_code == 400
    assert client.get("/api/v1/audit?actor=nobody", headers=admin_api).json["items"] == []
    # No route changes or deletes an entry.
    assert client.delete(f"/api/v1/audit/{entry['id']}", headers=admin_api).status_code in (404, 405)
    assert client.patch("/api/v1/audit", json={}, headers=admin_api).status_code == 405


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"])
def test_the_database_refuses_to_change_or_delete_an_entry(session_factory, shop, statement):
    with session_factory() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    assert [e.actor for e in entries(session_factory)] == ["system"]


def test_group_membership_by_sms_is_not_configuration(session_factory, shop):
    """Contacts joining by text message are customers' data, not a change anyone made to the box."""
    with session_factory.begin() as session:
        group = Group(account_id=shop, name="Newsletter")
        session.add(group)
    with session_factory.begin() as session:
        contact = Contact(account_id=shop, msisdn="+48601000111")
        session.add(contact)
        session.flush()
        session.add(GroupMember(group_id=group.id, contact_id=contact.id))
    assert [e.action for e in entries(session_factory)] == ["account.create", "group.create"]
