"""How big a text is as an SMS: the same split the encoder makes, so the panel's counter never lies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.codecs import gsm7
from appliance.codecs.sms_pdu import TextSize, decode_sms_submit, encode_sms_submit, measure_text

# Texts at the edges of the split, shared with the browser test of the panel's counter.
EDGE_TEXTS = [
    "",
    "Hello",
    "x" * 160,
    "x" * 161,
    "x" * 158 + "€",
    "x" * 159 + "€",
    "a" * 152 + "€" + "b" * 10,
    "{[~]}|^\\€" * 20,
    "zażółć gęślą jaźń",
    "ą" * 70,
    "ą" * 71,
    "a" * 66 + "😀" + "b" * 10,
    "😀" * 35,
    "😀" * 36,
    "Line one\nline two\r\n\f",
    "\x1b escape alone",
    "Cześć {name}, nowości w ogrodzie!",
    "x" * 153 * 3,
    "x" * (153 * 3 + 1),
]


def test_a_gsm_text_fills_160_septets_alone_and_153_in_a_concatenated_set() -> None:
    assert measure_text("x" * 160) == TextSize("gsm7", 160, 1, 160)
    assert measure_text("x" * 161) == TextSize("gsm7", 161, 2, 153)
    assert measure_text("") == TextSize("gsm7", 0, 1, 160)


def test_extension_characters_take_two_septets_and_are_never_split() -> None:
    assert measure_text("x" * 158 + "€") == TextSize("gsm7", 160, 1, 160)
    assert measure_text("x" * 159 + "€") == TextSize("gsm7", 161, 2, 153)
    # 152 + ESC would fill a part: the escape sequence moves to the next one whole.
    assert measure_text("a" * 152 + "€" + "b" * 152).parts == 3


def test_one_character_outside_the_gsm_tables_makes_the_whole_text_ucs2() -> None:
    assert measure_text("zażółć") == TextSize("ucs2", 6, 1, 70)
    assert measure_text("ą" * 71) == TextSize("ucs2", 71, 2, 67)
    assert measure_text("😀" * 35) == TextSize("ucs2", 70, 1, 70)
    # 66 units + a surrogate pair do not fit 67: the pair moves whole.
    assert measure_text("a" * 66 + "😀" + "b" * 67).parts == 3


def test_the_size_is_what_the_encoder_sends_for_the_edge_texts() -> None:
    for text in EDGE_TEXTS:
        assert_matches_encoder(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(gsm7.DEFAULT_ALPHABET + "€[]{}~^|\\ąę😀"), max_size=700))
def test_the_size_is_what_the_encoder_sends(text: str) -> None:
    assert_matches_encoder(text)


def assert_matches_encoder(text: str) -> None:
    size = measure_text(text)
    pdus = [decode_sms_submit(pdu) for pdu in encode_sms_submit("+48600100200", text)]
    assert size.parts == len(pdus), text
    assert {size.alphabet} == {pdu.alphabet for pdu in pdus}, text
    capacity = size.per_part * size.parts
    assert size.units <= capacity, text
