"""Delivery reports: an SMS-SUBMIT asking for one (TP-SRR) is answered by an SMS-STATUS-REPORT from the
network, shown or stored as AT+CNMI <ds> says, in the storage each personality keeps reports in."""

from __future__ import annotations

import re
import time

from appliance.codecs.sms_pdu import decode_sms_status_report, encode_sms_submit
from tests.modem.test_emulator_control_api import call

REPORT_MEMORY = {"huawei": "SM", "simcom": "SM", "quectel": "SR"}
RECIPIENT = "+48609876543"


def send_with_report(at, text: str = "report please", *, report: bool = True) -> int:
    """AT+CMGS of one SMS-SUBMIT (TP-SRR set unless told); returns the <mr> of +CMGS: <mr>."""
    answer = at.send_pdu(encode_sms_submit(RECIPIENT, text, request_status_report=report)[0])
    assert answer[-1] == "OK" and answer[0].startswith("+CMGS: "), answer
    return int(answer[0].split(": ")[1])


def read_cds(at, timeout: float = 3.0) -> bytes:
    """The PDU of the next +CDS: <length> URC, checked against its length."""
    urc = at.expect_urc("+CDS:", timeout=timeout)
    [line] = at.read_lines_after(urc, 1)
    pdu = bytes.fromhex(line)
    assert len(pdu) - 1 - pdu[0] == int(urc.split(": ")[1]), "the length counts the TPDU only"
    return pdu


