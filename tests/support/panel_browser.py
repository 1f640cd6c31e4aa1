"""A browser over real HTTP for the panel: signs in through the form (its CSRF token included) and
keeps the session cookie, for tests and benches that drive a running appliance."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request


def sign_in(base_url: str, email: str, password: str) -> urllib.request.OpenerDirector:
    """A browser signed in as ``email``; AssertionError when the form refuses it."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = {"csrf_token": csrf_token(page(browser, f"{base_url}/login")), "email": email, "password": password}
    with browser.open(f"{base_url}/login", urllib.parse.urlencode(form).encode(), timeout=30) as answer:
        assert urllib.parse.urlparse(answer.url).path != "/login", f"signing in as {email} was refused"
    return browser


def page(browser: urllib.request.OpenerDirector, url: str, body: bytes | None = None,
         content_type: str = "") -> str:
    """The page's HTML (after redirects); AssertionError unless it answered 200."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    with browser.open(request, timeout=60) as answer:
        assert answer.status == 200, f"{url} answered {answer.status}"
        return answer.read().decode()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)
