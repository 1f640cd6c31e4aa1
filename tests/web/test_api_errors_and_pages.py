"""The REST API's shape everywhere: every error is ``{"error": {"code", "message"}}`` with its status,
and every list is a page ``{"items", "next_after_id"}`` walked with ``after_id`` and ``limit``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from appliance.web.api import MAX_BODY_BYTES
from tests.web.two_shops import TwoShops, open_two_shops

PAGED = ["/accounts", "/access-numbers", "/keywords", "/groups", "/contacts", "/autoresponders", "/polls",
         "/contests", "/forward-targets", "/messages", "/deliveries", "/modems"]


@pytest.fixture
def shops(client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings) -> TwoShops:
    return open_two_shops(client, session_factory, settings)


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message"} and error["message"]
    return error


@pytest.mark.parametrize("path", PAGED)
def test_every_list_is_a_page_walked_by_after_id(client: FlaskClient, shops: TwoShops, path: str) -> None:
    whole = client.get(f"/api/v1{path}", headers=shops.admin).get_json()
    assert whole["next_after_id"] is None and len(whole["items"]) >= 2
    seen, after_id = [], 0
    while after_id is not None:
        page = client.get(f"/api/v1{path}?limit=1&after_id={after_id}", headers=shops.admin).get_json()
        assert len(page["items"]) == 1
        seen += page["items"]
        after_id = page["next_after_id"]
        assert after_id in (None, page["items"][0]["id"])
    assert seen == whole["items"]


@pytest.mark.parametrize("path", ["/groups/{group}/members", "/contests/{contest}/entries",
                                  "/contests/{contest}/draws"])
def test_lists_under_a_row_are_pages_too(client: FlaskClient, shops: TwoShops, path: str) -> None:
    page = client.get("/api/v1" + path.format(**vars(shops.florist)), headers=shops.admin).get_json()
    assert set(page) == {"items", "next_after_id"}


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=ten", "after_id=-1", "after_id=2147483648",
                                   "after_id=%C2%B2", "account=x", "account=99999999999"])
def test_a_bad_page_or_filter_parameter_is_400_naming_it(client: FlaskClient, shops: TwoShops, query: str) -> None:
    error = error_of(client.get(f"/api/v1/keywords?{query}", headers=shops.admin), 400)
    assert error["code"] == "invalid_parameter"
    assert error["message"].startswith(query.partition("=")[0])


@pytest.mark.parametrize(("body", "content_type", "message"), [
    ('{"name": ', "application/json", "the body is not valid JSON"),
    ('{"name": "Sklep"}', "text/plain", "send a JSON object with Content-Type: application/json"),
    ('{"name": "Sklep"}', None, "send a JSON object with Content-Type: application/json"),
    ('["name"]', "application/json", "the body must be a JSON object, not list"),
    ('"Sklep"', "application/json", "the body must be a JSON object, not str"),
    ("[" * 100_000 + "]" * 100_000, "application/json", None),
])
def test_a_body_that_is_no_json_object_is_400(client: FlaskClient, shops: TwoShops, body: str,
                                              content_type: str | None, message: str | None) -> None:
    response = client.post("/api/v1/accounts", data=body, content_type=content_type, headers=shops.admin)
    error = error_of(response, 400)
    assert error["code"] == "invalid_body"
    if message is not None:
        assert error["message"] == message


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "Sk\x00lep"}, "name: must not contain NUL characters"),
    ({"name": "Sklep", "opt_out_words": ["\ud800"]}, "opt_out_words[0]: contains a lone UTF-16 surrogate"),
])
def test_text_that_cannot_be_stored_is_400(client: FlaskClient, shops: TwoShops, body: dict[str, Any],
                                           message: str) -> None:
    error = error_of(client.post("/api/v1/accounts", json=body, headers=shops.admin), 400)
    assert error["message"] == message


def test_a_body_too_large_is_413(client: FlaskClient, shops: TwoShops) -> None:
    body = '{"name": "' + "x" * MAX_BODY_BYTES + '"}'
    response = client.post("/api/v1/accounts", data=body, content_type="application/json", headers=shops.admin)
    assert error_of(response, 413)["code"] == "too_large"


def test_a_large_contact_list_is_no_body_too_large(client: FlaskClient, shops: TwoShops) -> None:
    rows = "".join(f"+486011{n:05d},Klient numer {n} z długim imieniem i nazwiskiem\n" for n in range(30_000))
    assert len(rows) > MAX_BODY_BYTES
    response = client.post(f"/api/v1/contacts/import?account={shops.florist.account}", data="msisdn,name\n" + rows,
                           content_type="text/csv", headers=shops.admin)
    assert response.status_code == 200 and response.get_json()["imported"] == 30_000


@pytest.mark.parametrize("path", ["/messages/2147483648", "/keywords/99999999999999999999", "/nothing-here"])
def test_an_id_larger_than_any_id_or_an_unknown_path_is_404(client: FlaskClient, shops: TwoShops, path: str) -> None:
    assert error_of(client.get(f"/api/v1{path}", headers=shops.admin), 404)["code"] == "not_found"


def test_a_wrong_method_is_405_with_allow(client: FlaskClient, shops: TwoShops) -> None:
    response = client.delete("/api/v1/messages", headers=shops.admin)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/messages?access_number=%00", "/keywords?access_number=%2B48%00",
                                  "/access-numbers/1/conversations/%2B48%00600"])
def test_a_nul_in_the_url_is_400(client: FlaskClient, shops: TwoShops, path: str) -> None:
    assert error_of(client.get(f"/api/v1{path}", headers=shops.admin), 400)["code"] == "invalid_parameter"


@pytest.mark.parametrize("value", ["%C2%B2", "99999999999", "in-99999999999", "in-%C2%B2"])
def test_a_conversation_cursor_naming_no_message_is_400(client: FlaskClient, shops: TwoShops, value: str) -> None:
    florist = shops.florist
    response = client.get(f"/api/v1/access-numbers/{florist.number}/conversations/{florist.sender}?before={value}",
                          headers=shops.admin)
    assert error_of(response, 400)["message"].startswith("before: ")


@pytest.mark.parametrize(("value", "message"), [
    ("²", "no access number '²'"),
    (" ²", "no access number '²'"),
])
def test_a_keyword_filter_by_an_odd_access_number_is_400(client: FlaskClient, shops: TwoShops, value: str,
                                                         message: str) -> None:
    response = client.get("/api/v1/keywords", query_string={"access_number": value}, headers=shops.admin)
    assert error_of(response, 400)["message"] == f"access_number: {message}"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/autoresponders", {"account": 1, "text": "x", "max_per_sender": 2**31}, "max_per_sender"),
    ("/contests", {"account": 1, "entries_per_number": 2**40}, "entries_per_number"),
    ("/groups", {"account": 2**40, "name": "x"}, "account"),
    ("/keywords", {"access_number": 2**63, "keyword": "x"}, "access_number"),
    ("/forward-targets", {"account": 1, "kind": "url", "address": "https://a.example", "keyword": 2**31},
     "keyword"),
    ("/group-sends", {"group": 2**31, "access_number": 1, "text": "x"}, "group"),
    ("/tokens", {"name": "x", "scope": "account", "account": 2**31}, "account"),
    ("/users", {"email": "x@example.com", "password": "a long enough password", "account": 2**31}, "account"),
])
def test_an_integer_larger_than_a_column_holds_is_400(client: FlaskClient, shops: TwoShops, path: str,
                                                       body: dict[str, Any], field: str) -> None:
    error = error_of(client.post(f"/api/v1{path}", json=body, headers=shops.admin), 400)
    assert error["message"].startswith(f"{field}: ")


def test_sms_text_and_number_must_be_strings(client: FlaskClient, shops: TwoShops) -> None:
    for body in ({"to": "+48600100200", "text": 5}, {"to": ["+48600100200"], "text": "x"}):
        assert error_of(client.post("/api/v1/sms", json=body, headers=shops.admin), 400)["code"] == "invalid_parameter"


# Server errors schemathesis found (tests/web/test_api_schema.py), each answered as a client error now.

def test_changing_a_row_into_a_duplicate_is_409_not_a_failed_flush(client: FlaskClient, shops: TwoShops) -> None:
    florist, bakery = shops.florist, shops.bakery
    taken = [
        (f"/access-numbers/{florist.number}", {"iccid": bakery.iccid}),
        (f"/groups/{florist.group}", {"name": "Klienci Kwiaciarnia"}),
        (f"/contacts/{florist.contact}", {"msisdn": "+48600100201"}),
    ]
    other_group = client.post("/api/v1/groups", json={"account": florist.account, "name": "Inni"}, headers=shops.admin)
    other_contact = client.post("/api/v1/contacts", json={"account": florist.account, "msisdn": "+48600100555"},
                                headers=shops.admin)
    taken[1] = (f"/groups/{other_group.get_json()['id']}", taken[1][1])
    taken[2] = (f"/contacts/{other_contact.get_json()['id']}", taken[2][1])
    for path, body in taken:
        assert error_of(client.patch(f"/api/v1{path}", json=body, headers=shops.admin), 409)["code"] == "conflict"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1000-01-01T00:00:00"])
def test_a_time_beyond_the_calendar_is_400(client: FlaskClient, shops: TwoShops, value: str) -> None:
    response = client.patch(f"/api/v1/contests/{shops.florist.contest}", json={"opens_at": value}, headers=shops.admin)
    assert error_of(response, 400)["message"].startswith("opens_at: ")


@pytest.mark.parametrize("query", ["from=9999-12-31", "to=0001-01-01", "from=0001-01-01&to=0001-01-02&tz=Asia/Tokyo"])
def test_statistics_of_days_beyond_the_calendar_are_400(client: FlaskClient, shops: TwoShops, query: str) -> None:
    response = client.get(f"/api/v1/statistics/keywords/{shops.florist.keyword}?{query}", headers=shops.admin)
    assert error_of(response, 400)["code"] == "invalid_request"


# What the document forbids, the API refuses (schemathesis found these accepted).

def test_what_the_document_forbids_is_refused(client: FlaskClient, shops: TwoShops) -> None:
    florist = shops.florist
    refused = [
        ("GET", "/deliveries?target=0", None, "target must be between 1"),
        ("PATCH", f"/autoresponders/{florist.autoresponder}", {"account": None}, "account: must not be null"),
        ("PATCH", f"/contests/{florist.contest}", {"account": None}, "account: must not be null"),
        ("PATCH", f"/forward-targets/{florist.target}", {"phone": {}},
         "phone: must be a text or null"),
    ]
    for method, path, body, message in refused:
        response = client.open(f"/api/v1{path}", method=method, json=body, headers=shops.admin)
        assert error_of(response, 400)["message"].startswith(message), path


def test_an_empty_query_parameter_counts_as_not_sent(client: FlaskClient, shops: TwoShops) -> None:
    whole = client.get("/api/v1/keywords", headers=shops.admin).get_json()
    assert client.get("/api/v1/keywords?account=&access_number=&after_id=&limit=", headers=shops.admin).get_json() \
        == whole
    stats = client.get(f"/api/v1/statistics/keywords/{shops.florist.keyword}?from=&to=&tz=", headers=shops.admin)
    assert stats.status_code == 200 and stats.get_json()["timezone"] == "Europe/Warsaw"
