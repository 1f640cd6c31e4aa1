"""Who may do what through the REST API: the panel's rule (appliance.web.access) on every endpoint.

An admin token does everything. A shop's token reads and changes its own account's rows only: another
shop's row answers 404 as if it did not exist, and naming another account in a body 403. A token of
neither reads every account and changes nothing (403).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from tests.web.two_shops import SHARED_ICCID, Shop, TwoShops, open_two_shops

# Every single row another shop might ask for, with what to send when it is a change.
ROWS = [
    ("GET", "/accounts/{account}"), ("PATCH", "/accounts/{account}"),
    ("GET", "/access-numbers/{number}"), ("PATCH", "/access-numbers/{number}"),
    ("GET", "/keywords/{keyword}"), ("PATCH", "/keywords/{keyword}"), ("DELETE", "/keywords/{keyword}"),
    ("GET", "/groups/{group}"), ("PATCH", "/groups/{group}"), ("DELETE", "/groups/{group}"),
    ("GET", "/groups/{group}/members"),
    ("GET", "/contacts/{contact}"), ("PUT", "/contacts/{contact}"), ("DELETE", "/contacts/{contact}"),
    ("GET", "/autoresponders/{autoresponder}"), ("PATCH", "/autoresponders/{autoresponder}"),
    ("DELETE", "/autoresponders/{autoresponder}"),
    ("GET", "/polls/{poll}"), ("PATCH", "/polls/{poll}"), ("DELETE", "/polls/{poll}"),
    ("GET", "/polls/{poll}/results"),
    ("GET", "/contests/{contest}"), ("PATCH", "/contests/{contest}"), ("GET", "/contests/{contest}/entries"),
    ("GET", "/contests/{contest}/draws"), ("POST", "/contests/{contest}/draw"), ("DELETE", "/contests/{contest}"),
    ("GET", "/forward-targets/{target}"), ("PATCH", "/forward-targets/{target}"),
    ("DELETE", "/forward-targets/{target}"), ("POST", "/forward-targets/{target}/test"),
    ("GET", "/messages/{message}"), ("GET", "/messages/{message}/deliveries"),
    ("GET", "/attachments/{attachment}"), ("GET", "/attachments/{attachment}/thumbnail"),
    ("GET", "/deliveries/{delivery}"), ("POST", "/deliveries/{delivery}/retry"),
    ("GET", "/sms/{sms}"),
    ("GET", "/statistics/keywords/{keyword}"), ("GET", "/statistics/access-numbers/{number}"),
    ("GET", "/access-numbers/{number}/conversations"),
    ("GET", "/access-numbers/{number}/conversations/{sender}"),
    ("POST", "/access-numbers/{number}/conversations/{sender}"),
    ("GET", "/contacts.csv?account={account}"),
]
BODIES = {"/contests/{contest}/draw": {"winners": 1}, "/access-numbers/{number}/conversations/{sender}": {"text": "Hej"}}


@pytest.fixture
def shops(client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings) -> TwoShops:
    return open_two_shops(client, session_factory, settings)


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    return client.open(f"/api/v1{path}", method=method, json=body if body is not None else {}, headers=headers)


def of(shop: Shop, template: str) -> str:
    return template.format(**vars(shop))


def items(client: FlaskClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1{path}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.mark.parametrize(("method", "template"), ROWS)
def test_another_shops_row_is_not_found_with_a_shops_token(client: FlaskClient, shops: TwoShops, method: str,
                                                           template: str) -> None:
    path, body = of(shops.bakery, template), BODIES.get(template.partition("?")[0])
    refused = call(client, method, path, shops.florist.headers, body)
    assert refused.status_code == 404, refused.get_json()
    assert refused.get_json()["error"]["code"] == "not_found"
    assert call(client, method, path, shops.bakery.headers, body).status_code in (200, 201, 204, 409)


def test_lists_hold_only_the_shops_own_rows(client: FlaskClient, shops: TwoShops) -> None:
    florist, token = shops.florist, shops.florist.headers
    assert [a["id"] for a in items(client, "/accounts", token)] == [florist.account]
    assert [n["id"] for n in items(client, "/access-numbers", token)] == [shops.shared_number, florist.number]
    for path in ("/keywords", "/groups", "/contacts", "/autoresponders", "/polls", "/contests", "/forward-targets",
                 "/messages"):
        rows = items(client, path, token)
        assert rows and {row["account"] for row in rows} == {florist.account}, path
    assert [d["id"] for d in items(client, "/deliveries", token)] == [florist.delivery]
    assert {m["iccid"] for m in items(client, "/modems", token)} == {florist.iccid, SHARED_ICCID}
    # Asking for the other shop's rows by filter finds nothing rather than an error.
    assert items(client, f"/keywords?account={shops.bakery.account}", token) == []
    assert items(client, f"/deliveries?target={shops.bakery.target}", token) == []


def test_a_read_only_token_reads_every_shop(client: FlaskClient, shops: TwoShops) -> None:
    for path in ("/keywords", "/groups", "/contacts", "/polls", "/contests", "/forward-targets"):
        accounts = {row["account"] for row in items(client, path, shops.reader)}
        assert accounts == {shops.florist.account, shops.bakery.account}, path
    assert {m["id"] for m in items(client, "/messages", shops.reader)} == {
        shops.florist.message, shops.bakery.message, shops.unmatched_message}
    assert client.get("/api/v1/modem-issues", headers=shops.reader).status_code == 200


def test_a_read_only_token_changes_nothing_anywhere(app: Flask, client: FlaskClient, shops: TwoShops) -> None:
    """Every writing route under /api/v1, the ones added later too, answers 403 to a read-only token."""
    ids = {"ident": shops.florist.keyword, "sender": "%2B48600100201"}
    writes = [(method, re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m[1], shops.florist.number)), rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"})]
    assert len(writes) > 30
    for method, path in writes:
        response = client.open(path, method=method, json={"account": shops.florist.account}, headers=shops.reader)
        assert response.status_code == 403, (method, path, response.get_json())
        assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("path", "body"), [
    ("/groups", {"name": "Stali klienci"}),
    ("/contacts", {"msisdn": "+48600100299"}),
    ("/polls", {"question": "Kiedy?", "options": [{"code": "1"}]}),
    ("/contests", {"answer": "Tak"}),
    ("/autoresponders", {"text": "Zaraz odpiszemy"}),
    ("/forward-targets", {"kind": "email", "address": "sklep@example.com"}),
    ("/keywords", {"access_number": "+48500100200", "keyword": "TULIPANY"}),
])
def test_a_shops_token_creates_for_its_own_account_only(client: FlaskClient, shops: TwoShops, path: str,
                                                        body: dict[str, Any]) -> None:
    refused = call(client, "POST", path, shops.florist.headers, {**body, "account": shops.bakery.account})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert "account" in refused.get_json()["error"]["message"]

    created = call(client, "POST", path, shops.florist.headers, body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["account"] == shops.florist.account


def test_a_shops_token_cannot_give_its_rows_to_another_account(client: FlaskClient, shops: TwoShops) -> None:
    florist = shops.florist
    for path in (f"/keywords/{florist.shared_keyword}", f"/forward-targets/{florist.target}"):
        response = call(client, "PATCH", path, florist.headers, {"account": shops.bakery.account})
        assert response.status_code == 403, path
    response = call(client, "PATCH", f"/keywords/{florist.shared_keyword}", florist.headers, {"account": None})
    assert response.status_code == 403


def test_rows_of_another_shop_cannot_be_named_in_a_body(client: FlaskClient, shops: TwoShops) -> None:
    """Named by id, another shop's row is as unknown as one that does not exist (400, no owner named)."""
    florist, bakery = shops.florist, shops.bakery
    attempts = [
        ("POST", "/keywords", {"access_number": florist.number, "keyword": "X",
                               "actions": [{"type": "join_group", "group": bakery.group}]},
         f"actions[0].group: no group with id {bakery.group}"),
        ("POST", "/keywords", {"access_number": bakery.number, "keyword": "X"},
         f"access_number: no access number with id {bakery.number}"),
        ("POST", "/keywords", {"access_number": "+48500100202", "keyword": "X"},
         "access_number: no access number '+48500100202'"),
        ("POST", "/contacts", {"msisdn": "+48600100298", "groups": [bakery.group]},
         f"groups[0]: no group with id {bakery.group}"),
        ("POST", "/autoresponders", {"text": "x", "keyword": bakery.keyword}, f"keyword: no keyword with id {bakery.keyword}"),
        ("PATCH", f"/forward-targets/{florist.target}", {"keyword": bakery.keyword},
         f"keyword: no keyword with id {bakery.keyword}"),
    ]
    for method, path, body, message in attempts:
        response = call(client, method, path, florist.headers, body)
        assert response.status_code == 400, (path, response.get_json())
        assert response.get_json()["error"]["message"] == message


