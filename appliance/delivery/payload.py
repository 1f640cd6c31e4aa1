"""The body of a webhook (DESIGN §4.4): ``{"event", "id", "message"}`` as JSON or as XML.

The message is the object of DESIGN §4.3 as :func:`appliance.representation.message_json` builds it,
attachment URLs already absolute. Both forms are UTF-8.

Text the network handed us can hold anything a phone can encode, so both serialisers make it safe:

- JSON carries every character unchanged (control characters as ``\\uXXXX`` escapes), except a lone
  surrogate, which UTF-8 cannot encode: it becomes U+FFFD.
- XML 1.0 cannot carry the C0 controls other than tab, LF and CR, lone surrogates, U+FFFE or U+FFFF
  at all, not even as character references (XML 1.0 §2.2): each becomes U+FFFD. A CR is written as
  ``&#13;`` because a parser would otherwise turn CR LF into LF (§2.11); ``>`` is escaped as well, so
  ``]]>`` in a text never reads as the end of a CDATA section. A null is an empty element with
  ``xsi:nil="true"``; every field is always present. ``docs/webhook.xsd`` describes the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"

XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"

# The order of the elements in XML, as docs/webhook.xsd declares them (the order of message_json).
MESSAGE_FIELDS = (
    "id", "received_at", "access_number", "sender", "text", "kind", "subject", "keyword", "account",
    "attachments", "status", "error", "parts_total", "parts_received", "smsc_time", "iccid", "payload",
    "route_reason",
)
ATTACHMENT_FIELDS = ("id", "content_type", "name", "size", "url", "thumbnail_url", "sha256")

_EVENTS = {"sms": "sms:received", "mms": "mms:received"}

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Everything XML 1.0 §2.2 `Char` excludes.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_XML_SPECIAL = re.compile("[&<>\r]")
# Names of fields added to the message object later are written as elements of the same name.
_ELEMENT_NAME = re.compile(r"(?!xml)[A-Za-z_][A-Za-z0-9_.-]*", re.IGNORECASE)


def event_for(message: Mapping[str, Any]) -> str:
    """``sms:received`` or ``mms:received``, by the message's ``kind``."""
    try:
        return _EVENTS[message["kind"]]
    except KeyError:
        raise ValueError(f"no webhook event for a message of kind {message.get('kind')!r}") from None


def webhook_body(delivery_id: int, message: Mapping[str, Any], fmt: str) -> tuple[bytes, str]:
    """The body of one delivery of ``message`` and its Content-Type; ``fmt`` is ``json`` or ``xml``."""
    event = event_for(message)
    if fmt == "json":
        return _json_body(event, delivery_id, message), JSON_CONTENT_TYPE
    if fmt == "xml":
        return _xml_body(event, delivery_id, message), XML_CONTENT_TYPE
    raise ValueError(f"unknown webhook format {fmt!r}: expected 'json' or 'xml'")


# --- JSON ----------------------------------------------------------------------------------------

def _json_body(event: str, delivery_id: int, message: Mapping[str, Any]) -> bytes:
    document = {"event": event, "id": delivery_id, "message": _without_lone_surrogates(message)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {key: _without_lone_surrogates(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_lone_surrogates(item) for item in value]
    return value


# --- XML -----------------------------------------------------------------------------------------

def xml_text(text: str) -> str:
    """``text`` as XML character data: forbidden characters as U+FFFD, markup and CR escaped."""
    text = _NOT_XML_CHAR.sub("\ufffd", text)
    return _XML_SPECIAL.sub(lambda match: _XML_ESCAPES[match.group()], text)


def _xml_body(event: str, delivery_id: int, message: Mapping[str, Any]) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<webhook xmlns:xsi="{XSI_NAMESPACE}">',
        _element("event", event),
        _element("id", delivery_id),
        "<message>",
    ]
    for name, value in _in_schema_order(message, MESSAGE_FIELDS, "message"):
        if name == "attachments":
            out.append("<attachments>")
            for attachment in value or ():
                out.append("<attachment>")
                out.extend(_element(field, item) for field, item in
                           _in_schema_order(attachment, ATTACHMENT_FIELDS, "attachment"))
                out.append("</attachment>")
            out.append("</attachments>")
        else:
            out.append(_element(name, value))
    out.append("</message></webhook>\n")
    return "".join(out).encode("utf-8")


def _in_schema_order(fields: Mapping[str, Any], declared: tuple[str, ...], what: str):
    """The declared fields in the XSD's order, then any field added since, in the mapping's order."""
    missing = [name for name in declared if name not in fields]
    if missing:
        raise ValueError(f"the {what} lacks {', '.join(missing)}: the XML form carries every field")
    yield from ((name, fields[name]) for name in declared)
    yield from ((name, value) for name, value in fields.items() if name not in declared)


def _element(name: str, value: Any) -> str:
    if not _ELEMENT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot be an XML element name")
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    if isinstance(value, Mapping):
        inner = "".join(_element(key, item) for key, item in value.items())
        return f"<{name}>{inner}</{name}>"
    if isinstance(value, list | tuple):
        return f"<{name}>{''.join(_element('item', item) for item in value)}</{name}>"
    return f"<{name}>{xml_text(str(value))}</{name}>"
