"""GET /api/v1/messages, /messages/{id} and /modems: the DESIGN §4.3 contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

CONTRACT_FIELDS = {"id", "received_at", "access_number", "sender", "text", "kind", "subject", "keyword",
                   "account", "attachments", "status"}


def get_items(client, auth, query=""):
    response = client.get(f"/api/v1/messages{query}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_a_message_has_every_contract_field(client, auth, store):
    store.modem(iccid="8944000000000000001", msisdn="+447700900001")
    stored = store.message(
        iccid="8944000000000000001", sender="+447700900123", text="PIZZA 2 large",
        received_at=datetime(2026, 11, 25, 13, 34, 10, 123456, tzinfo=UTC),
    )

    [item] = get_items(client, auth)["items"]

    assert CONTRACT_FIELDS <= item.keys()
    assert item["id"] == stored.id
    assert item["received_at"] == "2026-11-25T13:34:10Z"
    assert item["access_number"] == "+447700900001"
    assert item["sender"] == "+447700900123"
    assert item["text"] == "PIZZA 2 large"
    assert item["kind"] == "sms"
    assert item["subject"] is None
    assert item["keyword"] is None
    assert item["account"] is None
    assert item["attachments"] == []
    assert item["status"] == "unmatched"


def test_a_message_also_carries_its_sim_parts_and_smsc_time(client, auth, store):
    stored = store.message(
        iccid="8944000000000000009", parts_total=3, parts_received=3,
        smsc_time=datetime(2026, 11, 25, 13, 34, 5, tzinfo=UTC), smsc_tz_minutes=60,
    )

    item = client.get(f"/api/v1/messages/{stored.id}", headers=auth).get_json()

    assert item["iccid"] == "8944000000000000009"
    assert item["parts_total"] == 3
    assert item["parts_received"] == 3
    # The same instant, in the offset the SMSC stamped.
    assert item["smsc_time"] == "2026-11-25T14:34:05+01:00"
    assert item["error"] is None


def test_access_number_is_null_when_the_sim_is_unknown(client, auth, store):
    store.message(iccid="8944000000000000077")

    [item] = get_items(client, auth)["items"]

    assert item["access_number"] is None


def test_a_partial_message_says_how_many_parts_arrived_and_why(client, auth, store):
    stored = store.message(status="partial", parts_total=3, parts_received=2, text="Hello wor",
                           error="part 3 of 3 not received within 24 h")

    item = client.get(f"/api/v1/messages/{stored.id}", headers=auth).get_json()

    assert item["status"] == "partial"
    assert (item["parts_received"], item["parts_total"]) == (2, 3)
    assert item["error"] == "part 3 of 3 not received within 24 h"


def test_messages_are_paged_by_after_id_in_id_order(client, auth, store):
    ids = [m.id for m in store.messages(5)]

    first = get_items(client, auth, "?limit=2")
    second = get_items(client, auth, f"?limit=2&after_id={first['next_after_id']}")
    third = get_items(client, auth, f"?limit=2&after_id={second['next_after_id']}")

    assert [m["id"] for m in first["items"]] == ids[0:2]
    assert first["next_after_id"] == ids[1]
    assert [m["id"] for m in second["items"]] == ids[2:4]
    assert [m["id"] for m in third["items"]] == ids[4:5]
    assert third["next_after_id"] is None


def test_next_after_id_is_null_when_the_page_ends_exactly_at_the_last_message(client, auth, store):
    store.messages(2)

    page = get_items(client, auth, "?limit=2")

    assert len(page["items"]) == 2
    assert page["next_after_id"] is None


def test_no_messages_gives_an_empty_page(client, auth):
    assert get_items(client, auth) == {"items": [], "next_after_id": None}


def test_after_id_past_the_newest_message_gives_an_empty_page(client, auth, store):
    newest = store.messages(2)[-1]

    assert get_items(client, auth, f"?after_id={newest.id}") == {"items": [], "next_after_id": None}


def test_limit_defaults_to_100_and_may_be_1000(client, auth, store):
    store.messages(101)

    default = get_items(client, auth)
    largest = get_items(client, auth, "?limit=1000")

    assert len(default["items"]) == 100
    assert default["next_after_id"] == default["items"][-1]["id"]
    assert len(largest["items"]) == 101
    assert largest["next_after_id"] is None


@pytest.mark.parametrize("query", [
    "?limit=0", "?limit=1001", "?limit=-5", "?limit=ten", "?after_id=-1", "?after_id=1.5", "?after_id=x",
])
def test_bad_paging_parameters_get_400(client, auth, query):
    assert_error(client.get(f"/api/v1/messages{query}", headers=auth), 400, "invalid_parameter")


def test_the_400_message_names_the_parameter(client, auth):
    response = client.get("/api/v1/messages?limit=5000", headers=auth)

    assert "limit" in response.get_json()["error"]["message"]


def test_access_number_filter_keeps_messages_of_the_sim_with_that_number(client, auth, store):
    store.modem(iccid="8944000000000000001", msisdn="+447700900001")
    store.modem(iccid="8944000000000000002", msisdn="+447700900002")
    mine = store.message(iccid="8944000000000000001", text="for shop one")
    store.message(iccid="8944000000000000002", text="for shop two")
    store.message(iccid="8944000000000000003", text="SIM never seen")

    page = get_items(client, auth, "?access_number=%2B447700900001")

    assert [m["id"] for m in page["items"]] == [mine.id]
    assert page["items"][0]["access_number"] == "+447700900001"


def test_an_unencoded_plus_in_access_number_still_matches(client, auth, store):
    # "?access_number=+4477..." typed by hand: the "+" arrives as a space.
    store.modem(iccid="8944000000000000001", msisdn="+447700900001")
    mine = store.message(iccid="8944000000000000001")

    page = get_items(client, auth, "?access_number=+447700900001")

    assert [m["id"] for m in page["items"]] == [mine.id]


def test_access_number_of_no_sim_matches_nothing(client, auth, store):
    store.modem(iccid="8944000000000000001", msisdn="+447700900001")
    store.message(iccid="8944000000000000001")

    assert get_items(client, auth, "?access_number=%2B15550000000")["items"] == []


def test_keyword_filter_matches_nothing_until_keyword_routing_exists(client, auth, store):
    store.message(text="PIZZA please")

    assert get_items(client, auth, "?keyword=PIZZA") == {"items": [], "next_after_id": None}


def test_empty_filters_are_ignored(client, auth, store):
    store.messages(2)

    assert len(get_items(client, auth, "?access_number=&keyword=&after_id=&limit=")["items"]) == 2


def test_one_message_by_id(client, auth, store):
    store.message(text="first")
    second = store.message(text="second")

    response = client.get(f"/api/v1/messages/{second.id}", headers=auth)

    assert response.status_code == 200
    assert response.get_json()["text"] == "second"


def test_an_unknown_message_id_gets_404(client, auth, store):
    store.message()

    response = client.get("/api/v1/messages/999", headers=auth)

    assert_error(response, 404, "not_found")
    assert "999" in response.get_json()["error"]["message"]


def test_a_non_numeric_message_id_gets_404(client, auth):
    assert_error(client.get("/api/v1/messages/abc", headers=auth), 404, "not_found")


def test_an_unknown_api_path_gets_a_json_404(client, auth):
    assert_error(client.get("/api/v1/nothing-here", headers=auth), 404, "not_found")


def test_a_wrong_method_gets_a_json_405_with_allow(client, auth):
    response = client.delete("/api/v1/messages", headers=auth)

    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_modems_lists_every_known_sim_with_its_state(client, auth, store):
    seen = datetime(2026, 11, 25, 13, 0, 0, tzinfo=UTC)
    store.modem(iccid="8944000000000000001", msisdn="+447700900001", operator="Vodafone UK",
                state="registered", signal_dbm=-71, storage_used=3, storage_total=30, last_seen_at=seen)
    store.modem(iccid="8944000000000000002", msisdn=None, state="failed",
                state_detail="SIM PIN required, 2 attempts left", signal_dbm=None)

    response = client.get("/api/v1/modems", headers=auth)

    assert response.status_code == 200
    first, second = response.get_json()["items"]
    assert first == {
        "id": first["id"],
        "iccid": "8944000000000000001",
        "imsi": "234150000000001",
        "imei": "860000000000001",
        "msisdn": "+447700900001",
        "manufacturer": "Huawei",
        "model": "E3372",
        "revision": None,
        "operator": "Vodafone UK",
        "port": "/dev/ttyUSB0",
        "state": "registered",
        "state_detail": None,
        "signal_dbm": -71,
        "registration": None,
        "storage_used": 3,
        "storage_total": 30,
        "last_seen_at": "2026-11-25T13:00:00Z",
        "access_number": None,
        "assigned": False,
    }
    assert second["state"] == "failed"
    assert second["state_detail"] == "SIM PIN required, 2 attempts left"
    assert second["msisdn"] is None


def test_no_modems_gives_an_empty_page(client, auth):
    assert client.get("/api/v1/modems", headers=auth).get_json() == {"items": [], "next_after_id": None}


def test_messages_carry_their_routing_and_filter_by_keyword(client, auth, store, session_factory):
    from appliance.db.models import AccessNumber, Account, Keyword

    with session_factory.begin() as session:
        account = Account(name="Ogrodnik")
        session.add(account)
        session.flush()
        number = AccessNumber(number="+48500100100", iccid="8948000000000000077", kind="shared")
        session.add(number)
        session.flush()
        keyword = Keyword(access_number_id=number.id, account_id=account.id, keyword="OGRODNIK")
        session.add(keyword)
        session.flush()
        ids = (account.id, keyword.id)
    store.message(iccid="8948000000000000077", text="OGRODNIK Jan", status="routed", account_id=ids[0],
                  keyword_id=ids[1], keyword="OGRODNIK", payload="Jan", route_reason="base")
    store.message(iccid="8948000000000000077", text="hello", status="unmatched", route_reason="unmatched")

    items = client.get("/api/v1/messages?keyword=ogrodnik", headers=auth).get_json()["items"]

    assert [(m["text"], m["keyword"], m["account"], m["payload"], m["access_number"]) for m in items] == [
        ("OGRODNIK Jan", "OGRODNIK", ids[0], "Jan", "+48500100100")]
