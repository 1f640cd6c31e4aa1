"""Dialogue over the REST API: an access number's conversations, one conversation, replies through its SIM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from appliance.db.models import AccessNumber, Account, Contact, OutboundPart, OutboundSms
from appliance.web import create_app
from appliance.web.tokens import create_token
from tests.web.conftest import DEFAULT_ICCID, Store

ANIA, BARTEK, CELINA = "+48600100200", "+48600100300", "+48600100400"
OTHER_SIM = "8948000000000000077"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "integration", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


class Numbers:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def add(self, row: Any) -> int:
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def number(self, kind: str = "shared", account: int | None = None, iccid: str = DEFAULT_ICCID) -> int:
        return self.add(AccessNumber(number="+48500100200", iccid=iccid, kind=kind, account_id=account))

    def text(self, to: str, text: str, when: datetime, status: str = "queued", iccid: str = DEFAULT_ICCID) -> int:
        return self.add(OutboundSms(iccid=iccid, recipient=to, text=text, created_at=when, status=status,
                                    parts=[OutboundPart(sequence=1, pdu_hex="00", status="delivered"
                                                        if status == "delivered" else "pending")]))

    def queued(self) -> list[tuple[str, str, str]]:
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                select(OutboundSms.iccid, OutboundSms.recipient, OutboundSms.text).order_by(OutboundSms.id))]


@pytest.fixture
def numbers(session_factory: sessionmaker[Session]) -> Numbers:
    return Numbers(session_factory)


def get(client: FlaskClient, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = client.get(f"/api/v1{path}", headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str], status: int = 201) -> Any:
    response = client.post(f"/api/v1{path}", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_conversations_are_listed_one_per_sender_most_recent_first_with_counts_and_the_last_message(
        client: FlaskClient, store: Store, numbers: Numbers, auth: dict[str, str]) -> None:
    number = numbers.number()
    store.message(sender=ANIA, text="Czy są tulipany?", received_at=at(0))
    store.message(sender=ANIA, text="Halo?", received_at=at(2))
    numbers.text(ANIA, "Są, zapraszamy!", at(3), status="delivered")
    store.message(sender=BARTEK, text="PIZZA", received_at=at(4), status="routed")
    numbers.text(CELINA, "Promocja dla wszystkich", at(5))  # a group send to someone who never wrote
    store.message(iccid=OTHER_SIM, sender="+48600100500", text="inny numer", received_at=at(6))

    body = get(client, f"/access-numbers/{number}/conversations", auth)

    assert body["next_offset"] is None
    assert [(c["sender"], c["received"], c["sent"], c["last_at"]) for c in body["items"]] == [
        (BARTEK, 1, 0, "2026-11-25T09:04:00Z"), (ANIA, 2, 1, "2026-11-25T09:03:00Z")]
    assert body["items"][0]["last"]["direction"] == "in" and body["items"][0]["last"]["text"] == "PIZZA"
    assert {k: body["items"][1]["last"][k] for k in ("direction", "text", "status")} == {
        "direction": "out", "text": "Są, zapraszamy!", "status": "delivered"}


def test_conversations_come_in_pages(client: FlaskClient, store: Store, numbers: Numbers,
                                     auth: dict[str, str]) -> None:
    number = numbers.number()
    for n, sender in enumerate((ANIA, BARTEK, CELINA)):
        store.message(sender=sender, received_at=at(n))

    first = get(client, f"/access-numbers/{number}/conversations?limit=2", auth)
    rest = get(client, f"/access-numbers/{number}/conversations?limit=2&offset={first['next_offset']}", auth)

    assert [c["sender"] for c in first["items"]] == [CELINA, BARTEK] and first["next_offset"] == 2
    assert [c["sender"] for c in rest["items"]] == [ANIA] and rest["next_offset"] is None


def test_a_conversation_shows_both_directions_in_time_order_with_the_status_of_each_text(
        client: FlaskClient, store: Store, numbers: Numbers, auth: dict[str, str]) -> None:
    number = numbers.number()
    question = store.message(sender=ANIA, text="Czy są tulipany?", received_at=at(0))
    answer = numbers.text(ANIA, "Są, zapraszamy!", at(1), status="delivered")
    store.message(sender=ANIA, text="Dziękuję", received_at=at(2))
    numbers.text(ANIA, "Do zobaczenia", at(2), status="failed")  # the same instant: after the message
    store.message(sender=BARTEK, text="nie ta rozmowa", received_at=at(1))

    body = get(client, f"/access-numbers/{number}/conversations/{ANIA}", auth)

    assert (body["access_number"], body["number"], body["sender"], body["older"]) == (
        number, "+48500100200", ANIA, None)
    assert [(i["direction"], i["text"], i["status"]) for i in body["items"]] == [
        ("in", "Czy są tulipany?", "unmatched"), ("out", "Są, zapraszamy!", "delivered"),
        ("in", "Dziękuję", "unmatched"), ("out", "Do zobaczenia", "failed")]
    first, second = body["items"][:2]
    assert (first["id"], first["at"], first["sender"], first["access_number"]) == (
        question.id, "2026-11-25T09:00:00Z", ANIA, "+48500100200")
    assert (second["id"], second["at"], second["to"], second["parts"][0]["status"]) == (
        answer, "2026-11-25T09:01:00Z", ANIA, "delivered")


def test_a_long_conversation_is_read_backwards_a_page_at_a_time(client: FlaskClient, store: Store,
                                                                 numbers: Numbers, auth: dict[str, str]) -> None:
    number = numbers.number()
    for n in range(5):
        store.message(sender=ANIA, text=f"pytanie {n}", received_at=at(2 * n))
        numbers.text(ANIA, f"odpowiedź {n}", at(2 * n + 1))
    path = f"/access-numbers/{number}/conversations/{ANIA}?limit=4"

    pages, before = [], ""
    while True:
        body = get(client, path + before, auth)
        pages.append([i["text"] for i in body["items"]])
        if body["older"] is None:
            break
        before = f"&before={body['older']}"

    assert pages == [["pytanie 3", "odpowiedź 3", "pytanie 4", "odpowiedź 4"],
                     ["pytanie 1", "odpowiedź 1", "pytanie 2", "odpowiedź 2"],
                     ["pytanie 0", "odpowiedź 0"]]


def test_unknown_numbers_senders_and_cursors_are_clear_errors(client: FlaskClient, store: Store, numbers: Numbers,
                                                               auth: dict[str, str]) -> None:
    number = numbers.number()
    store.message(sender=ANIA, received_at=at(0))
    elsewhere = store.message(sender=BARTEK, received_at=at(1))

    assert get(client, "/access-numbers/99/conversations", auth, 404)["error"]["message"] == (
        "no access number with id 99")
    error = get(client, f"/access-numbers/{number}/conversations/{CELINA}", auth, 404)["error"]
    assert error["message"].startswith(f"{CELINA} has never written to +48500100200")
    for before in ("yesterday", f"in-{elsewhere.id}", "out-7"):
        error = get(client, f"/access-numbers/{number}/conversations/{ANIA}?before={before}", auth, 400)["error"]
        assert error["message"] == (f"before: {before!r} names no message of the conversation with {ANIA} "
                                    "on +48500100200")
    assert get(client, f"/access-numbers/{number}/conversations?limit=0", auth, 400)["error"]["message"] == (
        "limit must be between 1 and 1000, not 0")


def test_a_reply_goes_out_through_the_access_number_s_sim_and_wakes_it(
        settings: Settings, session_factory: sessionmaker[Session], store: Store, numbers: Numbers,
        admin: dict[str, str], auth: dict[str, str]) -> None:
    woken: list[str] = []
    app: Flask = create_app(settings, session_factory, wake_sim=woken.append)
    client = app.test_client()
    store.modem(iccid=OTHER_SIM, state="ready")
    store.modem(iccid=DEFAULT_ICCID, state="disconnected")  # seen before: the text waits for it
    number = numbers.number()
    store.message(sender=ANIA, text="Czy są tulipany?", received_at=at(0))
    path = f"/access-numbers/{number}/conversations/{ANIA}"

    assert post(client, path, {"text": "Tak"}, auth, 403)["error"]["code"] == "forbidden"
    reply = post(client, path, {"text": "Są, zapraszamy do 18:00!"}, admin)

    assert {k: reply[k] for k in ("direction", "status", "to", "text", "iccid", "access_number")} == {
        "direction": "out", "status": "queued", "to": ANIA, "text": "Są, zapraszamy do 18:00!",
        "iccid": DEFAULT_ICCID, "access_number": "+48500100200"}
    assert woken == [DEFAULT_ICCID]
    conversation = get(client, path, auth)
    assert conversation["items"][-1] == reply and conversation["reply_refused"] is None


@pytest.mark.parametrize(("sender", "body", "status", "code", "message"), [
    (ANIA, {"text": ""}, 400, "invalid_text", "the text is empty"),
    (ANIA, {"text": " \n "}, 400, "invalid_text", "the text is empty"),
    (ANIA, {}, 400, "invalid_text", "text: is required, a string"),
    (ANIA, {"text": "x" * 40_000}, 400, "invalid_text", "cannot encode this text: the message needs 262 parts; "
                                                        "a concatenated message has at most 255"),
    ("ALLEGRO", {"text": "Dzięki"}, 400, "not_sendable", "ALLEGRO is an alphanumeric sender or no phone number"),
    (CELINA, {"text": "Dzień dobry"}, 404, "not_found", f"{CELINA} has never written to +48500100200"),
])
def test_a_reply_that_cannot_go_out_is_refused_and_nothing_is_queued(
        client: FlaskClient, store: Store, numbers: Numbers, admin: dict[str, str], sender: str,
        body: dict[str, Any], status: int, code: str, message: str) -> None:
    store.modem(state="ready")
    number = numbers.number()
    store.message(sender=sender if sender != CELINA else ANIA, received_at=at(0))

    error = post(client, f"/access-numbers/{number}/conversations/{sender}", body, admin, status)["error"]

    assert error["code"] == code and error["message"].startswith(message)
    assert numbers.queued() == []


def test_a_reply_waits_for_a_sim_some_modem_has_reported(client: FlaskClient, store: Store, numbers: Numbers,
                                                         admin: dict[str, str], auth: dict[str, str]) -> None:
    number = numbers.number()
    store.message(sender=ANIA, received_at=at(0))
    path = f"/access-numbers/{number}/conversations/{ANIA}"

    error = post(client, path, {"text": "Dzień dobry"}, admin, 409)["error"]

    assert error["code"] == "no_sim"
    assert error["message"] == (f"no modem has reported the SIM of +48500100200 (ICCID {DEFAULT_ICCID}) yet: "
                                "put that SIM in a modem, then reply")
    assert get(client, path, auth)["reply_refused"]["code"] == "no_sim"
    store.modem(state="ready")
    post(client, path, {"text": "Dzień dobry"}, admin)


@pytest.mark.parametrize("kind", ["dedicated", "shared"])
def test_after_an_opt_out_a_reply_goes_only_once_the_person_writes_again(
        client: FlaskClient, store: Store, numbers: Numbers, session_factory: sessionmaker[Session],
        admin: dict[str, str], auth: dict[str, str], kind: str) -> None:
    store.modem(state="ready")
    shop = numbers.add(Account(name="Kwiaciarnia"))
    number = numbers.number(kind, shop if kind == "dedicated" else None)
    # On the shared number Ania dealt with the shop through its keyword: her STOP there reached it.
    store.message(sender=ANIA, text="KWIATY", received_at=at(0), account_id=shop, status="routed")
    store.message(sender=ANIA, text="STOP", received_at=at(1))
    numbers.add(Contact(account_id=shop, msisdn=ANIA, opted_out_at=at(1) + timedelta(seconds=1)))
    path = f"/access-numbers/{number}/conversations/{ANIA}"

    error = post(client, path, {"text": "Szkoda!"}, admin, 409)["error"]
    assert error["code"] == "opted_out"
    assert error["message"] == ("+48600100200 opted out at 2026-11-25T09:01:01Z and has not written to "
                                "+48500100200 since: a reply may go only after they write again")
    assert get(client, path, auth)["reply_refused"]["code"] == "opted_out"

    store.message(sender=ANIA, text="Jednak mam pytanie: do której otwarte?", received_at=at(5))
    assert post(client, path, {"text": "Do 18:00"}, admin)["status"] == "queued"
    with session_factory() as session:
        assert session.scalar(select(func.count(OutboundSms.id))) == 1


def test_an_opt_out_from_an_account_never_met_on_a_shared_number_does_not_block_a_reply(
        client: FlaskClient, store: Store, numbers: Numbers, admin: dict[str, str]) -> None:
    store.modem(state="ready")
    shop = numbers.add(Account(name="Kwiaciarnia"))
    number = numbers.number("shared")
    numbers.add(Contact(account_id=shop, msisdn=ANIA, opted_out_at=at(1)))  # opted out elsewhere
    store.message(sender=ANIA, text="Dzień dobry", received_at=at(0))

    assert post(client, f"/access-numbers/{number}/conversations/{ANIA}", {"text": "Witamy"}, admin)["to"] == ANIA