def test_binding_numbers_accounts_and_hardware_are_the_admins(client: FlaskClient, shops: TwoShops) -> None:
    florist = shops.florist
    refused = [
        ("POST", "/accounts", {"name": "Trzeci sklep"}),
        ("DELETE", f"/accounts/{florist.account}", {}),
        ("POST", "/access-numbers", {"number": "+48500100299", "iccid": "8948000000000000299"}),
        ("DELETE", f"/access-numbers/{florist.number}", {}),
        ("PATCH", f"/access-numbers/{florist.number}", {"iccid": "8948000000000000298"}),
        ("PATCH", f"/access-numbers/{florist.number}", {"kind": "shared", "account": None}),
        ("PATCH", f"/access-numbers/{shops.shared_number}", {"unmatched_reply": "Nie rozumiemy"}),
        ("GET", "/modem-issues", None),
    ]
    for method, path, body in refused:
        response = call(client, method, path, florist.headers, body)
        assert response.status_code == 403, (method, path, response.get_json())

    # What is the shop's own to set.
    number = call(client, "PATCH", f"/access-numbers/{florist.number}", florist.headers,
                  {"unmatched_reply": "Napisz RÓŻE", "number": "+48500100201"})
    assert number.status_code == 200 and number.get_json()["unmatched_reply"] == "Napisz RÓŻE"
    account = call(client, "PATCH", f"/accounts/{florist.account}", florist.headers, {"opt_out_words": ["WYPISZ"]})
    assert account.status_code == 200 and account.get_json()["opt_out_words"] == ["WYPISZ"]


