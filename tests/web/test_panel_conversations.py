"""The conversations page: every thread the signed-in person may see, and what an account's user sees
of a thread (panel and API), through Flask's test client on both databases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Message, Modem, OutboundSms
from appliance.web import conversations as conversations_module
from appliance.web.tokens import create_token
from tests.web.conftest import Users

ANIA, BARTEK, CELINA, DAREK = "+48600100200", "+48600100300", "+48600100400", "+48600100500"
SHARED_SIM, PIZZA_SIM, GARDEN_SIM = "89480610001111111111", "89480610002222222222", "89480610003333333333"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOSTILE = '<script>window.pwned = true</script>\u202eevil'


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Box:
    """Two businesses: both on one shared number, each with a dedicated number of its own."""

    sessions: sessionmaker[Session]
    garden: int
    pizza: int
    shared: int
    pizza_number: int
    garden_number: int

    def add(self, row: Any) -> int:
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def message(self, iccid: str, sender: str, text: str, when: datetime, account: int | None) -> int:
        return self.add(Message(iccid=iccid, sender=sender, text=text, kind="sms", received_at=when,
                                status="routed" if account else "unmatched", account_id=account))

    def text(self, iccid: str, to: str, text: str, when: datetime, account: int | None, status: str = "queued") -> int:
        return self.add(OutboundSms(iccid=iccid, recipient=to, text=text, created_at=when, account_id=account,
                                    status=status))

    def texts(self) -> list[tuple[str, str, int | None]]:
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(  # type: ignore[misc]
                select(OutboundSms.recipient, OutboundSms.text, OutboundSms.account_id).order_by(OutboundSms.id))]


@pytest.fixture
def box(session_factory: sessionmaker[Session]) -> Box:
    with session_factory.begin() as session:
        garden, pizza = Account(name="Ogrodnik"), Account(name="Pizzeria")
        session.add_all([garden, pizza])
        session.flush()
        numbers = [AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared"),
                   AccessNumber(number="+48500200200", iccid=PIZZA_SIM, kind="dedicated", account_id=pizza.id),
                   AccessNumber(number="+48500300300", iccid=GARDEN_SIM, kind="dedicated", account_id=garden.id)]
        session.add_all(numbers)
        session.add_all(Modem(iccid=iccid, state="ready") for iccid in (SHARED_SIM, PIZZA_SIM, GARDEN_SIM))
        session.flush()
        return Box(session_factory, garden.id, pizza.id, *(n.id for n in numbers))


@pytest.fixture
def traffic(box: Box) -> Box:
    """Ania deals with both businesses on the shared number; Bartek's text there matched no one."""
    box.message(SHARED_SIM, ANIA, "OGRODNIK", at(0), box.garden)
    box.text(SHARED_SIM, ANIA, "Witamy w klubie ogrodnika", at(1), box.garden, status="delivered")
    box.message(SHARED_SIM, ANIA, "PIZZA hawajska", at(2), box.pizza)
    box.text(SHARED_SIM, ANIA, "Pizza w drodze", at(3), box.pizza, status="sent")
    box.message(SHARED_SIM, BARTEK, "dzień dobry", at(4), None)
    box.text(SHARED_SIM, BARTEK, "Nie znamy tego hasła", at(5), None, status="failed")
    box.message(PIZZA_SIM, CELINA, "Czy dowozicie?", at(6), box.pizza)
    box.message(GARDEN_SIM, DAREK, "Róże?", at(7), box.garden)
    return box


def user_of(users: Users, signed_in: Any, account: int, email: str) -> FlaskClient:
    return signed_in(users.create(email, admin=False, account_id=account))  # type: ignore[no-any-return]


def rows(html: str) -> list[tuple[str, str]]:
    """(sender, number) of each thread listed, top to bottom."""
    return re.findall(r'<tr class="thread">\s*<td class="sender"><a [^>]*>([^<]+)</a></td>\s*'
                      r'<td class="number muted">([^<]+)</td>', html)


def thread_path(number: int, sender: str) -> str:
    return f"/panel/access-numbers/{number}/conversations/{sender}"


def test_the_admin_sees_every_thread_newest_first_with_counts_the_last_message_and_the_last_text_s_status(
        panel: FlaskClient, traffic: Box) -> None:
    response = panel.get("/conversations")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert rows(html) == [(DAREK, "+48500300300"), (CELINA, "+48500200200"), (BARTEK, "+48500100100"),
                          (ANIA, "+48500100100")]
    ania = html[html.index(f">{ANIA}</a>"):]
    assert "Pizza w drodze" in ania[:600] and "You:" in ania[:600]  # the newest of the thread, sent by the box
    assert "↓ 2" in ania[:900] and "↑ 2" in ania[:900]
    assert 'badge-sent">sent<' in ania[:1200]
    bartek = html[html.index(f">{BARTEK}</a>"):html.index(f">{ANIA}</a>")]
    assert 'badge-failed">failed<' in bartek
    assert f'href="{thread_path(traffic.shared, ANIA)}"' in html
    celina = html[html.index(f">{CELINA}</a>"):html.index(f">{BARTEK}</a>")]
    assert "none yet" in celina


