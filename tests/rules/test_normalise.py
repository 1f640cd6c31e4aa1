"""How text is folded before keywords are compared, and how a payload is cut from the original."""

from __future__ import annotations

import pytest

from appliance.rules.normalise import normalise, strip_blank, text_after_words, word_spans, words

FOLDED = [
    ("ZAŻÓŁĆ GĘŚLĄ JAŹŃ", "zazolc gesla jazn", "every Polish capital"),
    ("zażółć gęślą jaźń", "zazolc gesla jazn", "every Polish small letter"),
    ("Łódź", "lodz", "ł is mapped by name: it has no decomposition"),
    ("Z\u0307o\u0301\u0142w", "zolw", "decomposed letters and combining marks"),
    ("Crème brûlée, señor Dvořák", "creme brulee senor dvorak", "other Latin diacritics"),
    ("Straße ÆSIR Øre", "strasse aesir ore", "ß, æ, ø"),
    ("ＳＵＰＥＲ　ＰＲＯＭＯ", "super promo", "full-width letters and ideographic space (NFKC)"),
    ("ﬁrma x²", "firma x2", "ligature and superscript (NFKC)"),
    ("  OGRODNIK,   Jan!  ", "ogrodnik jan", "punctuation and spaces trimmed at the edges, collapsed inside"),
    ("a\u00a0b\u202fc\u2007d", "a b c d", "NBSP, narrow NBSP, figure space are spaces"),
    ("OGRO\u200bDNIK\u200c\u200d\u2060\ufeff", "ogrodnik", "zero-width characters are removed"),
    ("OGRO\u00adDNIK", "ogrodnik", "soft hyphen removed"),
    ("line\r\nbreak\ttab", "line break tab", "control characters separate"),
    ("e-mail / www.example.pl", "e mail www example pl", "punctuation inside separates words"),
    ("PIZZA🍕 duża", "pizza 🍕 duza", "an emoji is kept, as its own token"),
    ("🍕🍕 x", "🍕🍕 x", "a run of emoji is one token"),
    ("👍🏽 ok", "👍🏽 ok", "skin-tone modifier kept with its emoji"),
    ("1\ufe0f\u20e3 2", "1\u20e3 2", "keycap: the variation selector goes, the emoji stays whole"),
    ("100 € + 5 $", "100 € + 5 $", "currency and maths signs are symbols, kept"),
    ("Ωμέγα ΣΊΣΥΦΟΣ", "ωμεγα σισυφοσ", "Greek: case-folded, accents dropped"),
    ("Привет, мир", "привет мир", "Cyrillic"),
    ("", "", "empty"),
    (" \u200b\u00a0 ", "", "blank"),
]


@pytest.mark.parametrize(("text", "expected", "why"), FOLDED, ids=[row[2] for row in FOLDED])
def test_normalise(text: str, expected: str, why: str) -> None:
    assert normalise(text) == expected, why
    assert normalise(expected) == expected, "idempotent"


def test_words_leave_out_emoji_and_symbols() -> None:
    assert words("PIZZA🍕 duża! 1\ufe0f\u20e3 100€") == ("pizza", "duza", "100")
    assert words("12\u20e3") == ("1",)  # 1 followed by the keycap 2


def test_word_spans_point_into_the_original_text() -> None:
    text = "„ZAŻÓŁĆ”  ge\u0328s\u0301la\u0328!"
    assert [text[start:end] for start, end in word_spans(text)] == ["ZAŻÓŁĆ", "ge\u0328s\u0301la"]
    assert words(text) == ("zazolc", "gesla")


@pytest.mark.parametrize(("text", "count", "payload"), [
    ("OGRODNIK, Jan!", 1, "Jan!"),
    ("OGRODNIK ROSE: 5 szt. ", 2, "5 szt."),
    ("OGRODNIK", 1, ""),
    ("OGRODNIK", 2, ""),
    ("OGRODNIK 🌹", 1, "🌹"),
    ("OGRODNIK — „Jan”", 1, "„Jan”"),
    ("OGRODNIK ¿Qué?", 1, "¿Qué?"),
    ("  Jan  ", 0, "Jan"),
    ("ZAŻÓŁĆ\u00a0\u00a0gęślą\u200b", 1, "gęślą"),
])
def test_text_after_words(text: str, count: int, payload: str) -> None:
    assert text_after_words(text, count) == payload


def test_strip_blank_keeps_punctuation() -> None:
    assert strip_blank("\u200b \u00a0¡Hola!\n") == "¡Hola!"
