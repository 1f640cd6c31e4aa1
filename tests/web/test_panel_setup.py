"""The setup pages: access numbers (binding a SIM, MMS presets), keywords with their actions, and
autoresponders. Their forms are checked by the REST API's own code: what it refuses, they refuse,
with its message next to the field, status 400 (409 for a conflict) and nothing written."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Autoresponder, Group, Keyword
from tests.web.conftest import Store

UNASSIGNED_ICCID = "8948060000000000017"


def form_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, path
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None, path
    return token.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any], *, form: str | None = None) -> Any:
    """Posts ``data`` with the CSRF token of the page at ``form`` (default: ``path`` itself)."""
    return client.post(path, data={"csrf_token": form_token(client, form or path), **data})


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def add(sessions: sessionmaker[Session], row: Any) -> int:
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return int(row.id)


@dataclass
class World:
    """Two businesses: Ogrody on a shared number and its own dedicated one, Roma on its dedicated one."""

    ogrody: int
    roma: int
    shared: int
    ogrody_number: int
    roma_number: int
    newsletter: int
    roma_group: int
    roma_keyword: int


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    ogrody = add(session_factory, Account(name="Ogrody Kowalski", opt_out_words=["KONIEC"]))
    roma = add(session_factory, Account(name="Pizzeria Roma", opt_out_words=[]))
    shared = add(session_factory, AccessNumber(number="+48500100200", iccid="8948030000000000011", kind="shared"))
    ogrody_number = add(session_factory, AccessNumber(number="+48500100300", iccid="8948030000000000029",
                                                      kind="dedicated", account_id=ogrody,
                                                      unmatched_reply="Dziękujemy!"))
    roma_number = add(session_factory, AccessNumber(number="+48500100400", iccid="8948030000000000037",
                                                    kind="dedicated", account_id=roma))
    newsletter = add(session_factory, Group(account_id=ogrody, name="Newsletter"))
    roma_group = add(session_factory, Group(account_id=roma, name="Stali klienci"))
    roma_keyword = add(session_factory, Keyword(access_number_id=shared, account_id=roma, keyword="PIZZA",
                                                mode="base", typo_tolerant=False, actions=[]))
    return World(ogrody, roma, shared, ogrody_number, roma_number, newsletter, roma_group, roma_keyword)


@pytest.fixture
def ogrody_user(users, signed_in, world: World) -> FlaskClient:
    return signed_in(users.create("ogrody@example.com", admin=False, account_id=world.ogrody))


def stored(sessions: sessionmaker[Session], model: Any, **where: Any) -> list[Any]:
    with sessions() as session:
        return list(session.scalars(select(model).filter_by(**where)))


# --- access numbers ------------------------------------------------------------------------------

def test_the_list_shows_each_number_with_its_sim_kind_account_mms_and_default_reply(
        panel: FlaskClient, world: World, store: Store) -> None:
    store.modem(iccid="8948030000000000029", operator="Orange PL", state="ready")

    page = text(panel.get("/access-numbers"))

    row = page[page.index(f'id="access-number-{world.ogrody_number}"'):]
    row = row[:row.index("</tr>")]
    assert "+48500100300" in row and "8948030000000000029" in row and "ready" in row and "Orange PL" in row
    assert "dedicated" in row and "Ogrody Kowalski" in row and "Dziękujemy!" in row and "off" in row
    assert "+48500100200" in page and "shared" in page and "not seen in a modem" in page


def test_an_unassigned_sim_is_offered_and_binding_it_makes_an_access_number(
        panel: FlaskClient, world: World, store: Store, session_factory: sessionmaker[Session]) -> None:
    modem = store.modem(iccid=UNASSIGNED_ICCID, imsi="260060000000001", msisdn=None, operator="Play")
    page = text(panel.get("/access-numbers"))
    offer = page[page.index("Bind an unassigned SIM"):]
    assert UNASSIGNED_ICCID in offer and "260060000000001" in offer and "Play" in offer

    response = post(panel, "/access-numbers/bind", {
        "modem": modem.id, f"sim-{modem.id}-number": "+48 790 100 200", f"sim-{modem.id}-kind": "dedicated",
        f"sim-{modem.id}-account": world.roma}, form="/access-numbers")

    [number] = stored(session_factory, AccessNumber, iccid=UNASSIGNED_ICCID)
    assert (number.number, number.kind, number.account_id) == ("+48790100200", "dedicated", world.roma)
    assert response.status_code == 303 and response.location.endswith(f"/access-numbers/{number.id}")
    assert UNASSIGNED_ICCID not in text(panel.get("/access-numbers")).split("Bind an unassigned SIM")[1]


@pytest.mark.parametrize(("fields", "message"), [
    ({"number": "+48790100200", "kind": "shared", "account": "ACCOUNT"},
     "a shared access number belongs to no account"),
    ({"number": "call me", "kind": "dedicated", "account": ""}, "'callme' is not a phone number"),
    ({"number": "+48500100300", "kind": "dedicated", "account": ""}, "already has number +48500100300"),
])
def test_a_binding_the_api_refuses_shows_its_message_and_writes_nothing(
        panel: FlaskClient, world: World, store: Store, session_factory: sessionmaker[Session],
        fields: dict[str, str], message: str) -> None:
    modem = store.modem(iccid=UNASSIGNED_ICCID)
    data = {f"sim-{modem.id}-{name}": str(world.ogrody) if value == "ACCOUNT" else value
            for name, value in fields.items()}

    response = post(panel, "/access-numbers/bind", {"modem": modem.id, **data}, form="/access-numbers")

    assert response.status_code in (400, 409) and message in text(response)
    assert stored(session_factory, AccessNumber, iccid=UNASSIGNED_ICCID) == []


def test_a_binding_without_the_forms_token_is_refused(panel: FlaskClient, store: Store,
                                                      session_factory: sessionmaker[Session]) -> None:
    modem = store.modem(iccid=UNASSIGNED_ICCID)
    response = panel.post("/access-numbers/bind", data={"modem": modem.id, f"sim-{modem.id}-number": "+48790100200",
                                                        f"sim-{modem.id}-kind": "dedicated"})
    assert response.status_code == 400
    assert stored(session_factory, AccessNumber, iccid=UNASSIGNED_ICCID) == []


def admin_edit(world: World, **changes: Any) -> dict[str, Any]:
    data = {"number": "+48500100300", "iccid": "8948030000000000029", "kind": "dedicated", "account": world.ogrody,
            "unmatched_reply": "Dziękujemy!", "mmsc_url": "", "mms_proxy": "", "mms_apn": "", "mms_apn_user": "",
            "mms_apn_password": ""}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not False}


def test_the_operator_presets_are_offered_with_their_settings(panel: FlaskClient, world: World) -> None:
    page = panel.get(f"/access-numbers/{world.ogrody_number}").get_data(as_text=True)
    for name in ("Orange Polska", "Play", "Plus", "T-Mobile Polska", "Heyah"):
        assert f">{name} (260 0" in page
    orange = re.search(r'<option[^>]*value="orange"[^>]*>', page).group(0)  # type: ignore[union-attr]
    assert 'data-mmsc-url="http://mms.orange.pl"' in orange and 'data-mms-proxy="192.168.6.104:8080"' in orange
    assert 'data-mms-apn="mms"' in orange and 'data-mms-apn-user="mms"' in orange


def test_mms_settings_are_saved_and_a_password_left_empty_is_kept(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    path = f"/access-numbers/{world.ogrody_number}"
    orange = {"mms_enabled": "y", "preset": "orange", "mmsc_url": "http://mms.orange.pl",
              "mms_proxy": "192.168.6.104:8080", "mms_apn": "mms", "mms_apn_user": "mms", "mms_apn_password": "mms"}
    assert post(panel, path, admin_edit(world, **orange)).status_code == 303
    [number] = stored(session_factory, AccessNumber, id=world.ogrody_number)
    assert (number.mms_enabled, number.mmsc_url, number.mms_proxy, number.mms_apn, number.mms_apn_user,
            number.mms_apn_password) == (True, "http://mms.orange.pl", "192.168.6.104:8080", "mms", "mms", "mms")
    assert 'value="mms"' not in panel.get(path).get_data(as_text=True).split('id="mms_apn_password"')[1][:80]

    assert post(panel, path, admin_edit(world, **{**orange, "mms_apn_password": ""})).status_code == 303
    assert stored(session_factory, AccessNumber, id=world.ogrody_number)[0].mms_apn_password == "mms"

    play = {"mms_enabled": "y", "mmsc_url": "http://mmsc.play.pl/mms/wapenc", "mms_proxy": "10.10.25.5:8080",
            "mms_apn": "mms", "mms_apn_user": "", "mms_apn_password": "", "clear_password": "y"}
    assert post(panel, path, admin_edit(world, **play)).status_code == 303
    [number] = stored(session_factory, AccessNumber, id=world.ogrody_number)
    assert (number.mmsc_url, number.mms_apn_user, number.mms_apn_password) == (
        "http://mmsc.play.pl/mms/wapenc", None, None)


def test_an_edit_the_api_refuses_is_shown_next_to_its_field_and_nothing_changes(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(panel, f"/access-numbers/{world.shared}", {
        "number": "+48500100200", "iccid": "8948030000000000011", "kind": "shared", "account": "",
        "unmatched_reply": "Nie znamy tego słowa", "mms_enabled": "y"})

    assert response.status_code == 400
    page = text(response)
    mms_field = page[page.index('id="mms_enabled"'):]
    assert "MMS can be enabled on dedicated access numbers only" in mms_field[:600]
    [number] = stored(session_factory, AccessNumber, id=world.shared)
    assert number.mms_enabled is False and number.unmatched_reply is None


def test_a_number_with_keywords_cannot_be_deleted_and_the_page_says_why(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(panel, f"/access-numbers/{world.shared}/delete", {}, form=f"/access-numbers/{world.shared}")

    assert response.status_code == 409
    assert "access number +48500100200 still has 1 keywords; delete them first" in text(response)
    assert stored(session_factory, AccessNumber, id=world.shared) != []

    deleted = post(panel, f"/access-numbers/{world.ogrody_number}/delete", {},
                   form=f"/access-numbers/{world.ogrody_number}")
    assert deleted.status_code == 303 and stored(session_factory, AccessNumber, id=world.ogrody_number) == []


def test_an_account_user_sees_its_own_numbers_and_changes_only_their_default_reply(
        ogrody_user: FlaskClient, world: World, store: Store, session_factory: sessionmaker[Session]) -> None:
    modem = store.modem(iccid=UNASSIGNED_ICCID)
    page = text(ogrody_user.get("/access-numbers"))
    assert "+48500100300" in page
    assert "+48500100400" not in page and "+48500100200" not in page and UNASSIGNED_ICCID not in page
    assert ogrody_user.get(f"/access-numbers/{world.roma_number}").status_code == 404

    path = f"/access-numbers/{world.ogrody_number}"
    response = post(ogrody_user, path, {"unmatched_reply": "Odpiszemy wkrótce", "kind": "shared",
                                        "number": "+48999999999"})
    assert response.status_code == 303
    [number] = stored(session_factory, AccessNumber, id=world.ogrody_number)
    assert (number.unmatched_reply, number.kind, number.number) == ("Odpiszemy wkrótce", "dedicated", "+48500100300")

    assert post(ogrody_user, f"/access-numbers/{world.roma_number}", {"unmatched_reply": "x"},
                form=path).status_code == 404
    assert post(ogrody_user, f"{path}/delete", {}, form=path).status_code == 403
    assert post(ogrody_user, "/access-numbers/bind", {"modem": modem.id, f"sim-{modem.id}-number": "+48790100200"},
                form=path).status_code == 403
    assert stored(session_factory, AccessNumber, iccid=UNASSIGNED_ICCID) == []


# --- keywords ------------------------------------------------------------------------------------

def keyword_form(number: int, keyword: str, *actions: dict[str, Any], account: int | str = "",
                 mode: str = "base", typo: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"access_number": number, "account": account, "keyword": keyword, "mode": mode}
    if typo:
        data["typo_tolerant"] = "y"
    for index, action in enumerate(actions):
        data.update({f"actions-{index}-{name}": value for name, value in action.items()})
    return data


def test_a_keyword_is_reserved_with_its_actions_in_the_order_given(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(panel, "/keywords/new", keyword_form(
        world.shared, "Ogrodnik", {"type": "autoreply", "text": "Witaj {name}!"},
        {"type": "join_group", "group": world.newsletter}, {"type": ""}, {"type": "leave_groups"},
        account=world.ogrody, mode="exact", typo=True))

    assert response.status_code == 303
    [keyword] = stored(session_factory, Keyword, keyword="Ogrodnik")
    assert (keyword.access_number_id, keyword.account_id, keyword.mode, keyword.typo_tolerant) == (
        world.shared, world.ogrody, "exact", True)
    assert keyword.actions == [{"type": "autoreply", "text": "Witaj {name}!"},
                               {"type": "join_group", "group": world.newsletter}, {"type": "leave_groups"}]
    listed = text(panel.get(f"/keywords?access_number={world.shared}"))
    assert "Ogrodnik" in listed and "PIZZA" in listed and "Witaj {name}!" in listed and "Newsletter" in listed


def test_hostile_text_in_a_reply_is_shown_as_text(panel: FlaskClient, world: World,
                                                  session_factory: sessionmaker[Session]) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)"> \u202egnp.exe'
    keyword = add(session_factory, Keyword(access_number_id=world.shared, account_id=world.ogrody, keyword="ZLO",
                                           mode="base", typo_tolerant=False,
                                           actions=[{"type": "autoreply", "text": hostile}]))
    for page in (panel.get("/keywords").get_data(as_text=True),
                 panel.get(f"/keywords/{keyword}").get_data(as_text=True)):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in page


def test_on_a_dedicated_number_none_chosen_means_the_numbers_owner(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    assert post(panel, "/keywords/new", keyword_form(world.roma_number, "MENU")).status_code == 303
    assert stored(session_factory, Keyword, keyword="MENU")[0].account_id == world.roma


def test_the_list_filters_by_access_number(panel: FlaskClient, world: World,
                                           session_factory: sessionmaker[Session]) -> None:
    add(session_factory, Keyword(access_number_id=world.roma_number, account_id=world.roma, keyword="KARTA",
                                 mode="base", typo_tolerant=False, actions=[]))
    everything = text(panel.get("/keywords"))
    assert "PIZZA" in everything and "KARTA" in everything
    shared_only = text(panel.get(f"/keywords?access_number={world.shared}"))
    assert "PIZZA" in shared_only and "KARTA" not in shared_only


def test_a_keyword_another_account_holds_on_a_shared_number_is_refused_next_to_the_keyword(
        ogrody_user: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(ogrody_user, "/keywords/new", keyword_form(world.shared, "pizza!"), form="/keywords/new")

    assert response.status_code == 409
    page = text(response)
    keyword_field = page[page.index('id="keyword"'):]
    assert 'Keyword "pizza!" is already taken on +48500100200' in keyword_field[:1200]
    assert [k.keyword for k in stored(session_factory, Keyword)] == ["PIZZA"]


def test_a_keyword_its_accounts_opt_out_word_would_shadow_is_refused(
        ogrody_user: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(ogrody_user, "/keywords/new", keyword_form(world.ogrody_number, "Koniec promocji"),
                    form="/keywords/new")

    assert response.status_code == 409
    assert 'begins with "KONIEC", an opt-out word of account' in text(response)
    assert stored(session_factory, Keyword, keyword="Koniec promocji") == []


def test_an_action_the_api_refuses_is_shown_in_its_row_and_nothing_is_written(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(panel, "/keywords/new", keyword_form(
        world.shared, "OGRODNIK", {"type": ""}, {"type": "join_group", "group": world.newsletter},
        {"type": "autoreply", "text": "   "}, account=world.ogrody))

    assert response.status_code == 400
    page = text(response)
    row = page[page.index('name="actions-2-text"'):]
    assert "an autoreply needs a non-empty text" in row[:800]
    assert stored(session_factory, Keyword, keyword="OGRODNIK") == []


def test_an_admin_cannot_give_a_keyword_another_accounts_group(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    response = post(panel, "/keywords/new", keyword_form(
        world.ogrody_number, "OGRODNIK", {"type": "join_group", "group": world.roma_group}))

    assert response.status_code == 400
    assert (f"group {world.roma_group} belongs to account {world.roma}, not to the keyword's account "
            f"{world.ogrody}") in text(response)
    assert stored(session_factory, Keyword, keyword="OGRODNIK") == []


def test_an_account_user_is_offered_only_its_own_numbers_and_groups(
        ogrody_user: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    page = text(ogrody_user.get("/keywords/new"))
    assert "+48500100200" in page and "+48500100300" in page and "+48500100400" not in page
    assert "Newsletter" in page and "Stali klienci" not in page

    refused = post(ogrody_user, "/keywords/new", keyword_form(
        world.shared, "OGRODNIK", {"type": "join_group", "group": world.roma_group}))
    assert refused.status_code == 400 and "Not a valid choice" in text(refused)
    assert post(ogrody_user, "/keywords/new", keyword_form(world.roma_number, "OGRODNIK"),
                form="/keywords/new").status_code == 400
    assert stored(session_factory, Keyword, keyword="OGRODNIK") == []

    accepted = post(ogrody_user, "/keywords/new", keyword_form(
        world.shared, "OGRODNIK", {"type": "join_group", "group": world.newsletter}, account=world.roma))
    assert accepted.status_code == 303
    assert stored(session_factory, Keyword, keyword="OGRODNIK")[0].account_id == world.ogrody


def test_another_accounts_keyword_is_not_found_for_an_account_user(
        ogrody_user: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    path = f"/keywords/{world.roma_keyword}"
    assert "PIZZA" not in text(ogrody_user.get("/keywords"))
    assert ogrody_user.get(path).status_code == 404
    assert post(ogrody_user, path, keyword_form(world.shared, "PIZZERIA"), form="/keywords/new").status_code == 404
    assert post(ogrody_user, f"{path}/delete", {}, form="/keywords/new").status_code == 404
    assert [k.keyword for k in stored(session_factory, Keyword)] == ["PIZZA"]


def test_a_keyword_is_edited_and_deleted(panel: FlaskClient, world: World,
                                         session_factory: sessionmaker[Session]) -> None:
    path = f"/keywords/{world.roma_keyword}"
    page = text(panel.get(path))
    assert 'value="PIZZA"' in page

    changed = post(panel, path, keyword_form(world.shared, "PIZZA", {"type": "join_group", "group": world.roma_group},
                                             account=world.roma, mode="phrase"))
    assert changed.status_code == 303
    [keyword] = stored(session_factory, Keyword, id=world.roma_keyword)
    assert keyword.mode == "phrase" and keyword.actions == [{"type": "join_group", "group": world.roma_group}]

    add(session_factory, Autoresponder(account_id=world.roma, keyword_id=world.roma_keyword, text="Smacznego"))
    refused = post(panel, f"{path}/delete", {}, form=path)
    assert refused.status_code == 409 and "has 1 autoresponders; delete them first" in text(refused)
    assert stored(session_factory, Keyword, id=world.roma_keyword) != []


def test_a_keyword_without_the_forms_token_is_refused(panel: FlaskClient, world: World,
                                                      session_factory: sessionmaker[Session]) -> None:
    response = panel.post("/keywords/new", data=keyword_form(world.shared, "OGRODNIK", account=world.ogrody))
    assert response.status_code == 400
    assert stored(session_factory, Keyword, keyword="OGRODNIK") == []


# --- autoresponders ------------------------------------------------------------------------------

def responder_form(**fields: Any) -> dict[str, Any]:
    data = {"access_number": "", "keyword": "", "text": "Dziękujemy, odpiszemy jutro.", "enabled": "y",
            "max_per_sender": "2", "window_hours": "1.5"}
    data.update(fields)
    return data


def test_an_autoresponder_is_created_edited_and_deleted(panel: FlaskClient, world: World,
                                                        session_factory: sessionmaker[Session]) -> None:
    created = post(panel, "/autoresponders/new", responder_form(account=world.roma, access_number=world.shared,
                                                                 keyword=world.roma_keyword))
    assert created.status_code == 303
    [responder] = stored(session_factory, Autoresponder)
    assert (responder.account_id, responder.access_number_id, responder.keyword_id, responder.text,
            responder.enabled, responder.max_per_sender, responder.window_seconds) == (
        world.roma, world.shared, world.roma_keyword, "Dziękujemy, odpiszemy jutro.", True, 2, 5400)
    listed = text(panel.get("/autoresponders"))
    assert "Dziękujemy, odpiszemy jutro." in listed and "2 per 1.5 h" in listed and "Pizzeria Roma" in listed

    path = f"/autoresponders/{responder.id}"
    assert 'value="1.5"' in panel.get(path).get_data(as_text=True)
    edited = post(panel, path, responder_form(account=world.roma, text="Zamknięte", window_hours="24"))
    assert edited.status_code == 303
    [responder] = stored(session_factory, Autoresponder)
    assert (responder.text, responder.enabled, responder.window_seconds, responder.keyword_id) == (
        "Zamknięte", True, 86400, None)

    assert post(panel, f"{path}/delete", {}, form=path).status_code == 303
    assert stored(session_factory, Autoresponder) == []


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"text": "  "}, "text", "must not be empty"),
    ({"max_per_sender": "0"}, "max_per_sender", "must be at least 1, not 0"),
    ({"access_number": "ROMA_NUMBER"}, "access_number", "access number +48500100400 is dedicated to account"),
])
def test_an_autoresponder_the_api_refuses_shows_why_next_to_the_field(
        panel: FlaskClient, world: World, session_factory: sessionmaker[Session],
        fields: dict[str, str], field: str, message: str) -> None:
    fields = {k: str(world.roma_number) if v == "ROMA_NUMBER" else v for k, v in fields.items()}
    response = post(panel, "/autoresponders/new", responder_form(account=world.ogrody, **fields))

    assert response.status_code == 400
    page = text(response)
    assert message in page[page.index(f'id="{field}"'):][:800]
    assert stored(session_factory, Autoresponder) == []


def test_an_account_user_keeps_to_its_own_autoresponders(
        ogrody_user: FlaskClient, world: World, session_factory: sessionmaker[Session]) -> None:
    roma_responder = add(session_factory, Autoresponder(account_id=world.roma, text="Roma odpowiada"))
    created = post(ogrody_user, "/autoresponders/new", responder_form(account=world.roma, text="Ogrody odpowiada"))
    assert created.status_code == 303
    assert [r.account_id for r in stored(session_factory, Autoresponder, text="Ogrody odpowiada")] == [world.ogrody]

    listed = text(ogrody_user.get("/autoresponders"))
    assert "Ogrody odpowiada" in listed and "Roma odpowiada" not in listed
    path = f"/autoresponders/{roma_responder}"
    assert ogrody_user.get(path).status_code == 404
    assert post(ogrody_user, path, responder_form(text="przejęte"), form="/autoresponders/new").status_code == 404
    assert post(ogrody_user, f"{path}/delete", {}, form="/autoresponders/new").status_code == 404
    assert stored(session_factory, Autoresponder, id=roma_responder)[0].text == "Roma odpowiada"


def test_an_autoresponder_without_the_forms_token_is_refused(panel: FlaskClient, world: World,
                                                             session_factory: sessionmaker[Session]) -> None:
    response = panel.post("/autoresponders/new", data=responder_form(account=world.ogrody))
    assert response.status_code == 400
    assert stored(session_factory, Autoresponder) == []

