"""A poll's results chart in headless Chromium: it changes when a vote is stored, without a reload.

The page listens to the panel's event stream (``/panel/events``, events ``poll`` with
``{"poll_id", "votes", "voters"}``) and fetches the chart again when one names its poll, or when the
stream (re)connects; when the box refuses the stream it fetches every few seconds instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from playwright.sync_api import Page, Route, expect
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Poll
from tests.web.campaign_pages import accounts, vote_by_sms, voting_keyword
from tests.web.conftest import LIVE_TIMEOUT_MS

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
# The stream's first connection, a vote, the event that reports it, the fetch: on a loaded machine.
CHART_TIMEOUT_MS = LIVE_TIMEOUT_MS + 5_000


def poll_with_keyword(session_factory: sessionmaker[Session]) -> int:
    [shop] = accounts(session_factory, "Pizzeria")
    with session_factory.begin() as session:
        poll = Poll(account_id=shop, question="Która pizza w piątek?", policy="keep_last",
                    options=[{"code": "1", "label": "Margherita"}, {"code": "2", "label": "Hawajska"}])
        session.add(poll)
        session.flush()
        poll_id = poll.id
    voting_keyword(session_factory, shop, poll_id)
    return poll_id


def test_the_chart_changes_when_reception_stores_a_vote(page: Page, server_url: str,
                                                        session_factory: sessionmaker[Session]) -> None:
    poll_id = poll_with_keyword(session_factory)
    page.goto(f"{server_url}/polls/{poll_id}")
    chart = page.locator("#poll-chart")
    expect(chart).to_contain_text("0 voters")
    page.evaluate("window.notReloaded = true")

    vote_by_sms(session_factory, "+48600100200", "ANKIETA hawajska", T0)

    expect(chart).to_contain_text("1 voter", timeout=CHART_TIMEOUT_MS)
    expect(chart.locator("g.bar").nth(1)).to_contain_text("1 (100%)")
    vote_by_sms(session_factory, "+48600100300", "ANKIETA 1", T0)
    expect(chart).to_contain_text("2 voters", timeout=CHART_TIMEOUT_MS)
    expect(chart.locator("g.bar").nth(0)).to_contain_text("1 (50%)")
    assert page.evaluate("window.notReloaded") is True


def test_a_poll_event_naming_the_poll_brings_the_new_chart(page: Page, server_url: str,
                                                          session_factory: sessionmaker[Session]) -> None:
    poll_id = poll_with_keyword(session_factory)

    def stream(route: Route) -> None:
        # Reception stores a vote; the stream reports it, after an event of another poll.
        vote_by_sms(session_factory, "+48600100200", "ANKIETA margherita", T0)
        events = [{"poll_id": poll_id + 1, "votes": 7, "voters": 7}, {"poll_id": poll_id, "votes": 1, "voters": 1}]
        body = "retry: 3600000\n\n" + "".join(f"event: poll\ndata: {json.dumps(e)}\n\n" for e in events)
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
                      body=body)

    page.route("**/panel/events", stream)
    page.goto(f"{server_url}/polls/{poll_id}")

    expect(page.locator("#poll-chart")).to_contain_text("1 voter", timeout=CHART_TIMEOUT_MS)
    expect(page.locator("#poll-chart g.bar").nth(0)).to_contain_text("1 (100%)")


def test_without_the_event_stream_the_chart_still_catches_up(page: Page, server_url: str,
                                                            session_factory: sessionmaker[Session]) -> None:
    poll_id = poll_with_keyword(session_factory)
    page.route("**/panel/events", lambda route: route.fulfill(status=503, body="not now"))
    page.goto(f"{server_url}/polls/{poll_id}")
    expect(page.locator("#poll-live")).to_have_text("not live: checking every few seconds")

    vote_by_sms(session_factory, "+48600100200", "ANKIETA 2", T0)

    expect(page.locator("#poll-chart")).to_contain_text("1 voter", timeout=CHART_TIMEOUT_MS)
