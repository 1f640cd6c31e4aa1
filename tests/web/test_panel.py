"""The inbox page (``/inbox``): its rows, filters, paging and who sees what, through Flask's test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime

HOSTILE = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">'


def page(panel, query=""):
    response = panel.get(f"/inbox{query}")
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
    assert 'data-url="/panel/events?last_event_id=0"' in html


def test_fifty_messages_a_page_with_a_link_to_older_ones(panel, store):
    ids = [m.id for m in store.messages(120)]

    first = page(panel)
    older_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)
    second = page(panel, older_link.removeprefix("/inbox"))
    third = page(panel, re.search(r'<a href="([^"]+)" rel="next">', second).group(1).removeprefix("/inbox"))

    assert row_ids(first) == ids[::-1][:50]
    assert row_ids(second) == ids[::-1][50:100]
    assert row_ids(third) == ids[::-1][100:]
    assert 'rel="next"' not in third
    assert "Newest" in third


def test_only_the_newest_page_updates_live(panel, store):
    ids = [m.id for m in store.messages(60)]

    newest = page(panel)
    older = page(panel, f"?before_id={ids[10]}")

    assert f'id="live-events" data-url="/panel/events?last_event_id={ids[-1]}"' in newest
    assert "live-events" not in older
    assert "Newest" not in newest


def test_a_nonsense_before_id_shows_the_newest_page(panel, store):
    message = store.message()

    assert row_ids(page(panel, "?before_id=soon")) == [message.id]


def test_the_page_loads_only_its_own_assets(panel):
    html = page(panel)

    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    for asset in ("/static/panel.css", "/static/inbox.css", "/static/panel.js"):
        with panel.get(asset) as response:  # a file response must be closed
            assert response.status_code == 200


def test_a_missing_panel_page_gets_an_ordinary_html_404(panel):
    response = panel.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
