"""The webhook body (DESIGN §4.4): JSON and XML, valid whatever a sender typed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.db.models import Attachment, Message
from appliance.delivery.payload import (
    ATTACHMENT_FIELDS,
    JSON_CONTENT_TYPE,
    MESSAGE_FIELDS,
    XML_CONTENT_TYPE,
    event_for,
    webhook_body,
)
from appliance.representation import message_json

XSD = Path(__file__).resolve().parents[2] / "docs" / "webhook.xsd"
NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
BASE_URL = "http://appliance.local:8080/"

# What a phone, a broken gateway or a prankster can put into a text.
HOSTILE = [
    "]]>", "<![CDATA[x]]>", "<message>", "&amp;", "&", "<", ">", "\"'", "&#0;", "&lt;",
    "<!DOCTYPE m [<!ENTITY x 'y'>]>", "<?xml version='1.0'?>",
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\ufffe", "\uffff",
    "\ud800", "\udfff", "\r", "\r\n", "\n", "\t", " ", "\u2028", "\u2029", "\ufeff",
    "😀", "👩‍👩‍👧", "🇵🇱", "\U0010ffff",
    "שלום", "مرحبا", "\u202e", "\u200f", "zażółć gęślą jaźń", "Ελληνικά", "漢字",
]
XML_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def sms(**fields) -> dict:
    message = {
        "id": 17, "received_at": "2026-11-25T13:45:47Z", "access_number": "+48580462081",
        "sender": "+48601234567", "text": "PIZZA 2x margherita na 19:00", "kind": "sms", "subject": None,
        "keyword": "PIZZA", "account": 3, "attachments": [], "status": "routed", "error": None,
        "parts_total": 1, "parts_received": 1, "smsc_time": "2026-11-25T14:45:46+01:00",
        "iccid": "8948062191294405133", "payload": "2x margherita na 19:00", "route_reason": "keyword",
    }
    message.update(fields)
    return message


def attachment(id: int, **fields) -> dict:
    url = f"{BASE_URL}api/v1/attachments/{id}"
    item = {"id": id, "content_type": "image/jpeg", "name": f"photo{id}.jpg", "size": 48213, "url": url,
            "thumbnail_url": f"{url}/thumbnail", "sha256": "ab" * 32}
    item.update(fields)
    return item


def mms(**fields) -> dict:
    defaults = {"kind": "mms", "subject": "Holiday", "text": "see photos", "attachments": [
        attachment(41), attachment(42, content_type="text/plain", name="note.txt", thumbnail_url=None)]}
    return sms(**{**defaults, **fields})


def xml_of(message: dict, delivery_id: int = 9) -> bytes:
    body, content_type = webhook_body(delivery_id, message, "xml")
    assert content_type == XML_CONTENT_TYPE
    return body


def xml_safe(text: str) -> str:
    return XML_FORBIDDEN.sub("\ufffd", text)


# --- events and formats --------------------------------------------------------------------------

def test_an_sms_is_the_event_sms_received_and_an_mms_the_event_mms_received():
    assert event_for(sms()) == "sms:received"
    assert event_for(mms()) == "mms:received"


def test_a_message_of_unknown_kind_has_no_event():
    with pytest.raises(ValueError, match="kind 'fax'"):
        event_for(sms(kind="fax"))


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="'yaml'"):
        webhook_body(1, sms(), "yaml")


# --- JSON ----------------------------------------------------------------------------------------

def test_the_json_body_is_event_delivery_id_and_the_message_object_unchanged():
    body, content_type = webhook_body(9, mms(), "json")
    assert content_type == JSON_CONTENT_TYPE == "application/json; charset=utf-8"
    assert json.loads(body.decode("utf-8")) == {"event": "mms:received", "id": 9, "message": mms()}


def test_json_carries_text_as_utf8_and_control_characters_as_escapes():
    text = "zażółć 😀 \x00\x1b ]]> \r\n"
    body, _ = webhook_body(1, sms(text=text), "json")
    assert "zażółć 😀".encode() in body
    assert b"\x00" not in body and b"\x1b" not in body
    assert json.loads(body)["message"]["text"] == text


def test_a_lone_surrogate_becomes_the_replacement_character_in_json():
    body, _ = webhook_body(1, sms(text="a\ud800b"), "json")
    assert json.loads(body)["message"]["text"] == "a\ufffdb"


# --- XML -----------------------------------------------------------------------------------------

def test_the_xml_body_has_event_id_and_message_one_element_each(schema):
    body = xml_of(sms(), delivery_id=9)
    schema.validate(body.decode("utf-8"))
    root = SafeET.fromstring(body)
    assert root.tag == "webhook"
    assert [child.tag for child in root] == ["event", "id", "message"]
    assert root.findtext("event") == "sms:received"
    assert root.findtext("id") == "9"
    message = root.find("message")
    assert [child.tag for child in message] == list(MESSAGE_FIELDS)
    assert message.findtext("text") == "PIZZA 2x margherita na 19:00"
    assert message.findtext("account") == "3"


def test_the_xml_body_declares_utf8():
    assert xml_of(sms()).startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_an_mms_is_one_body_with_every_attachment_as_an_element_carrying_its_absolute_url(schema):
    body = xml_of(mms())
    schema.validate(body.decode("utf-8"))
    attachments = SafeET.fromstring(body).findall("message/attachments/attachment")
    assert [a.findtext("url") for a in attachments] == [
        "http://appliance.local:8080/api/v1/attachments/41", "http://appliance.local:8080/api/v1/attachments/42"]
    assert [child.tag for child in attachments[0]] == list(ATTACHMENT_FIELDS)
    assert SafeET.fromstring(body).findtext("event") == "mms:received"


def test_a_null_is_an_empty_element_with_xsi_nil(schema):
    body = xml_of(mms(subject=None, keyword=None, account=None))
    schema.validate(body.decode("utf-8"))
    message = SafeET.fromstring(body).find("message")
    for name in ("subject", "keyword", "account", "error"):
        assert message.find(name).get(NIL) == "true"
        assert message.find(name).text is None
    assert message.find("attachments/attachment[2]/thumbnail_url").get(NIL) == "true"
    assert message.find("text").get(NIL) is None


def test_an_empty_text_is_not_a_null(schema):
    text = SafeET.fromstring(xml_of(sms(text=""))).find("message/text")
    assert text.get(NIL) is None and (text.text or "") == ""


def test_a_null_in_a_field_the_schema_requires_is_refused_by_the_schema(schema):
    # The schema says which fields can be null: a receiver may rely on a status being present.
    assert not schema.is_valid(xml_of(sms(status=None)).decode("utf-8"))


def test_forbidden_control_characters_become_the_replacement_character_in_xml(schema):
    body = xml_of(sms(text="a\x00b\x01c\x1bd\x7fe\ufffef\uffffg\ud800h"))
    schema.validate(body.decode("utf-8"))
    assert SafeET.fromstring(body).findtext("message/text") == "a\ufffdb\ufffdc\ufffdd\x7fe\ufffdf\ufffdg\ufffdh"


def test_carriage_returns_tabs_and_newlines_survive_xml_parsing():
    text = "line 1\r\nline 2\rline 3\n\tindented  twice  "
    assert SafeET.fromstring(xml_of(sms(text=text))).findtext("message/text") == text


def test_markup_in_a_text_stays_text(schema):
    text = "]]> <![CDATA[ <message>x</message> &amp; <!DOCTYPE m [<!ENTITY x 'y'>]> &x;"
    body = xml_of(sms(text=text, subject=text, sender="<b>&"))
    schema.validate(body.decode("utf-8"))
    assert b"]]>" not in body
    root = SafeET.fromstring(body)  # defusedxml: would refuse a DTD or an entity declaration
    assert root.findtext("message/text") == text
    assert root.findtext("message/sender") == "<b>&"


def test_emoji_and_right_to_left_text_arrive_unchanged_as_utf8():
    text = "שלום 👩‍👩‍👧 \u202eabc\u202c مرحبا 🇵🇱"
    body = xml_of(sms(text=text))
    assert text.encode("utf-8") in body
    assert SafeET.fromstring(body).findtext("message/text") == text


def test_a_huge_text_makes_a_valid_document(schema):
    text = ("ą😀]]>\x00<&\r\n" * 120_000)[:1_000_000]
    body = xml_of(sms(text=text))
    schema.validate(body.decode("utf-8"))
    assert SafeET.fromstring(body).findtext("message/text") == xml_safe(text)
    assert json.loads(webhook_body(1, sms(text=text), "json")[0])["message"]["text"] == text


def test_fields_added_to_the_message_later_still_validate(schema):
    message = {**sms(), "language": "pl", "spam_score": None, "labels": ["a", "b"]}
    message["attachments"] = [{**attachment(1), "width": 640}]
    body = xml_of(message)
    schema.validate(body.decode("utf-8"))
    root = SafeET.fromstring(body)
    assert root.findtext("message/language") == "pl"
    assert [item.text for item in root.findall("message/labels/item")] == ["a", "b"]
    assert list(root.find("message"))[len(MESSAGE_FIELDS)].tag == "language"


def test_a_message_lacking_a_field_cannot_become_xml():
    message = sms()
    del message["status"]
    with pytest.raises(ValueError, match="lacks status"):
        webhook_body(1, message, "xml")


def test_the_message_object_the_api_builds_is_what_the_schema_declares(schema):
    # Guards against drift: a field added to message_json must be declared in docs/webhook.xsd too.
    message = Message(id=5, received_at=datetime(2026, 11, 25, 13, 45, 47, tzinfo=UTC), iccid="8948",
                      sender="+48601234567", text="hi", kind="mms", subject=None, status="routed",
                      parts_total=1, parts_received=1, smsc_time=datetime(2026, 11, 25, 13, 45, 46, tzinfo=UTC),
                      smsc_tz_minutes=60, account_id=None, keyword=None, payload=None, route_reason=None)
    message.attachments = [Attachment(id=8, sequence=1, content_type="image/png", name="a.png", size=3,
                                      sha256="cd" * 32, thumbnail_sha256="ef" * 32)]
    document = message_json(message, msisdns={"8948": "+48580462081"}, base_url=BASE_URL)

    declared = [e.name for e in schema.types["Message"].content.iter_elements() if e.name]
    assert list(document) == declared == list(MESSAGE_FIELDS)
    declared = [e.name for e in schema.types["Attachment"].content.iter_elements() if e.name]
    assert list(document["attachments"][0]) == declared == list(ATTACHMENT_FIELDS)
    body = xml_of(document)
    schema.validate(body.decode("utf-8"))
    assert SafeET.fromstring(body).findtext("message/attachments/attachment/url") == \
        "http://appliance.local:8080/api/v1/attachments/8"


# --- any message at all ----------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(any_char, max_size=20)), max_size=12) \
    .map("".join)
maybe = st.none().__or__
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))


def _iso(moment: datetime, offset_minutes: int | None = None) -> str:
    zone = UTC if offset_minutes is None else timezone(timedelta(minutes=offset_minutes))
    return moment.astimezone(zone).replace(microsecond=0).isoformat().replace("+00:00", "Z")


attachments = st.builds(
    lambda id, content_type, name, size, thumbnail, sha: {
        "id": id, "content_type": content_type, "name": name, "size": size,
        "url": f"{BASE_URL}api/v1/attachments/{id}",
        "thumbnail_url": f"{BASE_URL}api/v1/attachments/{id}/thumbnail" if thumbnail else None,
        "sha256": sha},
    st.integers(1, 2**63 - 1), hostile_text, hostile_text, st.integers(0, 2**40), st.booleans(),
    st.text("0123456789abcdef", min_size=64, max_size=64))

messages = st.fixed_dictionaries({
    "id": st.integers(1, 2**63 - 1),
    "received_at": moments.map(_iso),
    "access_number": maybe(hostile_text),
    "sender": maybe(hostile_text),
    "text": maybe(hostile_text),
    "kind": st.sampled_from(["sms", "mms"]),
    "subject": maybe(hostile_text),
    "keyword": maybe(hostile_text),
    "account": maybe(st.integers(1, 2**63 - 1)),
    "attachments": st.lists(attachments, max_size=3),
    "status": st.one_of(st.sampled_from(["routed", "unmatched", "partial", "undecodable"]), hostile_text),
    "error": maybe(hostile_text),
    "parts_total": st.integers(1, 255),
    "parts_received": st.integers(1, 255),
    "smsc_time": maybe(st.builds(_iso, moments, st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15))),
    "iccid": st.text("0123456789", min_size=19, max_size=20),
    "payload": maybe(hostile_text),
    "route_reason": maybe(hostile_text),
})


def _expected_xml_value(value):
    return None if value is None else xml_safe(str(value))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, delivery_id=st.integers(1, 2**63 - 1))
def test_any_message_makes_a_well_formed_xml_body_that_validates_and_reads_back(schema, message, delivery_id):
    body = xml_of(message, delivery_id)
    body.decode("utf-8")  # strict: well-formed UTF-8
    schema.validate(body.decode("utf-8"))
    root = SafeET.fromstring(body)
    assert root.findtext("event") == event_for(message)
    assert root.findtext("id") == str(delivery_id)
    element = root.find("message")
    for name in MESSAGE_FIELDS:
        if name == "attachments":
            continue
        child = element.find(name)
        if message[name] is None:
            assert child.get(NIL) == "true"
        else:
            assert child.get(NIL) is None
            assert (child.text or "") == _expected_xml_value(message[name])
    found = element.findall("attachments/attachment")
    assert len(found) == len(message["attachments"])
    for got, sent in zip(found, message["attachments"], strict=True):
        assert {child.tag: child.text for child in got if child.get(NIL) is None} == {
            name: _expected_xml_value(value) or None for name, value in sent.items() if value is not None}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages, delivery_id=st.integers(1, 2**63 - 1))
def test_any_message_makes_a_valid_utf8_json_body_that_reads_back(message, delivery_id):
    body, _ = webhook_body(delivery_id, message, "json")
    document = json.loads(body.decode("utf-8"))
    assert document["event"] == event_for(message)
    assert document["id"] == delivery_id
    assert document["message"] == _without_lone_surrogates(message)


def _without_lone_surrogates(value):
    if isinstance(value, str):
        return re.sub("[\ud800-\udfff]", "\ufffd", value)
    if isinstance(value, dict):
        return {key: _without_lone_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value
