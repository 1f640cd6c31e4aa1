"""The panel's statistics page: traffic per day and keyword popularity as SVG charts, per access
number and per keyword, for 7, 30 or 90 days; an account's user sees only the account's numbers and
keywords."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, time, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Keyword
from appliance.web.campaign_pages import BOX_ZONE
from tests.web.campaign_pages import accounts, text_of
from tests.web.conftest import Store

SVG = "{http://www.w3.org/2000/svg}"
SHARED_SIM, DEDICATED_SIM = "8948000000000000001", "8948000000000000002"


def days_ago(days: int, hour: int = 12) -> datetime:
    """A moment of a local day on the box's clock."""
    return datetime.combine(datetime.now(BOX_ZONE).date() - timedelta(days=days), time(hour), BOX_ZONE)


class Traffic:
    """A shared number where two accounts reserved keywords, and one account's dedicated number."""

    def __init__(self, session_factory: sessionmaker[Session], store: Store):
        self.store = store
        self.ogrody, self.pizzeria = accounts(session_factory, "Ogrody", "Pizzeria")
        with session_factory.begin() as session:
            shared = AccessNumber(number="+48500100200", iccid=SHARED_SIM, kind="shared")
            dedicated = AccessNumber(number="+48500100300", iccid=DEDICATED_SIM, kind="dedicated",
                                     account_id=self.pizzeria)
            session.add_all([shared, dedicated])
            session.flush()
            keywords = [Keyword(access_number_id=shared.id, account_id=self.ogrody, keyword=word, mode="base",
                                typo_tolerant=False, actions=[]) for word in ("OGRODNIK", "TRAWA")]
            keywords.append(Keyword(access_number_id=shared.id, account_id=self.pizzeria, keyword="PIZZA", mode="base",
                                    typo_tolerant=False, actions=[]))
            session.add_all(keywords)
            session.flush()
            self.shared, self.dedicated = shared.id, dedicated.id
            self.ogrodnik, self.trawa, self.pizza = (k.id for k in keywords)

    def messages(self, count: int, keyword_id: int | None, received_at: datetime, iccid: str = SHARED_SIM) -> None:
        for n in range(count):
            self.store.message(iccid=iccid, keyword_id=keyword_id, status="routed" if keyword_id else "unmatched",
                               sender=f"+4860010{n:04d}", received_at=received_at + timedelta(minutes=n))


def chart(html: str, chart_id: str) -> ElementTree.Element:
    found = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert found is not None, f"no chart {chart_id}"
    return ElementTree.fromstring(found.group(0))


def tooltips(svg: ElementTree.Element) -> list[str]:
    return [g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g")]


def test_an_access_number_s_traffic_per_day_and_its_keywords_popularity(
        panel: FlaskClient, session_factory: sessionmaker[Session], store: Store) -> None:
    traffic = Traffic(session_factory, store)
    traffic.messages(3, traffic.ogrodnik, days_ago(1))
    traffic.messages(5, traffic.pizza, days_ago(0, hour=0))  # just after local midnight: today
    traffic.messages(2, None, days_ago(6))
    traffic.messages(4, traffic.trawa, days_ago(8))  # outside a week
    traffic.messages(1, None, days_ago(1), iccid=DEDICATED_SIM)  # another number

    html = text_of(panel.get(f"/statistics?scope=number-{traffic.shared}&days=7"))

    per_day = tooltips(chart(html, "traffic-chart"))
    assert len(per_day) == 7
    assert [int(re.search(r": (\d+) messages?$", t).group(1)) for t in per_day] == [2, 0, 0, 0, 0, 3, 5]  # type: ignore[union-attr]
    popularity = chart(html, "popularity-chart")
    assert tooltips(popularity) == ["PIZZA: 5", "OGRODNIK: 3", "TRAWA: 0"]
    assert popularity.findtext(f"{SVG}title") == "Keyword popularity on +48500100200"
    assert re.search(r"<dt>Messages</dt><dd>10</dd>", html) and re.search(r"<dt>Senders</dt><dd>5</dd>", html)

    month = text_of(panel.get(f"/statistics?scope=number-{traffic.shared}&days=30"))
    assert len(tooltips(chart(month, "traffic-chart"))) == 30
    assert tooltips(chart(month, "popularity-chart")) == ["PIZZA: 5", "TRAWA: 4", "OGRODNIK: 3"]
    assert len(tooltips(chart(text_of(panel.get("/statistics?days=90")), "traffic-chart"))) == 90


def test_a_keyword_s_traffic_per_day(panel: FlaskClient, session_factory: sessionmaker[Session],
                                     store: Store) -> None:
    traffic = Traffic(session_factory, store)
    traffic.messages(3, traffic.ogrodnik, days_ago(2))
    traffic.messages(5, traffic.pizza, days_ago(2))

    html = text_of(panel.get(f"/statistics?scope=keyword-{traffic.ogrodnik}&days=7"))

    svg = chart(html, "traffic-chart")
    assert svg.findtext(f"{SVG}title") == "Messages per day: OGRODNIK"
    assert tooltips(svg)[4].endswith(": 3 messages") and "3 messages, 3 senders" in (svg.get("aria-label") or "")
    assert f'<option value="keyword-{traffic.ogrodnik}" selected>' in html


def test_without_numbers_or_keywords_the_page_says_there_is_nothing_to_count(panel: FlaskClient) -> None:
    html = text_of(panel.get("/statistics"))

    assert "Nothing to count yet" in html and "<svg" not in html


def test_an_account_s_user_sees_its_dedicated_numbers_and_its_own_keywords_only(
        signed_in, users, session_factory: sessionmaker[Session], store: Store) -> None:
    traffic = Traffic(session_factory, store)
    traffic.messages(3, traffic.ogrodnik, days_ago(1))
    traffic.messages(5, traffic.pizza, days_ago(1))
    traffic.messages(2, None, days_ago(1), iccid=DEDICATED_SIM)
    owner = signed_in(users.create("pizza@example.com", admin=False, account_id=traffic.pizzeria))

    html = text_of(owner.get("/statistics"))

    assert f'value="number-{traffic.dedicated}" selected' in html and f"number-{traffic.shared}" not in html
    assert f"keyword-{traffic.pizza}" in html and "OGRODNIK" not in html and "TRAWA" not in html
    assert tooltips(chart(html, "traffic-chart"))[-2].endswith(": 2 messages")
    shared_keyword = text_of(owner.get(f"/statistics?scope=keyword-{traffic.pizza}"))
    assert tooltips(chart(shared_keyword, "popularity-chart")) == ["PIZZA: 5"]  # not the other account's
    for scope in (f"number-{traffic.shared}", f"keyword-{traffic.ogrodnik}", "number-999", "poll-1"):
        assert owner.get(f"/statistics?scope={scope}").status_code == 404, scope
