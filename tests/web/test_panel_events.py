"""The live events stream (``GET /panel/events``): what it sends, to whom, and how it resumes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from appliance.db.models import Message, Modem, Poll, PollVote
from tests.web.event_stream import EventStream
from tests.web.shops import two_shops

HOSTILE = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">'


@pytest.fixture(autouse=True)
def quick_streams(app):
    """Reads every 50 ms, and a stream that ends by itself soon, so that a failing test ends too."""
    app.config.update(LIVE_POLL_SECONDS=0.05, LIVE_STREAM_SECONDS=2, LIVE_HEARTBEAT_SECONDS=0.5)


def live_url(client, path="/inbox"):
    """The stream URL a page hands its script."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'id="live-events" data-url="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_signing_in_is_required(client):
    response = client.get("/panel/events")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/setup") or "/login" in response.headers["Location"]


def test_a_message_stored_after_the_page_loaded_comes_as_its_inbox_row(panel, store):
    store.message(text="already on the page")
    stream = EventStream.open(panel, live_url(panel))

    message = store.message(sender="+48600100200", text="Czy są tulipany?")
    arrived = stream.until("message")
    stream.close()

    assert arrived.data["id"] == message.id
    assert arrived.data["html"].startswith(f'<tr class="message status-unmatched" id="message-{message.id}"')
    assert "Czy są tulipany?" in arrived.data["html"]
    assert "already on the page" not in arrived.data["html"]
    assert stream.retry == 1000
    assert stream.response.headers["Cache-Control"] == "no-store"


def test_hostile_text_is_escaped_in_the_live_row(panel, store):
    stream = EventStream.open(panel, live_url(panel))

    store.message(text=HOSTILE, sender="<b>evil</b>", subject="<i>x</i>")
    html = stream.until("message").data["html"]
    stream.close()

    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;window.pwned = true&lt;/script&gt;" in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html


def test_a_reconnect_with_last_event_id_sends_what_was_missed_and_nothing_older(panel, store):
    seen, missed_one, missed_two = store.messages(3)

    stream = EventStream.open(panel, "/panel/events?last_event_id=0", headers={"Last-Event-ID": str(seen.id)})
    first, second = stream.until("message"), stream.until("message")
    stream.close()

    assert [first.data["id"], second.data["id"]] == [missed_one.id, missed_two.id]
    assert int(second.id) >= seen.id  # the id the browser will send back when it reconnects


def test_every_event_carries_an_id_the_browser_resumes_from(panel, store):
    stream = EventStream.open(panel, live_url(panel))
    message = store.message()
    event = stream.until("message")
    stream.close()

    later = store.message(text="while reconnecting")
    resumed = EventStream.open(panel, f"/panel/events?last_event_id={event.id}")
    resumed.until("message", lambda data: data["id"] == later.id)
    resumed.close()

    assert int(event.id) <= message.id


def test_a_lower_id_that_becomes_visible_late_is_still_sent(panel, store):
    """On PostgreSQL a transaction that took id 5 may commit after the one that took id 9."""
    stream = EventStream.open(panel, "/panel/events?last_event_id=4")
    store.message(id=9, text="committed first")
    assert stream.until("message").data["id"] == 9

    store.message(id=5, text="committed late")
    late = stream.until("message")
    stream.close()

    assert late.data["id"] == 5
    assert "committed late" in late.data["html"]


def test_rows_not_matching_the_pages_filters_are_not_sent(panel, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    stream = EventStream.open(panel, live_url(panel, f"/inbox?number={pizzeria.number_id}&q=margherita"))

    store.message(iccid=florist.iccid, account_id=florist.account_id, text="margherita?")
    store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, text="PIZZA hawajska")
    wanted = store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, text="PIZZA Margherita x2")
    events = [event for event in stream.rest() if event.name == "message"]

    assert [event.data["id"] for event in events] == [wanted.id]


def test_an_account_user_is_sent_only_its_own_accounts_rows_and_polls(signed_in, users, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    with session_factory.begin() as session:
        florist_poll = Poll(account_id=florist.account_id, question="Róże czy tulipany?",
                            options=[{"code": "A", "label": "Róże"}, {"code": "B", "label": "Tulipany"}])
        pizzeria_poll = Poll(account_id=pizzeria.account_id, question="Ananas?",
                             options=[{"code": "T", "label": "Tak"}, {"code": "N", "label": "Nie"}])
        session.add_all([florist_poll, pizzeria_poll])
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))
    stream = EventStream.open(owner, live_url(owner))

    store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, text="PIZZA tajna")
    vote(session_factory, pizzeria_poll.id, store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id,
                                                          text="ANANAS T"), "T")
    store.message(iccid="8948000000000000999", text="nobody's")  # unmatched, no account
    own = store.message(iccid=florist.iccid, account_id=florist.account_id, text="TULIPANY 5 szt.")
    vote(session_factory, florist_poll.id, own, "B")
    events = stream.rest()

    rows = [event.data for event in events if event.name == "message"]
    polls = [event.data for event in events if event.name == "poll"]
    assert [row["id"] for row in rows] == [own.id]
    assert all("tajna" not in row["html"] and "nobody" not in row["html"] for row in rows)
    assert polls == [{"poll_id": florist_poll.id, "votes": 1, "voters": 1}]


def vote(session_factory, poll_id, message, code):
    with session_factory.begin() as session:
        session.add(PollVote(poll_id=poll_id, msisdn=message.sender, option_code=code, message_id=message.id))


