"""A shop owner's look round the panel, over real HTTP: sign in through the form, open every page in
the side menu. The memory benches read the appliance's RSS before and after, since the pages load
what reception never needs (templates, compiled statements)."""

from __future__ import annotations

import re

from tests.support.panel_browser import page, sign_in

# Links that leave the panel, end the session or fetch a file rather than a page.
_NOT_PAGES = ("logout", "static", "download", "language")


def visit_panel(base_url: str, email: str, password: str) -> list[str]:
    """The paths opened; AssertionError on a refused sign-in or a page that does not answer 200."""
    browser = sign_in(base_url, email, password)
    home = page(browser, f"{base_url}/")
    menu = sorted({path for path in re.findall(r'href="(/[^"#?]*)"', home)
                   if not any(word in path for word in _NOT_PAGES)})
    for path in menu:
        page(browser, base_url + path)
    return ["/", *menu]