def test_ds_1_shows_the_report_in_cds_with_the_reference_cmgs_answered(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
    started = time.monotonic()
    reference = send_with_report(at)
    report = decode_sms_status_report(read_cds(at))
    assert time.monotonic() - started >= 0.4, "the default delay is half a second"
    assert (report.message_reference, report.recipient, report.status) == (reference, RECIPIENT, 0)
    assert report.smsc == emulator.modem(modem.id).device.sim.identity.operator.smsc
    assert report.timestamp <= report.discharge_time
    assert emulator.stored(modem.id, REPORT_MEMORY[modem.personality]) == [], "+CDS is not stored"
    [sent] = emulator.sent(modem.id)
    assert (sent["message_reference"], sent["report"]) == (reference, 0)


def test_ds_2_stores_the_report_announces_it_and_it_can_be_read_and_deleted(modem) -> None:
    at = modem.at
    memory, first = REPORT_MEMORY[modem.personality], modem.first_index
    at.ok("ATE0;+CMEE=1;+CMGF=0;+CNMI=2,1,0,2,0")
    reference = send_with_report(at)
    assert at.expect_urc("+CDSI:") == f'+CDSI: "{memory}",{first}'
    if memory == "SR":
        assert at.command('AT+CPMS="SR","SR"') == ["+CMS ERROR: 302"], "reports are read, not written"
        assert at.ok('AT+CPMS="SR"')[0].startswith("+CPMS: 1,50,")
    header, pdu_hex = at.ok(f"AT+CMGR={first}")
    pdu = bytes.fromhex(pdu_hex)
    assert header == f"+CMGR: 0,,{len(pdu) - 1 - pdu[0]}"
    report = decode_sms_status_report(pdu)
    assert (report.message_reference, report.recipient, report.status) == (reference, RECIPIENT, 0)
    assert at.ok("AT+CMGL=4") == [f"+CMGL: {first},1,,{len(pdu) - 1 - pdu[0]}", pdu_hex]
    at.ok(f"AT+CMGD={first}")
    assert at.ok("AT+CMGL=4") == []


def test_text_mode_shows_the_report_fields(modem) -> None:
    at = modem.at
    # AT+CSMP <fo> 49: SMS-SUBMIT with a relative validity period and TP-SRR
    at.ok('ATE0;+CMGF=1;+CSCS="GSM";+CSMP=49,167,0,0;+CNMI=2,1,0,1,0')
    at.write(f'AT+CMGS="{RECIPIENT}"\r'.encode())
    at.wait_prompt()
    at.write(b"text mode report\x1a")
    answer = at.collect()
    reference = int(answer[0].split(": ")[1])
    when = r'"\d\d/\d\d/\d\d,\d\d:\d\d:\d\d[+-]\d\d"'
    urc = at.expect_urc("+CDS:")
    assert re.fullmatch(rf'\+CDS: 6,{reference},"\+48609876543",145,{when},{when},0', urc), urc
    at.ok("AT+CNMI=2,1,0,2,0")
    at.write(f'AT+CMGS="{RECIPIENT}"\r'.encode())
    at.wait_prompt()
    at.write(b"and a stored one\x1a")
    reference = int(at.collect()[0].split(": ")[1])
    memory = REPORT_MEMORY[modem.personality]
    index = int(at.expect_urc("+CDSI:").split(",")[1])
    if memory == "SR":
        at.ok('AT+CPMS="SR"')
    [line] = at.ok(f"AT+CMGR={index}")
    assert re.fullmatch(rf'\+CMGR: "REC UNREAD",6,{reference},"\+48609876543",145,{when},{when},0', line)


def test_no_report_without_tp_srr(modem) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
    send_with_report(at, report=False)
    time.sleep(0.8)
    at.settle(0.1)
    assert not [urc for urc in at.urcs if urc.startswith("+CDS")]
    assert emulator.sent(modem.id)[0]["report"] is None


def test_a_chosen_failure_status_for_the_next_report_then_delivered_again(emulator, at_port) -> None:
    at = at_port(emulator.port(3))
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
    status, answer = call(emulator, "POST", "/modems/3/fault", {"kind": "report_status", "status": 70})
    assert (status, answer["status"], answer["count"]) == (200, 70, 1)
    first = send_with_report(at, "expires")
    assert decode_sms_status_report(read_cds(at)).status == 70  # 0x46: validity period expired
    second = send_with_report(at, "arrives")
    assert decode_sms_status_report(read_cds(at)).status == 0
    status, sent = call(emulator, "GET", "/modems/3/sent")
    assert [(item["message_reference"], item["report"]) for item in sent] == [(first, 70), (second, 0)]


def test_report_delay_is_set_per_modem(emulator, at_port) -> None:
    at = at_port(emulator.port(2))
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
    assert call(emulator, "POST", "/modems/2/fault", {"kind": "report_delay", "seconds": 1.5})[0] == 200
    started = time.monotonic()
    send_with_report(at)
    read_cds(at, timeout=4)
    assert time.monotonic() - started >= 1.4
    emulator.fault(2, "report_delay", seconds=0)
    started = time.monotonic()
    send_with_report(at)
    read_cds(at)
    assert time.monotonic() - started < 1.0
    for bad in ({"seconds": -1}, {"seconds": "soon"}):
        assert call(emulator, "POST", "/modems/2/fault", {"kind": "report_delay", **bad})[0] == 400
    bad_status = {"kind": "report_status", "status": 300}
    assert call(emulator, "POST", "/modems/2/fault", bad_status)[0] == 400


def test_a_report_for_an_unplugged_modem_waits_and_is_stored_after_the_replug(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    memory = REPORT_MEMORY[modem.personality]
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
    modem.fault("report_delay", seconds=0.3)
    reference = send_with_report(at)
    modem.fault("unplug")
    wait_for(lambda: emulator.pending(modem.id) == 1, what="the network to hold the report")
    assert emulator.sent(modem.id)[0]["report"] == 0, "the network knows the outcome"
    modem.fault("replug")
    # After power-on nobody has asked for +CDS yet: the report is stored, unannounced, not lost
    wait_for(lambda: emulator.pending(modem.id) == 0, what="the report to be delivered")
    [stored] = emulator.stored(modem.id, memory)
    assert decode_sms_status_report(bytes.fromhex(stored["pdu"])).message_reference == reference