def test_a_vote_sends_the_polls_new_counts_and_a_moved_vote_sends_them_again(panel, store, session_factory):
    florist, _ = two_shops(session_factory)
    with session_factory.begin() as session:
        poll = Poll(account_id=florist.account_id, question="Róże czy tulipany?", policy="keep_last",
                    options=[{"code": "A", "label": "Róże"}, {"code": "B", "label": "Tulipany"}])
        session.add(poll)
    stream = EventStream.open(panel, live_url(panel))

    first = store.message(sender="+48600100200", account_id=florist.account_id, text="A")
    vote(session_factory, poll.id, first, "A")
    counted = stream.until("poll")
    second = store.message(sender="+48600100300", account_id=florist.account_id, text="A")
    vote(session_factory, poll.id, second, "A")
    two = stream.until("poll", lambda data: data["votes"] == 2)
    change_of_mind = store.message(sender="+48600100200", account_id=florist.account_id, text="B")
    with session_factory.begin() as session:
        session.execute(update(PollVote).where(PollVote.message_id == first.id)
                        .values(option_code="B", message_id=change_of_mind.id))
    moved = stream.until("poll")
    stream.close()

    assert counted.data == {"poll_id": poll.id, "votes": 1, "voters": 1}
    assert two.data == {"poll_id": poll.id, "votes": 2, "voters": 2}
    assert moved.data == {"poll_id": poll.id, "votes": 2, "voters": 2}


def test_the_modem_panel_comes_on_connecting_and_again_when_a_modem_changes(panel, store, session_factory):
    modem = store.modem(state="ready", registration="home", signal_dbm=-71)
    stream = EventStream.open(panel, live_url(panel, "/"))
    on_connect = stream.until("modem")

    with session_factory.begin() as session:
        session.execute(update(Modem).where(Modem.id == modem.id).values(state="no_sim"))
    changed = stream.until("modem")
    stream.close()

    assert "Working" in on_connect.data["html"] and "excellent" in on_connect.data["html"]
    assert "No SIM card" in changed.data["html"] and "Put the SIM card in the modem." in changed.data["html"]


def test_the_modem_panel_is_not_sent_again_while_it_looks_the_same(panel, store, session_factory):
    modem = store.modem(state="ready", registration="home")
    stream = EventStream.open(panel, live_url(panel, "/"))
    stream.until("modem")

    with session_factory.begin() as session:  # a status report that changes nothing shown
        session.execute(update(Modem).where(Modem.id == modem.id).values(imei="860000000000002"))
    events = stream.rest()

    assert [event.name for event in events if event.name == "modem"] == []


def test_todays_traffic_and_alerts_follow_new_messages(panel, store):
    stream = EventStream.open(panel, live_url(panel, "/"))
    assert "<strong>0</strong>" in stream.until("summary").data["traffic_html"]

    store.message(status="undecodable", text=None, error="TP-DCS 0xF6")
    summary = stream.until("summary")
    stream.close()

    assert "<strong>1</strong>" in summary.data["traffic_html"]
    assert "1 message today could not be read" in summary.data["alerts_html"]


def test_an_mms_is_sent_again_once_downloaded_and_routed(panel, signed_in, users, store, session_factory):
    florist, _ = two_shops(session_factory)
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    def downloaded(mms):
        with session_factory.begin() as session:
            session.execute(update(Message).where(Message.id == mms.id).values(
                status="routed", account_id=florist.account_id, text=f"TULIPANY na ślub {mms.id}"))

    stream = EventStream.open(panel, live_url(panel))
    for_admin = store.message(iccid=florist.iccid, kind="mms", status="fetching", text=None, subject="Zdjęcie")
    assert 'badge-fetching">downloading<' in stream.until("message").data["html"]
    downloaded(for_admin)
    admin_row = stream.until("message")
    stream.close()

    stream = EventStream.open(owner, live_url(owner))
    for_owner = store.message(iccid=florist.iccid, kind="mms", status="fetching", text=None, subject="Zdjęcie")
    stream.quiet_until_heartbeat()  # the owner sees nothing yet: the MMS has no account before routing
    downloaded(for_owner)
    owner_row = stream.until("message")
    stream.close()

    assert admin_row.data["id"] == for_admin.id and 'badge-routed">routed<' in admin_row.data["html"]
    assert owner_row.data["id"] == for_owner.id
    assert f"TULIPANY na ślub {for_owner.id}" in owner_row.data["html"]


def test_an_mms_downloaded_between_the_page_and_its_stream_is_sent_again(panel, store, session_factory):
    mms = store.message(kind="mms", status="fetching", text=None, subject="Zdjęcie")
    url = live_url(panel)  # the page shows the MMS as downloading
    with session_factory.begin() as session:  # … and it arrives before the stream's first look
        session.execute(update(Message).where(Message.id == mms.id).values(status="unmatched", text="bukiet"))

    stream = EventStream.open(panel, url)
    row = stream.until("message")
    stream.close()

    assert "downloading=" in url and row.data["id"] == mms.id
    assert "bukiet" in row.data["html"] and "badge-fetching" not in row.data["html"]


def test_garbage_in_the_downloading_ids_is_ignored(panel, store):
    stream = EventStream.open(panel, "/panel/events?last_event_id=0&downloading=x,%2C,99999999999999999999,-1")
    message = store.message(text="still live")
    arrived = stream.until("message")
    stream.close()

    assert arrived.data["id"] == message.id


def test_a_quiet_stream_sends_heartbeats_and_ends_after_its_time(app, panel):
    app.config.update(LIVE_STREAM_SECONDS=1.2, LIVE_HEARTBEAT_SECONDS=0.3)
    started = datetime.now(UTC)
    stream = EventStream.open(panel, "/panel/events")

    events = stream.rest()

    assert {event.name for event in events} <= {"modem", "summary"}
    assert stream.comments.count("heartbeat") >= 2
    assert 1.2 <= (datetime.now(UTC) - started).total_seconds() < 10
