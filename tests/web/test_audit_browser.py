"""The audit log page in a real headless Chromium, on a desktop and a phone: filtered, exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Account, ForwardTarget


def some_history(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        shop = Account(name="Kwiaciarnia Róża", opt_out_words=["WYPISZ"])
        session.add(shop)
        session.flush()
        session.add(ForwardTarget(account_id=shop.id, name="CRM", kind="url", secret="s" * 32, download_token="d" * 32,
                                  address="https://crm.example/hooks/" + "bardzo-dlugi-adres/" * 8))
    with session_factory.begin() as session:
        shop = session.query(Account).one()
        shop.name = "Kwiaciarnia \u202eRóża\u202c <script>alert(1)</script>"
        shop.opt_out_words = ["WYPISZ", "NIE"]


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_the_log_reads_on_a_desktop_and_a_phone_and_exports_what_it_shows(page, server_url, session_factory,
                                                                         width, height):
    some_history(session_factory)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server_url + "/audit")

    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_contain_text("account.update")
    expect(rows.first).to_contain_text("WYPISZ")
    expect(page.locator("table.audit")).to_contain_text("<script>alert(1)</script>")
    expect(page.locator("table.audit")).to_contain_text("(secret)")
    # Nothing sideways: the page fits the screen's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.select_option("select[name=action]", "forward_target.create")
    page.click("form.audit-filters button.primary")
    expect(rows).to_have_count(1)
    with page.expect_download() as download:
        page.click("form.audit-export button[value=json]")
    exported = json.loads(Path(download.value.path()).read_text())
    assert [e["action"] for e in exported] == ["forward_target.create"]
    page.goto(server_url + "/audit")
    expect(rows.first).to_contain_text("audit.export")
