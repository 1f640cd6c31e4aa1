"""The System page: what runs, the recent application log and each modem's AT log, for admins only."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from appliance import __version__
from appliance.config import Settings
from appliance.db.models import Account
from appliance.modem.at_log import AtLog, PortAtLog
from appliance.recent_log import RecentLog
from appliance.web import create_app, panel_system
from tests.support.modem_pool import PoolRig, wait_for
from tests.web.conftest import Users, sign_in_browser


@pytest.fixture
def recent_log() -> Iterator[RecentLog]:
    """Installed on a logger of its own, as the appliance installs one on the root logger."""
    handler = RecentLog(capacity=50)
    logger = logging.getLogger("appliance.test-system-page")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def rig(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[PoolRig]:
    rig = PoolRig(tmp_path, session_factory)
    yield rig
    rig.stop()


def admin_browser(settings: Settings, session_factory: sessionmaker[Session], users: Users,
                  **sources: object) -> FlaskClient:
    app = create_app(settings, session_factory, **sources)  # type: ignore[arg-type]
    app.config["TESTING"] = True
    return sign_in_browser(app.test_client(), users.create("root@example.com"))


def test_the_page_says_what_runs_and_where_the_data_lives(panel: FlaskClient, settings: Settings,
                                                          database_url: str) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    html = panel.get("/system").get_data(as_text=True)
    assert f"<dd>{__version__}</dd>" in html
    assert str(settings.data_dir) in html and " free of " in html
    assert ("SQLite" if database_url.startswith("sqlite") else "PostgreSQL") in html
    assert "Build commit" not in html  # no /etc/appliance_commit on a development box


def test_the_build_commit_is_shown_when_the_image_wrote_one(panel: FlaskClient, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    commit = tmp_path / "appliance_commit"
    commit.write_text("3f2a9c1d0e\n")
    monkeypatch.setattr(panel_system, "COMMIT_FILE", commit)
    html = panel.get("/system").get_data(as_text=True)
    assert "Build commit" in html and "<code>3f2a9c1d0e</code>" in html


def test_an_account_user_may_not_open_the_page_nor_see_it_in_the_menu(
        users: Users, signed_in, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        account = Account(name="Kwiaciarnia")
        session.add(account)
        session.flush()
        account_id = account.id
    browser = signed_in(users.create("ala@example.com", admin=False, account_id=account_id))
    assert browser.get("/system").status_code == 403
    assert browser.get("/system/log.txt").status_code == 403
    assert 'href="/system"' not in browser.get("/panel/forwarding").get_data(as_text=True)


def test_the_application_log_is_shown_escaped_newest_first_filtered_by_level_and_downloadable(
        settings: Settings, session_factory: sessionmaker[Session], users: Users, recent_log: RecentLog) -> None:
    logger = logging.getLogger("appliance.test-system-page")
    logger.info("modem %s ready", "/dev/ttyUSB2")
    logger.warning("sender <script>alert(1)</script> sent an undecodable PDU")
    try:
        raise ValueError("bad PDU length")
    except ValueError:
        logger.exception("ingest failed")
    browser = admin_browser(settings, session_factory, users, log_entries=recent_log.entries)

    html = browser.get("/system").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.index("ingest failed") < html.index("undecodable PDU") < html.index("/dev/ttyUSB2 ready")
    assert "ValueError: bad PDU length" in html

    warnings = browser.get("/system?level=warning").get_data(as_text=True)
    assert "undecodable PDU" in warnings and "ready" not in warnings.split('id="log-title"')[1].split("at-logs")[0]

    download = browser.get("/system/log.txt")
    assert download.headers["Content-Disposition"].startswith('attachment; filename="appliance-log-')
    assert download.mimetype == "text/plain"
    lines = download.get_data(as_text=True).splitlines()
    assert lines[0].endswith("INFO appliance.test-system-page: modem /dev/ttyUSB2 ready")
    assert "WARNING appliance.test-system-page: sender <script>alert(1)</script>" in lines[1]


def test_the_application_log_keeps_only_its_newest_records(recent_log: RecentLog) -> None:
    logger = logging.getLogger("appliance.test-system-page")
    for n in range(120):
        logger.info("record %d", n)
    assert [e.message for e in recent_log.entries()] == [f"record {n}" for n in range(70, 120)]


def test_a_modems_at_log_is_shown_with_its_pin_masked_and_downloadable(
        settings: Settings, session_factory: sessionmaker[Session], users: Users, rig: PoolRig) -> None:
    modem = rig.emulator.add_modem("huawei")
    rig.emulator.fault(1, "pin_required", attempts=3, pin="4321")
    port, iccid = str(modem.info()["link"]), str(modem.info()["iccid"])
    pool = rig.start_pool(sim_pins={iccid: "4321"})
    # Line noise that spells markup reaches the log as it came, and the page as text.
    rig.emulator.fault(1, "garbage", hex=b"\r\n<img src=x onerror=alert(1)>\r\n".hex())
    wait_for(lambda: any("<img" in e.text for e in rig.log(port).log.entries()), "the noise in the AT log")
    browser = admin_browser(settings, session_factory, users, at_logs=pool.at_logs)

    html = browser.get("/system").get_data(as_text=True)
    assert port in html and f"SIM {iccid}" in html and "4321" not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html

    download = browser.get("/system/at-log.txt", query_string={"port": port})
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="at-log-ttyEMU1-')
    text = download.get_data(as_text=True)
    assert text.startswith(f"AT log of {port}, SIM {iccid}\n")
    assert ">> ATE0" in text and '>> AT+CPIN="****"' in text and "4321" not in text
    shown = _at_lines_shown(html)
    assert shown and text.splitlines()[-len(shown):] == shown  # the page ends where the download does
    assert browser.get("/system/at-log.txt", query_string={"port": "/dev/ttyUSB9"}).status_code == 404


def test_a_long_at_log_shows_its_newest_lines_and_downloads_whole(
        settings: Settings, session_factory: sessionmaker[Session], users: Users) -> None:
    log = AtLog()
    for n in range(250):
        log.sent(f"AT+CSQ={n}\r")
    browser = admin_browser(settings, session_factory, users,
                            at_logs=lambda: [PortAtLog("/dev/ttyUSB0", "8948000000000000001", True, log)])

    html = browser.get("/system").get_data(as_text=True)
    shown = _at_lines_shown(html)
    assert len(shown) == panel_system.AT_LINES_SHOWN == 100
    assert [line.rsplit(" ", 1)[-1] for line in shown] == [f"AT+CSQ={n}" for n in range(150, 250)]
    assert "The newest 100 of 250 lines kept. The download has them all." in html

    text = browser.get("/system/at-log.txt", query_string={"port": "/dev/ttyUSB0"}).get_data(as_text=True)
    assert [line.rsplit(" ", 1)[-1] for line in text.splitlines()[2:]] == [f"AT+CSQ={n}" for n in range(250)]


def test_a_short_at_log_is_shown_whole(settings: Settings, session_factory: sessionmaker[Session],
                                       users: Users) -> None:
    log = AtLog()
    log.sent("ATI\r")
    browser = admin_browser(settings, session_factory, users,
                            at_logs=lambda: [PortAtLog("/dev/ttyUSB0", None, False, log)])
    html = browser.get("/system").get_data(as_text=True)
    assert [line.rsplit(" ", 1)[-1] for line in _at_lines_shown(html)] == ["ATI"]
    assert "lines kept" not in html and "gone" in html


def _at_lines_shown(html: str) -> list[str]:
    return [unescape(line) for line in re.findall(r'<span class="at-\w+">(.*?)</span>', html)]


def test_without_a_running_appliance_the_page_says_no_log_is_kept(panel: FlaskClient, app: Flask) -> None:
    html = panel.get("/system").get_data(as_text=True)
    assert "keeps no log in memory" in html and "No modem port in use." in html
