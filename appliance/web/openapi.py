"""``GET /api/v1/openapi.json``: the REST API v1 described as an OpenAPI 3.1 document, without a token.

Written here by hand, next to the code it describes, from a few building blocks (an object schema, a
page of items, a CRUD resource), rather than derived from the views: what a field means and which
errors a call can answer are things only a person can say. Two tests keep it true:
``tests/web/test_openapi.py`` fails when a route under ``/api/v1`` is missing here, and the
schemathesis run (``tests/web/test_api_schema.py``) when an answer does not match what is written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from appliance import __version__
from appliance.retention import MAX_RETENTION_DAYS
from appliance.web import api
from appliance.web.api import DEFAULT_LIMIT, MAX_INTEGER, MAX_LIMIT

bp = Blueprint("api_openapi", __name__)
api.bp.register_blueprint(bp)

Schema = dict[str, Any]


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(document(request.host_url))


# --- building blocks -----------------------------------------------------------------------------

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object whose properties are all present (answers always carry every field), but ``optional``."""
    return {"type": "object", "properties": properties, "required": [k for k in properties if k not in optional]}


def body_of(properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    """A request body: only ``required`` must be sent; fields not described are ignored."""
    return {"type": "object", "properties": properties, "required": list(required)}


def array(items: Schema, **limits: int) -> Schema:
    return {"type": "array", "items": items, **limits}


def page(item: str) -> Schema:
    return obj({"items": array(ref(item)), "next_after_id": nullable(ID)})


STRING: Schema = {"type": "string"}
TEXT: Schema = {"type": "string", "minLength": 1}
INTEGER: Schema = {"type": "integer"}
COUNT: Schema = {"type": "integer", "minimum": 0}
BOOLEAN: Schema = {"type": "boolean"}
NUMBER: Schema = {"type": "number"}
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER}
TIME: Schema = {"type": "string", "format": "date-time"}
DAY: Schema = {"type": "string", "format": "date"}
# The days statistics are asked for: from 1900 to 8999 (appliance.web.api_stats).
DAY_IN: Schema = {**DAY, "pattern": "^(19[0-9]{2}|[2-8][0-9]{3})-"}
URL: Schema = {"type": "string", "format": "uri"}
# Times in requests: ISO 8601, one without an offset is UTC (more lenient than date-time).
TIME_IN: Schema = {"type": ["string", "null"], "minLength": 1,
                   "description": "ISO 8601, e.g. 2026-05-01T12:00:00Z; without an offset, UTC"}


def text_in(max_length: int, *, null: bool = False) -> Schema:
    """A text field of a request: trimmed by the server, at most ``max_length`` characters after that."""
    schema: Schema = {"type": ["string", "null"] if null else "string", "maxLength": max_length}
    if not null:
        schema["pattern"] = r"\S"  # not blank
    return schema


def account_in(required: bool) -> Schema:
    description = ("the account's id; an account's token may only name its own account and may leave it out "
                   "for its own")
    return {**(ID if required else nullable(ID)), "description": description}


# --- parameters ----------------------------------------------------------------------------------

def query(name: str, schema: Schema, description: str) -> Schema:
    """An optional query parameter; sent empty (``?limit=``), it counts as not sent."""
    return {"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema,
            "description": description}


