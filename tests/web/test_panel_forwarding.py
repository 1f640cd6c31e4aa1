"""The panel's forwarding page: targets with their tallies, deliveries with every attempt, retry by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Account, Delivery, DeliveryAttempt, ForwardTarget, Message

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def add(sessions: sessionmaker[Session], row: Any) -> int:
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return int(row.id)


def dead_delivery(sessions: sessionmaker[Session]) -> int:
    account = add(sessions, Account(name="Kwiaciarnia"))
    target = add(sessions, ForwardTarget(account_id=account, name="Sklep <CRM>", kind="url",
                                         address="https://shop.example/hook", secret="s" * 32, download_token="t" * 32))
    message = add(sessions, Message(iccid="1", sender="+48600100200", text="x", status="routed", account_id=account,
                                    received_at=T0))
    delivery = add(sessions, Delivery(target_id=target, message_id=message, idempotency_key="k" * 32, status="dead",
                                      attempts=1, give_up_at=T0, last_error="HTTP 500 Internal Server Error",
                                      last_status_code=500))
    add(sessions, DeliveryAttempt(delivery_id=delivery, attempt=1, duration_ms=15, ok=False, status_code=500,
                                  error="HTTP 500 Internal Server Error", excerpt="<b>boom</b>"))
    return delivery


def test_the_page_shows_targets_and_each_attempt_escaped(panel: FlaskClient,
                                                         session_factory: sessionmaker[Session]) -> None:
    dead_delivery(session_factory)
    html = panel.get("/panel/forwarding").get_data(as_text=True)
    assert "Sklep &lt;CRM&gt;" in html and "<b>boom</b>" not in html and "&lt;b&gt;boom&lt;/b&gt;" in html
    assert "HTTP 500 Internal Server Error" in html and "Retry now" in html


def test_retry_by_hand_makes_a_dead_delivery_pending_again(panel: FlaskClient,
                                                           session_factory: sessionmaker[Session]) -> None:
    delivery = dead_delivery(session_factory)
    html = panel.get("/panel/forwarding").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    response = panel.post(f"/panel/deliveries/{delivery}/retry", data={"csrf_token": token})
    assert response.status_code == 303
    with session_factory() as session:
        row = session.get(Delivery, delivery)
        assert row.status == "pending" and row.give_up_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_retry_without_the_pages_token_is_refused(panel: FlaskClient,
                                                    session_factory: sessionmaker[Session]) -> None:
    delivery = dead_delivery(session_factory)
    assert panel.post(f"/panel/deliveries/{delivery}/retry", data={"csrf_token": "forged"}).status_code == 400
    with session_factory() as session:
        assert session.get(Delivery, delivery).status == "dead"
