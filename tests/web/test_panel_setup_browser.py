"""The setup pages in a real headless Chromium: binding a SIM, reserving a keyword through the action
builder, filling MMS settings from an operator preset."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import AccessNumber, Account, Keyword
from tests.web.test_panel_setup import UNASSIGNED_ICCID, add


def test_an_admin_binds_an_unassigned_sim_and_reserves_a_keyword_with_an_autoreply(
        page, server_url, store, session_factory: sessionmaker[Session]) -> None:
    account = add(session_factory, Account(name="Ogrody Kowalski", opt_out_words=[]))
    modem = store.modem(iccid=UNASSIGNED_ICCID, imsi="260060000000001", msisdn=None, operator="Play")

    page.goto(server_url + "/access-numbers")
    sim = page.locator(f"#sim-{modem.id}")
    expect(sim).to_contain_text(UNASSIGNED_ICCID)
    expect(sim).to_contain_text("260060000000001")
    sim.get_by_label("Phone number").fill("+48 790 100 200")
    sim.get_by_label("Kind").select_option("dedicated")
    sim.get_by_label("Account").select_option(label="Ogrody Kowalski")
    sim.get_by_role("button", name="Bind this SIM").click()

    expect(page.locator(".flash-success")).to_contain_text("+48790100200 is bound to SIM " + UNASSIGNED_ICCID)
    page.get_by_role("link", name="0 keywords").click()
    page.get_by_role("link", name="New keyword").click()
    expect(page.get_by_label("Access number").locator("option:checked")).to_contain_text("+48790100200")
    page.get_by_label("Keyword", exact=True).fill("Ogrodnik")
    page.get_by_label("Exact: the message is the keyword and nothing else").check()

    actions = page.locator("#actions > li")
    actions.nth(0).get_by_label("Action").select_option("autoreply")
    expect(actions.nth(0).get_by_label("Group")).to_be_hidden()
    actions.nth(0).get_by_label("Reply text").fill("Dzień dobry {name}, zapraszamy!")
    page.get_by_role("button", name="Add an action").click()
    actions.nth(1).get_by_label("Action").select_option("leave_groups")
    actions.nth(1).get_by_role("button", name="Move up").click()
    expect(actions.nth(0).get_by_label("Action")).to_have_value("leave_groups")
    page.get_by_role("button", name="Reserve the keyword").click()

    expect(page.locator(".flash-success")).to_contain_text("The keyword Ogrodnik is reserved.")
    row = page.locator("#keywords tbody tr", has_text="Ogrodnik")
    expect(row).to_contain_text("+48790100200")
    expect(row.locator("ol.action-summary li")).to_have_text(
        ["Leave every group", "Reply with a text: Dzień dobry {name}, zapraszamy!"])
    with session_factory() as session:
        number = session.scalar(select(AccessNumber).where(AccessNumber.iccid == UNASSIGNED_ICCID))
        keyword = session.scalar(select(Keyword).where(Keyword.keyword == "Ogrodnik"))
    assert number is not None and (number.number, number.account_id) == ("+48790100200", account)
    assert keyword is not None and (keyword.access_number_id, keyword.account_id, keyword.mode) == (
        number.id, account, "exact")
    assert keyword.actions == [{"type": "leave_groups"},
                               {"type": "autoreply", "text": "Dzień dobry {name}, zapraszamy!"}]


def test_choosing_an_operator_preset_fills_in_the_mms_settings(page, server_url,
                                                                 session_factory: sessionmaker[Session]) -> None:
    account = add(session_factory, Account(name="Ogrody Kowalski", opt_out_words=[]))
    number = add(session_factory, AccessNumber(number="+48500100300", iccid="8948030000000000029",
                                               kind="dedicated", account_id=account, mms_apn_password="old"))

    page.goto(f"{server_url}/access-numbers/{number}")
    page.get_by_label("Operator preset").select_option(label="Orange Polska (260 03)")
    expect(page.get_by_label("MMSC URL")).to_have_value("http://mms.orange.pl")
    expect(page.get_by_label("MMS proxy (host:port)")).to_have_value("192.168.6.104:8080")
    expect(page.get_by_label("APN user")).to_have_value("mms")
    expect(page.get_by_label("Receive MMS on this number")).to_be_checked()
    page.get_by_label("Operator preset").select_option(label="Play (260 06)")
    expect(page.get_by_label("MMSC URL")).to_have_value("http://mmsc.play.pl/mms/wapenc")
    expect(page.get_by_label("APN user")).to_have_value("")
    expect(page.get_by_label("Remove the stored password")).to_be_checked()
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".flash-success")).to_contain_text("+48500100300 is saved.")
    with session_factory() as session:
        saved = session.get(AccessNumber, number)
    assert saved is not None
    assert (saved.mms_enabled, saved.mmsc_url, saved.mms_proxy, saved.mms_apn, saved.mms_apn_user,
            saved.mms_apn_password) == (True, "http://mmsc.play.pl/mms/wapenc", "10.10.25.5:8080", "mms", None, None)
