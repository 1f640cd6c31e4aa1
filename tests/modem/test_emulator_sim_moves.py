"""A SIM moved to another modem takes its identity, its SMS, its PIN and what the network holds for it."""

from __future__ import annotations

import json

import pytest

from appliance.codecs.sms_pdu import decode_sms_deliver, decode_sms_status_report, encode_sms_submit
from appliance.modem.emulator.emulator import BadRequest
from tests.modem.test_emulator_control_api import call
from tests.modem.test_emulator_faults import BANNER_MARK, read_banner


def listing(emulator) -> dict[int, dict]:
    modems = {modem["id"]: modem for modem in emulator.modems()}
    assert json.loads((emulator.state_dir / "modems.json").read_text()) == list(modems.values())
    return modems


def test_a_sim_moved_to_another_modem_takes_identity_storage_and_pin(emulator_factory, at_port) -> None:
    emulator = emulator_factory(["huawei", "simcom"], control_api=True)
    one = at_port(emulator.port(1))
    one.ok("ATE0;+CMEE=1;+CMGF=0;+CNMI=2,1,0,2,0")
    emulator.deliver_sms(1, "+48601234567", "kept on the SIM")
    assert one.expect_urc("+CMTI:") == '+CMTI: "SM",0'
    emulator.fault(1, "pin_required")
    one.ok('AT+CPIN="1234"')  # unlocked, the PIN stays enabled
    before = listing(emulator)

    status, answer = call(emulator, "POST", "/modems/1/fault", {"kind": "move_sim", "to": 2})
    assert status == 200
    assert (answer["iccid"], answer["removed"]) == (before[1]["iccid"], before[2]["iccid"])

    one.settle(0.2)
    assert "^SIMST: 255" in one.urcs, "Huawei says its SIM is gone"
    assert one.command("AT+CPIN?") == ["+CME ERROR: 10"]
    assert one.command("AT^ICCID?") == ["+CME ERROR: 10"]
    assert one.command("AT+CMGL=4") == ["+CMS ERROR: 310"]
    assert one.ok("AT+CREG?") == ["+CREG: 0,0"]
    after = listing(emulator)
    assert [after[1][key] for key in ("iccid", "imsi", "msisdn", "operator", "sim")] == [None] * 4 + [False]
    assert after[1]["port"] == before[1]["port"], "the emptied modem stays on its port"
    for key in ("iccid", "imsi", "msisdn", "operator"):
        assert after[2][key] == before[1][key]
    assert after[2]["imei"] == before[2]["imei"], "the IMEI is the modem's"
    assert after[2]["port"] != before[2]["port"], "the receiving modem comes back as after a replug"
    assert BANNER_MARK["simcom"] in read_banner(after[2]["port"], BANNER_MARK["simcom"])

    two = at_port(emulator.port(2))
    two.ok("ATE0;+CMEE=1;+CMGF=0")
    assert two.ok("AT+CPIN?") == ["+CPIN: SIM PIN"], "an enabled PIN travels with the SIM"
    two.ok('AT+CPIN="1234"')
    assert two.ok("AT+CCID") == [before[1]["iccid"]]
    assert two.ok("AT+CIMI") == [before[1]["imsi"]]
    assert two.ok("AT+CNUM") == [f'+CNUM: "","{before[1]["msisdn"]}",145']
    header, pdu = two.ok("AT+CMGL=4")
    assert header.startswith("+CMGL: 1,0,"), "SIMCom numbers the SIM's first record 1"
    assert decode_sms_deliver(bytes.fromhex(pdu)).text == "kept on the SIM"
    with pytest.raises(BadRequest, match="no SIM"):
        emulator.deliver_sms(1, "+48601234567", "nobody to send to")
    assert call(emulator, "POST", "/modems/1/fault", {"kind": "sim_back"})[0] == 400


def test_swap_exchanges_the_sims_and_both_modems_come_back(emulator_factory) -> None:
    emulator = emulator_factory(["quectel", "huawei"])
    before = listing(emulator)
    result = emulator.fault(1, "move_sim", to=2, swap=True)
    assert result["swapped"] == before[2]["iccid"]
    after = listing(emulator)
    assert (after[1]["iccid"], after[2]["iccid"]) == (before[2]["iccid"], before[1]["iccid"])
    assert (after[1]["msisdn"], after[2]["msisdn"]) == (before[2]["msisdn"], before[1]["msisdn"])
    for modem_id in (1, 2):
        assert after[modem_id]["plugged"] and after[modem_id]["sim"]
        assert after[modem_id]["port"] != before[modem_id]["port"]


def test_what_the_network_holds_follows_the_sim(emulator_factory, at_port, wait_for) -> None:
    emulator = emulator_factory(["simcom", "quectel"])
    one = at_port(emulator.port(1))
    one.ok("ATE0;+CMGF=0")
    emulator.fault(1, "report_delay", seconds=0.4)
    answer = one.send_pdu(encode_sms_submit("+48609876543", "report me", request_status_report=True)[0])
    reference = int(answer[0].split(": ")[1])
    emulator.fault(1, "registration_denied")
    emulator.deliver_sms(1, "+48601234567", "held by the network")
    wait_for(lambda: emulator.pending(1) == 1, what="the SMS to be held")

    emulator.fault(1, "move_sim", to=2)
    assert emulator.pending(1) == 0
    wait_for(lambda: len(emulator.stored(2)) == 1, what="the held SMS to reach the SIM in modem 2")
    assert decode_sms_deliver(bytes.fromhex(emulator.stored(2)[0]["pdu"])).text == "held by the network"
    wait_for(lambda: emulator.stored(2, "SR"), what="the report to follow the SIM")
    report = decode_sms_status_report(bytes.fromhex(emulator.stored(2, "SR")[0]["pdu"]))
    assert report.message_reference == reference
    assert emulator.sent(1)[0]["report"] == 0, "the sent list stays with the modem that sent it"
