"""Faults a real modem shows: unplug/replug, line noise, hangs, SIM trouble, bad radio."""

from __future__ import annotations

import contextlib
import json
import os
import time

import pytest
import serial

from appliance.codecs.sms_pdu import encode_sms_submit

PIN_COUNTERS = {
    # command, answer with 3 PIN and 10 PUK attempts left, with 2 PIN attempts left
    "huawei": ("AT^CPIN?", ["^CPIN: SIM PIN,3,10,3,10,3"], ["^CPIN: SIM PIN,2,10,2,10,3"]),
    "simcom": ("AT+SPIC", ["+SPIC: 3,10,3,10"], ["+SPIC: 2,10,3,10"]),
    "quectel": (
        "AT+QPINC?",
        ['+QPINC: "SC",3,10', '+QPINC: "P2",3,10'],
        ['+QPINC: "SC",2,10', '+QPINC: "P2",3,10'],
    ),
}
BANNER_MARK = {"huawei": b"^BOOT:", "simcom": b"SMS Ready", "quectel": b"+QIND: SMS DONE"}


def modems_json(emulator) -> list[dict]:
    return json.loads((emulator.state_dir / "modems.json").read_text())


def read_banner(path: str, mark: bytes, timeout: float = 2.0) -> bytes:
    """Open the port as a plain file (no flush on open, unlike pyserial) and read what waits there."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while mark not in data and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                data += os.read(fd, 4096)
            time.sleep(0.02)
    finally:
        os.close(fd)
    return data


def test_unplug_hangs_up_the_client_and_replug_brings_a_new_port_with_the_same_sim(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    emulator.deliver_sms(modem.id, "+48601234567", "before the unplug")
    at.expect_urc("+CMTI:")
    before = modems_json(emulator)[0]
    old_port = before["port"]

    modem.fault("unplug")
    with pytest.raises(serial.SerialException):
        at.serial.read(1)
    with pytest.raises(serial.SerialException):
        at.serial.write(b"AT\r")
    assert modems_json(emulator)[0]["plugged"] is False
    assert not (emulator.state_dir / f"ttyEMU{modem.id}").exists()
    emulator.deliver_sms(modem.id, "+48601234567", "while unplugged")
    time.sleep(0.2)
    assert emulator.pending(modem.id) == 1, "the network holds it: nobody to deliver to"

    modem.fault("replug")
    after = modems_json(emulator)[0]
    assert after["port"] != old_port
    assert after["plugged"] is True
    assert (after["iccid"], after["imei"], after["imsi"]) == (before["iccid"], before["imei"], before["imsi"])
    assert os.path.realpath(emulator.state_dir / f"ttyEMU{modem.id}") == after["port"]
    assert BANNER_MARK[modem.personality] in read_banner(after["port"], BANNER_MARK[modem.personality])

    at = modem.reopen()
    wait_for(lambda: emulator.pending(modem.id) == 0, what="the held SMS to be delivered after the replug")
    at.ok("ATE0;+CMGF=0")
    listing = at.ok("AT+CMGL=4")
    assert len(listing) == 4, "the message stored before the unplug survived, the held one arrived"


def test_garbage_on_the_line_then_normal_operation(modem) -> None:
    at = modem.at
    at.ok("ATE0")
    assert modem.emulator.fault(modem.id, "garbage", length=300, seed=7) == {"bytes": 300}
    noise = at.read_raw(0.3)
    assert len(noise) >= 300
    assert b"\x00" in noise
    with pytest.raises(UnicodeDecodeError):
        noise.decode("utf-8")
    assert at.ok("AT") == []
    assert at.ok("AT+CMGF=0") == []


def test_a_hung_modem_drops_input_then_answers_again(modem) -> None:
    at = modem.at
    at.ok("ATE0")
    modem.emulator.fault(modem.id, "hang", seconds=0.5)
    at.write(b"AT+CGMI\r")
    assert at.read_raw(0.3) == b"", "no answer while hung"
    time.sleep(0.3)
    assert at.ok("AT") == []
    assert at.read_raw(0.2) == b"", "what was sent during the hang is not answered late"


def test_no_sim_refuses_sim_commands_until_the_sim_is_back(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMEE=1;+CMGF=0;+CNMI=2,1,0,2,0")
    modem.fault("no_sim")
    assert at.command("AT+CPIN?") == ["+CME ERROR: 10"]
    assert at.command("AT+CIMI") == ["+CME ERROR: 10"]
    assert at.command("AT+CMGL=4") == ["+CMS ERROR: 310"]
    assert at.command("AT+CPMS?") == ["+CMS ERROR: 310"]
    assert at.ok("AT+CREG?") == ["+CREG: 0,0"]
    at.ok("AT+CMEE=0")
    assert at.command("AT+CPIN?") == ["ERROR"]
    at.ok("AT+CMEE=1")
    emulator.deliver_sms(modem.id, "+48601234567", "wait for the SIM")
    wait_for(lambda: emulator.pending(modem.id) == 1, what="the SMS to be held")

    modem.fault("sim_back")
    assert at.ok("AT+CPIN?") == ["+CPIN: READY"]
    assert at.expect_urc("+CMTI:")


def test_replug_restores_a_missing_sim(modem) -> None:
    modem.fault("no_sim")
    modem.fault("replug")
    at = modem.reopen()
    at.ok("ATE0")
    assert at.ok("AT+CPIN?") == ["+CPIN: READY"]


def test_pin_required_counts_attempts_and_unlocks_with_the_right_pin(modem) -> None:
    at = modem.at
    command, full, after_one_wrong = PIN_COUNTERS[modem.personality]
    at.ok("ATE0;+CMEE=1")
    modem.fault("pin_required")
    assert at.ok("AT+CPIN?") == ["+CPIN: SIM PIN"]
    assert at.ok(command) == full
    assert at.command('AT+CPIN="0000"') == ["+CME ERROR: 16"]
    assert at.ok(command) == after_one_wrong
    assert at.command("AT+CMGL=4") == ["+CMS ERROR: 311"]
    assert at.command("AT+CIMI") == ["+CME ERROR: 11"]
    assert at.ok("AT+CREG?") == ["+CREG: 0,0"]
    assert at.ok('AT+CPIN="1234"') == []
    assert at.ok("AT+CPIN?") == ["+CPIN: READY"]
    assert at.ok("AT+CREG?") == ["+CREG: 0,1"]

    modem.fault("replug")
    at = modem.reopen()
    at.ok("ATE0")
    assert at.ok("AT+CPIN?") == ["+CPIN: SIM PIN"], "an enabled PIN is asked again after power-on"


def test_three_wrong_pins_ask_for_the_puk(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMEE=1")
    modem.fault("pin_required", attempts=3)
    for _ in range(3):
        assert at.command("AT+CPIN=9999") == ["+CME ERROR: 16"]
    assert at.ok("AT+CPIN?") == ["+CPIN: SIM PUK"]
    assert at.command("AT+CPIN=1234") == ["+CME ERROR: 12"]
    assert at.ok('AT+CPIN="12345678","4321"') == []
    assert at.ok("AT+CPIN?") == ["+CPIN: READY"]


def test_weak_signal_shows_in_csq_and_in_the_listing(modem, wait_for) -> None:
    at = modem.at
    at.ok("ATE0")
    modem.fault("weak_signal", rssi=3)
    assert at.ok("AT+CSQ") == ["+CSQ: 3,99"]
    assert modem.emulator.modems()[0]["signal"] == 3
    if modem.personality == "huawei":
        assert at.expect_urc("^RSSI:") == "^RSSI: 3"
    modem.fault("weak_signal", rssi=2, seconds=0.2)
    wait_for(lambda: modem.emulator.modems()[0]["signal"] > 3, what="the signal to recover")


def test_registration_denied_holds_incoming_and_refuses_sending(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0;+CREG=1")
    modem.fault("registration_denied")
    assert at.expect_urc("+CREG:") == "+CREG: 3"
    assert at.ok("AT+CREG?") == ["+CREG: 1,3"]
    assert at.ok("AT+COPS?") == ["+COPS: 0"]
    assert at.send_pdu(encode_sms_submit("+48609876543", "nope")[0]) == ["+CMS ERROR: 331"]
    emulator.deliver_sms(modem.id, "+48601234567", "after registration")
    wait_for(lambda: emulator.pending(modem.id) == 1, what="the SMS to be held")
    modem.fault("clear")
    assert at.expect_urc("+CMTI:")
    assert at.ok("AT+CREG?") == ["+CREG: 1,1"]


def test_a_reset_with_cfun_re_enumerates_on_a_new_port_with_the_banner_and_default_settings(
    modem, wait_for
) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=1")
    old_port = emulator.port(modem.id)
    assert at.ok("AT+CFUN=1,1") == [], "the OK comes before the modem drops off the bus"
    wait_for(lambda: not emulator.modem(modem.id).plugged, what="the reset modem to leave the bus")
    with pytest.raises(serial.SerialException):
        at.serial.read(1)
    assert modems_json(emulator)[0]["plugged"] is False
    wait_for(lambda: emulator.modem(modem.id).plugged, what="the modem to re-enumerate")
    new_port = emulator.port(modem.id)
    assert new_port != old_port
    # modems.json is rewritten just after the new port comes up.
    wait_for(lambda: modems_json(emulator)[0]["port"] == new_port, what="modems.json to name the new port")
    assert BANNER_MARK[modem.personality] in read_banner(new_port, BANNER_MARK[modem.personality])
    at = modem.reopen()
    at.write(b"AT+CMGF?\r")
    assert at.read_until(b"OK\r\n").endswith(b"AT+CMGF?\r\r\n+CMGF: 0\r\n\r\nOK\r\n")


def test_huawei_resets_with_cfun_16_the_others_refuse_it(emulator_factory, at_port, wait_for) -> None:
    emulator = emulator_factory(["huawei", "simcom"])
    huawei, simcom = at_port(emulator.port(1)), at_port(emulator.port(2))
    old_port = emulator.port(1)
    assert huawei.ok("AT+CFUN=?") == ["+CFUN: (0,1,4,16),(0,1)"]
    assert huawei.ok("AT+CFUN=16") == []
    wait_for(lambda: emulator.modem(1).plugged and emulator.port(1) != old_port, what="Huawei to come back")
    simcom.ok("ATE0;+CMEE=1")
    assert simcom.command("AT+CFUN=16") == ["ERROR"]
    assert emulator.modem(2).plugged


def test_a_usb_reset_ends_a_hang_and_brings_the_modem_back_on_a_new_port(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0")
    old_port = emulator.port(modem.id)
    modem.fault("hang", seconds=60)
    at.write(b"AT\r")
    assert at.read_raw(0.3) == b"", "hung"
    assert emulator.fault(modem.id, "usb_reset", seconds=0.2) == {"plugged": False, "back_in": 0.2}
    wait_for(lambda: emulator.modem(modem.id).plugged, what="the modem to re-enumerate")
    assert emulator.port(modem.id) != old_port
    at = modem.reopen()
    assert at.ok("AT") == [], "no longer hung"


def test_periodic_urcs_never_split_a_response(emulator_factory, at_port) -> None:
    emulator = emulator_factory(["huawei"], urc_interval=0.02)
    at = at_port(emulator.port(1))
    at.ok("ATE0")
    seen = b""
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        at.write(b"AT+CGMI;+CGMM\r")
        block = at.read_until(b"OK\r\n")
        assert b"\r\nhuawei\r\n\r\nE3372\r\n\r\nOK\r\n" in block, block
        seen += block
    marks = (b"^RSSI: ", b"^BOOT:", b"^MODE: ", b"^SRVST: ")
    assert sum(seen.count(mark) for mark in marks) >= 3, "URCs kept coming between the answers"


def test_unknown_fault_kinds_and_parameters_are_refused(emulator) -> None:
    from appliance.modem.emulator.emulator import BadRequest, UnknownModem

    with pytest.raises(BadRequest, match="unknown fault kind"):
        emulator.fault(1, "meteor")
    with pytest.raises(BadRequest, match="bad parameters"):
        emulator.fault(1, "hang", minutes=3)
    with pytest.raises(UnknownModem):
        emulator.fault(9, "hang")


def test_send_error_refuses_the_next_sends_then_they_go_through(modem) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0")
    pdu = encode_sms_submit("+48609876543", "retry me")[0]
    assert modem.fault("send_error", code=500, count=2) == {"code": 500, "count": 2}
    assert at.send_pdu(pdu) == ["+CMS ERROR: 500"]
    at.write(b"AT+CMGW=" + str(len(pdu) - 1 - pdu[0]).encode() + b"\r")
    at.wait_prompt()
    at.write(pdu.hex().encode() + b"\x1a")
    index = at.collect()[0].split(": ")[1]
    assert at.command(f"AT+CMSS={index}") == ["+CMS ERROR: 500"], "AT+CMSS is a send too"
    answer = at.send_pdu(pdu)
    assert answer[0].startswith("+CMGS: ") and answer[-1] == "OK"
    assert [sms["text"] for sms in emulator.sent(modem.id)] == ["retry me"], "refused sends never left"


def test_network_busy_refuses_sends_for_a_while(modem) -> None:
    at = modem.at
    at.ok("ATE0;+CMGF=0")
    pdu = encode_sms_submit("+48609876543", "congested")[0]
    modem.fault("network_busy", seconds=0.4)
    assert at.send_pdu(pdu) == ["+CMS ERROR: 42"]
    time.sleep(0.5)
    assert at.send_pdu(pdu)[-1] == "OK"
    modem.fault("network_busy")  # until cleared
    assert at.send_pdu(pdu) == ["+CMS ERROR: 42"]
    modem.fault("clear")
    assert at.send_pdu(pdu)[-1] == "OK"


def test_drop_cmti_stores_messages_without_announcing_them(modem, wait_for) -> None:
    emulator, at = modem.emulator, modem.at
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    modem.fault("drop_cmti", count=1)
    emulator.deliver_sms(modem.id, "+48601234567", "silent")
    emulator.deliver_sms(modem.id, "+48601234567", "announced")
    urc = at.expect_urc("+CMTI:")
    assert urc == f'+CMTI: "SM",{modem.first_index + 1}', "only the second one is announced"
    assert len(at.ok("AT+CMGL=4")) == 4, "both are stored: a storage poll finds the silent one"
    modem.fault("drop_cmti")  # every one until cleared
    for n in range(3):
        emulator.deliver_sms(modem.id, "+48601234567", f"silent {n}")
    wait_for(lambda: len(emulator.stored(modem.id)) == 5, what="the messages to be stored")
    at.settle(0.3)
    assert not [line for line in at.urcs if line.startswith("+CMTI")]
    modem.fault("clear")
    emulator.deliver_sms(modem.id, "+48601234567", "heard again")
    assert at.expect_urc("+CMTI:")


def test_bad_parameters_of_the_new_faults_are_refused(emulator) -> None:
    from appliance.modem.emulator.emulator import BadRequest

    for kind, params in [
        ("send_error", {"code": "busy"}),
        ("send_error", {"count": -1}),
        ("drop_cmti", {"count": 1.5}),
        ("network_busy", {"seconds": -2}),
        ("usb_reset", {"seconds": None}),
        ("move_sim", {"to": 9}),
        ("move_sim", {"to": 1}),
        ("move_sim", {}),
    ]:
        with pytest.raises(BadRequest):
            emulator.fault(1, kind, **params)
