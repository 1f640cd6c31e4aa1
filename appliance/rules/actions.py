"""What keyword actions need to decide, without a database: reply texts, who may get one, answers.

Pure functions, used by ``appliance.campaigns.engine`` which does the database work.

Templates
    An autoresponder's text may name ``{sender}``, ``{keyword}``, ``{payload}`` and ``{name}`` (the
    contact's name, empty when the account does not know it); a poll confirmation may also name
    ``{option}`` (the label voted for) and ``{code}``. Anything else in braces, a lone brace or a typo
    such as ``{nmae}`` stays exactly as typed: an account's text never fails to render.

Robots
    ``may_autoreply`` refuses alphanumeric senders ("ALLEGRO", "InfoBank") and short codes: those are
    machines, often with an autoresponder of their own, and answering them is how two robots end up
    texting each other forever (and, for premium short codes, costing money each time).

Answers
    Poll options and contest answers are compared as keyword routing compares words
    (``appliance.rules.normalise.words``): case, Polish diacritics, punctuation and emoji do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.rules.normalise import words

__all__ = [
    "ANSWER_ALTERNATIVES", "MIN_SUBSCRIBER_DIGITS", "PollOption", "answer_is_correct", "may_autoreply",
    "poll_choice", "render",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


def render(template: str, values: Mapping[str, str | None]) -> str:
    """``template`` with each ``{name}`` found in ``values`` replaced; a None value renders empty.

    ``render("Hi {name}, thanks for {keyword}! {oops}", {"name": None, "keyword": "PIZZA"})``
    → ``"Hi , thanks for PIZZA! {oops}"``.
    """
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            return match.group(0)
        return values[key] or ""

    return _PLACEHOLDER.sub(replace, template)


# A subscriber number has at least 7 digits in every numbering plan we meet (Poland: 9 national
# digits); short codes have 3 to 6 (Poland: 4-digit and 5-digit premium 7xxxx, 8xxxx, 9xxxx; the
# EU's harmonised 116xxx; US 5-6 digits; UK 5-digit and 6-digit 6xxxxx/8xxxxx).
MIN_SUBSCRIBER_DIGITS = 7
_PHONE = re.compile(r"^\+?[0-9]+$")


def may_autoreply(sender: str | None, short_code_prefixes: Iterable[str] = ()) -> bool:
    """Whether an automatic answer may go to ``sender``: a real subscriber number, not a robot.

    False for a missing or alphanumeric sender or an e-mail address (an MMS's), for numbers of fewer
    than ``MIN_SUBSCRIBER_DIGITS`` digits, and for numbers starting with one of ``short_code_prefixes``
    (national ranges of longer service numbers an operator uses, compared on the number without its ``+``).
    """
    if not sender:
        return False
    number = re.sub(r"[\s\-()]", "", sender)
    if not _PHONE.match(number):
        return False
    digits = number.lstrip("+")
    if len(digits) < MIN_SUBSCRIBER_DIGITS:
        return False
    return not any(prefix and digits.startswith(prefix.lstrip("+")) for prefix in short_code_prefixes)


@dataclass(frozen=True, slots=True)
class PollOption:
    code: str
    label: str | None = None

    @classmethod
    def from_json(cls, option: Mapping[str, object]) -> PollOption:
        label = option.get("label")
        return cls(str(option["code"]), str(label) if label is not None else None)


def poll_choice(options: Iterable[PollOption | Mapping[str, object]], *texts: str | None) -> str | None:
    """The code of the option the first of ``texts`` that names one names, or None.

    An option is named by its code ("A", "1") or its label ("Tak", "pizza hawajska"), compared as
    words: ``"b"``, ``" B! "``, ``"Pizza Hawajska 🍍"`` all name their option. The whole text naming
    an option wins; else the text *starting* with an option ("B bo tak"), the longest such option
    first. Two options named equally well (a code that is another option's label) name nothing.

    The engine passes the payload after the keyword, then the keyword itself: a keyword ``KAWA``
    whose poll has an option "kawa" is a vote by itself.
    """
    forms: list[tuple[tuple[str, ...], str]] = []
    for option in options:
        choice = option if isinstance(option, PollOption) else PollOption.from_json(option)
        for name in (choice.code, choice.label):
            form = words(name) if name else ()
            if form:
                forms.append((form, choice.code))
    for text in texts:
        message = words(text or "")
        if not message:
            continue
        whole = {code for form, code in forms if form == message}
        if whole:
            return whole.pop() if len(whole) == 1 else None
        starts = [(len(form), code) for form, code in forms if message[:len(form)] == form]
        if starts:
            longest = max(size for size, _ in starts)
            codes = {code for size, code in starts if size == longest}
            return codes.pop() if len(codes) == 1 else None
    return None


# A contest answer may accept several spellings: "Warszawa|Warsaw".
ANSWER_ALTERNATIVES = "|"


def answer_is_correct(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` is the contest's answer, compared as words; no expected answer: always."""
    if expected is None or not words(expected):
        return True
    answer = words(given or "")
    return bool(answer) and any(answer == words(alternative)
                                for alternative in expected.split(ANSWER_ALTERNATIVES) if words(alternative))
