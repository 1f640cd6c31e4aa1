"""Days and durations written out as the panel's two languages write them, without babel's CLDR data.

babel formats dates from its CLDR tables, and the first date it formats loads them whole (the global
table of every territory and the language's locale): 4.7 MiB that the process keeps for good
(docs/performance.md, Memory), for three kinds of text: a chart's axis days, its tooltips' full
dates, the statistics page's period and the System page's durations. The panel speaks Polish and
English, so the few patterns and names are translated strings instead, with CLDR's forms: "12.05" and
"5/12", "wtorek, 12 maja 2026" and "Tuesday, May 12, 2026" (a Polish date takes the month's genitive),
"3 minuty" and "3 minutes". Templates use :func:`long_date` as the ``long_date`` filter, not
flask-babel's date filters. Elsewhere the panel shows moments as ``<time>`` elements that the browser
writes in its own language.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import ngettext, pgettext


def day_and_month(day: date) -> str:
    """The short day of a chart's axis."""
    return _("%(month)d/%(day)d", day=day.day, month=day.month)


def long_date(day: date) -> str:
    return _("%(month)s %(day)d, %(year)d", month=_month_in_date(day.month), day=day.day, year=day.year)


def full_date(day: date) -> str:
    return _("%(weekday)s, %(date)s", weekday=_weekday(day.isoweekday()), date=long_date(day))


def duration(seconds: float) -> str:
    """The largest unit of which there is at least one, rounded: "3 days" for 3 days and 5 hours.

    Months and years are 30 and 365 days: this says how long something has run, not a calendar span."""
    for unit_seconds, name in _UNITS:
        if seconds >= unit_seconds:
            return name(max(1, round(seconds / unit_seconds)))
    return ngettext("%(num)d second", "%(num)d seconds", max(0, round(seconds)))


_UNITS = (
    (365 * 86400, lambda n: ngettext("%(num)d year", "%(num)d years", n)),
    (30 * 86400, lambda n: ngettext("%(num)d month", "%(num)d months", n)),
    (7 * 86400, lambda n: ngettext("%(num)d week", "%(num)d weeks", n)),
    (86400, lambda n: ngettext("%(num)d day", "%(num)d days", n)),
    (3600, lambda n: ngettext("%(num)d hour", "%(num)d hours", n)),
    (60, lambda n: ngettext("%(num)d minute", "%(num)d minutes", n)),
)


def _weekday(number: int) -> str:
    """1 is Monday (ISO 8601)."""
    return (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"),
            _("Sunday"))[number - 1]


def _month_in_date(number: int) -> str:
    # "in a date": Polish writes the month in the genitive after the day ("12 maja").
    return (pgettext("in a date", "January"), pgettext("in a date", "February"),
            pgettext("in a date", "March"), pgettext("in a date", "April"), pgettext("in a date", "May"),
            pgettext("in a date", "June"), pgettext("in a date", "July"), pgettext("in a date", "August"),
            pgettext("in a date", "September"), pgettext("in a date", "October"),
            pgettext("in a date", "November"), pgettext("in a date", "December"))[number - 1]
