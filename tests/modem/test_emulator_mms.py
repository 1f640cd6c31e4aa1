"""The emulator's fake MMSC and its MMS endpoints (DESIGN §4.2, issue 4 item 5): WAP push over SMS,
the MMSC behind its proxy, the client's notifyresp/acknowledge, and the MMSC's faults."""

from __future__ import annotations

import base64
import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from appliance.codecs import mms as mms_codec
from appliance.codecs import wsp
from appliance.codecs.sms_pdu import PortAddress, decode_sms_deliver
from appliance.modem.emulator.emulator import BadRequest, run_emulator

SENDER = "+48601234567"
MMS_TYPE = "application/vnd.wap.mms-message"


def notifyresp(transaction_id: str, status: str = "retrieved") -> bytes:
    return mms_codec.encode_notifyresp_ind(transaction_id, status, "1.2")


def acknowledge(transaction_id: str) -> bytes:
    return mms_codec.encode_acknowledge_ind(transaction_id, "1.2", report_allowed=True)


# ---- payloads of the acceptance MMS ----------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + random.Random(4).randbytes(300_000) + b"\xff\xd9"
TEXT = "Cześć! Zażółć gęślą jaźń, ŻÓŁW i łódź 🎉📷 — zdjęcie na konkurs".encode()
VCARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Wójcik;Łukasz\r\nFN:Łukasz Wójcik\r\n"
    "TEL;TYPE=CELL:+48601234567\r\nEND:VCARD\r\n"
).encode()
AMR = b"#!AMR\n" + b"".join(b"\x3c" + random.Random(n).randbytes(31) for n in range(50))  # 12.2 kbit/s frames
PARTS = [
    ("image/jpeg", "konkurs.jpg", JPEG),
    ("text/plain", "tekst.txt", TEXT),
    ("text/x-vCard", "lukasz.vcf", VCARD),
    ("audio/amr", "glos.amr", AMR),
]
SUBJECT = "Zdjęcie konkursowe: żółć 🎉"


# ---- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def emulator(emulator_factory):
    """Two modems (1 Huawei on Orange, 2 SIMCom on Play), the control API and the fake MMSC."""
    emulator = emulator_factory(["huawei", "simcom"], control_api=True)
    emulator.start_mmsc(0)
    return emulator


