"""``make screenshots``: a PNG of every panel page, at desktop and phone widths, into docs/screenshots/.

It runs what a newcomer runs (``appliance demo`` on a fresh data directory, in a child process), goes
through the first-run setup form in headless Chromium like an owner would, lets the demo traffic
arrive for a while, then visits every page of the side menu and the detail pages one click away.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--settle 25]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from appliance.setup_code import read_code

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
EMAIL, PASSWORD = "owner@example.com", "screenshots only"
# Detail pages: (name, list page, selector of the first link to follow there).
DETAILS = [
    ("conversation", "/conversations", "main a[href*='/conversations/']"),
    ("poll", "/polls", "main a[href^='/polls/']"),
    ("contest", "/contests", "main a[href^='/contests/']"),
    ("group", "/groups", "main a[href^='/groups/']"),
    ("contact", "/contacts", "main a[href^='/contacts/']"),
    ("keyword", "/keywords", "main table a[href^='/keywords/']"),
    ("access-number", "/access-numbers", "main table a[href^='/access-numbers/']"),
    ("autoresponder", "/autoresponders", "main table a[href^='/autoresponders/']"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the demo did not answer on {url} within {timeout:.0f} s")


def shoot(page: Page, base: str, path: str, name: str, out: Path) -> None:
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(base + path, wait_until="domcontentloaded")
        page.wait_for_timeout(600)  # live updates and fonts settle
        page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    print(f"  {name}: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--settle", type=float, default=25.0, help="seconds of demo traffic before the pages")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="screenshots-") as data_dir:
        env = {**os.environ, "APPLIANCE_DATA_DIR": data_dir, "APPLIANCE_HTTP_PORT": str(port),
               "APPLIANCE_HTTPS_PORT": "0"}
        demo = subprocess.Popen([sys.executable, "-m", "appliance.cli", "demo", "--interval", "0.5"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_http(base + "/setup")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(locale="en-GB").new_page()
                shoot(page, base, "/setup", "setup", args.out)
                page.fill("input[name=code]", read_code(Path(data_dir)) or "")  # as the demo prints it
                page.fill("input[name=email]", EMAIL)
                page.fill("input[name=password]", PASSWORD)
                page.fill("input[name=confirm]", PASSWORD)
                page.click("button[type=submit].primary")
                page.wait_for_url(lambda url: "/setup" not in url)
                time.sleep(args.settle)
                page.goto(base + "/")
                menu = [(link.inner_text().strip(), link.get_attribute("href") or "/")
                        for link in page.locator("nav.sidenav a").all()]
                for text, href in menu:
                    shoot(page, base, href, text.lower().replace(" ", "-"), args.out)
                for name, list_path, selector in DETAILS:
                    page.goto(base + list_path)
                    link = page.locator(selector).first
                    if link.count():
                        shoot(page, base, link.get_attribute("href") or list_path, name, args.out)
                    else:
                        print(f"  {name}: no link {selector!r} on {list_path}; not taken")
                signed_out = browser.new_context(locale="pl-PL").new_page()
                shoot(signed_out, base, "/login", "login-pl", args.out)
                browser.close()
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=30)


if __name__ == "__main__":
    main()
