"""Group sends over the REST API: scheduling, validation, progress, cancelling, and who may do what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender
from appliance.db.models import AccessNumber, Account, Contact, Group, GroupMember, GroupSend, OutboundSms
from appliance.web.tokens import create_token

SHARED_SIM, PIZZA_SIM = "89480610001111111111", "89480610003333333333"
ANIA, BARTEK, CELINA = "+48600100200", "+48600100300", "+48600100400"


@dataclass
class Box:
    sessions: sessionmaker[Session]
    garden: int
    pizza: int
    shared: int
    pizza_number: int
    newsletter: int
    fans: int
    tokens: dict[str, dict[str, str]]


@pytest.fixture
def box(session_factory: sessionmaker[Session]) -> Box:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        shared = AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared")
        pizza_number = AccessNumber(number="+48500300300", iccid=PIZZA_SIM, kind="dedicated", account_id=pizza.id)
        newsletter, fans = Group(account_id=garden.id, name="Newsletter"), Group(account_id=pizza.id, name="Fani")
        contacts = [Contact(account_id=garden.id, msisdn=ANIA, name="Ania"), Contact(account_id=garden.id, msisdn=BARTEK),
                    Contact(account_id=garden.id, msisdn=CELINA, opted_out_at=datetime.now(UTC))]
        session.add_all([shared, pizza_number, newsletter, fans, *contacts])
        session.flush()
        session.add_all(GroupMember(group_id=newsletter.id, contact_id=c.id) for c in contacts)
        tokens = {name: {"Authorization": f"Bearer {create_token(session, name, **options)}"} for name, options in (
            ("admin", {"admin": True}), ("reader", {}), ("garden", {"account_id": garden.id}),
            ("pizza", {"account_id": pizza.id}))}
        return Box(session_factory, garden.id, pizza.id, shared.id, pizza_number.id, newsletter.id, fans.id, tokens)


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int, body: Any = None) -> Any:
    response = client.open(f"/api/v1{path}", method=method, json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_a_send_for_now_is_created_with_its_size_and_expected_audience_and_goes_out_with_progress(
        client: FlaskClient, box: Box) -> None:
    created = call(client, "POST", "/group-sends", box.tokens["garden"], 201,
                   {"group": box.newsletter, "access_number": "+48500100100", "text": "Cześć {name}! Róże -20%"})

    assert created["account"] == box.garden and created["access_number"] == box.shared
    assert (created["status"], created["cancellable"]) == ("scheduled", True)
    assert created["sms"] == {"alphabet": "ucs2", "units": 23, "parts": 1}
    assert created["progress"] == {"recipients": 2, "pending": 2, "sent": 0, "delivered": 0, "failed": 0,
                                   "cancelled": 0, "opted_out": 1}

    GroupSender(box.sessions).run_due()
    with box.sessions.begin() as session:
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="delivered"))
    shown = call(client, "GET", f"/group-sends/{created['id']}", box.tokens["garden"], 200)
    assert shown["status"] == "done"
    assert shown["progress"] == {"recipients": 2, "pending": 1, "sent": 1, "delivered": 1, "failed": 0,
                                 "cancelled": 0, "opted_out": 1}
    with box.sessions() as session:
        assert session.scalars(select(OutboundSms.text).order_by(OutboundSms.id)).all() == [
            "Cześć Ania! Róże -20%", "Cześć ! Róże -20%"]


def test_a_scheduled_send_keeps_its_time_and_can_be_cancelled_before_it(client: FlaskClient, box: Box) -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    created = call(client, "POST", "/group-sends", box.tokens["admin"], 201,
                   {"group": box.newsletter, "access_number": box.shared, "text": "Jutro",
                    "scheduled_at": when.isoformat().replace("+00:00", "Z")})
    assert created["scheduled_at"] == when.isoformat().replace("+00:00", "Z")
    assert GroupSender(box.sessions).run_due() == []

    cancelled = call(client, "POST", f"/group-sends/{created['id']}/cancel", box.tokens["garden"], 200)

    assert (cancelled["status"], cancelled["cancellable"]) == ("cancelled", False)
    assert GroupSender(box.sessions).run_due(when + timedelta(minutes=1)) == []
    again = call(client, "POST", f"/group-sends/{created['id']}/cancel", box.tokens["admin"], 409)
    assert again["error"]["code"] == "not_cancellable"


@pytest.mark.parametrize(("body", "message"), [
    ({"access_number": 1, "text": "x"}, "group: is required"),
    ({"group": "Newsletter", "access_number": 1, "text": "x"}, "group: no group with id 'Newsletter'"),
    ({"group": "NEWSLETTER", "text": "x"}, "access_number: is required"),
    ({"group": "NEWSLETTER", "access_number": "+48999", "text": "x"}, "access_number: no access number '+48999'"),
    ({"group": "NEWSLETTER", "access_number": "SHARED"}, "text: is required, a string"),
    ({"group": "NEWSLETTER", "access_number": "SHARED", "text": "   "}, "text: must not be empty"),
    ({"group": "NEWSLETTER", "access_number": "SHARED", "text": "€" * 20000},
     "text: needs 264 SMS; one text may take at most 255"),
    ({"group": "NEWSLETTER", "access_number": "PIZZA", "text": "x"},
     "access_number: +48500300300 is dedicated to another account; a group sends from a shared number or from "
     "one of its own account's numbers"),
    ({"group": "NEWSLETTER", "access_number": "SHARED", "text": "x", "scheduled_at": "jutro"},
     "scheduled_at: 'jutro' is not an ISO 8601 time such as 2026-05-01T12:00:00Z"),
    ({"group": "NEWSLETTER", "access_number": "SHARED", "text": "x", "scheduled_at": "2020-01-01T10:00:00Z"},
     "scheduled_at: 2020-01-01T10:00:00Z is in the past"),
])
def test_a_send_that_cannot_go_is_refused_naming_the_field_and_nothing_is_written(
        client: FlaskClient, box: Box, body: dict[str, Any], message: str) -> None:
    ids = {"NEWSLETTER": box.newsletter, "SHARED": box.shared, "PIZZA": box.pizza_number}
    body = {key: ids.get(value, value) if isinstance(value, str) else value for key, value in body.items()}

    error = call(client, "POST", "/group-sends", box.tokens["admin"], 400, body)["error"]

    assert (error["code"], error["message"]) == ("invalid_field", message)
    with box.sessions() as session:
        assert session.scalars(select(GroupSend)).all() == []


def test_tokens_see_and_change_only_what_their_account_allows(client: FlaskClient, box: Box) -> None:
    garden_send = call(client, "POST", "/group-sends", box.tokens["admin"], 201,
                       {"group": box.newsletter, "access_number": box.shared, "text": "ogród"})["id"]
    pizza_send = call(client, "POST", "/group-sends", box.tokens["pizza"], 201,
                      {"group": box.fans, "access_number": box.pizza_number, "text": "pizza"})["id"]

    def listed(token: str) -> list[int]:
        return [item["id"] for item in call(client, "GET", "/group-sends", box.tokens[token], 200)["items"]]

    assert listed("admin") == listed("reader") == [pizza_send, garden_send]
    assert listed("garden") == [garden_send] and listed("pizza") == [pizza_send]
    assert call(client, "GET", f"/group-sends/{pizza_send}", box.tokens["garden"], 404)["error"]["code"] == "not_found"
    refused = call(client, "POST", "/group-sends", box.tokens["garden"], 400,
                   {"group": box.fans, "access_number": box.shared, "text": "cudza grupa"})
    assert refused["error"]["message"] == f"group: no group with id {box.fans}"
    assert call(client, "POST", "/group-sends", box.tokens["reader"], 403,
                {"group": box.fans, "access_number": box.shared, "text": "x"})["error"]["code"] == "forbidden"
    assert call(client, "POST", f"/group-sends/{pizza_send}/cancel", box.tokens["reader"], 403)
    assert call(client, "POST", f"/group-sends/{pizza_send}/cancel", box.tokens["garden"], 404)
    assert call(client, "GET", f"/group-sends/{garden_send}", box.tokens["garden"], 200)["status"] == "scheduled"


def test_sends_come_in_pages_newest_first(client: FlaskClient, box: Box) -> None:
    ids = [call(client, "POST", "/group-sends", box.tokens["admin"], 201,
                {"group": box.newsletter, "access_number": box.shared, "text": f"nr {n}"})["id"] for n in range(3)]

    first = call(client, "GET", "/group-sends?limit=2", box.tokens["admin"], 200)
    assert [item["id"] for item in first["items"]] == ids[:0:-1] and first["next_before_id"] == ids[1]
    rest = call(client, "GET", f"/group-sends?limit=2&before_id={ids[1]}", box.tokens["admin"], 200)
    assert [item["id"] for item in rest["items"]] == [ids[0]] and rest["next_before_id"] is None
    assert call(client, "GET", "/group-sends?limit=0", box.tokens["admin"], 400)["error"]["code"] == "invalid_parameter"
    assert call(client, "GET", "/group-sends", {}, 401)["error"]["code"] == "unauthorized"