def call(emulator, method: str, path: str, body: object = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(emulator.control_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def json_parts(parts) -> list[dict[str, str]]:
    return [
        {"content_type": ct, "name": name, "data_b64": base64.b64encode(data).decode()}
        for ct, name, data in parts
    ]


def via_proxy(emulator, method: str, url: str, body: bytes | None = None, *, timeout: float = 5.0):
    """A request as a phone behind the operator's WAP/HTTP proxy sends it: the absolute URI in the
    request line, to the proxy's port. Returns (status, content type, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", emulator.mmsc.port, timeout=timeout)
    try:
        headers = {"Content-Type": MMS_TYPE} if body is not None else {}
        connection.request(method, url, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def direct(emulator, method: str, path: str, body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", emulator.mmsc.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": MMS_TYPE} if body else {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def pushes(emulator, modem_id: int, wait_for, count: int = 1) -> list[tuple[list, bytes]]:
    """The WAP pushes the modem stored, in order: (their SMS-DELIVERs, the joined user data)."""
    joined: list[tuple[list, bytes]] = []

    def collect() -> bool:
        joined.clear()
        sets: dict[int, dict[int, object]] = {}
        for stored in emulator.stored(modem_id):
            sms = decode_sms_deliver(bytes.fromhex(stored["pdu"]))
            if sms.concat is None:
                joined.append(([sms], sms.data))
                continue
            parts = sets.setdefault(sms.concat.reference, {})
            parts[sms.concat.sequence] = sms
            if len(parts) == sms.concat.total:
                ordered = [parts[n] for n in sorted(parts)]
                joined.append((ordered, b"".join(p.data for p in ordered)))
                del sets[sms.concat.reference]
        return len(joined) >= count

    wait_for(collect, what=f"{count} WAP push(es) in modem {modem_id}'s storage")
    return joined


def notification_of(push_data: bytes):
    """The WSP push in a joined set of SMS, and the m-notification-ind it carries."""
    push = wsp.decode_push(push_data)
    assert (push.pdu_type, push.content_type.media_type) == ("push", MMS_TYPE)
    assert push.application_id == "x-wap-application:mms.ua"
    notification = mms_codec.decode_notification_ind(push.body, now=datetime.now(UTC))
    return push, notification


def without_smil(parts) -> list[tuple[str, str | None, bytes]]:
    return [(p.content_type.lower(), p.name, p.data) for p in parts if p.content_type != "application/smil"]


def log_of(emulator, modem_id: int, kind: str | None = None) -> list[dict]:
    return [entry for entry in emulator.mms_log(modem_id) if kind is None or entry["type"] == kind]


# ---- the acceptance MMS ------------------------------------------------------------------------


def test_an_mms_arrives_as_a_wap_push_and_the_proxy_serves_every_part_byte_identical(
    emulator, wait_for
) -> None:
    status, answer = call(
        emulator, "POST", "/modems/1/mms", {"from": SENDER, "subject": SUBJECT, "parts": json_parts(PARTS)}
    )
    assert status == 200, answer
    assert answer["parts"] == 4 and answer["smil_added"] is True
    assert answer["content_location"].startswith("http://mmsc.orange.pl/mms/")

    [(sms_set, data)] = pushes(emulator, 1, wait_for)
    assert len(sms_set) == answer["sms"] > 1  # the subject makes it a concatenated set
    for sms in sms_set:
        assert sms.ports == PortAddress(2948, 9200, 16)
        assert sms.alphabet == "8bit"
        assert sms.concat is not None and sms.concat.total == len(sms_set)
    _, notification = notification_of(data)
    assert notification.transaction_id == answer["transaction_id"]
    assert notification.content_location == answer["content_location"]
    assert notification.sender == SENDER
    assert notification.subject == SUBJECT
    assert notification.message_class == "personal"
    assert notification.headers["X-Mms-Expiry"] == mms_codec.MmsTimeValue(relative_seconds=7 * 24 * 3600)

    status, content_type, body = via_proxy(emulator, "GET", answer["content_location"])
    assert (status, content_type, len(body)) == (200, MMS_TYPE, answer["size"])
    assert notification.size == len(body)
    message = mms_codec.decode_retrieve_conf(body)
    assert (message.sender, message.subject, message.transaction_id) == (
        SENDER,
        SUBJECT,
        answer["transaction_id"],
    )
    assert message.to == [emulator.modems()[0]["msisdn"]]
    assert message.content_type == "application/vnd.wap.multipart.related"
    assert message.parts[0].content_type == "application/smil"  # the presentation a phone adds
    assert without_smil(message.parts) == [(ct.lower(), name, data) for ct, name, data in PARTS]
    assert message.parts[2].text == TEXT.decode()
    assert [entry["status"] for entry in log_of(emulator, 1)] == ["sent", "200"]


def test_a_short_notification_fits_one_sms_and_names_the_operators_mmsc(emulator, wait_for) -> None:
    answer = emulator.deliver_mms(2, SENDER, [("text/plain", "a.txt", b"hej")], multipart="mixed")
    assert answer["smil_added"] is False
    assert answer["content_location"].startswith("http://mmsc.play.pl/mms/")
    [(sms_set, data)] = pushes(emulator, 2, wait_for)
    assert answer["sms"] == len(sms_set) == 1
    assert sms_set[0].concat is None and sms_set[0].ports == PortAddress(2948, 9200, 16)
    _, notification = notification_of(data)
    assert notification.transaction_id == answer["transaction_id"]
    assert notification.subject is None
    status, _, body = via_proxy(emulator, "GET", answer["content_location"])
    message = mms_codec.decode_retrieve_conf(body)
    assert message.content_type == "application/vnd.wap.multipart.mixed"
    assert [(p.content_type, p.name, p.data, p.params.get("charset")) for p in message.parts] == [
        ("text/plain", "a.txt", b"hej", "utf-8")
    ]


def test_the_mmsc_answers_direct_requests_and_refuses_foreign_hosts_through_the_proxy(emulator) -> None:
    answer = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", "żółw".encode())])
    token_path = "/mms/" + answer["content_location"].rsplit("/", 1)[1]
    status, content_type, body = direct(emulator, "GET", token_path)
    assert (status, content_type, len(body)) == (200, MMS_TYPE, answer["size"])
    assert via_proxy(emulator, "GET", f"http://127.0.0.1:{emulator.mmsc.port}{token_path}")[0] == 200
    assert via_proxy(emulator, "GET", "http://www.example.com/")[0] == 502
    assert via_proxy(emulator, "GET", "http://mmsc.orange.pl/mms/nosuchmessage")[0] == 404
    assert emulator.mmsc_url == f"http://127.0.0.1:{emulator.mmsc.port}/mms"


# ---- the client's answers ------------------------------------------------------------------------


def test_notifyresp_and_acknowledge_are_decoded_and_logged_per_transaction(emulator) -> None:
    first = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"one")])["transaction_id"]
    second = emulator.deliver_mms(1, SENDER, [("text/plain", "b.txt", b"two")])["transaction_id"]
    assert first != second
    assert via_proxy(emulator, "POST", "http://mmsc.orange.pl/mms", notifyresp(first))[0] == 200
    assert direct(emulator, "POST", "/", notifyresp(second, status="deferred"))[0] == 200
    assert direct(emulator, "POST", "/mms", acknowledge(second))[0] == 200
    answers = [
        (e["transaction_id"], e["type"], e["status"])
        for e in log_of(emulator, 1)
        if e["type"] != "m-notification-ind"
    ]
    assert answers == [
        (first, "m-notifyresp-ind", "retrieved"),
        (second, "m-notifyresp-ind", "deferred"),
        (second, "m-acknowledge-ind", None),
    ]
    assert log_of(emulator, 1, "m-acknowledge-ind")[0]["report_allowed"] is True
    for entry in emulator.mms_log(1):
        assert entry["modem"] == 1
        assert datetime.fromisoformat(entry["at"]).tzinfo is not None
    status, listed = call(emulator, "GET", "/modems/1/mms-log")
    assert status == 200 and listed == emulator.mms_log(1)
    assert call(emulator, "GET", "/modems/2/mms-log") == (200, [])


def test_a_post_that_is_no_mms_pdu_gets_400_and_lands_in_the_shared_log(emulator) -> None:
    status, _, body = direct(emulator, "POST", "/mms", b"\x01\x02not an mms pdu")
    assert status == 400 and body
    status, log = call(emulator, "GET", "/mms-log")
    assert status == 200
    assert [(e["type"], e["modem"]) for e in log] == [("undecodable", None)]
    assert emulator.mms_log(1) == []


# ---- redelivery --------------------------------------------------------------------------------


def test_without_notifyresp_the_mmsc_resends_the_same_notification(emulator, wait_for) -> None:
    assert emulator.fault(1, "mms_redeliver", seconds=0.2, count=2) == {"seconds": 0.2, "count": 2}
    ignored = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"once")])
    wait_for(lambda: len(log_of(emulator, 1, "m-notification-ind")) == 3, what="two re-sent notifications")
    notifications = [notification_of(data)[1] for _, data in pushes(emulator, 1, wait_for, count=3)]
    assert {(n.transaction_id, n.content_location) for n in notifications} == {
        (ignored["transaction_id"], ignored["content_location"])
    }
    assert [e["status"] for e in log_of(emulator, 1, "m-notification-ind")] == ["sent", "resent", "resent"]

    emulator.fault(1, "mms_redeliver", seconds=0.5, count=2)
    answered = emulator.deliver_mms(1, SENDER, [("text/plain", "b.txt", b"twice")])
    assert direct(emulator, "POST", "/mms", notifyresp(answered["transaction_id"]))[0] == 200
    time.sleep(1.1)  # two resend periods: none goes out after the NotifyResp
    statuses = [e["status"] for e in log_of(emulator, 1, "m-notification-ind")]
    assert statuses == ["sent", "resent", "resent", "sent"]


def test_notifications_are_not_resent_unless_asked(emulator, wait_for) -> None:
    emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])
    pushes(emulator, 1, wait_for)
    time.sleep(0.3)
    assert len(log_of(emulator, 1, "m-notification-ind")) == 1


# ---- MMSC faults -------------------------------------------------------------------------------


def test_mmsc_status_answers_errors_that_many_times(emulator) -> None:
    location = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])["content_location"]
    emulator.fault(1, "mmsc_status", status=404)
    assert via_proxy(emulator, "GET", location)[0] == 404
    assert via_proxy(emulator, "GET", location)[0] == 200
    emulator.fault(1, "mmsc_status", status=500, count=2)
    assert [via_proxy(emulator, "GET", location)[0] for _ in range(3)] == [500, 500, 200]
    assert [e["status"] for e in log_of(emulator, 1, "fetch")] == ["404", "200", "500", "500", "200"]


def test_mmsc_timeout_accepts_the_connection_and_answers_nothing(emulator) -> None:
    location = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])["content_location"]
    emulator.fault(1, "mmsc_timeout", seconds=5, count=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        via_proxy(emulator, "GET", location, timeout=0.3)
    assert time.monotonic() - started < 2
    emulator.fault(1, "mmsc_timeout", seconds=0.2, count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        via_proxy(emulator, "GET", location, timeout=3)  # silence, then the connection closes
    assert via_proxy(emulator, "GET", location)[0] == 200
    assert [e["status"] for e in log_of(emulator, 1, "fetch")] == ["timeout", "timeout", "200"]


def test_mmsc_truncate_breaks_the_transfer_off_after_n_bytes(emulator) -> None:
    answer = emulator.deliver_mms(1, SENDER, [("image/jpeg", "p.jpg", JPEG[:5000])])
    emulator.fault(1, "mmsc_truncate", bytes=100)
    connection = http.client.HTTPConnection("127.0.0.1", emulator.mmsc.port, timeout=5)
    try:
        connection.request("GET", answer["content_location"])
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.getheader("Content-Length")) == answer["size"]
        with pytest.raises(http.client.IncompleteRead) as broken:
            response.read()
        assert len(broken.value.partial) == 100
    finally:
        connection.close()
    status, _, body = via_proxy(emulator, "GET", answer["content_location"])
    assert (status, len(body)) == (200, answer["size"])
    assert [(e["status"], e["bytes"]) for e in log_of(emulator, 1, "fetch")] == [
        ("truncated", 100),
        ("200", answer["size"]),
    ]


def test_mms_expired_sends_an_expiry_already_past_and_the_message_is_gone(emulator, wait_for) -> None:
    emulator.fault(1, "mms_expired")
    answer = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"late")])
    assert answer["expired"] is True
    _, notification = notification_of(pushes(emulator, 1, wait_for)[0][1])
    expiry = notification.headers["X-Mms-Expiry"]
    assert expiry.absolute is not None and expiry.absolute < datetime.now(UTC) - timedelta(minutes=30)
    assert via_proxy(emulator, "GET", answer["content_location"])[0] == 404
    fresh = emulator.deliver_mms(1, SENDER, [("text/plain", "b.txt", b"on time")])
    assert fresh["expired"] is False
    _, notification = notification_of(pushes(emulator, 1, wait_for, count=2)[1][1])
    assert notification.expiry > datetime.now(UTC) + timedelta(days=6)


def test_clear_resets_the_mmsc_faults(emulator) -> None:
    location = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])["content_location"]
    status, _ = call(
        emulator, "POST", "/modems/1/fault", {"kind": "mmsc_status", "status": 500, "count": None}
    )
    assert status == 200
    assert via_proxy(emulator, "GET", location)[0] == 500
    assert via_proxy(emulator, "GET", location)[0] == 500
    assert call(emulator, "POST", "/modems/1/fault", {"kind": "clear"})[0] == 200
    assert via_proxy(emulator, "GET", location)[0] == 200


def test_faults_are_per_modem(emulator) -> None:
    first = emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])["content_location"]
    second = emulator.deliver_mms(2, SENDER, [("text/plain", "a.txt", b"x")])["content_location"]
    emulator.fault(2, "mmsc_status", status=500)
    assert via_proxy(emulator, "GET", first)[0] == 200
    assert via_proxy(emulator, "GET", second)[0] == 500


# ---- mms-raw -------------------------------------------------------------------------------------


def test_mms_raw_serves_the_given_bytes_as_they_are(emulator, wait_for) -> None:
    garbage = b"\x8c\x84\x98truncat"  # an m-retrieve-conf cut off inside its transaction id
    status, answer = call(
        emulator,
        "POST",
        "/modems/1/mms-raw",
        {"from": SENDER, "retrieve_conf_b64": base64.b64encode(garbage).decode()},
    )
    assert status == 200, answer
    assert answer["size"] == len(garbage)
    _, notification = notification_of(pushes(emulator, 1, wait_for)[0][1])
    assert notification.size == len(garbage)
    assert notification.content_location == answer["content_location"]
    assert via_proxy(emulator, "GET", answer["content_location"])[2] == garbage


# ---- bad requests --------------------------------------------------------------------------------


def test_bad_mms_requests_get_400_with_a_reason(emulator) -> None:
    part = {"content_type": "text/plain", "name": "a.txt", "data_b64": "aGVq"}
    cases = [
        ("/modems/1/mms", {"parts": [part]}),
        ("/modems/1/mms", {"from": "", "parts": [part]}),
        ("/modems/1/mms", {"from": SENDER}),
        ("/modems/1/mms", {"from": SENDER, "parts": []}),
        ("/modems/1/mms", {"from": SENDER, "parts": ["text"]}),
        ("/modems/1/mms", {"from": SENDER, "parts": [{"name": "a.txt", "data_b64": "aGVq"}]}),
        ("/modems/1/mms", {"from": SENDER, "parts": [{**part, "data_b64": "not base64!"}]}),
        ("/modems/1/mms", {"from": SENDER, "parts": [{**part, "content_type": "plain"}]}),
        ("/modems/1/mms", {"from": SENDER, "parts": [part], "subject": 5}),
        ("/modems/1/mms", {"from": SENDER, "parts": [part], "multipart": "alternative"}),
        ("/modems/1/mms", {"from": SENDER, "parts": [{**part, "charset": 106}]}),
        ("/modems/1/mms", ["not", "an", "object"]),
        ("/modems/1/mms-raw", {"from": SENDER}),
        ("/modems/1/mms-raw", {"from": SENDER, "retrieve_conf_b64": "%%%"}),
        ("/modems/1/mms-raw", {"retrieve_conf_b64": "aGVq"}),
        ("/modems/1/fault", {"kind": "mmsc_status", "status": 200}),
        ("/modems/1/fault", {"kind": "mmsc_truncate", "bytes": -1}),
        ("/modems/1/fault", {"kind": "mmsc_truncate"}),
        ("/modems/1/fault", {"kind": "mmsc_timeout", "seconds": "long"}),
        ("/modems/1/fault", {"kind": "mms_redeliver", "seconds": 1, "count": -2}),
        ("/modems/1/fault", {"kind": "mms_expired", "when": "yesterday"}),
    ]
    for path, body in cases:
        status, answer = call(emulator, "POST", path, body)
        assert status == 400, (path, body, answer)
        assert isinstance(answer["error"], str) and answer["error"], (path, body)
    assert call(emulator, "POST", "/modems/9/mms", {"from": SENDER, "parts": [part]})[0] == 404
    assert call(emulator, "GET", "/modems/9/mms-log")[0] == 404
    assert emulator.mms_log(1) == []


def test_without_a_running_mmsc_the_endpoints_say_so(emulator_factory) -> None:
    emulator = emulator_factory(["quectel"], control_api=True)
    part = {"content_type": "text/plain", "name": "a.txt", "data_b64": "aGVq"}
    status, answer = call(emulator, "POST", "/modems/1/mms", {"from": SENDER, "parts": [part]})
    assert status == 400 and "MMSC" in answer["error"]
    assert call(emulator, "POST", "/modems/1/fault", {"kind": "mmsc_status", "status": 500})[0] == 400
    with pytest.raises(BadRequest):
        emulator.deliver_mms(1, SENDER, [("text/plain", "a.txt", b"x")])
    assert emulator.mmsc_url is None


def test_run_emulator_with_an_mmsc_port_lists_it_in_mmsc_json(tmp_path) -> None:
    with socket.socket() as probe:  # a free port to ask for by number
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emulator = run_emulator(1, 0, tmp_path, mmsc_port=port, urc_interval=None)
    try:
        listed = json.loads((tmp_path / "mmsc.json").read_text())
        assert listed["url"] == emulator.mmsc_url == f"http://127.0.0.1:{port}/mms"
        assert listed["proxy"] == f"127.0.0.1:{port}"
        assert listed["operators"]["26003"] == "http://mmsc.orange.pl/mms"
        assert emulator.mmsc_port == port
        assert call(emulator, "GET", "/mmsc") == (200, listed)
    finally:
        emulator.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
