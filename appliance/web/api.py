"""REST API v1 (DESIGN §4.3): JSON in and out, ``Authorization: Bearer <token>`` on every call.

Every error is ``{"error": {"code", "message"}}`` with the matching HTTP status, including routing
errors (unknown path, wrong method), bodies too large and server errors anywhere under ``/api/``.

Who may do what is :mod:`appliance.web.access`'s rule, the panel's: an admin token everything; an
account's token reads and changes its own account's rows only (another account's row answers 404, as
if it did not exist; creating one for another account 403); a token of neither reads everything and
changes nothing (403). Binding SIMs (creating and deleting access numbers), accounts themselves and the
box's hardware issues are the admin's. Shared access numbers are visible to every account (their
keywords are reserved on them), changed by the admin only.

Lists are pages in id order: ``?after_id=&limit=`` → ``{"items": [...], "next_after_id"}``
(:func:`paginated`), ``next_after_id`` null on the last page.
"""

from __future__ import annotations

import hmac
import logging
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from werkzeug.exceptions import BadRequest, HTTPException

from appliance.attachments import AttachmentStore
from appliance.codecs.media_types import OCTET_STREAM, is_active_content
from appliance.db.models import AccessNumber, Attachment, ForwardTarget, Keyword, Message, Modem, OutboundSms
from appliance.modem.outbound import OutboundError, enqueue_sms
from appliance.representation import (
    device_issue_json,
    message_json,
    modem_json,
    msisdns_by_iccid,
    outbound_json,
)
from appliance.rules import normalise
from appliance.web import db_session
from appliance.web.access import Principal, current_principal
from appliance.web.tokens import find_token

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The largest INTEGER of PostgreSQL: no id or count is larger, and a larger one in a query would fail
# there rather than find nothing.
MAX_INTEGER = 2**31 - 1
# A JSON body is a few KB; a contact list to import may be a large spreadsheet's CSV.
MAX_BODY_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
_UPLOADS = ("api.api_config.import_contacts",)
# last_used_at is for spotting stale tokens, not auditing: one write a minute per token spares the
# SD card a synchronous commit on every API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response | HTTPException:
    # Registered app-wide because a path that matches no route never reaches the blueprint.
    if not request.path.startswith("/api/"):
        return _panel_error(exc)
    status = exc.code or 500
    code = _ERROR_CODES.get(status, "internal_error" if status >= 500 else "http_error")
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # e.g. 405's Allow
    return error_response(status, code, exc.description or exc.name, headers)


def _panel_error(exc: HTTPException) -> Response | HTTPException:
    """The panel's own page for a refusal or a missing page; redirects and the like pass through."""
    if exc.code not in (400, 403, 404, 405, 413):
        return exc
    response = current_app.make_response(render_template("error.html", error=exc))
    response.status_code = exc.code
    return response


# Attachment links in forwards carry their target's download token instead of an API token.
_DOWNLOADS = ("api.get_attachment", "api.get_attachment_thumbnail")
# Read without a token: the API's description is no secret.
PUBLIC_ENDPOINTS = ("api.api_openapi.openapi_document",)


def _authenticate_download(attachment_id: int, token: str) -> None:
    """A forward target's token opens the attachments of its own account's messages, nothing else.

    Tokens are stored sealed (appliance.db.sealed), so they cannot be looked up: the token is compared
    with those of the attachment's account's targets, a handful."""
    session = db_session()
    attachment = session.get(Attachment, attachment_id)
    message = session.get(Message, attachment.message_id) if attachment is not None else None
    candidates = session.scalars(select(ForwardTarget).where(ForwardTarget.account_id == message.account_id)) \
        if message is not None and message.account_id is not None else []
    target = next((t for t in candidates if isinstance(t.download_token, str)
                   and hmac.compare_digest(t.download_token.encode(), token.encode())), None)
    if target is None or message is None:
        raise ApiError(401, "invalid_token", "the download token does not open this attachment",
                       {"WWW-Authenticate": 'Bearer realm="appliance", error="invalid_token"'})
    g.principal = Principal(is_admin=False, account_id=target.account_id,
                            label=f"download token of forward target {target.id}")


