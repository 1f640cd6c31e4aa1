"""Send to group and conversations in a real headless Chromium: composing with the live SMS counter,
reviewing, sending, and watching progress and text statuses change without a reload."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from appliance.campaigns.group_send import GroupSender
from appliance.db.models import (
    AccessNumber,
    Account,
    Contact,
    Group,
    GroupMember,
    Message,
    Modem,
    OutboundSms,
)
from appliance.web.sms_counter import sms_size
from tests.codecs.test_text_size import EDGE_TEXTS
from tests.web.conftest import LIVE_TIMEOUT_MS

SHARED_SIM = "89480610001111111111"
ANIA, BARTEK, CELINA = "+48600100200", "+48600100300", "+48600100400"


def garden_with_a_newsletter(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """A shared number and the garden's newsletter: Ania and Bartek, and Celina who opted out."""
    with sessions.begin() as session:
        garden = Account(name="Ogrodnik")
        session.add(garden)
        session.flush()
        number = AccessNumber(number="+48500100100", iccid=SHARED_SIM, kind="shared")
        newsletter = Group(account_id=garden.id, name="Newsletter")
        contacts = [Contact(account_id=garden.id, msisdn=ANIA, name="Ania"), Contact(account_id=garden.id, msisdn=BARTEK),
                    Contact(account_id=garden.id, msisdn=CELINA, opted_out_at=datetime.now(UTC))]
        session.add_all([number, newsletter, *contacts, Modem(iccid=SHARED_SIM, state="ready")])
        session.flush()
        session.add_all(GroupMember(group_id=newsletter.id, contact_id=c.id) for c in contacts)
        return number.id, newsletter.id


def test_a_group_send_is_composed_reviewed_sent_and_its_progress_follows_without_reload(
        page: Page, server_url: str, session_factory: sessionmaker[Session]) -> None:
    _number, newsletter = garden_with_a_newsletter(session_factory)
    page.goto(server_url + "/send")

    page.select_option("#group", str(newsletter))
    page.fill("#text", "Róże -20% dla Ciebie, {name}!")
    expect(page.locator("#text-counter")).to_have_text("29 of 70 characters · 1 SMS · Unicode (UCS-2)")
    page.fill("#text", "Wiosna w ogrodzie! " * 9)
    expect(page.locator("#text-counter")).to_have_text("171 of 306 characters · 2 SMS · GSM 7-bit")
    page.click("button[value=review]")

    expect(page.locator("#recipient-count")).to_have_text("2")
    expect(page.locator("#review")).to_contain_text("(1 opted-out contact left out)")
    expect(page.locator("#sms-size")).to_contain_text("2 SMS")
    page.click("button[value=confirm]")

    row = page.locator("#sends tr.send").first
    expect(page.locator(".flash-success")).to_contain_text("Sending to Newsletter now")
    expect(row).to_contain_text("Scheduled")
    expect(row).to_contain_text("Wiosna w ogrodzie!")
    page.evaluate("window.notReloaded = true")

    GroupSender(session_factory).run_due()  # what the appliance's scheduler does every few seconds
    expect(row).to_contain_text("Sending", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("td.count")).to_have_text(["2", "0", "0", "2"])
    with session_factory.begin() as session:
        session.execute(update(OutboundSms).where(OutboundSms.recipient == ANIA).values(status="delivered"))
        session.execute(update(OutboundSms).where(OutboundSms.recipient == BARTEK).values(status="failed"))

    expect(row).to_contain_text("Finished", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("td.count")).to_have_text(["2", "1", "1", "0"])
    expect(row.locator("button.danger")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True


def test_the_browser_counts_every_edge_text_as_the_server_does(page: Page, server_url: str, app: Flask,
                                                              session_factory: sessionmaker[Session]) -> None:
    garden_with_a_newsletter(session_factory)
    page.goto(server_url + "/send")
    counter = page.locator("#text-counter")

    for text in EDGE_TEXTS:
        held = text.replace("\r\n", "\n").replace("\r", "\n")  # what a text box holds (HTML normalises line breaks)
        page.fill("#text", held)
        with app.test_request_context():
            expected = sms_size(held)
        expect(counter).to_have_text(expected["line"])
        expect(counter).to_have_attribute("data-parts", str(expected["parts"]))


def test_a_reply_s_status_changes_on_the_conversation_page_without_reload(
        page: Page, server_url: str, session_factory: sessionmaker[Session]) -> None:
    number, _ = garden_with_a_newsletter(session_factory)
    with session_factory.begin() as session:
        session.add(Message(iccid=SHARED_SIM, sender=ANIA, text="Macie tulipany?", kind="sms", status="unmatched"))
    page.goto(f"{server_url}/panel/access-numbers/{number}/conversations/{ANIA}")

    page.fill("#reply-text", "Mamy 🌷")
    expect(page.locator("#reply-text-counter")).to_have_text("7 of 70 characters · 1 SMS · Unicode (UCS-2)")
    page.click("#reply button[type=submit]")
    reply = page.locator("li.entry-out").last
    expect(reply).to_contain_text("Mamy 🌷")
    expect(reply.locator(".badge")).to_have_text("queued")

    with session_factory.begin() as session:
        session.execute(update(OutboundSms).values(status="delivered"))
    expect(reply.locator(".badge")).to_have_text("delivered", timeout=LIVE_TIMEOUT_MS)
