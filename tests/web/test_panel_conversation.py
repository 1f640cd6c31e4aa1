"""The panel's conversation page and its reply form, through Flask's test panel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Contact, OutboundSms
from tests.web.conftest import DEFAULT_ICCID, Store

ANIA = "+48600100200"
HOSTILE = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">'
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def bind(session_factory: sessionmaker[Session], kind: str = "shared", account: str | None = None) -> int:
    with session_factory.begin() as session:
        owner = None
        if account is not None:
            owner = Account(name=account)
            session.add(owner)
            session.flush()
        number = AccessNumber(number="+48500100200", iccid=DEFAULT_ICCID, kind=kind,
                              account_id=owner.id if owner else None)
        session.add(number)
        session.flush()
        return number.id


def queued(session_factory: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with session_factory() as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            select(OutboundSms.iccid, OutboundSms.recipient, OutboundSms.text).order_by(OutboundSms.id))]


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_a_sender_on_a_sim_with_an_access_number_links_to_the_conversation(panel: FlaskClient, store: Store,
                                                                         session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.message(sender=ANIA, text="na numerze")
    store.message(iccid="8948000000000000077", sender="+48600100300", text="na SIM-ie bez numeru")

    html = panel.get("/inbox").get_data(as_text=True)

    assert f'<a href="/panel/access-numbers/{number}/conversations/{ANIA}"' in html
    assert "/conversations/+48600100300" not in html


def test_the_conversation_shows_both_directions_in_order_escaped_with_each_text_s_status(
        panel: FlaskClient, store: Store, session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.modem(state="ready")
    store.message(sender=ANIA, text=HOSTILE, received_at=T0)
    with session_factory.begin() as session:
        session.add(OutboundSms(iccid=DEFAULT_ICCID, recipient=ANIA, text="Nie rozumiemy <b>tego</b>",
                                created_at=T0 + timedelta(minutes=1), status="failed",
                                last_error="the network could not deliver a part"))
    store.message(sender="+48600100300", text="ktoś inny")

    response = panel.get(f"/panel/access-numbers/{number}/conversations/{ANIA}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>window.pwned" not in html and "&lt;script&gt;window.pwned" in html
    assert "Nie rozumiemy &lt;b&gt;tego&lt;/b&gt;" in html
    assert html.index("&lt;script&gt;window.pwned") < html.index("Nie rozumiemy")
    assert 'badge-failed">failed<' in html and "the network could not deliver a part" in html
    assert "ktoś inny" not in html
    assert '<time datetime="2026-11-25T09:00:00Z">2026-11-25 09:00:00 UTC</time>' in html


def test_the_reply_form_queues_a_text_on_the_number_s_sim_and_returns_to_the_conversation(
        panel: FlaskClient, store: Store, session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.modem(state="ready")
    store.message(sender=ANIA, text="Czy są tulipany?")
    path = f"/panel/access-numbers/{number}/conversations/{ANIA}"
    token = form_token(panel.get(path).get_data(as_text=True))

    response = panel.post(path, data={"csrf_token": token, "text": "Są, zapraszamy!"})

    assert response.status_code == 303 and response.headers["Location"].endswith(f"{path}#reply")
    assert queued(session_factory) == [(DEFAULT_ICCID, ANIA, "Są, zapraszamy!")]
    html = panel.get(path).get_data(as_text=True)
    assert "Są, zapraszamy!" in html and 'badge-queued">queued<' in html


def test_a_reply_without_the_page_s_token_is_refused(panel: FlaskClient, store: Store,
                                                      session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.modem(state="ready")
    store.message(sender=ANIA)
    path = f"/panel/access-numbers/{number}/conversations/{ANIA}"
    panel.get(path)  # this browser has a token; a page of another site does not know it

    for data in ({"text": "spam"}, {"text": "spam", "csrf_token": "guessed"}):
        response = panel.post(path, data=data)
        assert response.status_code == 400
        assert "security token" in response.get_data(as_text=True)
    assert queued(session_factory) == []


def test_a_refused_reply_says_why_and_keeps_the_text_as_typed(panel: FlaskClient, store: Store,
                                                               session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.modem(state="ready")
    store.message(sender=ANIA)
    path = f"/panel/access-numbers/{number}/conversations/{ANIA}"
    token = form_token(panel.get(path).get_data(as_text=True))
    draft = HOSTILE + "x" * 40_000

    response = panel.post(path, data={"csrf_token": token, "text": draft})

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "cannot encode this text: the message needs" in html
    assert "&lt;script&gt;window.pwned" in html and "<script>window.pwned" not in html
    assert queued(session_factory) == []


def test_when_no_reply_can_go_out_the_form_is_disabled_with_the_reason(panel: FlaskClient, store: Store,
                                                                       session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory, kind="dedicated", account="Kwiaciarnia")
    store.modem(state="ready")
    store.message(sender=ANIA, text="STOP", received_at=T0)
    with session_factory.begin() as session:
        owner = session.scalar(select(AccessNumber.account_id).where(AccessNumber.id == number))
        assert owner is not None
        session.add(Contact(account_id=owner, msisdn=ANIA, opted_out_at=T0 + timedelta(seconds=1)))

    html = panel.get(f"/panel/access-numbers/{number}/conversations/{ANIA}").get_data(as_text=True)

    assert "opted out at 2026-11-25T09:00:01Z and has not written to +48500100200 since" in html
    assert re.search(r"<textarea[^>]* disabled>", html) and re.search(r"<button[^>]* disabled>", html)


def test_unknown_numbers_and_senders_are_404(panel: FlaskClient, store: Store,
                                             session_factory: sessionmaker[Session]) -> None:
    number = bind(session_factory)
    store.message(sender=ANIA)

    assert panel.get(f"/panel/access-numbers/{number + 1}/conversations/{ANIA}").status_code == 404
    assert panel.get(f"/panel/access-numbers/{number}/conversations/+48600999999").status_code == 404