def _check_url() -> None:
    """No NUL anywhere in the path or the query, no id beyond any id in the path: PostgreSQL would
    refuse the query rather than find nothing. (Not a route converter's maximum: Werkzeug answers 405
    when one method's rule refuses the value and another method's rule has the same path.)"""
    if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        raise ApiError(400, "invalid_parameter", "the URL contains a NUL character (%00)")
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and value > MAX_INTEGER:
            raise ApiError(404, "not_found", f"no row has the id {value} ({name})")


@bp.before_request
def _authenticate() -> None:
    request.max_content_length = MAX_UPLOAD_BYTES if request.endpoint in _UPLOADS else MAX_BODY_BYTES
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    _check_url()
    if request.endpoint in _DOWNLOADS and request.args.get("token") and "Authorization" not in request.headers:
        _authenticate_download(int((request.view_args or {})["attachment_id"]), request.args["token"])
        return
    # RFC 6750 §3: a request without credentials gets a bare challenge, a bad token gets
    # error="invalid_token" so a client knows to stop retrying with it.
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(401, "unauthorized", "send an API token as 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": 'Bearer realm="appliance"'})
    session = db_session()
    token = find_token(session, secret)
    if token is None:
        raise ApiError(401, "invalid_token", "the API token is unknown or has been revoked",
                       {"WWW-Authenticate": 'Bearer realm="appliance", error="invalid_token"'})
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    g.api_token = token
    g.principal = Principal(is_admin=token.is_admin, account_id=token.account_id, label=f"token {token.name!r}",
                            token_id=token.id)


@bp.get("/messages")
def list_messages() -> Response:
    """Messages in id order after the cursor ``after_id``; ``next_after_id`` is null on the last page."""
    query = (select(Message).where(current_principal().visible(Message.account_id))
             .options(selectinload(Message.attachments)))
    access_number = _number_param("access_number")
    if access_number is not None:
        # The SIM an access number is bound to; a SIM not bound yet answers to its own number.
        query = query.where(Message.iccid.in_(
            select(AccessNumber.iccid).where(AccessNumber.number == access_number)
            .union(select(Modem.iccid).where(Modem.msisdn == access_number))))
    keyword = request.args.get("keyword", "").strip()
    if keyword:
        # The keyword as configured, compared the way routing compares (case, diacritics folded).
        wanted = normalise(keyword)
        ids = [k.id for k in db_session().scalars(select(Keyword)) if normalise(k.keyword) == wanted]
        query = query.where(Message.keyword_id.in_(ids))
    messages, next_after_id = paginated(query, Message.id)
    msisdns = msisdns_by_iccid(db_session(), (m.iccid for m in messages))
    return page_response([message_json(m, msisdns=msisdns, base_url=request.host_url) for m in messages],
                         next_after_id)


@bp.get("/messages/<int:message_id>")
def get_message(message_id: int) -> Response:
    return jsonify(message_json(visible_message(message_id), base_url=request.host_url))


def visible_message(message_id: int) -> Message:
    """The message, or 404 when there is none or it is another account's."""
    message = db_session().get(Message, message_id)
    if message is None or not current_principal().sees(message.account_id):
        raise ApiError(404, "not_found", f"no message with id {message_id}")
    return message


@bp.get("/modems")
def list_modems() -> Response:
    """Every SIM's modem the appliance has seen, with its last known state; an account's token sees
    the modems of the access numbers it sees (its own and the shared ones)."""
    session, principal = db_session(), current_principal()
    numbers = select(AccessNumber).where(visible_access_numbers(principal))
    query = select(Modem)
    if not (principal.is_admin or principal.read_only):
        query = query.where(Modem.iccid.in_(numbers.with_only_columns(AccessNumber.iccid)))
    modems, next_after_id = paginated(query, Modem.id)
    bound = {a.iccid: a for a in session.scalars(numbers.where(AccessNumber.iccid.in_([m.iccid for m in modems])))}
    return page_response([modem_json(m, bound.get(m.iccid)) for m in modems], next_after_id)


