"""REST API v1 configuration CRUD (DESIGN §4.3): accounts, access numbers, keywords, groups, contacts
(with CSV), autoresponders, polls and contests (with draws)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender
from appliance.codecs.sms_pdu import encode_sms_deliver
from appliance.db.models import ContestEntry, GroupSend, OutboundSms, PollVote
from appliance.reception.store import MessageStore, ReceivedPdu
from appliance.web.api_config import normalise_msisdn
from appliance.web.tokens import create_token
from tests.web.conftest import Store


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "integration", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


class Api:
    def __init__(self, client: FlaskClient, headers: dict[str, str]):
        self.client, self.headers = client, headers

    def post(self, path: str, body: Any, status: int = 201) -> Any:
        response = self.client.post(f"/api/v1{path}", json=body, headers=self.headers)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def put(self, path: str, body: Any, status: int = 200) -> Any:
        response = self.client.put(f"/api/v1{path}", json=body, headers=self.headers)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def get(self, path: str, status: int = 200) -> Any:
        response = self.client.get(f"/api/v1{path}", headers=self.headers)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def items(self, path: str) -> list[Any]:
        """A whole list (every list is a page: ``{"items", "next_after_id"}``; these fit in one)."""
        page = self.get(path)
        assert page["next_after_id"] is None
        return page["items"]

    def delete(self, path: str, status: int = 204) -> Any:
        response = self.client.delete(f"/api/v1{path}", headers=self.headers)
        assert response.status_code == status, response.get_json()
        return response.get_json(silent=True)


@pytest.fixture
def api(client: FlaskClient, admin: dict[str, str]) -> Api:
    return Api(client, admin)


def test_accounts_crud(api: Api) -> None:
    created = api.post("/accounts", {"name": "Ogrody Kowalski"})
    assert created["name"] == "Ogrody Kowalski" and isinstance(created["id"], int)
    assert api.get(f"/accounts/{created['id']}") == created
    assert api.items("/accounts") == [created]
    assert api.put(f"/accounts/{created['id']}", {"name": "Ogrody Nowak"})["name"] == "Ogrody Nowak"
    api.delete(f"/accounts/{created['id']}")
    assert api.get(f"/accounts/{created['id']}", status=404)["error"]["code"] == "not_found"


def test_a_duplicate_account_name_is_a_conflict(api: Api) -> None:
    api.post("/accounts", {"name": "Sklep"})
    assert "exists already" in api.post("/accounts", {"name": "Sklep"}, status=409)["error"]["message"]


def test_a_read_only_token_reads_and_does_not_write(client: FlaskClient, auth: dict[str, str],
                                                    api: Api) -> None:
    account = api.post("/accounts", {"name": "A"})
    assert client.get("/api/v1/accounts", headers=auth).status_code == 200
    for method, path in (("post", "/api/v1/accounts"), ("put", f"/api/v1/accounts/{account['id']}"),
                         ("delete", f"/api/v1/accounts/{account['id']}"), ("post", "/api/v1/groups")):
        response = getattr(client, method)(path, json={"name": "B"}, headers=auth)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/accounts").status_code == 401


def test_access_numbers_crud_and_validation(api: Api) -> None:
    account = api.post("/accounts", {"name": "A"})
    number = api.post("/access-numbers", {"number": "+48 500 100 200", "iccid": "8948000000000000001",
                                          "kind": "dedicated", "account": account["id"], "mms_enabled": True,
                                          "mmsc_url": "http://mms.example/mms", "mms_apn": "mms",
                                          "mms_apn_password": "secret"})
    assert {k: number[k] for k in ("number", "iccid", "kind", "account", "mms_enabled", "mmsc_url", "mms_apn")} == {
        "number": "+48500100200", "iccid": "8948000000000000001", "kind": "dedicated", "account": account["id"],
        "mms_enabled": True, "mmsc_url": "http://mms.example/mms", "mms_apn": "mms"}
    assert number["mms_apn_password_set"] is True and "mms_apn_password" not in number
    unassigned = api.post("/access-numbers", {"number": "+48500100201", "iccid": "8948000000000000002"})
    assert (unassigned["kind"], unassigned["account"]) == ("dedicated", None)
    assert api.put(f"/access-numbers/{unassigned['id']}", {"account": account["id"]})["account"] == account["id"]

    error = api.post("/access-numbers", {"number": "+48500100200", "iccid": "8948000000000000003"}, status=409)
    assert "number +48500100200" in error["error"]["message"]
    error = api.post("/access-numbers", {"number": "+48500100203", "iccid": "8948000000000000003",
                                         "kind": "shared", "account": account["id"]}, status=400)
    assert error["error"]["message"].startswith("account:")
    assert api.post("/access-numbers", {"iccid": "8948000000000000003"}, status=400)["error"]["message"] == (
        "number: is required")
    assert api.post("/access-numbers", {"number": "+48500100203", "iccid": "8948000000000000003",
                                        "kind": "mixed"}, status=400)["error"]["message"].startswith("kind:")

    assert "2 access numbers" in api.delete(f"/accounts/{account['id']}", status=409)["error"]["message"]
    api.delete(f"/access-numbers/{unassigned['id']}")
    assert [n["id"] for n in api.items("/access-numbers")] == [number["id"]]


def _shared_setup(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    a = api.post("/accounts", {"name": "A"})
    b = api.post("/accounts", {"name": "B"})
    number = api.post("/access-numbers", {"number": "+48500100200", "iccid": "8948000000000000001",
                                          "kind": "shared"})
    return a, b, number


def test_keywords_crud_with_actions(api: Api) -> None:
    a, _b, number = _shared_setup(api)
    group = api.post("/groups", {"account": a["id"], "name": "Ogrodnicy"})
    poll = api.post("/polls", {"account": a["id"], "question": "Który?", "options": [{"code": "A", "label": "Róża"}]})
    contest = api.post("/contests", {"account": a["id"], "answer": "Kraków"})
    crm = api.post("/forward-targets", {"account": a["id"], "kind": "url", "address": "https://crm.example/sms"})
    actions = [{"type": "join_group", "group": group["id"]}, {"type": "autoreply", "text": "Dzięki, {name}!"},
               {"type": "poll_vote", "poll": poll["id"]}, {"type": "contest_entry", "contest": contest["id"]},
               {"type": "leave_groups"}, {"type": "forward", "target": crm["id"]}]
    keyword = api.post("/keywords", {"access_number": number["id"], "account": a["id"], "keyword": "OGRÓD",
                                     "mode": "base", "typo_tolerant": True, "actions": actions})
    assert {k: keyword[k] for k in ("access_number", "account", "keyword", "mode", "typo_tolerant", "actions")} == {
        "access_number": number["id"], "account": a["id"], "keyword": "OGRÓD", "mode": "base",
        "typo_tolerant": True, "actions": actions}
    assert api.get(f"/keywords/{keyword['id']}") == keyword
    # The access number may be given by its number too.
    by_number = api.post("/keywords", {"access_number": "+48500100200", "account": a["id"], "keyword": "PROMO",
                                       "mode": "exact"})
    assert by_number["access_number"] == number["id"]
    updated = api.put(f"/keywords/{by_number['id']}", {"mode": "phrase", "actions": []})
    assert updated["mode"] == "phrase" and updated["keyword"] == "PROMO"
    assert [k["id"] for k in api.items(f"/keywords?account={a['id']}")] == [keyword["id"], by_number["id"]]
    # A group or forward target used by a keyword cannot go away under it.
    assert "keywords" in api.delete(f"/groups/{group['id']}", status=409)["error"]["message"]
    assert "OGRÓD" in api.delete(f"/forward-targets/{crm['id']}", status=409)["error"]["message"]
    api.delete(f"/keywords/{by_number['id']}")
    api.get(f"/keywords/{by_number['id']}", status=404)


def test_a_keyword_conflict_is_409_with_the_reservation_message(api: Api) -> None:
    a, b, number = _shared_setup(api)
    api.post("/keywords", {"access_number": number["id"], "account": a["id"], "keyword": "OGRODNIK"})
    error = api.post("/keywords", {"access_number": number["id"], "account": b["id"], "keyword": "ogrodnik!"},
                     status=409)["error"]
    assert error["code"] == "keyword_conflict"
    assert error["message"].startswith('Keyword "ogrodnik!" is already taken on +48500100200')
    error = api.post("/keywords", {"access_number": number["id"], "account": b["id"], "keyword": "POMOC"},
                     status=409)["error"]
    assert "reserved word on shared numbers" in error["message"]
    error = api.post("/keywords", {"access_number": number["id"], "account": b["id"], "keyword": "OGRODNIK ROSE"},
                     status=409)["error"]
    assert "would take messages that begin with" in error["message"]
    # An edit is checked against the other keywords, not against itself.
    own = api.post("/keywords", {"access_number": number["id"], "account": b["id"], "keyword": "KWIATY"})
    assert api.put(f"/keywords/{own['id']}", {"keyword": "kwiaty", "typo_tolerant": True})["keyword"] == "kwiaty"
    assert api.put(f"/keywords/{own['id']}", {"keyword": "Ogrodnik"}, status=409)["error"]["code"] == (
        "keyword_conflict")


@pytest.mark.parametrize(("actions", "field"), [
    ("join", "actions:"),
    ([{"type": "dance"}], "actions[0].type:"),
    ([{"type": "join_group"}], "actions[0].group:"),
    ([{"type": "join_group", "group": 999}], "actions[0].group:"),
    ([{"type": "leave_groups"}, {"type": "autoreply", "text": " "}], "actions[1].text:"),
    ([{"type": "forward", "target": "x"}], "actions[0].target:"),
])
def test_invalid_actions_are_400_naming_the_field(api: Api, actions: Any, field: str) -> None:
    a, _b, number = _shared_setup(api)
    error = api.post("/keywords", {"access_number": number["id"], "account": a["id"], "keyword": "X",
                                   "actions": actions}, status=400)["error"]
    assert error["code"] == "invalid_field" and error["message"].startswith(field)


def test_an_action_cannot_use_another_accounts_group(api: Api) -> None:
    a, b, number = _shared_setup(api)
    group = api.post("/groups", {"account": b["id"], "name": "B's"})
    error = api.post("/keywords", {"access_number": number["id"], "account": a["id"], "keyword": "X",
                                   "actions": [{"type": "join_group", "group": group["id"]}]}, status=400)["error"]
    assert f"belongs to account {b['id']}" in error["message"]


def test_a_dedicated_numbers_keywords_are_its_owners(api: Api) -> None:
    a, b, _ = _shared_setup(api)
    own = api.post("/access-numbers", {"number": "+48500100300", "iccid": "8948000000000000009",
                                       "account": a["id"]})
    keyword = api.post("/keywords", {"access_number": own["id"], "keyword": "STOP TERAZ"}, status=409)
    assert "opts the sender out" in keyword["error"]["message"]
    keyword = api.post("/keywords", {"access_number": own["id"], "keyword": "POMOC"})
    assert keyword["account"] == a["id"]  # reserved words are free on a dedicated number
    api.post("/keywords", {"access_number": own["id"], "account": b["id"], "keyword": "Y"}, status=400)


def test_groups_and_contacts_crud(api: Api) -> None:
    a, b, _ = _shared_setup(api)
    group = api.post("/groups", {"account": a["id"], "name": "Newsletter"})
    assert (group["account"], group["name"]) == (a["id"], "Newsletter")
    assert api.post("/groups", {"account": a["id"], "name": "Newsletter"}, status=409)["error"]["code"] == "conflict"
    api.post("/groups", {"account": b["id"], "name": "Newsletter"})  # another account's namespace
    contact = api.post("/contacts", {"account": a["id"], "msisdn": "600 100 200", "name": "Zażółć Gęślą",
                                     "groups": [group["id"]]})
    assert {k: contact[k] for k in ("account", "msisdn", "name", "groups", "opted_out_at")} == {
        "account": a["id"], "msisdn": "+48600100200", "name": "Zażółć Gęślą", "groups": [group["id"]],
        "opted_out_at": None}
    assert api.post("/contacts", {"account": a["id"], "msisdn": "+48600100200"}, status=409)["error"]["code"] == (
        "conflict")
    assert api.items(f"/groups/{group['id']}/members") == [contact]
    changed = api.put(f"/contacts/{contact['id']}", {"opted_out_at": "2026-05-01T12:00:00+02:00", "groups": []})
    assert (changed["opted_out_at"], changed["groups"]) == ("2026-05-01T10:00:00Z", [])
    assert api.items(f"/groups/{group['id']}/members") == []
    api.put(f"/contacts/{contact['id']}", {"groups": [group["id"]]})
    # A group with members can be deleted; its contacts stay.
    api.delete(f"/groups/{group['id']}")
    assert api.get(f"/contacts/{contact['id']}")["groups"] == []
    api.delete(f"/contacts/{contact['id']}")
    assert api.items(f"/contacts?account={a['id']}") == []


@pytest.mark.parametrize(("body", "message"), [
    ({"msisdn": "12345"}, "msisdn:"),
    ({"msisdn": "+48600100200", "groups": "1"}, "groups:"),
    ({"msisdn": "+48600100200", "groups": [999]}, "groups[0]:"),
    ({"msisdn": "+48600100200", "opted_out_at": "yesterday"}, "opted_out_at:"),
    ({"msisdn": "+48600100200", "name": 5}, "name:"),
])
def test_invalid_contacts_are_400_naming_the_field(api: Api, body: dict[str, Any], message: str) -> None:
    account = api.post("/accounts", {"name": "A"})
    error = api.post("/contacts", {"account": account["id"], **body}, status=400)["error"]
    assert error["message"].startswith(message), error


@pytest.mark.parametrize(("raw", "expected"), [
    ("600100200", "+48600100200"), ("600 100 200", "+48600100200"), ("600-100-200", "+48600100200"),
    ("48600100200", "+48600100200"), ("0048600100200", "+48600100200"), ("+44 7700 900123", "+447700900123"),
    ("(22) 123-45-67", "+48221234567"),
])
def test_numbers_are_normalised_with_48_for_nine_digits(raw: str, expected: str) -> None:
    assert normalise_msisdn(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "7700900123", "+48 abc", "+1234"])
def test_numbers_that_cannot_be_normalised_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_msisdn(raw)


def test_contacts_csv_round_trip_with_polish_names_and_bad_lines(client: FlaskClient, api: Api) -> None:
    a = api.post("/accounts", {"name": "A"})
    copy = api.post("/accounts", {"name": "Kopia"})
    group = api.post("/groups", {"account": a["id"], "name": "Klienci"})
    api.post("/contacts", {"account": a["id"], "msisdn": "+48600000009", "name": "Stary"})
    upload = ("msisdn,name\r\n600 100 200,Zażółć Gęślą Jaźń\r\n+48600100201,\"Łukasz, Ślązak\"\r\n"
              "abc,Zły numer\r\n\r\n600100200,Duplikat\r\n48600000009,Nowy Stary\r\n,Bez numeru\r\n"
              "+48600100202,=HYPERLINK(\"x\")\r\n")
    response = client.post(f"/api/v1/contacts/import?account={a['id']}&group={group['id']}",
                           data=upload.encode(), content_type="text/csv", headers=api.headers)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["imported"], report["updated"]) == (3, 1)
    assert report["skipped"] == [
        {"line": 4, "reason": "'abc' is not a phone number"},
        {"line": 6, "reason": "+48600100200 is on line 2 already"},
        {"line": 8, "reason": "no msisdn"},
    ]
    members = api.items(f"/groups/{group['id']}/members")
    assert sorted(m["msisdn"] for m in members) == ["+48600000009", "+48600100200", "+48600100201", "+48600100202"]

    exported = client.get(f"/api/v1/contacts.csv?account={a['id']}", headers=api.headers)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.data.startswith("\ufeff".encode())  # for Excel
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0] == ["msisdn", "name", "groups", "opted_out_at"]
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number["+48600100200"] == ["+48600100200", "Zażółć Gęślą Jaźń", "Klienci", ""]
    assert by_number["+48600100201"][1] == "Łukasz, Ślązak"
    assert by_number["+48600000009"][1] == "Nowy Stary"
    assert by_number["+48600100202"][1] == "'=HYPERLINK(\"x\")"  # no formula when opened in a spreadsheet

    # The export imports into another account as it is.
    again = client.post(f"/api/v1/contacts/import?account={copy['id']}", data=exported.data,
                        content_type="text/csv", headers=api.headers).get_json()
    assert (again["imported"], again["skipped"]) == (4, [])
    assert {(c["msisdn"], c["name"]) for c in api.items(f"/contacts?account={copy['id']}")} == {
        (c["msisdn"], c["name"]) for c in api.items(f"/contacts?account={a['id']}")}


def test_an_excel_semicolon_cp1250_file_imports(client: FlaskClient, api: Api) -> None:
    a = api.post("/accounts", {"name": "A"})
    data = "Telefon;Name\r\n600100200;Gżegżółka\r\n".encode("cp1250")
    report = client.post(f"/api/v1/contacts/import?account={a['id']}", data=data, content_type="text/csv",
                         headers=api.headers).get_json()
    assert report["imported"] == 1
    assert api.items(f"/contacts?account={a['id']}")[0]["name"] == "Gżegżółka"


def test_an_import_without_an_msisdn_column_is_refused(client: FlaskClient, api: Api) -> None:
    a = api.post("/accounts", {"name": "A"})
    response = client.post(f"/api/v1/contacts/import?account={a['id']}", data=b"name\r\nJan\r\n",
                           content_type="text/csv", headers=api.headers)
    assert response.status_code == 400 and "msisdn column" in response.get_json()["error"]["message"]
    assert client.post("/api/v1/contacts/import", data=b"msisdn\r\n", content_type="text/csv",
                       headers=api.headers).status_code == 400


def test_autoresponders_crud(api: Api) -> None:
    a, b, number = _shared_setup(api)
    keyword = api.post("/keywords", {"access_number": number["id"], "account": a["id"], "keyword": "OGRÓD"})
    body = {"account": a["id"], "access_number": number["id"], "keyword": keyword["id"],
            "text": "Dziękujemy {name}!", "max_per_sender": 2, "window_seconds": 3600}
    created = api.post("/autoresponders", body)
    assert {k: created[k] for k in body} == body and created["enabled"] is True
    assert api.put(f"/autoresponders/{created['id']}", {"enabled": False})["enabled"] is False
    assert api.items("/autoresponders")[0]["enabled"] is False
    assert api.post("/autoresponders", {**body, "account": b["id"]}, status=400)["error"]["message"].startswith(
        "keyword:")
    assert api.post("/autoresponders", {**body, "max_per_sender": 0}, status=400)["error"]["message"].startswith(
        "max_per_sender:")
    assert "autoresponders" in api.delete(f"/keywords/{keyword['id']}", status=409)["error"]["message"]
    api.delete(f"/autoresponders/{created['id']}")
    api.delete(f"/keywords/{keyword['id']}")


def test_polls_crud_and_results(api: Api, store: Store, session_factory: sessionmaker[Session]) -> None:
    a = api.post("/accounts", {"name": "A"})
    body = {"account": a["id"], "question": "Ulubiony kwiat?", "policy": "keep_last",
            "options": [{"code": "A", "label": "Róża"}, {"code": "B", "label": "Tulipan"},
                        {"code": "C", "label": "Bez"}],
            "opens_at": "2026-05-01T08:00:00Z", "closes_at": "2026-05-02T08:00:00Z",
            "confirmation": "Dzięki za głos!", "closed_reply": "Głosowanie zamknięte."}
    poll = api.post("/polls", body)
    assert {k: poll[k] for k in body} == body
    message = store.message()
    with session_factory.begin() as session:
        for n, code in enumerate(["A", "B", "A", "A"]):
            session.add(PollVote(poll_id=poll["id"], msisdn=f"+4860000000{n}", option_code=code,
                                 message_id=message.id))
    results = api.get(f"/polls/{poll['id']}/results")
    assert [(o["code"], o["votes"]) for o in results["options"]] == [("A", 3), ("B", 1), ("C", 0)]
    assert results["voters"] == 4
    assert api.put(f"/polls/{poll['id']}", {"closes_at": "2026-04-01T00:00:00Z"}, status=400)["error"][
        "message"] == "closes_at: must be after opens_at"
    assert api.post("/polls", {**body, "options": [{"code": "a"}, {"code": "A"}]}, status=400)["error"][
        "message"].startswith("options[1].code:")
    assert api.post("/polls", {**body, "policy": "keep_all"}, status=400)["error"]["message"].startswith("policy:")
    api.delete(f"/polls/{poll['id']}")
    api.get(f"/polls/{poll['id']}/results", status=404)


def _entries(store: Store, session_factory: sessionmaker[Session], contest_id: int, count: int) -> None:
    message = store.message()
    start = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with session_factory.begin() as session:
        for n in range(count):
            session.add(ContestEntry(contest_id=contest_id, msisdn=f"+486000000{n:02d}", answer="Kraków",
                                     correct=n % 4 != 3, message_id=message.id,
                                     entered_at=start + timedelta(seconds=n)))


def test_contests_crud_and_reproducible_draws(api: Api, store: Store,
                                              session_factory: sessionmaker[Session]) -> None:
    a = api.post("/accounts", {"name": "A"})
    body = {"account": a["id"], "name": "Majówka", "answer": "Kraków", "opens_at": "2026-05-01T00:00:00Z",
            "closes_at": "2026-05-03T00:00:00Z", "entries_per_number": 2}
    contest = api.post("/contests", body)
    assert {k: contest[k] for k in body} == body
    assert api.post(f"/contests/{contest['id']}/draw", {"winners": 3}, status=409)["error"]["code"] == "no_entries"
    _entries(store, session_factory, contest["id"], 40)
    entries = api.items(f"/contests/{contest['id']}/entries")
    assert len(entries) == 40 and entries[0]["msisdn"] == "+48600000000"
    correct = {e["msisdn"] for e in entries if e["correct"]}

    first = api.post(f"/contests/{contest['id']}/draw", {"winners": 5})
    assert len(first["seed"]) == 32 and len(first["winners"]) == 5 and set(first["winners"]) <= correct
    replay = api.post(f"/contests/{contest['id']}/draw", {"winners": 5, "seed": first["seed"]})
    assert replay["winners"] == first["winners"]
    other = api.post(f"/contests/{contest['id']}/draw", {"winners": 5, "seed": "another seed"})
    assert other["winners"] != first["winners"]
    earliest = api.post(f"/contests/{contest['id']}/draw", {"winners": 3, "method": "first_correct"})
    assert earliest["winners"] == ["+48600000000", "+48600000001", "+48600000002"]
    assert [d["seed"] for d in api.items(f"/contests/{contest['id']}/draws")] == [
        first["seed"], first["seed"], "another seed", earliest["seed"]]

    assert api.post(f"/contests/{contest['id']}/draw", {"winners": 0}, status=400)["error"]["message"].startswith(
        "winners:")
    assert api.post(f"/contests/{contest['id']}/draw", {"winners": 1, "method": "lottery"},
                    status=400)["error"]["message"].startswith("method:")
    assert api.put(f"/contests/{contest['id']}", {"entries_per_number": 0}, status=400)["error"][
        "message"].startswith("entries_per_number:")
    api.delete(f"/contests/{contest['id']}")
    api.get(f"/contests/{contest['id']}", status=404)


def test_unknown_ids_are_404_and_bad_bodies_400(api: Api) -> None:
    for path in ("/accounts/9", "/access-numbers/9", "/keywords/9", "/groups/9", "/groups/9/members",
                 "/contacts/9", "/autoresponders/9", "/polls/9", "/contests/9", "/contests/9/entries"):
        assert api.get(path, status=404)["error"]["code"] == "not_found", path
    assert api.post("/accounts", ["not", "an", "object"], status=400)["error"]["code"] == "invalid_body"
    assert api.post("/groups", {"account": 9, "name": "x"}, status=400)["error"]["message"] == (
        "account: no account with id 9")


def test_an_unreadable_csv_imports_nothing(client: FlaskClient, api: Api) -> None:
    a = api.post("/accounts", {"name": "A"})
    response = client.post(f"/api/v1/contacts/import?account={a['id']}",
                           data=b"msisdn,name\r\n600100200,Jan\r\n600100201,J\x00an\r\n",
                           content_type="text/csv", headers=api.headers)
    assert response.status_code == 400 and "nothing was imported" in response.get_json()["error"]["message"]
    assert api.items(f"/contacts?account={a['id']}") == []


# --- opt-out words and default replies -----------------------------------------------------------

def test_an_account_s_opt_out_words_are_kept_as_typed_and_replaced_whole(api: Api) -> None:
    account = api.post("/accounts", {"name": "Pizzeria", "opt_out_words": [" WYPISZ ", "Rezygnuję", "nie  chcę"]})
    assert account["opt_out_words"] == ["WYPISZ", "Rezygnuję", "nie chcę"]
    assert api.get(f"/accounts/{account['id']}")["opt_out_words"] == ["WYPISZ", "Rezygnuję", "nie chcę"]
    assert api.put(f"/accounts/{account['id']}", {"name": "Pizzeria Roma"})["opt_out_words"] == [
        "WYPISZ", "Rezygnuję", "nie chcę"]  # untouched when not sent
    assert api.put(f"/accounts/{account['id']}", {"opt_out_words": ["NIE"]})["opt_out_words"] == ["NIE"]
    assert api.put(f"/accounts/{account['id']}", {"opt_out_words": []})["opt_out_words"] == []
    assert api.post("/accounts", {"name": "Bez słów"})["opt_out_words"] == []


@pytest.mark.parametrize(("words", "message"), [
    ("WYPISZ", "opt_out_words: must be a list of words"),
    ([["WYPISZ"]], "opt_out_words[0]: must be a string, not list"),
    (["WYPISZ", " !? 🙂 "], "opt_out_words[1]: '!? 🙂' has no letters or digits"),
    (["Stop proszę"], "opt_out_words[0]: 'Stop proszę' begins with STOP, which opts senders out on every number"),
    (["REZYGNUJĘ", "rezygnuje!"], "opt_out_words[1]: 'rezygnuje!' is the same word as opt_out_words[0]"),
    ([f"SŁOWO{n}" for n in range(21)], "opt_out_words: at most 20 words, not 21"),
    (["X" * 161], "opt_out_words[0]: must be at most 160 characters"),
])
def test_bad_opt_out_words_are_400_naming_the_word(api: Api, words: Any, message: str) -> None:
    account = api.post("/accounts", {"name": "A"})
    error = api.put(f"/accounts/{account['id']}", {"opt_out_words": words}, status=400)["error"]
    assert error["code"] == "invalid_field" and error["message"].startswith(message)
    assert api.get(f"/accounts/{account['id']}")["opt_out_words"] == []


def test_an_opt_out_word_may_not_take_a_keyword_s_messages_nor_a_keyword_begin_with_one(api: Api) -> None:
    a, b, shared = _shared_setup(api)
    own = api.post("/access-numbers", {"number": "+48500100300", "iccid": "8948000000000000009", "account": a["id"]})
    others = api.post("/access-numbers", {"number": "+48500100400", "iccid": "8948000000000000010",
                                          "account": b["id"]})
    api.post("/keywords", {"access_number": own["id"], "keyword": "KONIEC PROMOCJI"})
    api.post("/keywords", {"access_number": shared["id"], "account": b["id"], "keyword": "PIZZA"})
    api.post("/keywords", {"access_number": others["id"], "keyword": "BASTA"})

    error = api.put(f"/accounts/{a['id']}", {"opt_out_words": ["koniec"]}, status=409)["error"]
    assert error["code"] == "keyword_conflict"
    assert error["message"].startswith('The opt-out word "koniec" would take the messages of keyword '
                                       '"KONIEC PROMOCJI"')
    error = api.put(f"/accounts/{a['id']}", {"opt_out_words": ["Pizza"]}, status=409)["error"]
    assert "PIZZA" in error["message"] and "+48500100200" in error["message"]  # a shared number's keyword
    # Another account's dedicated number never hears account A's words.
    assert api.put(f"/accounts/{a['id']}", {"opt_out_words": ["BASTA"]})["opt_out_words"] == ["BASTA"]

    error = api.post("/keywords", {"access_number": own["id"], "keyword": "basta teraz"}, status=409)["error"]
    assert error["code"] == "keyword_conflict"
    assert f'begins with "BASTA", an opt-out word of account {a["id"]}' in error["message"]
    error = api.post("/keywords", {"access_number": shared["id"], "account": b["id"], "keyword": "BASTA"},
                     status=409)["error"]
    assert f"an opt-out word of account {a['id']}" in error["message"]


def test_an_opt_out_word_set_through_the_api_keeps_the_sender_out_of_later_group_sends(
        api: Api, session_factory: sessionmaker[Session]) -> None:
    shop = api.post("/accounts", {"name": "Kwiaciarnia"})
    number = api.post("/access-numbers", {"number": "+48500100300", "iccid": "8948000000000000009",
                                          "account": shop["id"]})
    group = api.post("/groups", {"account": shop["id"], "name": "Klienci"})
    api.post("/keywords", {"access_number": number["id"], "keyword": "KWIATY",
                           "actions": [{"type": "join_group", "group": group["id"]}]})
    store = MessageStore(session_factory, partial_timeout=timedelta(hours=24))  # running before the change
    sent = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    for second, (sender, text) in enumerate([("+48600100200", "kwiaty"), ("+48600100300", "KWIATY"),
                                             ("+48600100200", "Rezygnuję z SMS-ów")]):
        if second == 2:
            api.put(f"/accounts/{shop['id']}", {"opt_out_words": ["REZYGNUJĘ"]})
        store.store([ReceivedPdu("8948000000000000009", pdu)
                     for pdu in encode_sms_deliver(sender, text, sent + timedelta(seconds=second))])
    assert [m["msisdn"] for m in api.items(f"/groups/{group['id']}/members")] == ["+48600100300"]
    opted_out = api.items(f"/contacts?account={shop['id']}")
    assert [(c["msisdn"], c["opted_out_at"] is not None) for c in opted_out] == [
        ("+48600100200", True), ("+48600100300", False)]

    with session_factory.begin() as session:
        session.add(GroupSend(account_id=shop["id"], group_id=group["id"], access_number_id=number["id"],
                              text="Tulipany -20%"))
    GroupSender(session_factory).run_due()
    with session_factory() as session:
        assert session.execute(select(OutboundSms.recipient, OutboundSms.text)).all() == [
            ("+48600100300", "Tulipany -20%")]


def test_an_access_number_s_default_reply_is_set_and_cleared(api: Api) -> None:
    _a, _b, number = _shared_setup(api)
    assert number["unmatched_reply"] is None
    updated = api.put(f"/access-numbers/{number['id']}", {"unmatched_reply": " Nie znamy tego hasła. "})
    assert updated["unmatched_reply"] == "Nie znamy tego hasła."
    assert api.get(f"/access-numbers/{number['id']}")["unmatched_reply"] == "Nie znamy tego hasła."
    assert api.put(f"/access-numbers/{number['id']}", {"unmatched_reply": ""})["unmatched_reply"] is None
    error = api.put(f"/access-numbers/{number['id']}", {"unmatched_reply": 7}, status=400)["error"]
    assert error["message"] == "unmatched_reply: must be a string, not int"
