"""The inbox page (``/inbox``): its rows, filters, paging and who sees what, through Flask's test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import url_for

from tests.web.shops import two_shops

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


# --- who sees what ----------------------------------------------------------------------------------

def test_an_account_user_sees_only_its_own_accounts_messages(signed_in, users, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    own = store.message(iccid=florist.iccid, account_id=florist.account_id, text="TULIPANY 5 szt.")
    store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, text="PIZZA tajna receptura")
    store.message(iccid="8948000000000000999", text="nobody's, unmatched")
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    html = page(owner)
    searched = page(owner, f"?q=tajna&account={pizzeria.account_id}&number={pizzeria.number_id}")

    assert row_ids(html) == [own.id]
    assert "tajna" not in html and "nobody" not in html
    assert row_ids(searched) == []
    # The lists offer only the owner's own number and keyword, and no account list at all.
    assert florist.number in html and pizzeria.number not in html
    assert "TULIPANY · +48500100101" in html and "PIZZA" not in html
    assert 'name="account"' not in html


def test_an_admin_sees_every_account_and_the_unmatched(panel, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    ids = [store.message(iccid=florist.iccid, account_id=florist.account_id).id,
           store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id).id,
           store.message(iccid="8948000000000000999").id]

    html = page(panel)

    assert row_ids(html) == ids[::-1]
    assert 'name="account"' in html and "Kwiaciarnia Róża" in html and "Pizzeria Roma" in html


def test_another_accounts_attachment_is_not_found_for_an_account_user(signed_in, users, store, session_factory):
    from appliance.db.models import Attachment

    florist, pizzeria = two_shops(session_factory)
    theirs = store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, kind="mms")
    with session_factory.begin() as session:
        part = Attachment(message_id=theirs.id, sequence=1, content_type="image/jpeg", name="tajne.jpg", size=3,
                          sha256="0" * 64, thumbnail_sha256="1" * 64)
        session.add(part)
    owner = signed_in(users.create("kwiaciarnia@example.com", admin=False, account_id=florist.account_id))

    assert owner.get(f"/panel/attachments/{part.id}").status_code == 404
    assert owner.get(f"/panel/attachments/{part.id}/thumbnail").status_code == 404


# --- filters ----------------------------------------------------------------------------------------

def test_filtering_by_access_number_keyword_and_account(panel, store, session_factory):
    florist, pizzeria = two_shops(session_factory)
    tulips = store.message(iccid=florist.iccid, account_id=florist.account_id, status="routed",
                           keyword_id=florist.keyword_id, keyword="TULIPANY", text="TULIPANY 5")
    other = store.message(iccid=florist.iccid, account_id=florist.account_id, text="Dzień dobry")
    pizza = store.message(iccid=pizzeria.iccid, account_id=pizzeria.account_id, status="routed",
                          keyword_id=pizzeria.keyword_id, keyword="PIZZA", text="PIZZA 2")

    assert row_ids(page(panel, f"?number={florist.number_id}")) == [other.id, tulips.id]
    assert row_ids(page(panel, f"?keyword={pizzeria.keyword_id}")) == [pizza.id]
    assert row_ids(page(panel, f"?account={pizzeria.account_id}")) == [pizza.id]
    assert row_ids(page(panel, f"?account={florist.account_id}&keyword={florist.keyword_id}")) == [tulips.id]


def test_the_status_filter_finds_the_unmatched(panel, store):
    store.message(status="routed", text="PIZZA")
    unmatched = store.message(status="unmatched", text="Hello?")
    store.message(status="undecodable", text=None)

    html = page(panel, "?status=unmatched")

    assert row_ids(html) == [unmatched.id]
    assert '<option value="unmatched" selected>' in html


def test_the_date_range_is_in_local_days(panel, store):
    """Europe/Warsaw: 23:30 UTC on 24 November is half past midnight on the 25th there."""
    on_24th = store.message(received_at=datetime(2026, 11, 24, 22, 30, tzinfo=UTC), text="late evening of the 24th")
    on_25th = store.message(received_at=datetime(2026, 11, 24, 23, 30, tzinfo=UTC), text="just after midnight")
    late_25th = store.message(received_at=datetime(2026, 11, 25, 22, 59, tzinfo=UTC), text="before midnight")
    store.message(received_at=datetime(2026, 11, 25, 23, 0, tzinfo=UTC), text="26th already")

    assert row_ids(page(panel, "?from=2026-11-25&to=2026-11-25")) == [late_25th.id, on_25th.id]
    assert row_ids(page(panel, "?to=2026-11-24")) == [on_24th.id]
    assert len(row_ids(page(panel, "?from=2026-11-25"))) == 3
    assert len(row_ids(page(panel, "?from=yesterday&to=0000-00-00"))) == 4  # nonsense is ignored


def test_text_search_finds_sender_or_text_without_regard_to_case(panel, store):
    lodz = store.message(sender="+48600111222", text="Dostawa do ŁODZI jutro?")
    store.message(sender="+48600333444", text="Dostawa do Krakowa")
    by_sender = store.message(sender="+48600555666", text="Tak")
    percent = store.message(sender="+48600777888", text="Rabat 50% na róże")
    store.message(sender="+48600999000", text="Rabat 50 zł")

    assert row_ids(page(panel, "?q=łodzi")) == [lodz.id]
    assert row_ids(page(panel, "?q=%C5%81oDzI")) == [lodz.id]  # "ŁoDzI"
    assert row_ids(page(panel, "?q=555666")) == [by_sender.id]
    assert row_ids(page(panel, "?q=50%25")) == [percent.id]  # a typed % is a percent sign, not a wildcard
    assert row_ids(page(panel, "?q=ROŻE")) == []
    assert row_ids(page(panel, "?q=RÓŻE")) == [percent.id]


def test_the_search_box_keeps_what_was_typed_escaped(panel, store):
    html = page(panel, '?q="><script>alert(1)</script>')

    assert "<script>alert(1)" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "No messages match these filters." in html


def test_paging_keeps_the_filters(panel, store):
    wanted = [store.message(text=f"PIZZA {n}").id for n in range(60)]
    store.messages(10)

    first = page(panel, "?q=pizza")
    older_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = page(panel, older_link.removeprefix("/inbox"))

    assert "q=pizza" in older_link
    assert row_ids(first) + row_ids(second) == wanted[::-1]
    assert 'id="live-events" data-url="/panel/events?last_event_id=' in first
    assert "q=pizza" in re.search(r'id="live-events" data-url="([^"]+)"', first).group(1)


def test_every_page_of_the_menu_works_offline_with_the_box_s_own_assets(panel):
    """The LAN may have no internet: no page may reach for a CDN, a web font or another host."""
    from appliance.web.navigation import NAVIGATION

    with panel.application.test_request_context():
        paths = [url_for(entry.endpoint) for entry in NAVIGATION]
    for path in paths:
        response = panel.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert re.findall(r'(?:src|href|action)="(?:https?:)?//', html) == [], path
        assert "@import" not in html and "url(http" not in html, path
        for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', html):
            with panel.get(asset) as served:
                assert served.status_code == 200, asset