@bp.get("/modem-issues")
def list_modem_issues() -> Response:
    """USB devices that are plugged in but are no working modem (mass storage, HiLink, ModemManager).

    Not a page: a handful of devices plugged in now, with no ids. The box's hardware is the admin's
    concern, so an account's token is refused."""
    principal = current_principal()
    if not (principal.is_admin or principal.read_only):
        raise ApiError(403, "forbidden", "the USB devices plugged into the appliance are for admin tokens "
                                         "(and read-only ones) to see")
    return jsonify([device_issue_json(issue) for issue in current_app.extensions["appliance.device_issues"]()])


@bp.post("/sms")
def send_sms() -> tuple[Response, int]:
    """Queue a text through the SIM of ``access_number`` (default: the SIM seen ready most recently;
    for an account's token, of its own numbers)."""
    principal = require_writer()
    body = _json_body()
    for field in ("to", "text"):
        if not isinstance(body.get(field, ""), str):
            raise ApiError(400, "invalid_parameter", f"{field}: must be a string")
    session = db_session()
    iccid = _sim_for(session, body.get("access_number"), principal)
    # The account the text speaks for: the token's, else the owner of the number it goes out from.
    account_id = principal.only_account or session.scalar(select(AccessNumber.account_id)
                                                          .where(AccessNumber.iccid == iccid))
    try:
        outbound = enqueue_sms(session, iccid, body.get("to") or "", body.get("text") or "", account_id=account_id)
    except OutboundError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    session.commit()
    wake_sim = current_app.extensions.get("appliance.wake_sim")
    if wake_sim is not None:
        wake_sim(iccid)
    numbers = msisdns_by_iccid(session, [iccid])
    return jsonify(outbound_json(outbound, numbers.get(iccid))), 201


@bp.get("/sms/<int:sms_id>")
def get_sms(sms_id: int) -> Response:
    """An outbound text; an account's token sees those spoken for its account or sent through its own
    numbers' SIMs."""
    session, principal = db_session(), current_principal()
    outbound = session.get(OutboundSms, sms_id)
    if outbound is None or not (principal.sees(outbound.account_id) or outbound.iccid in _own_sims(session, principal)):
        raise ApiError(404, "not_found", f"no outbound SMS with id {sms_id}")
    return jsonify(outbound_json(outbound, msisdns_by_iccid(session, [outbound.iccid]).get(outbound.iccid)))


@bp.get("/attachments/<int:attachment_id>")
def get_attachment(attachment_id: int) -> Response:
    """The bytes of one MMS part, always as a download (never rendered by the browser)."""
    return attachment_response(_visible_attachment(attachment_id))


@bp.get("/attachments/<int:attachment_id>/thumbnail")
def get_attachment_thumbnail(attachment_id: int) -> Response:
    """A JPEG of at most 320 px a side, for images that decoded; 404 for everything else."""
    attachment = _visible_attachment(attachment_id)
    if attachment.thumbnail_sha256 is None:
        raise ApiError(404, "not_found", f"attachment {attachment_id} ({attachment.content_type}) has no thumbnail")
    return thumbnail_response(attachment)


def _visible_attachment(attachment_id: int) -> Attachment:
    session = db_session()
    attachment = session.get(Attachment, attachment_id)
    message = session.get(Message, attachment.message_id) if attachment is not None else None
    if message is None or not current_principal().sees(message.account_id):
        raise ApiError(404, "not_found", f"no attachment with id {attachment_id}")
    return attachment


