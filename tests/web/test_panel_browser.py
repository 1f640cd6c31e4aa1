"""The panel in a real headless Chromium, served by a real werkzeug server.

Chromium is a requirement of this suite, not an option: CI installs Debian's ``chromium`` package, and
a missing browser fails these tests rather than skipping them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlalchemy import update

from appliance.db.models import Modem
from tests.web.conftest import LIVE_TIMEOUT_MS


def test_the_panel_lists_stored_messages(page, server_url, store):
    store.modem(msisdn="+447700900001", operator="Vodafone UK", signal_dbm=-71)
    store.message(sender="+447700900123", text="Table for two at 8?")
    store.message(sender="+447700900456", text="PIZZA 2 large")

    page.goto(server_url + "/inbox")

    rows = page.locator("#messages tr.message")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("PIZZA 2 large")
    expect(rows.nth(0)).to_contain_text("+447700900456")
    expect(rows.nth(1)).to_contain_text("Table for two at 8?")


def test_a_message_stored_after_the_page_loaded_appears_without_reload(page, server_url, store):
    """Pushed over server-sent events (/panel/events), not polled."""
    store.message(text="already here")
    page.goto(server_url + "/inbox")
    expect(page.locator("#messages tr.message")).to_have_count(1)
    page.evaluate("window.notReloaded = true")

    store.message(sender="+447700900789", text="just arrived")

    rows = page.locator("#messages tr.message")
    expect(rows).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(rows.first).to_contain_text("just arrived")
    expect(rows.first).to_contain_text("+447700900789")
    assert page.evaluate("window.notReloaded") is True


def test_the_first_message_replaces_the_empty_inbox_note(page, server_url, store):
    page.goto(server_url + "/inbox")
    expect(page.locator("#messages")).to_contain_text("No messages yet.")

    store.message(text="the very first")

    expect(page.locator("#messages tr.message")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#messages")).not_to_contain_text("No messages yet.")


def test_hostile_text_is_shown_as_text(page, server_url, store):
    hostile = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">'
    store.message(text=hostile)
    page.goto(server_url + "/inbox")

    store.message(text=hostile + " (live)")

    rows = page.locator("#messages tr.message")
    expect(rows).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(rows.nth(0).locator(".body")).to_have_text(hostile + " (live)")
    expect(rows.nth(1).locator(".body")).to_have_text(hostile)
    assert page.locator("#messages script, #messages img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_rtl_overrides_and_ten_kilobytes_of_emoji_stay_inside_their_row_on_a_phone(page, server_url, store):
    """An RTL override must not turn the rest of the row around, and a wall of emoji must wrap, not
    push the page sideways: the owner can still read the row on a 390 px phone."""
    flood = "😀🎉🌷" * 1200  # about 10 KB of UTF-8
    store.message(sender="+48600100200", text="\u202eevil.exe ok")
    store.message(sender="+48600100300", text=flood)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server_url + "/inbox")

    rows = page.locator("#messages tr.message")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".body")).to_have_text(flood)
    expect(rows.nth(1).locator(".body")).to_have_text("\u202eevil.exe ok")
    assert rows.nth(1).locator(".body").get_attribute("dir") == "auto"  # isolated from the row around it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_reply_is_written_from_the_conversation_a_sender_links_to(page, server_url, store, session_factory):
    from appliance.db.models import AccessNumber
    from tests.web.conftest import DEFAULT_ICCID

    with session_factory.begin() as session:
        session.add(AccessNumber(number="+48500100200", iccid=DEFAULT_ICCID, kind="shared"))
    store.modem(state="ready")
    store.message(sender="+48600100200", text="Czy są tulipany?")
    page.goto(server_url + "/inbox")

    page.get_by_role("link", name="+48600100200").click()
    page.get_by_label("Reply from +48500100200").fill("Są, zapraszamy do 18:00!")
    page.get_by_role("button", name="Send reply").click()

    entries = page.locator("#conversation li.entry")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("Czy są tulipany?")
    expect(entries.nth(1)).to_contain_text("Są, zapraszamy do 18:00!")
    expect(entries.nth(1)).to_contain_text("queued")
    expect(page.get_by_label("Reply from +48500100200")).to_have_value("")


def test_a_filtered_inbox_takes_in_only_matching_messages_live(page, server_url, store):
    page.goto(server_url + "/inbox?q=pizza")
    expect(page.locator("#messages")).to_contain_text("No messages match these filters.")
    page.evaluate("window.notReloaded = true")

    store.message(text="Czy są tulipany?")
    store.message(text="PIZZA margherita")

    rows = page.locator("#messages tr.message")
    expect(rows).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(rows.first).to_contain_text("PIZZA margherita")
    assert page.evaluate("window.notReloaded") is True
    assert "tulipany" not in page.locator("#messages").inner_text()


def test_the_landing_page_is_the_dashboard_and_its_modems_change_live(page, server_url, store, session_factory):
    modem = store.modem(msisdn="+48500100200", operator="Plus", state="ready", registration="home", signal_dbm=-71)
    page.goto(server_url + "/")
    card = page.locator(f"#modem-{modem.id}")
    expect(card.locator(".modem-state")).to_have_text("Working")
    expect(card).to_contain_text("Plus")
    expect(page.locator("#alerts")).to_contain_text("Everything works.")
    expect(page.locator("#traffic .traffic-total strong")).to_have_text("0")
    page.evaluate("window.notReloaded = true")

    with session_factory.begin() as session:
        session.execute(update(Modem).where(Modem.id == modem.id).values(state="no_sim"))
    store.message(text="a message today")

    expect(card.locator(".modem-state")).to_have_text("No SIM card", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#alerts")).to_contain_text("+48500100200: No SIM card.", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#traffic .traffic-total strong")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.notReloaded") is True


def test_the_gallery_downloads_a_part_instead_of_showing_it(page, server_url, session_factory, settings):
    from appliance.attachments import AttachmentStore
    from appliance.db.models import Message

    with session_factory() as session:
        message = Message(iccid="8948000000000000001", sender="+48600100200", kind="mms", status="unmatched",
                          received_at=datetime.now(UTC))
        session.add(message)
        AttachmentStore(settings.data_dir).add_parts(session, message, [("text/html", "page.html", b"<h1>x</h1>")])
        session.commit()
    page.goto(server_url + "/gallery")

    with page.expect_download() as download:
        page.locator(".tile-name").first.click()

    assert download.value.suggested_filename == "page.html"
    assert page.url == server_url + "/gallery"
