"""Settings in a real headless Chromium: a token shown once, a backup downloaded and restored."""

from __future__ import annotations

import requests
from playwright.sync_api import expect
from sqlalchemy import select

from appliance.db.models import Message


def test_a_token_made_in_the_browser_works_once_copied_and_not_after_it_is_revoked(page, server_url):
    page.goto(server_url + "/settings/tokens")
    page.fill("input[name=name]", "Sklep WWW")
    page.select_option("select[name=scope]", "read_only")
    page.click("form[action='/settings/tokens'] button.primary")

    secret = page.input_value("#new-token")
    assert secret.startswith("apl_")
    page.click("button[data-copy=new-token]")
    expect(page.locator("button[data-copy=new-token]")).to_have_text("Copied")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(server_url + "/api/v1/messages", headers=bearer, timeout=10).status_code == 200

    page.goto(server_url + "/settings/tokens")
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator("tr", has_text="Sklep WWW")
    expect(row).to_contain_text("Read-only")
    row.locator("button.danger").click()
    expect(page.locator("tr", has_text="Sklep WWW")).to_contain_text("revoked")
    assert requests.get(server_url + "/api/v1/messages", headers=bearer, timeout=10).status_code == 401


def test_a_backup_downloaded_in_the_browser_restores_what_it_held(page, server_url, store, session_factory):
    store.message(text="Zamawiam tulipany")
    page.goto(server_url + "/settings/backup")
    with page.expect_download() as download:
        page.click("form[action='/settings/backup/download'] button")
    assert download.value.suggested_filename.startswith("sms-appliance-backup-")
    store.message(text="after the backup")

    page.set_input_files("input[name=archive]", download.value.path())
    page.check("input[name=confirm]")
    page.click("form[action='/settings/backup/restore'] button")

    expect(page.locator(".restore-result")).to_contain_text("Messages: 1")
    with session_factory() as session:
        assert session.scalars(select(Message.text)).all() == ["Zamawiam tulipany"]