def path_id(name: str, what: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": ID, "description": f"the {what}'s id"}


PAGE_PARAMETERS = [
    query("after_id", {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
          "only rows with a larger id: the next_after_id of the page before (0 or absent: from the start)"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, f"rows per page (default {DEFAULT_LIMIT})"),
]
ACCOUNT_FILTER = query("account", ID, "only rows of this account")
SENDER = {"name": "sender", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
          "description": "the sender's number as the messages show it (+48600100200), URL-encoded"}


# --- operations ----------------------------------------------------------------------------------

ERRORS = {
    400: "a body, parameter or field is wrong; the message names it",
    401: "no token, or an unknown or revoked one",
    403: "this token may not do this (read-only, another account's, or the admin's)",
    404: "no such row, or one of an account this token does not see",
    409: "a conflict: taken, still in use, or not possible now; the message says what",
    413: "the body is too large",
    500: "the appliance failed; the message says what to do",
}


def operation(summary: str, *, response: Schema | None = None, status: int = 200, errors: tuple[int, ...] = (),
              parameters: list[Schema] | None = None, body: Schema | None = None, description: str = "",
              content_type: str = "application/json", tag: str) -> Schema:
    """One operation; every one may answer 400 (a parameter, even an unknown one with a NUL) and 401."""
    responses: dict[str, Any] = {}
    if response is None:
        responses[str(status)] = {"description": summary}
    else:
        responses[str(status)] = {"description": summary, "content": {content_type: {"schema": response}}}
    codes = {400, 401, *errors} | ({413} if body is not None else set())
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}
    result: Schema = {"summary": summary, "tags": [tag], "parameters": parameters or [], "responses": responses}
    if description:
        result["description"] = description
    if body is not None:
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return result


def crud(tag: str, what: str, schema: str, create: Schema, update: Schema, *, list_parameters: list[Schema],
         write_errors: tuple[int, ...] = (403, 404, 409), description: str = "") -> tuple[Schema, Schema]:
    """The collection (list, create) and the item (get, put, patch, delete) of a resource."""
    collection = {
        "get": operation(f"List {what}s", response=page(schema), parameters=list_parameters + PAGE_PARAMETERS,
                         tag=tag, description=description),
        "post": operation(f"Create a {what}", response=ref(schema), status=201, body=create, errors=write_errors,
                          tag=tag),
    }
    item_id = [path_id("ident", what)]
    item = {
        "get": operation(f"Get a {what}", response=ref(schema), parameters=item_id, errors=(404,), tag=tag),
        "put": operation(f"Change a {what} (the fields sent)", response=ref(schema), parameters=item_id, body=update,
                         errors=(403, 404, 409), tag=tag),
        "patch": operation(f"Change a {what} (the fields sent)", response=ref(schema), parameters=item_id,
                           body=update, errors=(403, 404, 409), tag=tag),
        "delete": operation(f"Delete a {what}", status=204, parameters=item_id, errors=(403, 404, 409), tag=tag),
    }
    return collection, item


# --- schemas of answers --------------------------------------------------------------------------

ACTION_TYPES = ["join_group", "leave_groups", "autoreply", "poll_vote", "contest_entry", "forward"]


def _schemas() -> dict[str, Schema]:
    outbound_part = obj({"sequence": INTEGER, "status": STRING, "message_reference": nullable(INTEGER),
                         "report_status": nullable(INTEGER)})
    return {
        "Error": obj({"error": obj({"code": STRING, "message": STRING})}),
        "Attachment": obj({"id": ID, "content_type": STRING, "name": STRING, "size": COUNT, "url": URL,
                           "thumbnail_url": nullable(URL), "sha256": STRING}),
        "Message": obj({
            "id": ID, "received_at": TIME, "access_number": nullable(STRING), "sender": nullable(STRING),
            "text": nullable(STRING), "kind": {"type": "string", "enum": ["sms", "mms"]}, "subject": nullable(STRING),
            "keyword": nullable(STRING), "account": nullable(ID), "attachments": array(ref("Attachment")),
            "status": {"type": "string", "description": "routed, unmatched, partial or undecodable; an MMS also "
                                                        "fetching, expired or failed"},
            "error": nullable(STRING), "parts_total": INTEGER, "parts_received": INTEGER, "smsc_time": nullable(TIME),
            "iccid": STRING, "payload": nullable(STRING), "route_reason": nullable(STRING)}),
        "Modem": obj({
            "id": ID, "iccid": STRING, "imsi": nullable(STRING), "imei": nullable(STRING), "msisdn": nullable(STRING),
            "manufacturer": nullable(STRING), "model": nullable(STRING), "revision": nullable(STRING),
            "operator": nullable(STRING), "port": nullable(STRING), "state": STRING, "state_detail": nullable(STRING),
            "signal_dbm": nullable(INTEGER), "registration": nullable(STRING), "storage_used": nullable(INTEGER),
            "storage_total": nullable(INTEGER), "last_seen_at": nullable(TIME), "access_number": nullable(STRING),
            "assigned": BOOLEAN}),
        "DeviceIssue": obj({"kind": STRING, "usb_port": STRING, "usb_id": STRING, "what": STRING, "remedy": STRING}),
        "OutboundSms": obj({
            "id": ID, "status": {"type": "string", "enum": ["queued", "sending", "sent", "delivered", "failed"]},
            "to": STRING, "text": STRING, "access_number": nullable(STRING), "iccid": STRING, "attempts": COUNT,
            "last_error": nullable(STRING), "created_at": TIME, "sent_at": nullable(TIME),
            "finished_at": nullable(TIME), "parts": array(outbound_part)}),
        "Account": obj({"id": ID, "name": STRING, "opt_out_words": array(STRING),
                        "retention_days": nullable({"type": "integer", "minimum": 1}), "created_at": TIME}),
        "AccessNumber": obj({
            "id": ID, "number": STRING, "iccid": STRING, "kind": {"type": "string", "enum": ["shared", "dedicated"]},
            "account": nullable(ID), "mms_enabled": BOOLEAN, "mmsc_url": nullable(STRING),
            "mms_proxy": nullable(STRING), "mms_apn": nullable(STRING), "mms_apn_user": nullable(STRING),
            "mms_apn_password_set": BOOLEAN, "unmatched_reply": nullable(STRING)}),
        "Action": {"type": "object", "required": ["type"], "description": "join_group {group}, leave_groups, "
                   "autoreply {text}, poll_vote {poll}, contest_entry {contest}, forward {target}",
                   "properties": {"type": {"type": "string", "enum": ACTION_TYPES}, "group": ID, "poll": ID,
                                  "contest": ID, "target": ID, "text": STRING}},
        "Keyword": obj({
            "id": ID, "access_number": ID, "account": nullable(ID), "keyword": STRING,
            "mode": {"type": "string", "enum": ["exact", "base", "phrase"]}, "typo_tolerant": BOOLEAN,
            "actions": array(ref("Action")), "number": nullable(STRING)}),
        "Group": obj({"id": ID, "account": ID, "name": STRING, "members": COUNT}),
        "Contact": obj({"id": ID, "account": ID, "msisdn": STRING, "name": nullable(STRING), "groups": array(ID),
                        "opted_out_at": nullable(TIME), "created_at": TIME}),
        "ContactImport": obj({"imported": COUNT, "updated": COUNT, "unchanged": COUNT,
                              "skipped": array(obj({"line": INTEGER, "reason": STRING})), "delimiter": STRING}),
        "Autoresponder": obj({"id": ID, "account": ID, "access_number": nullable(ID), "keyword": nullable(ID),
                              "text": STRING, "enabled": BOOLEAN, "max_per_sender": INTEGER,
                              "window_seconds": INTEGER}),
        "Poll": obj({"id": ID, "account": ID, "question": STRING,
                     "options": array(obj({"code": STRING, "label": nullable(STRING)})),
                     "policy": {"type": "string", "enum": ["keep_first", "keep_last"]}, "opens_at": nullable(TIME),
                     "closes_at": nullable(TIME), "confirmation": nullable(STRING), "closed_reply": nullable(STRING)}),
        "PollResults": obj({"options": array(obj({"code": STRING, "label": nullable(STRING), "votes": COUNT})),
                            "voters": COUNT}),
        "Contest": obj({"id": ID, "account": ID, "answer": nullable(STRING), "opens_at": nullable(TIME),
                        "closes_at": nullable(TIME), "entries_per_number": INTEGER, "name": nullable(STRING)}),
        "ContestEntry": obj({"id": ID, "msisdn": STRING, "answer": nullable(STRING), "correct": BOOLEAN,
                             "entered_at": TIME, "message": ID}),
        "ContestDraw": obj({"id": ID, "contest": ID, "seed": STRING, "method": STRING, "winners": array(STRING),
                            "drawn_at": TIME}),
        "ForwardTarget": obj({
            "id": ID, "account": ID, "name": STRING, "kind": {"type": "string", "enum": ["url", "email", "sms"]},
            "address": STRING, "url": nullable(STRING), "email": nullable(STRING), "phone": nullable(STRING),
            "enabled": BOOLEAN, "access_number": nullable(ID), "keyword": nullable(ID),
            "actions_only": BOOLEAN, "format": {"type": "string", "enum": ["json", "xml"]}, "secret": nullable(STRING),
            "ca_pem_set": BOOLEAN, "timeout_seconds": NUMBER, "subject_template": nullable(STRING),
            "body_template": nullable(STRING), "attach_limit_bytes": COUNT, "give_up_hours": NUMBER,
            "created_at": TIME}),
        "TargetTest": obj({"ok": BOOLEAN, "status_code": nullable(INTEGER), "error": nullable(STRING),
                           "excerpt": nullable(STRING), "duration_ms": NUMBER}),
        "Delivery": obj({
            "id": ID, "target": ID, "message": ID, "idempotency_key": STRING,
            "status": {"type": "string", "enum": ["pending", "delivered", "dead"]}, "attempts": COUNT,
            "next_attempt_at": nullable(TIME), "give_up_at": TIME, "last_status_code": nullable(INTEGER),
            "last_error": nullable(STRING), "created_at": TIME, "delivered_at": nullable(TIME),
            "log": array(obj({"attempt": INTEGER, "started_at": TIME, "duration_ms": NUMBER, "ok": BOOLEAN,
                              "status_code": nullable(INTEGER), "error": nullable(STRING),
                              "excerpt": nullable(STRING)}))}, optional=("log",)),
        "GroupSend": obj({
            "id": ID, "account": ID, "group": ID, "access_number": ID, "text": STRING, "scheduled_at": TIME,
            "status": STRING, "created_at": TIME, "finished_at": nullable(TIME),
            "sms": obj({"alphabet": STRING, "units": COUNT, "parts": COUNT}),
            "progress": obj({name: COUNT for name in ("recipients", "pending", "sent", "delivered", "failed",
                                                      "cancelled", "opted_out")}),
            "cancellable": BOOLEAN}),
        "Token": obj({"id": ID, "name": STRING, "scope": {"type": "string", "enum": ["admin", "account", "read_only"]},
                      "account": nullable(ID), "user": nullable(ID), "created_at": TIME, "last_used_at": nullable(TIME),
                      "revoked_at": nullable(TIME), "token": STRING}, optional=("token",)),
        "AuditEntry": obj({
            "id": ID, "at": TIME, "actor": {**STRING, "description": 'who: "user ala@example.com", "token \'crm\'", '
                                                                     '"console", "system", "anonymous"'},
            "address": nullable(STRING), "action": {**STRING, "description": '"keyword.update", "login.failed" …'},
            "target": nullable(STRING),
            "details": {"type": ["object", "null"],
                        "description": "what changed: {field: [old, new]} for an update or a revocation, the "
                                       "values for a creation or a deletion; secrets and phone numbers never "
                                       "in clear"}}),
        "User": obj({"id": ID, "email": STRING, "admin": BOOLEAN, "account": nullable(ID), "created_at": TIME,
                     "last_login_at": nullable(TIME), "disabled_at": nullable(TIME)}),
        "ConversationSummary": obj({
            "sender": STRING, "received": COUNT, "sent": COUNT, "last_at": TIME,
            "last": obj({"direction": {"type": "string", "enum": ["in", "out"]}, "id": ID, "text": nullable(STRING),
                         "status": STRING})}),
        "ConversationEntry": {"anyOf": [
            {"allOf": [ref("Message"), obj({"direction": {"const": "in"}, "at": TIME})]},
            {"allOf": [ref("OutboundSms"), obj({"direction": {"const": "out"}, "at": TIME})]}]},
        "Conversation": obj({
            "access_number": ID, "number": STRING, "sender": STRING, "items": array(ref("ConversationEntry")),
            "older": nullable(STRING), "reply_refused": nullable(obj({"code": STRING, "message": STRING}))}),
        "Statistics": obj({
            "from": DAY, "to": DAY, "timezone": STRING, "messages": COUNT, "unique_senders": COUNT,
            "opt_ins": COUNT, "opt_outs": COUNT,
            "days": array(obj({"day": DAY, "messages": COUNT, "unique_senders": COUNT, "opt_ins": COUNT,
                               "opt_outs": COUNT})),
            "polls": array(obj({"id": ID, "question": STRING, "voters": COUNT,
                                "options": array(obj({"code": STRING, "label": nullable(STRING), "votes": COUNT}))})),
            "contests": array(obj({"id": ID, "name": nullable(STRING), "entries": COUNT, "correct": COUNT,
                                   "unique_numbers": COUNT}))}),
    }


# --- request bodies ------------------------------------------------------------------------------

def _account_body(required: tuple[str, ...]) -> Schema:
    return body_of({"name": text_in(200), "opt_out_words": array(text_in(160), maxItems=20),
                    "retention_days": nullable({"type": "integer", "minimum": 1, "maximum": MAX_RETENTION_DAYS})},
                   required=required)


def _access_number_body(required: tuple[str, ...]) -> Schema:
    return body_of({
        "number": {"type": "string", "pattern": r"^\s*\+?[0-9][0-9\s()-]{2,}$", "maxLength": 32},
        "iccid": {"type": "string", "pattern": r"^\s*[0-9]{10,22}[Ff]?\s*$"},
        "kind": {"type": "string", "enum": ["shared", "dedicated"]},
        "account": account_in(False), "mms_enabled": BOOLEAN,
        "mmsc_url": text_in(500, null=True), "mms_proxy": text_in(200, null=True), "mms_apn": text_in(100, null=True),
        "mms_apn_user": text_in(100, null=True), "mms_apn_password": text_in(100, null=True),
        "unmatched_reply": {"type": ["string", "null"]}}, required=required)


def _keyword_body(required: tuple[str, ...]) -> Schema:
    return body_of({
        "access_number": {"anyOf": [ID, STRING], "description": "the access number's id or its number"},
        "account": account_in(False), "keyword": text_in(160),
        "mode": {"type": "string", "enum": ["exact", "base", "phrase"]}, "typo_tolerant": BOOLEAN,
        "actions": array(ref("Action"))}, required=required)


def _contact_body(required: tuple[str, ...]) -> Schema:
    return body_of({"account": account_in(True), "msisdn": text_in(40), "name": text_in(200, null=True),
                    "groups": array(ID), "opted_out_at": TIME_IN}, required=required)


def _autoresponder_body(required: tuple[str, ...]) -> Schema:
    return body_of({"account": account_in(True), "access_number": nullable({"anyOf": [ID, STRING]}),
                    "keyword": nullable(ID), "text": {"type": "string", "pattern": r"\S"}, "enabled": BOOLEAN,
                    "max_per_sender": {**ID}, "window_seconds": {**ID}}, required=required)


def _poll_body(required: tuple[str, ...]) -> Schema:
    return body_of({"account": account_in(True), "question": {"type": "string", "pattern": r"\S"},
                    "options": array(body_of({"code": text_in(32), "label": text_in(500, null=True)},
                                             required=("code",)), minItems=1),
                    "policy": {"type": "string", "enum": ["keep_first", "keep_last"]},
                    "confirmation": {"type": ["string", "null"]}, "closed_reply": {"type": ["string", "null"]},
                    "opens_at": TIME_IN, "closes_at": TIME_IN}, required=required)


def _contest_body(required: tuple[str, ...]) -> Schema:
    return body_of({"account": account_in(True), "name": text_in(200, null=True), "answer": text_in(500, null=True),
                    "entries_per_number": {**ID}, "opens_at": TIME_IN, "closes_at": TIME_IN}, required=required)


def _target_body(required: tuple[str, ...]) -> Schema:
    return body_of({
        "account": account_in(True), "kind": {"type": "string", "enum": ["url", "email", "sms"]},
        "address": {"type": "string", "maxLength": 2000, "pattern": r"\S",
                    "description": "an http(s) URL, an e-mail address or a phone number, by kind"},
        "url": {"type": ["string", "null"], "description": "the address of a url target, if address is not sent"},
        "email": {"type": ["string", "null"], "description": "the address of an email target, if address is not sent"},
        "phone": {"type": ["string", "null"], "description": "the address of an sms target, if address is not sent"},
        "name": text_in(200), "enabled": BOOLEAN, "actions_only": BOOLEAN,
        "format": {"type": "string", "enum": ["json", "xml"]}, "access_number": nullable(ID), "keyword": nullable(ID),
        "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 120},
        "give_up_hours": {"type": "number", "minimum": 0.01, "maximum": 720},
        "attach_limit_bytes": {"type": "number", "minimum": 0, "maximum": 50_000_000},
        "subject_template": {"type": ["string", "null"], "maxLength": 100_000},
        "body_template": {"type": ["string", "null"], "maxLength": 100_000},
        "ca_pem": {"type": ["string", "null"], "maxLength": 100_000, "description": "PEM certificates"},
        "secret": {"type": "string", "minLength": 16, "maxLength": 100}}, required=required)


# --- the document --------------------------------------------------------------------------------

DESCRIPTION = """\
The appliance's REST API: received SMS and MMS, outbound texts, and everything the panel configures.

Send `Authorization: Bearer <token>` (`appliance token create NAME [--admin | --account ID]`). An
admin token may do everything; an account's token reads and changes only its own account's rows
(another account's row is 404; naming another account in a body 403; `account` defaults to its own);
a token of neither reads everything and changes nothing (403). Creating accounts and access numbers,
binding numbers to SIMs and the box's USB device issues are the admin's. Shared access numbers are
visible to every account and changed by the admin.

Every error is `{"error": {"code", "message"}}`. Lists are pages in id order: `?after_id=&limit=` →
`{"items": [...], "next_after_id"}`, `next_after_id` null on the last page. Fields not described in a
request body are ignored, so an object read may be sent back as it is.
"""


def document(base_url: str) -> Schema:
    """The whole OpenAPI document; ``base_url`` (``http://appliance.local:8080/``) is the server."""
    t = "Messages"
    paths: dict[str, Schema] = {
        "/messages": {"get": operation(
            "List received messages", response=page("Message"), tag=t, parameters=[
                query("access_number", STRING, "only messages to this number (+48500100200)"),
                query("keyword", STRING, "only messages that matched this keyword"), *PAGE_PARAMETERS])},
        "/messages/{message_id}": {"get": operation(
            "Get a message", response=ref("Message"), parameters=[path_id("message_id", "message")], errors=(404,),
            tag=t)},
        "/messages/{message_id}/deliveries": {"get": operation(
            "List a message's forwards", response=array(ref("Delivery")), errors=(404,), tag="Forwarding",
            parameters=[path_id("message_id", "message")], description="A plain list (one per target), not a page.")},
    }
    attachment = [path_id("attachment_id", "attachment"),
                  query("token", STRING, "a forward target's download token, instead of an API token")]
    download_security = [{"bearer": []}, {"downloadToken": []}]
    paths["/attachments/{attachment_id}"] = {"get": {**operation(
        "Download an MMS part", response={"type": "string", "format": "binary"}, content_type="*/*",
        parameters=attachment, errors=(404, 500), tag=t,
        description="Always as an attachment; active content (HTML, SVG, script) as application/octet-stream."),
        "security": download_security}}
    paths["/attachments/{attachment_id}/thumbnail"] = {"get": {**operation(
        "Download a picture's JPEG thumbnail", response={"type": "string", "format": "binary"},
        content_type="image/jpeg", parameters=attachment, errors=(404, 500), tag=t), "security": download_security}}

    t = "Modems and texts"
    paths["/modems"] = {"get": operation("List the modems (by SIM) and their state", response=page("Modem"),
                                         parameters=PAGE_PARAMETERS, tag=t)}
    paths["/modem-issues"] = {"get": operation(
        "List plugged USB devices that are no working modem", response=array(ref("DeviceIssue")), errors=(403,),
        tag=t, description="A plain list of what is plugged in now; admin and read-only tokens.")}
    paths["/sms"] = {"post": operation(
        "Queue an SMS", response=ref("OutboundSms"), status=201, errors=(403, 409), tag=t,
        body=body_of({"to": STRING, "text": STRING, "access_number": STRING}, required=("to", "text")),
        description="Through the SIM of access_number (default: the SIM seen ready most recently; for an "
                    "account's token, of its own numbers). 409 no_modem when none is ready.")}
    paths["/sms/{sms_id}"] = {"get": operation("Follow a queued SMS", response=ref("OutboundSms"), errors=(404,),
                                               parameters=[path_id("sms_id", "outbound SMS")], tag=t)}

    t = "Configuration"
    collection, item = crud(t, "account", "Account", _account_body(("name",)), _account_body(()), list_parameters=[],
                            description="An account's token sees its own account only.")
    paths["/accounts"], paths["/accounts/{ident}"] = collection, item
    collection, item = crud(t, "access number", "AccessNumber", _access_number_body(("number", "iccid")),
                            _access_number_body(()), list_parameters=[ACCOUNT_FILTER])
    paths["/access-numbers"], paths["/access-numbers/{ident}"] = collection, item
    collection, item = crud(t, "keyword", "Keyword", _keyword_body(("access_number", "keyword")), _keyword_body(()),
                            list_parameters=[ACCOUNT_FILTER, query("access_number", STRING,
                                                                   "only keywords on this access number (id or number)")])
    paths["/keywords"], paths["/keywords/{ident}"] = collection, item
    group_body = body_of({"account": account_in(True), "name": text_in(200)}, required=("name",))
    collection, item = crud(t, "group", "Group", group_body, body_of({"name": text_in(200)}),
                            list_parameters=[ACCOUNT_FILTER])
    paths["/groups"], paths["/groups/{ident}"] = collection, item
    paths["/groups/{ident}/members"] = {"get": operation(
        "List a group's members", response=page("Contact"), parameters=[path_id("ident", "group"), *PAGE_PARAMETERS],
        errors=(404,), tag=t)}
    collection, item = crud(t, "contact", "Contact", _contact_body(("msisdn",)), _contact_body(()),
                            list_parameters=[ACCOUNT_FILTER])
    paths["/contacts"], paths["/contacts/{ident}"] = collection, item
    account_param = query("account", ID, "the account (an account's token may leave it out for its own)")
    paths["/contacts.csv"] = {"get": operation(
        "Export an account's contacts as CSV", response={"type": "string"}, content_type="text/csv", tag=t,
        parameters=[account_param], errors=(404,))}
    import_operation = operation(
        "Import contacts from CSV", response=ref("ContactImport"), errors=(403, 404, 409, 413), tag=t,
        parameters=[account_param, query("group", ID, "also add every imported contact to this group")],
        description="A header row with a msisdn (number, phone, numer, telefon) column and optionally name; "
                    "comma or semicolon separated; UTF-8 or Windows-1250; all rows in one transaction.")
    import_operation["requestBody"] = {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                   "format": "binary"}}}}}}
    paths["/contacts/import"] = {"post": import_operation}
    collection, item = crud(t, "autoresponder", "Autoresponder", _autoresponder_body(("text",)),
                            _autoresponder_body(()), list_parameters=[ACCOUNT_FILTER])
    paths["/autoresponders"], paths["/autoresponders/{ident}"] = collection, item

    t = "Campaigns"
    collection, item = crud(t, "poll", "Poll", _poll_body(("question", "options")), _poll_body(()),
                            list_parameters=[ACCOUNT_FILTER])
    paths["/polls"], paths["/polls/{ident}"] = collection, item
    paths["/polls/{ident}/results"] = {"get": operation(
        "Get a poll's results", response=ref("PollResults"), parameters=[path_id("ident", "poll")], errors=(404,),
        tag=t)}
    collection, item = crud(t, "contest", "Contest", _contest_body(()), _contest_body(()),
                            list_parameters=[ACCOUNT_FILTER])
    paths["/contests"], paths["/contests/{ident}"] = collection, item
    contest_id = [path_id("ident", "contest")]
    paths["/contests/{ident}/entries"] = {"get": operation(
        "List a contest's entries", response=page("ContestEntry"), parameters=contest_id + PAGE_PARAMETERS,
        errors=(404,), tag=t)}
    paths["/contests/{ident}/draws"] = {"get": operation(
        "List a contest's draws (the audit trail)", response=page("ContestDraw"),
        parameters=contest_id + PAGE_PARAMETERS, errors=(404,), tag=t)}
    paths["/contests/{ident}/draw"] = {"post": operation(
        "Draw winners", response=ref("ContestDraw"), status=201, parameters=contest_id, errors=(403, 404, 409), tag=t,
        body=body_of({"winners": ID, "method": {"type": "string", "enum": ["random", "first_correct"]},
                      "seed": text_in(64)}, required=("winners",)),
        description="The same seed over the same entries draws the same winners. 409 no_entries.")}

    t = "Forwarding"
    collection, item = crud(t, "forward target", "ForwardTarget", _target_body(("kind", "address")), _target_body(()),
                            list_parameters=[ACCOUNT_FILTER])
    for method in ("get", "put", "patch", "delete"):
        item[method]["parameters"] = [path_id("target_id", "forward target")]
    item["put"]["requestBody"]["content"]["application/json"]["schema"] = _target_body(("kind", "address"))
    item["put"]["summary"] = "Replace a forward target"
    paths["/forward-targets"], paths["/forward-targets/{target_id}"] = collection, item
    paths["/forward-targets/{target_id}/test"] = {"post": operation(
        "Send a test message to a target now", response=ref("TargetTest"), errors=(403, 404, 409), tag=t,
        parameters=[path_id("target_id", "forward target")])}
    paths["/deliveries"] = {"get": operation("List deliveries", response=page("Delivery"), tag=t, parameters=[
        query("message", ID, "only forwards of this message"), query("target", ID, "only forwards to this target"),
        query("status", {"type": "string", "enum": ["pending", "delivered", "dead"]}, "only in this state"),
        *PAGE_PARAMETERS])}
    delivery_id = [path_id("delivery_id", "delivery")]
    paths["/deliveries/{delivery_id}"] = {"get": operation("Get a delivery with every attempt", response=ref("Delivery"),
                                                           parameters=delivery_id, errors=(404,), tag=t)}
    paths["/deliveries/{delivery_id}/retry"] = {"post": operation(
        "Try a pending or dead delivery again now", response=ref("Delivery"), parameters=delivery_id,
        errors=(403, 404, 409), tag=t)}

    t = "Group sends"
    send_id = [path_id("send_id", "group send")]
    paths["/group-sends"] = {
        "get": operation(
            "List group sends, newest first", tag=t,
            response=obj({"items": array(ref("GroupSend")), "next_before_id": nullable(ID)}),
            parameters=[query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "rows per page (default 50)"),
                        query("before_id", {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
                              "only sends with a smaller id: the next_before_id of the page before")],
            description="Newest first, so paged by before_id."),
        "post": operation(
            "Send a text to a group, now or later", response=ref("GroupSend"), status=201, errors=(403,), tag=t,
            body=body_of({"group": ID, "access_number": {"anyOf": [ID, STRING]}, "text": STRING,
                          "scheduled_at": TIME_IN}, required=("group", "access_number", "text"))),
    }
    paths["/group-sends/{send_id}"] = {"get": operation(
        "Get a group send with its progress", response=ref("GroupSend"), parameters=send_id, errors=(404,), tag=t)}
    paths["/group-sends/{send_id}/cancel"] = {"post": operation(
        "Cancel a group send", response=ref("GroupSend"), parameters=send_id, errors=(403, 404, 409), tag=t,
        description="A scheduled send never goes out; one under way stops the texts no modem has tried. "
                    "409 not_cancellable.")}

    t = "Tokens, users and audit log (admin)"
    password = {"type": "string", "minLength": 1}
    paths["/tokens"] = {
        "get": operation("List API tokens", response=page("Token"), parameters=PAGE_PARAMETERS, errors=(403,), tag=t),
        "post": operation(
            "Create an API token", response=ref("Token"), status=201, errors=(403,), tag=t,
            body=body_of({"name": text_in(120), "scope": {"type": "string", "enum": ["admin", "account", "read_only"]},
                          "account": nullable(ID)}, required=("name", "scope")),
            description="The answer carries the secret (token) this once only."),
    }
    paths["/tokens/{token_id}/revoke"] = {"post": operation(
        "Revoke an API token", response=ref("Token"), parameters=[path_id("token_id", "token")], errors=(403, 404),
        tag=t)}
    paths["/users"] = {
        "get": operation("List panel users", response=page("User"), parameters=PAGE_PARAMETERS, errors=(403,), tag=t),
        "post": operation(
            "Create a panel user", response=ref("User"), status=201, errors=(403, 409), tag=t,
            body=body_of({"email": STRING, "password": password, "admin": BOOLEAN, "account": nullable(ID)},
                         required=("email", "password"))),
    }
    user_id = [path_id("user_id", "user")]
    for action, summary in (("disable", "Disable a panel user"), ("enable", "Enable a panel user")):
        paths[f"/users/{{user_id}}/{action}"] = {"post": operation(
            summary, response=ref("User"), parameters=user_id, errors=(403, 404, 409), tag=t)}
    paths["/users/{user_id}/password"] = {"post": operation(
        "Set a panel user's password (signs them out everywhere)", response=ref("User"), parameters=user_id,
        errors=(403, 404), tag=t, body=body_of({"password": password}, required=("password",)))}

    paths["/audit"] = {"get": operation(
        "List the audit log", response=page("AuditEntry"), errors=(400, 403), tag=t, parameters=[
            query("action", STRING, "only this action (keyword.update, login.failed …)"),
            query("actor", STRING, "only actors containing this, in any case (ala@, console)"),
            query("from", DAY_IN, "first day, on the box's clock"), query("to", DAY_IN, "last day, inclusive"),
            *PAGE_PARAMETERS],
        description="Every change of the configuration, sign-in, failed sign-in, token, backup, export and "
                    "erasure, oldest first. Entries are never changed or deleted.")}

    t = "Personal data (admin)"
    number_body = body_of({"number": {"type": "string", "maxLength": 40}}, required=("number",))
    paths["/numbers/erase"] = {"post": operation(
        "Erase everything about a phone number", errors=(403, 409), tag=t, body=number_body,
        response=obj({"receipt": STRING, "erased": {"type": "object", "additionalProperties": COUNT}}),
        description="Messages from it, texts to it, attachments, contacts, votes, entries, forwards; statistics "
                    "keep their counts. The audit log keeps the receipt id and the counts, never the number. "
                    "409 refused: one of the box's own numbers, a forwarding target, or a text being sent to it.")}
    paths["/numbers/export"] = {"post": operation(
        "Export everything about a phone number", response={"type": "string", "format": "binary"},
        content_type="application/zip", errors=(403,), tag=t, body=number_body,
        description="A zip: data.json and attachments/. Recorded in the audit log (without the number).")}

    t = "Conversations"
    number_id = path_id("number_id", "access number")
    paths["/access-numbers/{number_id}/conversations"] = {"get": operation(
        "List an access number's conversations, most recent first",
        response=obj({"items": array(ref("ConversationSummary")), "next_offset": nullable(COUNT)}), tag=t,
        errors=(403, 404), parameters=[number_id, query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                                                         "rows per page (default 50)"),
                                       query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
                                             "the next_offset of the page before")],
        description="Ordered by last activity, so paged by offset. Of a shared number, an account's token sees "
                    "only its own account's messages and texts.")}
    paths["/access-numbers/{number_id}/conversations/{sender}"] = {
        "get": operation(
            "Read a conversation, newest page first", response=ref("Conversation"), errors=(403, 404), tag=t,
            parameters=[number_id, SENDER,
                        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "default 100"),
                        query("before", {"type": "string", "pattern": "^(in|out)-[0-9]{1,10}$"},
                              "the older of the page after (in-17, out-5)")]),
        "post": operation(
            "Reply to a sender", response=ref("ConversationEntry"), status=201, errors=(403, 404, 409), tag=t,
            parameters=[number_id, SENDER], body=body_of({"text": STRING}, required=("text",)),
            description="409 no_sim or opted_out, 404 not_found (never wrote), 400 not_sendable or invalid_text."),
    }

    t = "Statistics"
    range_parameters = [query("from", DAY_IN, "first local day (default: 30 days before to)"),
                        query("to", DAY_IN, "last local day (default: today, or 30 days after from)"),
                        query("tz", STRING, "IANA time zone of the days (default Europe/Warsaw)")]
    paths["/statistics/keywords/{keyword_id}"] = {"get": operation(
        "A keyword's statistics per day", errors=(404,), tag=t,
        response={"allOf": [ref("Statistics"), obj({"keyword": ID})]},
        parameters=[path_id("keyword_id", "keyword"), *range_parameters])}
    paths["/statistics/access-numbers/{access_number_id}"] = {"get": operation(
        "An access number's statistics per day", errors=(403, 404), tag=t,
        response={"allOf": [ref("Statistics"), obj({"access_number": ID})]},
        parameters=[path_id("access_number_id", "access number"), *range_parameters],
        description="A shared number's figures are every account's: for admin and read-only tokens.")}

    paths["/openapi.json"] = {"get": {"summary": "This document", "tags": ["API"], "security": [], "responses": {
        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}}

    responses = {f"Error{code}": {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
                 for code, text in ERRORS.items()}
    responses["Error401"]["headers"] = {"WWW-Authenticate": {"required": True, "schema": STRING,
                                                             "description": "Bearer realm=\"appliance\""}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "SMS/MMS appliance REST API", "version": f"1 ({__version__})", "description": DESCRIPTION},
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (apl_…)"},
                "downloadToken": {"type": "apiKey", "in": "query", "name": "token",
                                  "description": "a forward target's download token: opens its account's attachments"},
            },
        },
    }
