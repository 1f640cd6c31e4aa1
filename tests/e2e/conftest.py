"""A whole box for end-to-end walks: the real appliance (pool, reception, MMS, outbox, panel on a real
HTTP server) against emulated modems and their MMSC, and a headless Chromium to use the panel with.

The browser fixtures (``browser``) come from tests/web/conftest.py, re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from appliance.config import Settings
from appliance.modem.emulator.emulator import Emulator, run_emulator
from appliance.runtime import Appliance
from tests.support.ports import free_port
from tests.web.conftest import browser  # noqa: F401 - a fixture, shared with the panel's browser tests


@dataclass
class Box:
    url: str
    appliance: Appliance
    emulator: Emulator

    def wait_until(self, condition: Callable[[], object], what: str | Callable[[], str],
                   timeout: float = 30) -> None:
        """``what`` may be a function: what was seen instead, said when the time is up."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
            time.sleep(0.1)

    def modems_ready(self) -> bool:
        return all(status.state.value == "ready" for status in self.appliance.pool.statuses())


@pytest.fixture
def box(tmp_path: Path, database_url: str) -> Iterator[Box]:
    """Two emulated modems (Huawei, SIMCom) and a fresh appliance with no user and no access number."""
    emulator = run_emulator(modems=2, control_port=0, state_dir=tmp_path / "emulator", mmsc_port=0,
                            personalities=["huawei", "simcom"])
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, http_port=port, https_port=0,
                        modems=[emulator.port(modem["id"]) for modem in emulator.modems()],
                        udev_discovery=False, mms_bearer="lan", send_interval_seconds=0.1,
                        secret_key="end-to-end")
    appliance = Appliance(settings)
    appliance.start()
    box = Box(f"http://127.0.0.1:{port}", appliance, emulator)
    try:
        box.wait_until(box.modems_ready, "both modems ready")
        yield box
    finally:
        appliance.stop()
        emulator.stop()


@pytest.fixture
def tab(browser: Browser, box: Box) -> Iterator[Page]:  # noqa: F811 - the imported fixture
    """A fresh Chromium tab on ``box``; JavaScript errors on any page fail the test. It closes before
    the box stops, so no live stream of the panel outlives the appliance."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors in the panel: {errors}"