def attachment_store() -> AttachmentStore:
    """The app's attachment store (``app.extensions["appliance.attachments"]``), made on first use."""
    store = current_app.extensions.get("appliance.attachments")
    if store is None:
        store = AttachmentStore(current_app.config["APPLIANCE_SETTINGS"].data_dir)
        current_app.extensions["appliance.attachments"] = store
    return store


class AttachmentFileMissing(ApiError):
    def __init__(self, attachment: Attachment, sha256: str):
        super().__init__(500, "attachment_file_missing",
                         f"attachment {attachment.id}: its file (sha256 {sha256}) is missing from the "
                         "data directory; restore the data directory's attachments folder from a backup")


def attachment_response(attachment: Attachment) -> Response:
    """The download of an attachment, shared by the API and the panel.

    Issue 4: active content (SVG, HTML, XML, script …) is never served inline. Every attachment is
    ``Content-Disposition: attachment``; anything not known to be passive is also sent as
    application/octet-stream, with ``nosniff`` so no browser guesses it back into HTML, and a CSP
    sandbox in case one renders it anyway.
    """
    data = _read_stored(attachment, attachment.sha256)
    if is_active_content(attachment.content_type):
        mimetype = OCTET_STREAM
    elif attachment.content_type.startswith("text/") and attachment.charset:
        mimetype = f"{attachment.content_type}; charset={_token(attachment.charset)}"
    else:
        mimetype = attachment.content_type
    response = _immutable_response(data, mimetype, attachment.sha256)
    response.headers["Content-Disposition"] = content_disposition(attachment.name)
    return response


def thumbnail_response(attachment: Attachment) -> Response:
    """Our own JPEG thumbnail of an image attachment (the caller checks there is one)."""
    assert attachment.thumbnail_sha256 is not None
    data = _read_stored(attachment, attachment.thumbnail_sha256)
    return _immutable_response(data, "image/jpeg", attachment.thumbnail_sha256)


