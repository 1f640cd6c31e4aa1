"""GSM 7-bit alphabet, national language tables and septet packing (3GPP TS 23.038)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.codecs import gsm7

ESC = 0x1B


# --- the default alphabet -----------------------------------------------------------------------


def test_septet_0x5f_is_the_section_sign_not_a_backtick():
    # python-gsmmodem-new 0.13 reads 0x5F as '`'; TS 23.038 §6.2.1 says '§'.
    assert gsm7.decode([0x5F]) == "§"
    assert gsm7.encode("§") == [0x5F]


@pytest.mark.parametrize(
    ("septet", "char"),
    [(0x00, "@"), (0x01, "£"), (0x02, "$"), (0x09, "Ç"), (0x10, "Δ"), (0x11, "_"), (0x24, "¤"),
     (0x40, "¡"), (0x5B, "Ä"), (0x60, "¿"), (0x7F, "à"), (0x0A, "\n"), (0x0D, "\r")],
)  # fmt: skip
def test_default_alphabet_positions(septet, char):
    assert gsm7.decode([septet]) == char
    assert gsm7.encode(char) == [septet]


def test_the_default_alphabet_has_128_positions_and_esc_stands_for_no_character():
    assert len(gsm7.DEFAULT_ALPHABET) == 128
    assert not gsm7.is_encodable("\x1b")


@pytest.mark.parametrize(
    ("code", "char"),
    [(0x0A, "\f"), (0x14, "^"), (0x28, "{"), (0x29, "}"), (0x2F, "\\"), (0x3C, "["), (0x3D, "~"),
     (0x3E, "]"), (0x40, "|"), (0x65, "€")],
)  # fmt: skip
def test_extension_table_characters_take_two_septets(code, char):
    assert gsm7.encode(char) == [ESC, code]
    assert gsm7.decode([ESC, code]) == char
    assert gsm7.septet_length("a" + char) == 3


def test_an_escape_to_a_code_missing_from_the_extension_table_reads_as_the_main_table_character():
    # TS 23.038 §6.2.1.1: the receiver shows the character of the main table instead.
    assert gsm7.decode([ESC, 0x41]) == "A"


def test_two_escapes_read_as_a_space_until_a_further_extension_table_exists():
    assert gsm7.decode([ESC, ESC, 0x41]) == " A"


def test_a_lone_escape_at_the_end_stands_for_nothing():
    assert gsm7.decode([0x41, ESC]) == "A"


def test_a_character_outside_the_tables_is_named_with_its_position():
    with pytest.raises(gsm7.UnencodableText, match=r"'ą' \(U\+0105\) at position 2"):
        gsm7.encode("zaą")
    assert not gsm7.is_encodable("ç")  # only the capital Ç is in the default alphabet


# --- national language tables (TS 23.038 annex A) -------------------------------------------------


def test_turkish_locking_shift_table_replaces_the_main_table():
    septets = [0x07, 0x40, 0x60, 0x0B, 0x1C, 0x04]
    assert gsm7.decode(septets, locking=gsm7.TURKISH) == "ıİçĞŞ€"
    assert gsm7.decode(septets) == "ì¡¿ØÆè"


def test_turkish_single_shift_table():
    septets = [ESC, 0x47, ESC, 0x49, ESC, 0x53, ESC, 0x63, ESC, 0x67, ESC, 0x69, ESC, 0x73, ESC, 0x65]
    assert gsm7.decode(septets, single=gsm7.TURKISH) == "ĞİŞçğış€"


def test_spanish_single_shift_table_with_the_default_main_table():
    septets = [ESC, 0x41, ESC, 0x49, ESC, 0x4F, ESC, 0x55, ESC, 0x61, ESC, 0x09, 0x7D]
    assert gsm7.decode(septets, single=gsm7.SPANISH) == "ÁÍÓÚáçñ"


def test_spanish_has_no_locking_shift_table_so_the_default_alphabet_applies():
    assert gsm7.decode([0x5F, 0x7D], locking=gsm7.SPANISH) == "§ñ"


def test_portuguese_locking_shift_table():
    septets = [0x04, 0x09, 0x12, 0x15, 0x16, 0x17, 0x18, 0x1A, 0x24, 0x5B, 0x60, 0x7D]
    assert gsm7.decode(septets, locking=gsm7.PORTUGUESE) == "êçª∞^\\€|ºÃ~`"


def test_portuguese_single_shift_table():
    septets = [ESC, 0x05, ESC, 0x0B, ESC, 0x5B, ESC, 0x7F, ESC, 0x12, ESC, 0x3C]
    assert gsm7.decode(septets, single=gsm7.PORTUGUESE) == "êÔÃâΦ["


def test_an_unknown_language_falls_back_to_the_default_tables():
    assert gsm7.decode([0x5F, ESC, 0x65], locking=13, single=13) == "§€"


def test_every_national_table_round_trips_through_encode():
    for language, table in gsm7.LOCKING_SHIFT_TABLES.items():
        text = "".join(char for septet, char in enumerate(table) if septet != ESC)
        assert gsm7.decode(gsm7.encode(text, locking=language), locking=language) == text
    for language, table in gsm7.SINGLE_SHIFT_TABLES.items():
        text = "".join(table.values())
        assert gsm7.decode(gsm7.encode(text, single=language), single=language) == text


def test_a_character_in_both_tables_takes_the_single_septet_form():
    # '^' is in the Portuguese locking shift table and in the default extension table.
    assert gsm7.encode("^", locking=gsm7.PORTUGUESE) == [0x16]


# --- packing (TS 23.038 §6.1.2.1.1) --------------------------------------------------------------


def test_packing_puts_septets_least_significant_bit_first():
    assert gsm7.pack(gsm7.encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    assert gsm7.decode(gsm7.unpack(bytes.fromhex("E8329BFD4697D9EC37"), 10)) == "hellohello"


def test_eight_septets_fill_seven_octets():
    assert gsm7.pack([0x7F] * 8) == b"\xff" * 7


def test_fill_bits_after_a_user_data_header():
    # TS 23.040 §9.2.3.24: a 6-octet concatenation UDH (48 bits) is followed by 1 fill bit so
    # that the text starts on septet 7; a 7-octet one (56 bits) needs none.
    assert (gsm7.header_septets(6), gsm7.fill_bits(6)) == (7, 1)
    assert (gsm7.header_septets(7), gsm7.fill_bits(7)) == (8, 0)
    assert (gsm7.header_septets(12), gsm7.fill_bits(12)) == (14, 2)


def test_packing_after_fill_bits():
    assert gsm7.pack([0x41], fill_bits=1) == bytes([0x82])
    assert gsm7.unpack(bytes([0x82]), 1, fill_bits=1) == [0x41]


@given(st.lists(st.integers(0, 127), max_size=200), st.integers(0, 6))
def test_unpack_inverts_pack(septets, fill):
    assert gsm7.unpack(gsm7.pack(septets, fill_bits=fill), len(septets), fill_bits=fill) == septets


GSM_CHARS = sorted(set(gsm7.DEFAULT_ALPHABET.replace("\x1b", "")) | set(gsm7.DEFAULT_EXTENSION.values()))


@given(st.text(alphabet=GSM_CHARS, max_size=300))
def test_decode_inverts_encode_for_any_gsm_text(text):
    septets = gsm7.encode(text)
    assert len(septets) == gsm7.septet_length(text)
    assert gsm7.decode(septets) == text
