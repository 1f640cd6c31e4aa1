"""The emulator's HTTP control API (DESIGN §4.2), and run_emulator's modems.json."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from appliance.codecs.sms_pdu import decode_sms_deliver, encode_sms_submit
from appliance.modem.emulator.emulator import run_emulator
from appliance.modem.emulator.sim import luhn_valid


def call(
    emulator, method: str, path: str, body: object = None, *, raw: bytes | None = None
) -> tuple[int, object]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(emulator.control_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_get_modems_lists_every_modem_with_its_identity(emulator) -> None:
    status, modems = call(emulator, "GET", "/modems")
    assert status == 200
    assert [m["id"] for m in modems] == [1, 2, 3]
    assert [m["personality"] for m in modems] == ["huawei", "simcom", "quectel"]
    for modem in modems:
        assert {"id", "port", "imei", "iccid", "imsi", "msisdn", "operator", "signal"} <= set(modem)
        assert modem["port"].startswith("/dev/pts/")
        assert len(modem["imei"]) == 15 and luhn_valid(modem["imei"])
        assert modem["iccid"].startswith("8948") and luhn_valid(modem["iccid"])
        assert modem["imsi"].startswith("260") and len(modem["imsi"]) == 15
        assert modem["msisdn"].startswith("+485") and len(modem["msisdn"]) == 12
        assert 0 <= modem["signal"] <= 31
    assert [m["operator"] for m in modems] == ["Orange PL", "Play", "Plus"]
    assert json.loads((emulator.state_dir / "modems.json").read_text()) == modems
    assert len({m["iccid"] for m in modems}) == 3


def test_post_sms_delivers_and_reports_the_parts(emulator, at_port) -> None:
    at = at_port(emulator.port(2))
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    status, answer = call(emulator, "POST", "/modems/2/sms", {"from": "+48601234567", "text": "x" * 200})
    assert (status, answer["parts"]) == (200, 2)
    at.expect_urc("+CMTI:")
    at.expect_urc("+CMTI:")
    status, _ = call(
        emulator,
        "POST",
        "/modems/2/sms",
        {"from": "+48601234567", "text": "timed", "smsc_time": "2024-03-01T12:30:00+01:00"},
    )
    assert status == 200
    at.expect_urc("+CMTI:")
    stored = emulator.stored(2)
    message = decode_sms_deliver(bytes.fromhex(stored[-1]["pdu"]))
    assert message.text == "timed"
    assert message.timestamp.isoformat() == "2024-03-01T12:30:00+01:00"


def test_post_pdu_delivers_a_raw_pdu(emulator, at_port) -> None:
    at = at_port(emulator.port(3))
    at.ok("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")
    tpdu = "040B918406214365F70000621152311451000BC8329BFD06DDDF723619"
    status, _ = call(emulator, "POST", "/modems/3/pdu", {"pdu": tpdu, "smsc": False})
    assert status == 200
    at.expect_urc("+CMTI:")
    status, _ = call(emulator, "POST", "/modems/3/pdu", {"pdu": "07918405210077F7" + tpdu})
    assert status == 200
    at.expect_urc("+CMTI:")
    assert [m["pdu"] for m in emulator.stored(3)] == ["00" + tpdu, "07918405210077F7" + tpdu]


def test_get_sent_returns_what_the_client_submitted_in_order(emulator, at_port) -> None:
    at = at_port(emulator.port(1))
    at.ok("ATE0;+CMGF=0")
    first = encode_sms_submit("+48600100200", "pierwsza")[0]
    second = encode_sms_submit("+48600100300", "druga")[0]
    at.send_pdu(first)
    at.send_pdu(second)
    status, sent = call(emulator, "GET", "/modems/1/sent")
    assert status == 200
    assert sent == [
        {
            "to": "+48600100200",
            "text": "pierwsza",
            "pdu": first.hex().upper(),
            "message_reference": 1,
            "report": None,
        },
        {
            "to": "+48600100300",
            "text": "druga",
            "pdu": second.hex().upper(),
            "message_reference": 2,
            "report": None,
        },
    ]
    assert call(emulator, "GET", "/modems/2/sent") == (200, [])


def test_post_fault_injects_and_replug_rewrites_modems_json(emulator) -> None:
    old_port = emulator.port(2)
    status, answer = call(emulator, "POST", "/modems/2/fault", {"kind": "replug"})
    assert status == 200 and answer["port"] != old_port
    listed = json.loads((emulator.state_dir / "modems.json").read_text())
    assert listed[1]["port"] == answer["port"] == emulator.port(2)
    status, answer = call(emulator, "POST", "/modems/2/fault", {"kind": "weak_signal", "rssi": 5})
    assert status == 200
    assert call(emulator, "GET", "/modems")[1][1]["signal"] == 5
    status, _ = call(emulator, "POST", "/modems/2/fault", {"kind": "hang", "params": {"seconds": 0.1}})
    assert status == 200


def test_bad_requests_get_json_errors(emulator) -> None:
    cases = [
        ("POST", "/modems/9/sms", {"from": "+48601234567", "text": "x"}, 404),
        ("GET", "/modems/9/sent", None, 404),
        ("POST", "/modems/9/fault", {"kind": "unplug"}, 404),
        ("GET", "/nothing-here", None, 404),
        ("POST", "/modems/1/sms", {"text": "no sender"}, 400),
        ("POST", "/modems/1/sms", {"from": "+48601234567"}, 400),
        ("POST", "/modems/1/sms", {"from": "+48601234567", "text": 5}, 400),
        ("POST", "/modems/1/sms", {"from": "+48601234567", "text": "x", "smsc_time": "yesterday"}, 400),
        ("POST", "/modems/1/sms", ["not", "an", "object"], 400),
        ("POST", "/modems/1/pdu", {"pdu": "not hex"}, 400),
        ("POST", "/modems/1/pdu", {"pdu": "07"}, 400),
        ("POST", "/modems/1/pdu", {"pdu": "00AA", "smsc": "yes"}, 400),
        ("POST", "/modems/1/fault", {"kind": "meteor"}, 400),
        ("POST", "/modems/1/fault", {}, 400),
        ("POST", "/modems/1/fault", {"kind": "hang", "minutes": 1}, 400),
        ("GET", "/modems/1/sms", None, 405),
    ]
    for method, path, body, expected in cases:
        status, answer = call(emulator, method, path, body)
        assert status == expected, (method, path, body, answer)
        assert isinstance(answer["error"], str) and answer["error"]
    status, answer = call(emulator, "POST", "/modems/1/sms", raw=b"{broken")
    assert status == 400 and "JSON" in answer["error"]


def test_run_emulator_starts_modems_and_the_api_and_stop_cleans_up(tmp_path) -> None:
    emulator = run_emulator(2, 0, tmp_path, personalities=["quectel"], urc_interval=None)
    try:
        listed = json.loads((tmp_path / "modems.json").read_text())
        assert [m["personality"] for m in listed] == ["quectel", "quectel"]
        assert (tmp_path / "ttyEMU1").is_symlink()
        assert call(emulator, "GET", "/modems")[0] == 200
    finally:
        emulator.stop()
    assert not (tmp_path / "ttyEMU1").exists()
