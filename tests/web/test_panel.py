"""The panel page and its live-update endpoint, through Flask's test client signed in as an admin."""

from __future__ import annotations

import re
from datetime import UTC, datetime

HOSTILE = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">'


def page(panel, query=""):
    response = panel.get(f"/{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def row_ids(html):
    return [int(n) for n in re.findall(r'<tr class="message[^"]*" id="message-(\d+)"', html)]


def test_the_page_lists_messages_newest_first(panel, store):
    store.modem(iccid="8944000000000000001", msisdn="+447700900001")
    older = store.message(iccid="8944000000000000001", sender="+447700900123", text="Table for two at 8?",
                          received_at=datetime(2026, 11, 25, 9, 15, 0, tzinfo=UTC))
    newer = store.message(iccid="8944000000000000001", sender="+447700900456", text="PIZZA 2 large")

    html = page(panel)

    assert row_ids(html) == [newer.id, older.id]
    assert "Table for two at 8?" in html
    assert "+447700900123" in html
    assert "+447700900001" in html  # the SIM's number
    assert '<time datetime="2026-11-25T09:15:00Z">2026-11-25 09:15:00 UTC</time>' in html
    assert 'badge-unmatched">unmatched<' in html


def test_hostile_message_text_is_escaped(panel, store):
    store.message(text=HOSTILE, sender="<b>evil</b>", subject="<i>x</i>")

    html = page(panel)

    assert "<script>window.pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.pwned = true&lt;/script&gt;" in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html


def test_a_partial_message_is_marked_with_its_parts_and_error(panel, store):
    store.message(status="partial", parts_total=3, parts_received=2, text="Hello wor",
                  error="part 3 of 3 not received within 24 h")

    html = page(panel)

    assert 'badge-partial">partial 2/3<' in html
    assert "part 3 of 3 not received within 24 h" in html
    assert 'class="message status-partial"' in html


def test_an_undecodable_message_is_marked_with_its_error(panel, store):
    store.message(status="undecodable", text=None, error="TP-DCS 0xF6: 8-bit data, not text")

    html = page(panel)

    assert 'badge-undecodable">undecodable<' in html
    assert "TP-DCS 0xF6: 8-bit data, not text" in html
    assert "(no text)" in html


def test_an_empty_inbox_says_so(panel):
    html = page(panel)

    assert "No messages yet." in html
    assert 'data-last-id="0"' in html


def test_fifty_messages_a_page_with_a_link_to_older_ones(panel, store):
    ids = [m.id for m in store.messages(120)]

    first = page(panel)
    older_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)
    second = page(panel, older_link.lstrip("/"))
    third = page(panel, re.search(r'<a href="([^"]+)" rel="next">', second).group(1).lstrip("/"))

    assert row_ids(first) == ids[::-1][:50]
    assert row_ids(second) == ids[::-1][50:100]
    assert row_ids(third) == ids[::-1][100:]
    assert 'rel="next"' not in third
    assert "Newest" in third


def test_only_the_newest_page_updates_live(panel, store):
    ids = [m.id for m in store.messages(60)]

    newest = page(panel)
    older = page(panel, f"?before_id={ids[10]}")

    assert f'data-live="true" data-last-id="{ids[-1]}"' in newest
    assert "data-live" not in older
    assert "Newest" not in newest


def test_a_nonsense_before_id_shows_the_newest_page(panel, store):
    message = store.message()

    assert row_ids(page(panel, "?before_id=soon")) == [message.id]


def test_the_modem_strip_shows_state_operator_and_signal(panel, store):
    store.modem(iccid="8944000000000000001", msisdn="+447700900001", operator="Vodafone UK",
                state="registered", signal_dbm=-71)
    store.modem(iccid="8944000000000000002", msisdn=None, operator=None, state="failed",
                state_detail="SIM PIN required, 2 attempts left", signal_dbm=None)

    html = page(panel)
    strip = html[html.index('id="modems"'):html.index("<h1>Messages</h1>")]

    assert "+447700900001" in strip
    assert "Vodafone UK" in strip
    assert "signal excellent (-71 dBm)" in strip
    assert 'badge-ok">registered<' in strip
    assert 'badge-bad">failed<' in strip
    assert "SIM PIN required, 2 attempts left" in strip
    assert "SIM …0000002" not in strip and "SIM …000002" in strip


def test_no_modem_yet_is_explained(panel):
    assert "No modem seen yet" in page(panel)


def test_the_page_loads_only_its_own_assets(panel):
    html = page(panel)

    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    for asset in ("/static/panel.css", "/static/panel.js"):
        with panel.get(asset) as response:  # a file response must be closed
            assert response.status_code == 200


def test_messages_json_gives_rows_after_the_cursor_oldest_first(panel, store):
    first, second, third = store.messages(3)

    body = panel.get(f"/panel/messages.json?after_id={first.id}").get_json()

    assert [item["id"] for item in body["items"]] == [second.id, third.id]
    assert f'id="message-{third.id}"' in body["items"][1]["html"]
    assert "message 3" in body["items"][1]["html"]
    assert "modems_html" in body


def test_messages_json_rows_are_escaped(panel, store):
    store.message(text=HOSTILE)

    [item] = panel.get("/panel/messages.json?after_id=0").get_json()["items"]

    assert "<script>" not in item["html"]
    assert "&lt;script&gt;" in item["html"]


def test_messages_json_with_nothing_new_is_empty(panel, store):
    newest = store.messages(2)[-1]

    assert panel.get(f"/panel/messages.json?after_id={newest.id}").get_json()["items"] == []


def test_messages_json_refuses_a_negative_cursor(panel):
    assert panel.get("/panel/messages.json?after_id=-1").status_code == 400


def test_a_missing_panel_page_gets_an_ordinary_html_404(panel):
    response = panel.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_an_unassigned_sim_is_shown_with_its_identity_and_a_bound_one_with_its_number(panel, store,
                                                                                      session_factory):
    from appliance.db.models import AccessNumber

    store.modem(iccid="8948000000000000011", msisdn=None, imsi="260060000000011", state="ready",
                registration="denied")
    store.modem(iccid="8948000000000000012", state="ready")
    with session_factory.begin() as session:
        session.add(AccessNumber(number="+48500100012", iccid="8948000000000000012"))
    page = panel.get("/").get_data(as_text=True)
    assert "unassigned" in page and "ICCID 8948000000000000011" in page and "IMSI 260060000000011" in page
    assert "network refused the SIM" in page
    assert "+48500100012" in page
