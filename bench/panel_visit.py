"""A shop owner's look round the panel, over real HTTP: sign in through the form, open every page in
the side menu. The memory benches read the appliance's RSS before and after, since the pages load
what reception never needs (templates, the language's dates and numbers)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

# Links that leave the panel, end the session or fetch a file rather than a page.
_NOT_PAGES = ("logout", "static", "download", "language")


def visit_panel(base_url: str, email: str, password: str) -> list[str]:
    """The paths opened; raises on a refused sign-in or a page that does not answer 200."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    sign_in = _get(opener, f"{base_url}/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', sign_in)
    if token is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    form = urllib.parse.urlencode({"csrf_token": token.group(1), "email": email, "password": password})
    with opener.open(f"{base_url}/login", form.encode(), timeout=30) as response:
        if urllib.parse.urlparse(response.url).path == "/login":
            raise RuntimeError(f"signing in as {email} was refused")
    home = _get(opener, f"{base_url}/")
    menu = sorted({path for path in re.findall(r'href="(/[^"#?]*)"', home)
                   if not any(word in path for word in _NOT_PAGES)})
    for path in menu:
        _get(opener, base_url + path)
    return ["/", *menu]


def _get(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        return response.read().decode()
