"""Pure decisions of keyword actions: reply templates, robots never answered, poll and contest answers."""

from __future__ import annotations

import pytest

from appliance.rules.actions import PollOption, answer_is_correct, may_autoreply, poll_choice, render

VALUES = {"sender": "+48600100200", "keyword": "PIZZA", "payload": "duża", "name": "Ania"}


@pytest.mark.parametrize(("template", "expected"), [
    ("Dzięki {name}!", "Dzięki Ania!"),
    ("{keyword}: {payload} od {sender}", "PIZZA: duża od +48600100200"),
    ("bez szablonu", "bez szablonu"),
    ("{unknown} zostaje", "{unknown} zostaje"),
    ("{nmae} literówka", "{nmae} literówka"),
    ("klamry { } {{name}} {", "klamry { } {Ania} {"),
    ("{0} i {} i {name!r}", "{0} i {} i {name!r}"),
    ("", ""),
])
def test_a_template_renders_known_placeholders_and_leaves_the_rest_as_typed(template: str, expected: str) -> None:
    assert render(template, VALUES) == expected


def test_a_missing_name_renders_empty() -> None:
    assert render("Cześć {name}, {keyword}", {"name": None, "keyword": "KAWA"}) == "Cześć , KAWA"


@pytest.mark.parametrize("sender", [
    "+48600100200", "600100200", "+44 7700 900123", "0048600100200", "(601) 100-200",
])
def test_subscriber_numbers_may_get_automatic_answers(sender: str) -> None:
    assert may_autoreply(sender)


@pytest.mark.parametrize("sender", [
    None, "", "ALLEGRO", "InfoBank", "Orange", "+48abc600100", "7100", "80123", "116111", "+12345",
    "  ", "+",
])
def test_alphanumeric_senders_and_short_codes_never_get_automatic_answers(sender: str | None) -> None:
    assert not may_autoreply(sender)


def test_national_short_code_ranges_can_be_excluded_too() -> None:
    assert not may_autoreply("+4880012345", short_code_prefixes=["4880"])
    assert may_autoreply("+48600100200", short_code_prefixes=["4880"])


OPTIONS = [PollOption("A", "Tak"), PollOption("B", "Nie"), PollOption("C", "Pizza hawajska")]


@pytest.mark.parametrize(("payload", "expected"), [
    ("A", "A"), ("a", "A"), (" b! ", "B"), ("Tak", "A"), ("TAK 👍", "A"), ("nie.", "B"),
    ("pizza hawajska", "C"), ("PIZZA  HAWAJSKA!", "C"), ("B bo tak", "B"), ("c, poproszę", "C"),
    ("D", None), ("", None), ("pizza", None), ("🍕", None),
])
def test_a_poll_answer_is_an_option_code_or_label_compared_as_words(payload: str, expected: str | None) -> None:
    assert poll_choice(OPTIONS, payload) == expected


def test_polish_diacritics_do_not_matter_in_poll_answers() -> None:
    options = [{"code": "1", "label": "Żółć"}, {"code": "2", "label": "Łódź"}]
    assert poll_choice(options, "zolc") == "1"
    assert poll_choice(options, "LODZ") == "2"
    assert poll_choice(options, "2") == "2"


def test_the_keyword_itself_votes_when_the_payload_names_nothing() -> None:
    options = [{"code": "K", "label": "kawa"}, {"code": "H", "label": "herbata"}]
    assert poll_choice(options, "", "KAWA") == "K"
    assert poll_choice(options, "herbata", "KAWA") == "H"


def test_an_answer_naming_two_options_equally_names_none() -> None:
    options = [{"code": "A", "label": "B"}, {"code": "B", "label": "Nie"}]
    assert poll_choice(options, "b") is None


@pytest.mark.parametrize(("expected", "given", "correct"), [
    ("Warszawa", "warszawa", True),
    ("Warszawa", " WARSZAWA! ", True),
    ("Łódź", "lodz", True),
    ("Kraków", "Warszawa", False),
    ("Kraków", "", False),
    ("Kraków", None, False),
    ("Kraków", "Kraków chyba", False),
    ("Warszawa|Warsaw", "warsaw", True),
    (None, "cokolwiek", True),
    (None, None, True),
    ("", "cokolwiek", True),
])
def test_a_contest_answer_is_compared_as_words(expected: str | None, given: str | None, correct: bool) -> None:
    assert answer_is_correct(expected, given) is correct