def test_a_shared_number_is_seen_by_every_shop_and_changed_by_the_admin(client: FlaskClient,
                                                                        shops: TwoShops) -> None:
    florist, shared = shops.florist, shops.shared_number
    assert call(client, "GET", f"/access-numbers/{shared}", florist.headers).status_code == 200
    for method, path, body in (("PATCH", f"/access-numbers/{shared}", {"unmatched_reply": "Halo"}),
                               ("GET", f"/statistics/access-numbers/{shared}", None),
                               ("POST", "/sms", {"to": "+48600100201", "text": "Hej", "access_number": "+48500100200"})):
        response = call(client, method, path, florist.headers, body)
        assert response.status_code == 403, (method, path, response.get_json())
    assert call(client, "GET", f"/statistics/keywords/{florist.shared_keyword}", florist.headers).status_code == 200
    # Of its conversations, the shop's own side only: the unmatched sender is nobody's but the admin's.
    assert items(client, f"/access-numbers/{shared}/conversations", florist.headers) == []
    assert call(client, "GET", f"/access-numbers/{shared}/conversations/%2B48600999999", florist.headers).status_code \
        == 404
    assert [c["sender"] for c in items(client, f"/access-numbers/{shared}/conversations", shops.reader)] == [
        "+48600999999"]


def test_an_unmatched_message_is_for_the_admin_and_read_only_tokens(client: FlaskClient, shops: TwoShops) -> None:
    path = f"/messages/{shops.unmatched_message}"
    assert call(client, "GET", path, shops.florist.headers).status_code == 404
    assert call(client, "GET", path, shops.reader).status_code == 200
    assert call(client, "GET", path, shops.admin).status_code == 200


def test_a_shop_texts_through_its_own_sims_only(client: FlaskClient, shops: TwoShops) -> None:
    florist = shops.florist
    sent = call(client, "POST", "/sms", florist.headers, {"to": "+48600100201", "text": "Zapraszamy"})
    assert sent.status_code == 201 and sent.get_json()["iccid"] == florist.iccid
    assert call(client, "GET", f"/sms/{sent.get_json()['id']}", florist.headers).status_code == 200
    assert call(client, "GET", f"/sms/{sent.get_json()['id']}", shops.bakery.headers).status_code == 404
    other = call(client, "POST", "/sms", florist.headers,
                 {"to": "+48600100201", "text": "Hej", "access_number": "+48500100202"})
    assert other.status_code == 400
    assert other.get_json()["error"]["message"] == "no SIM has the access number +48500100202"


def test_a_shops_contacts_file_is_its_own(client: FlaskClient, shops: TwoShops) -> None:
    florist = shops.florist
    export = client.get("/api/v1/contacts.csv", headers=florist.headers)
    assert export.status_code == 200 and "+48600100201" in export.get_data(as_text=True)
    assert "+48600100202" not in export.get_data(as_text=True)
    imported = client.post(f"/api/v1/contacts/import?account={shops.bakery.account}", data="msisdn\n+48600100297\n",
                           content_type="text/csv", headers=florist.headers)
    assert imported.status_code == 404
    imported = client.post("/api/v1/contacts/import", data="msisdn\n+48600100297\n", content_type="text/csv",
                           headers=florist.headers)
    assert imported.status_code == 200 and imported.get_json()["imported"] == 1
