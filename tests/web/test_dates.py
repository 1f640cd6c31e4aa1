"""Days and durations in the panel's two languages, as CLDR writes them, without babel's tables."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from appliance.web.dates import day_and_month, duration, full_date, long_date


@pytest.fixture(autouse=True)
def request_context() -> Iterator[None]:
    app = Flask("appliance.web")  # the panel's own translation catalogs
    Babel(app)
    with app.test_request_context():
        yield


@pytest.mark.parametrize(("language", "day", "text"), [
    ("pl", date(2026, 5, 12), "12.05"), ("pl", date(2026, 12, 1), "1.12"),
    ("en", date(2026, 5, 12), "5/12"), ("en", date(2026, 12, 1), "12/1"),
])
def test_an_axis_day_is_day_and_month(language: str, day: date, text: str) -> None:
    with force_locale(language):
        assert day_and_month(day) == text


@pytest.mark.parametrize(("language", "day", "text"), [
    ("pl", date(2026, 5, 12), "12 maja 2026"), ("pl", date(2026, 2, 1), "1 lutego 2026"),
    ("en", date(2026, 5, 12), "May 12, 2026"), ("en", date(2026, 2, 1), "February 1, 2026"),
])
def test_a_long_date_names_the_month(language: str, day: date, text: str) -> None:
    with force_locale(language):
        assert long_date(day) == text


@pytest.mark.parametrize(("language", "day", "text"), [
    ("pl", date(2026, 5, 12), "wtorek, 12 maja 2026"),
    ("pl", date(2026, 1, 4), "niedziela, 4 stycznia 2026"),
    ("pl", date(2026, 9, 30), "środa, 30 września 2026"),
    ("en", date(2026, 5, 12), "Tuesday, May 12, 2026"),
    ("en", date(2026, 1, 4), "Sunday, January 4, 2026"),
])
def test_a_full_date_names_the_weekday_and_month(language: str, day: date, text: str) -> None:
    with force_locale(language):
        assert full_date(day) == text


@pytest.mark.parametrize(("seconds", "polish", "english"), [
    (0, "0 sekund", "0 seconds"),
    (1, "1 sekunda", "1 second"),
    (42, "42 sekundy", "42 seconds"),
    (60, "1 minuta", "1 minute"),
    (3 * 60 + 20, "3 minuty", "3 minutes"),
    (25 * 60, "25 minut", "25 minutes"),
    (5 * 3600 + 40 * 60, "6 godzin", "6 hours"),  # rounded to the nearest
    (22 * 3600, "22 godziny", "22 hours"),
    (3 * 86400 + 5 * 3600, "3 dni", "3 days"),
    (86400, "1 dzień", "1 day"),
    (15 * 86400, "2 tygodnie", "2 weeks"),
    (95 * 86400, "3 miesiące", "3 months"),
    (5 * 365 * 86400, "5 lat", "5 years"),
])
def test_a_duration_is_its_largest_whole_unit(seconds: float, polish: str, english: str) -> None:
    with force_locale("pl"):
        assert duration(seconds) == polish
    with force_locale("en"):
        assert duration(seconds) == english


def test_no_template_formats_dates_with_babel() -> None:
    """flask-babel's filters load babel's tables; templates use the ``long_date`` filter instead."""
    templates = Path(__file__).parents[2] / "appliance" / "web" / "templates"
    babel_filters = re.compile(r"\|\s*(dateformat|datetimeformat|timeformat|timedeltaformat)\b"
                               r"|\bformat_(date|datetime|time|timedelta)\s*\(")
    assert [path.name for path in templates.rglob("*.html") if babel_filters.search(path.read_text())] == []


def test_writing_dates_never_loads_babels_locale_data() -> None:
    """The reason for the module: CLDR's tables are megabytes a running appliance keeps for good."""
    probe = ("import babel.core, babel.localedata, datetime\n"
             "from flask import Flask\nfrom flask_babel import Babel, force_locale\n"
             "from appliance.web.dates import day_and_month, duration, full_date, long_date\n"
             "app = Flask('appliance.web'); Babel(app)\n"
             "with app.test_request_context(), force_locale('pl'):\n"
             "    day_and_month(datetime.date.today()); full_date(datetime.date.today()); duration(4000)\n"
             "print(babel.core._global_data is None and not babel.localedata._cache)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
