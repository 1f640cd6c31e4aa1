"""AT answers as real modems give them, and what the parsers make of them."""

import pytest

from appliance.modem import responses


def test_cmgl_pairs_each_header_with_its_pdu_line() -> None:
    entries = responses.parse_cmgl([
        "+CMGL: 1,0,,24", "07914806010013F0040B914806001002F00000621152410350400568656C6C6F",
        "+CMGL: 4,1,\"\",24", "0791480601",
    ])
    assert [(e.index, e.stat) for e in entries] == [(1, 0), (4, 1)]
    assert entries[0].pdu is not None and entries[0].pdu.startswith(bytes.fromhex("0791"))


def test_cmgl_keeps_a_line_that_is_not_hex_as_raw_text() -> None:
    [entry] = responses.parse_cmgl(["+CMGL: 2,0,,10", "ZZ\ufffdnot hex"])
    assert entry.pdu is None and entry.raw_line == "ZZ\ufffdnot hex"


def test_cmgl_header_without_pdu_line_is_still_reported() -> None:
    [entry] = responses.parse_cmgl(["+CMGL: 3,0,,10"])
    assert (entry.index, entry.pdu) == (3, None)


def test_cmgr_of_an_empty_slot_is_none() -> None:
    assert responses.parse_cmgr(5, []) is None


@pytest.mark.parametrize(("lines", "dbm"), [
    (["+CSQ: 20,99"], -73), (["+CSQ: 0,0"], -113), (["+CSQ: 31,99"], -51), (["+CSQ: 99,99"], None),
    (["+CSQ:  15, 3"], -83), (["garbage"], None),
])
def test_csq_is_converted_to_dbm(lines, dbm) -> None:
    assert responses.parse_csq(lines) == dbm


@pytest.mark.parametrize(("lines", "iccid"), [
    (["+CCID: 89480610001234567890"], "89480610001234567890"),
    (["89480610001234567890"], "89480610001234567890"),  # SIMCom: bare line
    (['+QCCID: 8948061000123456789F'], "8948061000123456789"),
    (["^ICCID: 98846001001032547698"], "89480610000123456789"),  # nibble-swapped Huawei firmware
    (['+CRSM: 144,0,"98846001001032547698"'], "89480610000123456789"),
    (["+CME ERROR: 10"], None), ([], None),
])
def test_iccid_in_every_vendor_style(lines, iccid) -> None:
    assert responses.parse_iccid(lines) == iccid


def test_cops_cnum_cpms_cpin() -> None:
    assert responses.parse_cops(['+COPS: 0,0,"Orange PL",7']) == "Orange PL"
    assert responses.parse_cops(["+COPS: 0"]) is None
    assert responses.parse_cnum(['+CNUM: "","+48501234567",145']) == "+48501234567"
    assert responses.parse_cnum(['+CNUM: "Own number","501234567",129,7,4']) == "501234567"
    assert responses.parse_cpms(['+CPMS: "SM",3,30,"SM",3,30,"SM",3,30']) == (3, 30)
    assert responses.parse_cpms(["+CPMS: 0,50,0,50,0,50"]) == (0, 50)
    assert responses.parse_cpin(["+CPIN: SIM PIN"]) == "SIM PIN"


def test_plain_answers_with_or_without_an_echoed_prefix() -> None:
    assert responses.parse_plain(["huawei"]) == "huawei"
    assert responses.parse_plain(["+CGMI: \"Quectel\""]) == "Quectel"
    assert responses.parse_plain(["  ", "SIMCOM_Ltd"]) == "SIMCOM_Ltd"


@pytest.mark.parametrize(("lines", "attempts"), [
    (["^CPIN: SIM PIN,3,10,3,10,3"], 3),
    (["^CPIN: SIM PIN,,10,1,10,3"], 1),
    (['+QPINC: "SC",2,10', '+QPINC: "P2",3,10'], 2),
    (["+SPIC: 1,10,3,10"], 1),
    (["ERROR"], None),
])
def test_remaining_pin_attempts_in_each_vendor_style(lines, attempts) -> None:
    assert responses.parse_pin_attempts(lines) == attempts