def content_disposition(name: str) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` (RFC 6266 §4.3, RFC 5987 §3.2).

    ``filename`` is an ASCII stand-in for old clients ("Zdjęcie.jpg" → "Zdjecie.jpg"); ``filename*``
    carries the real name, percent-encoded as UTF-8.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_"
                       for ch in decomposed if unicodedata.category(ch) != "Mn")  # "ę" → "e", "ł" → "_"
    fallback = fallback.strip() or "attachment"
    # RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _read_stored(attachment: Attachment, sha256: str) -> bytes:
    try:
        return attachment_store().read(sha256)
    except FileNotFoundError:
        log.error("attachment %s of message %s: file %s is missing", attachment.id, attachment.message_id,
                  attachment_store().path(sha256))
        raise AttachmentFileMissing(attachment, sha256) from None


def _immutable_response(data: bytes, mimetype: str, sha256: str) -> Response:
    # MMS parts are at most a few hundred KB (MMSC limits): read whole rather than streamed, so no
    # file stays open after the response.
    response = Response(data, content_type=mimetype)  # as given: no charset added
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.set_etag(sha256)  # the bytes behind an id never change
    return response.make_conditional(request)


def _token(value: str) -> str:
    return "".join(ch for ch in value if ch.isascii() and (ch.isalnum() or ch in "-_.:")) or "utf-8"


# --- who may ---------------------------------------------------------------------------------------

def _require_admin() -> None:
    """For what only the admin does: binding SIMs, accounts, the box's hardware."""
    if not current_principal().is_admin:
        raise ApiError(403, "forbidden", "this needs an admin token (appliance token create NAME --admin)")


def require_writer() -> Principal:
    """The principal of a change: 403 for a read-only token, before anything else is looked at."""
    principal = current_principal()
    if principal.read_only:
        raise ApiError(403, "forbidden", "this token only reads; changes need an admin token or an account's "
                                         "token (appliance token create NAME --admin or --account ID)")
    return principal


def require_change(account_id: int | None) -> None:
    """403 unless the principal may create, change or delete a row of ``account_id``."""
    principal = require_writer()
    if not principal.may_change(account_id):
        owner = f"account {account_id}" if account_id is not None else "no account (the admin's)"
        raise ApiError(403, "forbidden", f"this token changes only account {principal.account_id}'s rows, "
                                         f"and this one is {owner}'s")


def visible_access_numbers(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause keeping the access numbers the principal sees: shared numbers are everyone's to
    see (accounts reserve keywords on them), dedicated ones their owner's."""
    return or_(AccessNumber.kind == "shared", principal.visible(AccessNumber.account_id))


def sees_access_number(principal: Principal, number: AccessNumber) -> bool:
    return number.kind == "shared" or principal.sees(number.account_id)


def _own_sims(session: Session, principal: Principal) -> list[str]:
    """The ICCIDs of the account's own access numbers: the SIMs its texts go out through."""
    return list(session.scalars(select(AccessNumber.iccid).where(AccessNumber.account_id == principal.account_id)))


# --- request and response shapes ------------------------------------------------------------------

def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(400, "invalid_body", "send a JSON object with Content-Type: application/json")
    try:
        body = request.get_json()
        _check_text(body, "body")
    except BadRequest:  # what does not parse (a body too large is 413, raised as it is)
        raise ApiError(400, "invalid_body", "the body is not valid JSON") from None
    except RecursionError:
        raise ApiError(400, "invalid_body", "the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _check_text(value: Any, where: str) -> None:
    """No NUL and no lone surrogate (\\ud800) in any string of a body: neither can be stored."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{key}" if where == "body" else f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}[{index}]")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ApiError(400, "invalid_field", f"{where}: must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "invalid_field", f"{where}: contains a lone UTF-16 surrogate") from None


def _sim_for(session: Session, access_number: object, principal: Principal) -> str:
    """The SIM a text goes out through. An admin may use any SIM, also one no access number is bound
    to yet; an account's token only its own numbers' SIMs."""
    if access_number is not None:
        number = str(access_number).strip()
        row = session.scalar(select(AccessNumber).where(AccessNumber.number == number))
        if not principal.is_admin:
            if row is None or not sees_access_number(principal, row):
                raise ApiError(400, "invalid_parameter", f"no SIM has the access number {number}")
            require_change(row.account_id)
            return row.iccid
        iccid = row.iccid if row is not None else session.scalar(select(Modem.iccid).where(Modem.msisdn == number))
        if iccid is None:
            raise ApiError(400, "invalid_parameter", f"no SIM has the access number {number}")
        return iccid
    query = select(Modem.iccid).where(Modem.state == "ready").order_by(Modem.last_seen_at.desc()).limit(1)
    if not principal.is_admin:
        query = query.where(Modem.iccid.in_(_own_sims(session, principal)))
    iccid = session.scalar(query)
    if iccid is None:
        raise ApiError(409, "no_modem", "no modem is ready to send; see GET /api/v1/modems")
    return iccid


def _int_param(name: str, *, default: int, minimum: int, maximum: int = MAX_INTEGER) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _number_param(name: str) -> str | None:
    raw = request.args.get(name, "")
    # An unencoded "+" in a query string arrives as a space: "?access_number=+4479..." means "+4479...".
    if raw.startswith(" ") and raw.strip().isdecimal():
        raw = "+" + raw.strip()
    return raw.strip() or None


def paginated(query: Select[Any], id_column: InstrumentedAttribute[int]) -> tuple[list[Any], int | None]:
    """One page of ``query``'s rows in id order after ``?after_id=``, ``?limit=`` (default 100, at
    most 1000) of them, and the ``next_after_id`` to ask for the next page with (None: no more)."""
    after_id = _int_param("after_id", default=0, minimum=0)
    limit = _int_param("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    rows = list(db_session().scalars(query.where(id_column > after_id).order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def page_response(items: list[dict[str, Any]], next_after_id: int | None) -> Response:
    return jsonify({"items": items, "next_after_id": next_after_id})
