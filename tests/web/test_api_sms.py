"""POST /api/v1/sms queues a text through a SIM; GET /api/v1/sms/{id} follows it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber
from appliance.web.tokens import create_token
from tests.web.conftest import DEFAULT_ICCID, Store


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        secret = create_token(session, "integration", admin=True)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_a_text_is_queued_on_the_ready_sim_and_its_parts_are_listed(client: FlaskClient, store: Store,
                                                                      admin: dict[str, str]) -> None:
    store.modem(state="ready")
    response = client.post("/api/v1/sms", json={"to": "+48 600 100 200", "text": "ż" * 100}, headers=admin)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["to"], body["iccid"], body["access_number"]) == (
        "queued", "+48600100200", DEFAULT_ICCID, "+447700900001")
    assert [p["sequence"] for p in body["parts"]] == [1, 2]
    assert client.get(f"/api/v1/sms/{body['id']}", headers=admin).get_json() == body


def test_the_access_number_chooses_the_sim(client: FlaskClient, store: Store, admin: dict[str, str],
                                           session_factory: sessionmaker[Session]) -> None:
    store.modem(state="ready")
    store.modem(iccid="8948000000000000002", msisdn=None, state="ready")
    with session_factory.begin() as session:
        session.add(AccessNumber(number="+48500000002", iccid="8948000000000000002", kind="dedicated"))
    response = client.post("/api/v1/sms", json={"to": "600100200", "text": "hej", "access_number": "+48500000002"},
                           headers=admin)
    assert response.status_code == 201
    assert response.get_json()["iccid"] == "8948000000000000002"


def test_the_wake_hook_is_told_which_sim_has_work(settings, session_factory, store: Store,
                                                  admin: dict[str, str]) -> None:
    from appliance.web import create_app

    woken: list[str] = []
    app: Flask = create_app(settings, session_factory, wake_sim=woken.append)
    store.modem(state="ready")
    app.test_client().post("/api/v1/sms", json={"to": "+48600100200", "text": "hej"}, headers=admin)
    assert woken == [DEFAULT_ICCID]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"to": "ALLEGRO", "text": "x"}, 400, "invalid_parameter"),
    ({"to": "+48600100200", "text": ""}, 400, "invalid_parameter"),
    ({"to": "+48600100200", "text": "x", "access_number": "+48999"}, 400, "invalid_parameter"),
    ("not an object", 400, "invalid_body"),
])
def test_bad_requests_get_a_clear_error(client: FlaskClient, store: Store, admin: dict[str, str], body: object,
                                        status: int, code: str) -> None:
    store.modem(state="ready")
    response = client.post("/api/v1/sms", json=body, headers=admin)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_sending_needs_an_admin_token(client: FlaskClient, store: Store, auth: dict[str, str]) -> None:
    store.modem(state="ready")
    response = client.post("/api/v1/sms", json={"to": "+48600100200", "text": "x"}, headers=auth)
    assert response.status_code == 403


def test_without_a_ready_modem_nothing_is_queued(client: FlaskClient, store: Store, admin: dict[str, str]) -> None:
    store.modem(state="disconnected")
    response = client.post("/api/v1/sms", json={"to": "+48600100200", "text": "x"}, headers=admin)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "no_modem"


def test_an_unknown_outbound_id_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.get("/api/v1/sms/999", headers=admin).status_code == 404


def test_modems_say_whether_an_access_number_is_bound(client: FlaskClient, store: Store, auth: dict[str, str],
                                                      session_factory: sessionmaker[Session]) -> None:
    store.modem()
    store.modem(iccid="8948000000000000002")
    with session_factory.begin() as session:
        session.add(AccessNumber(number="+48500000002", iccid="8948000000000000002"))
    modems = {m["iccid"]: m for m in client.get("/api/v1/modems", headers=auth).get_json()["items"]}
    assert (modems[DEFAULT_ICCID]["assigned"], modems[DEFAULT_ICCID]["access_number"]) == (False, None)
    assert (modems["8948000000000000002"]["assigned"],
            modems["8948000000000000002"]["access_number"]) == (True, "+48500000002")