def test_threads_are_filtered_by_access_number_and_found_by_part_of_the_sender_s_number(
        panel: FlaskClient, traffic: Box) -> None:
    assert rows(panel.get(f"/conversations?number={traffic.shared}").get_data(as_text=True)) == [
        (BARTEK, "+48500100100"), (ANIA, "+48500100100")]
    assert rows(panel.get("/conversations?q=600 100-2").get_data(as_text=True)) == [(ANIA, "+48500100100")]
    assert rows(panel.get(f"/conversations?number={traffic.pizza_number}&q=100200").get_data(as_text=True)) == []
    html = panel.get("/conversations?q=999").get_data(as_text=True)
    assert "No conversation matches." in html
    assert rows(panel.get("/conversations?q=50%25_").get_data(as_text=True)) == []  # LIKE wildcards are literal


def test_threads_come_in_pages(panel: FlaskClient, traffic: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversations_module, "PAGE_SIZE", 3)

    first = panel.get("/conversations").get_data(as_text=True)
    assert [sender for sender, _ in rows(first)] == [DAREK, CELINA, BARTEK]
    assert 'href="/conversations?page=2" rel="next"' in first and 'rel="prev"' not in first
    second = panel.get("/conversations?page=2").get_data(as_text=True)
    assert [sender for sender, _ in rows(second)] == [ANIA]
    assert 'href="/conversations" rel="prev"' in second and 'rel="next"' not in second
    filtered = panel.get(f"/conversations?number={traffic.shared}&q=600").get_data(as_text=True)
    assert "page=" not in filtered


def test_a_hostile_last_message_is_shown_inert_and_a_long_one_cut(panel: FlaskClient, box: Box) -> None:
    box.message(SHARED_SIM, ANIA, HOSTILE, at(0), None)
    box.message(SHARED_SIM, BARTEK, "😀" * 5000, at(1), None)

    html = panel.get("/conversations").get_data(as_text=True)

    assert "<script>window.pwned" not in html and "&lt;script&gt;window.pwned = true&lt;/script&gt;" in html
    assert "😀" * 140 + "…" in html and "😀" * 141 not in html
    assert '<span class="text" dir="auto">' in html


def test_an_account_s_user_sees_its_own_numbers_and_on_a_shared_number_only_its_own_side(
        traffic: Box, users: Users, signed_in: Any) -> None:
    garden = user_of(users, signed_in, traffic.garden, "ogrodnik@example.com")

    html = garden.get("/conversations").get_data(as_text=True)

    assert rows(html) == [(DAREK, "+48500300300"), (ANIA, "+48500100100")]
    ania = html[html.index(f">{ANIA}</a>"):]
    assert "Witamy w klubie ogrodnika" in ania and "Pizza" not in html
    assert "↓ 1" in ania and "↑ 1" in ania and 'badge-delivered">delivered<' in ania
    assert "+48500200200" not in html  # the pizzeria's number is not even in the filter
    assert rows(garden.get(f"/conversations?number={traffic.pizza_number}").get_data(as_text=True)) == []


def test_an_account_s_user_reads_only_its_side_of_a_shared_thread_and_nothing_of_other_numbers(
        traffic: Box, users: Users, signed_in: Any) -> None:
    garden = user_of(users, signed_in, traffic.garden, "ogrodnik@example.com")

    html = garden.get(thread_path(traffic.shared, ANIA)).get_data(as_text=True)

    assert "OGRODNIK" in html and "Witamy w klubie ogrodnika" in html
    assert "PIZZA" not in html and "Pizza w drodze" not in html
    assert garden.get(thread_path(traffic.shared, BARTEK)).status_code == 404  # reached no account
    assert garden.get(thread_path(traffic.pizza_number, CELINA)).status_code == 404
    assert garden.get(thread_path(traffic.garden_number, DAREK)).status_code == 200
    older = garden.get(thread_path(traffic.shared, ANIA) + "?before=in-3").get_data(as_text=True)
    assert "PIZZA" not in older  # a cursor naming the other business's message is no way in


