"""The interpreter alone (no pty): command-line parsing, identities, and robustness to any input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.modem.emulator.at_interpreter import AtInterpreter, from_te, to_te
from appliance.modem.emulator.at_syntax import Command, SyntaxFault, parse_command_line, split_args
from appliance.modem.emulator.device import build_device
from appliance.modem.emulator.personalities import PERSONALITIES, personality
from appliance.modem.emulator.sim import OPERATORS, luhn_digit, luhn_valid, make_identity


def test_basic_and_extended_commands_split_as_v250_says() -> None:
    assert parse_command_line("E0V1&FZ") == [
        Command("E", "exec", "0"),
        Command("V", "exec", "1"),
        Command("&F", "exec", ""),
        Command("Z", "exec", ""),
    ]
    assert parse_command_line("+CMGF=0;+CNMI=2,1,0,2,0") == [
        Command("+CMGF", "set", "0"),
        Command("+CNMI", "set", "2,1,0,2,0"),
    ]
    assert parse_command_line("+cpms?;^iccid?;+CPMS=?") == [
        Command("+CPMS", "read"),
        Command("^ICCID", "read"),
        Command("+CPMS", "test"),
    ]
    assert parse_command_line('+CSCA="+48;501",145') == [Command("+CSCA", "set", '"+48;501",145')]
    assert parse_command_line("S0=0S7?") == [Command("S0", "set", "0"), Command("S7", "read")]
    assert parse_command_line("D+48601234567;") == [Command("D", "exec", "+48601234567;")]
    with pytest.raises(SyntaxFault):
        parse_command_line("+CMGF?x")


def test_arguments_split_on_commas_outside_quotes() -> None:
    assert split_args('"SM","ME",,3') == ["SM", "ME", "", "3"]
    assert split_args('"a,b",1') == ["a,b", "1"]
    assert split_args("") == []


def test_identities_are_valid_and_polish() -> None:
    assert luhn_digit("49015420323751") == "8"  # the IMEI example of 3GPP TS 23.003 Annex B
    assert luhn_valid("490154203237518")
    rng = random.Random(1)
    for operator in OPERATORS:
        identity = make_identity(rng, operator)
        assert identity.iccid.startswith("8948" + operator.iccid_issuer)
        assert len(identity.iccid) == 19 and luhn_valid(identity.iccid)
        assert identity.imsi.startswith(operator.mcc_mnc)
        assert identity.msisdn.startswith("+485")
    for name in PERSONALITIES:
        device = build_device(1, personality(name))
        assert luhn_valid(device.imei) and device.imei.startswith(device.personality.imei_tac)
        assert build_device(1, personality(name)).imei == device.imei, "same seed, same identity"


def test_te_character_sets_round_trip() -> None:
    assert to_te("Łódź", "UCS2") == "014100F30064017A"
    assert from_te("014100F30064017A", "UCS2") == "Łódź"
    assert from_te(to_te("Hello @ home", "HEX"), "HEX") == "Hello @ home"
    assert from_te(to_te("Hello", "GSM"), "GSM") == "Hello"
    assert to_te("żółw", "IRA") == "???w"


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
@settings(max_examples=150, deadline=None)
@given(noise=st.binary(max_size=300))
def test_any_input_leaves_the_modem_answering(name: str, noise: bytes) -> None:
    interpreter = AtInterpreter(build_device(1, personality(name)))
    assert isinstance(interpreter.feed(noise), bytes)
    # ESC leaves a PDU prompt, CR ends whatever line the noise began, ATZ undoes ATQ1/ATV0
    answer = interpreter.feed(b"\x1b\rATZ\rATE0\rAT\r")
    assert answer.endswith(b"\r\nOK\r\n"), answer


@settings(max_examples=100, deadline=None)
@given(line=st.text(alphabet='AT+^&=?;,"0123456789CMGLSRDEZIF ', max_size=40))
def test_any_command_line_gets_a_final_result(line: str) -> None:
    """(ATV0 and ATQ1, which change the form of final results, are left out.)"""
    interpreter = AtInterpreter(build_device(1, personality("quectel")))
    interpreter.feed(b"ATE0\r")
    answer = interpreter.feed(b"AT" + line.encode() + b"\r")
    if interpreter.in_prompt:
        answer += interpreter.feed(b"\x1b")
    finals = (b"OK\r\n", b"ERROR\r\n", b"NO CARRIER\r\n")
    assert answer.endswith(finals) or b"+CME ERROR: " in answer or b"+CMS ERROR: " in answer, answer


def test_a_non_ascii_letter_after_at_is_an_error_not_a_crash() -> None:
    # Found by the fuzzer above: "At\xc0" (Latin-1 À, a letter to str.isalpha()).
    interpreter = AtInterpreter(build_device(1, personality("simcom")))
    interpreter.feed(b"ATE0\r")
    assert interpreter.feed(b"At\xc0\r").endswith(b"ERROR\r\n")