def test_a_reply_by_an_account_s_user_speaks_for_its_account_and_the_other_business_never_sees_it(
        traffic: Box, users: Users, signed_in: Any) -> None:
    garden = user_of(users, signed_in, traffic.garden, "ogrodnik@example.com")
    pizza = user_of(users, signed_in, traffic.pizza, "pizza@example.com")
    path = thread_path(traffic.shared, ANIA)
    token = re.search(r'name="csrf_token" value="([^"]+)"', garden.get(path).get_data(as_text=True))
    assert token is not None

    response = garden.post(path, data={"csrf_token": token.group(1), "text": "Sadzonki\r\nod jutra"})

    assert response.status_code == 303
    assert traffic.texts()[-1] == (ANIA, "Sadzonki\nod jutra", traffic.garden)
    assert "Sadzonki" in garden.get(path).get_data(as_text=True)
    assert "Sadzonki" not in pizza.get(path).get_data(as_text=True)
    with traffic.sessions() as session:
        assert session.scalar(select(OutboundSms.account_id).where(OutboundSms.text == "Sadzonki\nod jutra")) == \
            traffic.garden
    cannot = garden.post(thread_path(traffic.shared, BARTEK), data={"csrf_token": token.group(1), "text": "Hej"})
    assert cannot.status_code == 404
    assert len(traffic.texts()) == 4


def test_the_admin_s_reply_on_a_shared_number_speaks_for_the_business_the_person_wrote_to_last(
        panel: FlaskClient, traffic: Box, users: Users, signed_in: Any) -> None:
    path = thread_path(traffic.shared, ANIA)
    token = re.search(r'name="csrf_token" value="([^"]+)"', panel.get(path).get_data(as_text=True))
    assert token is not None

    assert panel.post(path, data={"csrf_token": token.group(1), "text": "Pizza za 10 minut"}).status_code == 303

    assert traffic.texts()[-1] == (ANIA, "Pizza za 10 minut", traffic.pizza)
    pizza = user_of(users, signed_in, traffic.pizza, "pizza@example.com")
    assert "Pizza za 10 minut" in pizza.get(path).get_data(as_text=True)


def test_the_thread_page_polls_the_status_of_texts_on_their_way_and_only_of_its_own_texts(
        panel: FlaskClient, traffic: Box, users: Users, signed_in: Any) -> None:
    queued = traffic.text(SHARED_SIM, ANIA, "Jeszcze chwila", at(9), traffic.pizza)
    html = panel.get(thread_path(traffic.shared, ANIA)).get_data(as_text=True)
    assert f'data-on-their-way="{queued}"' in html

    with traffic.sessions.begin() as session:
        text = session.get(OutboundSms, queued)
        assert text is not None
        text.status = "delivered"
    ids = ",".join(str(i) for i in range(1, queued + 1))
    answer = panel.get(thread_path(traffic.shared, ANIA) + f"/statuses.json?ids={ids}").get_json()
    assert [(item["id"], item["status"]) for item in answer["items"]][-1] == (queued, "delivered")
    assert 'class="badge badge-delivered">delivered</span>' in answer["items"][-1]["html"]
    assert {item["id"] for item in answer["items"]} == {1, 2, queued}  # Ania's texts, not Bartek's

    garden = user_of(users, signed_in, traffic.garden, "ogrodnik@example.com")
    mine = garden.get(thread_path(traffic.shared, ANIA) + f"/statuses.json?ids={ids}").get_json()
    assert [item["id"] for item in mine["items"]] == [1]


def test_an_account_token_reads_and_answers_only_its_side_of_a_shared_number(
        client: FlaskClient, traffic: Box) -> None:
    with traffic.sessions.begin() as session:
        garden = {"Authorization": f"Bearer {create_token(session, 'ogrodnik', account_id=traffic.garden)}"}

    listed = client.get(f"/api/v1/access-numbers/{traffic.shared}/conversations", headers=garden).get_json()
    assert [(row["sender"], row["received"], row["sent"], row["last"]["text"]) for row in listed["items"]] == [
        (ANIA, 1, 1, "Witamy w klubie ogrodnika")]
    assert listed["items"][0]["last_sent"]["status"] == "delivered"
    thread = client.get(f"/api/v1/access-numbers/{traffic.shared}/conversations/{ANIA}", headers=garden).get_json()
    assert [item["text"] for item in thread["items"]] == ["OGRODNIK", "Witamy w klubie ogrodnika"]
    for path in (f"/access-numbers/{traffic.pizza_number}/conversations",
                 f"/access-numbers/{traffic.pizza_number}/conversations/{CELINA}",
                 f"/access-numbers/{traffic.shared}/conversations/{BARTEK}"):
        assert client.get(f"/api/v1{path}", headers=garden).status_code == 404, path

    response = client.post(f"/api/v1/access-numbers/{traffic.shared}/conversations/{ANIA}", json={"text": "Dzięki"},
                           headers=garden)
    assert response.status_code == 201, response.get_json()
    assert traffic.texts()[-1] == (ANIA, "Dzięki", traffic.garden)
