"""REST API v1 (DESIGN §4.3): JSON in and out, ``Authorization: Bearer <token>`` on every call.

Every error is ``{"error": {"code", "message"}}`` with the matching HTTP status, including routing
errors (unknown path, wrong method) anywhere under ``/api/``.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import HTTPException

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
from appliance.web.access import Principal
from appliance.web.tokens import find_token

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# last_used_at is for spotting stale tokens, not auditing: one write a minute per token spares the
# SD card a synchronous commit on every API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
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


def _authenticate_download(attachment_id: int, token: str) -> None:
    """A forward target's token opens the attachments of its own account's messages, nothing else."""
    session = db_session()
    target = session.scalar(select(ForwardTarget).where(ForwardTarget.download_token == token))
    attachment = session.get(Attachment, attachment_id)
    message = session.get(Message, attachment.message_id) if attachment is not None else None
    if target is None or message is None or message.account_id != target.account_id:
        raise ApiError(401, "invalid_token", "the download token does not open this attachment")


@bp.before_request
def _authenticate() -> None:
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
    after_id = _int_param("after_id", default=0, minimum=0)
    limit = _int_param("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    query = (select(Message).where(Message.id > after_id).order_by(Message.id).limit(limit + 1)
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
    session = db_session()
    messages = list(session.scalars(query))
    has_more = len(messages) > limit
    messages = messages[:limit]
    msisdns = msisdns_by_iccid(session, (m.iccid for m in messages))
    return jsonify({
        "items": [message_json(m, msisdns=msisdns, base_url=request.host_url) for m in messages],
        "next_after_id": messages[-1].id if has_more else None,
    })


@bp.get("/messages/<int:message_id>")
def get_message(message_id: int) -> Response:
    message = db_session().get(Message, message_id)
    if message is None:
        raise ApiError(404, "not_found", f"no message with id {message_id}")
    return jsonify(message_json(message, base_url=request.host_url))


@bp.get("/modems")
def list_modems() -> Response:
    """Every SIM's modem the appliance has seen, with its last known state (a list, like §4.2's)."""
    session = db_session()
    bound = {a.iccid: a for a in session.scalars(select(AccessNumber))}
    modems = session.scalars(select(Modem).order_by(Modem.id))
    return jsonify([modem_json(m, bound.get(m.iccid)) for m in modems])


@bp.get("/modem-issues")
def list_modem_issues() -> Response:
    """USB devices that are plugged in but are no working modem (mass storage, HiLink, ModemManager)."""
    return jsonify([device_issue_json(issue) for issue in current_app.extensions["appliance.device_issues"]()])


@bp.post("/sms")
def send_sms() -> tuple[Response, int]:
    """Queue a text through the SIM of ``access_number`` (default: the SIM seen ready most recently)."""
    _require_admin()
    body = _json_body()
    session = db_session()
    iccid = _sim_for(session, body.get("access_number"))
    try:
        outbound = enqueue_sms(session, iccid, str(body.get("to") or ""), body.get("text") or "")
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
    session = db_session()
    outbound = session.get(OutboundSms, sms_id)
    if outbound is None:
        raise ApiError(404, "not_found", f"no outbound SMS with id {sms_id}")
    return jsonify(outbound_json(outbound, msisdns_by_iccid(session, [outbound.iccid]).get(outbound.iccid)))


@bp.get("/attachments/<int:attachment_id>")
def get_attachment(attachment_id: int) -> Response:
    """The bytes of one MMS part, always as a download (never rendered by the browser)."""
    attachment = db_session().get(Attachment, attachment_id)
    if attachment is None:
        raise ApiError(404, "not_found", f"no attachment with id {attachment_id}")
    return attachment_response(attachment)


@bp.get("/attachments/<int:attachment_id>/thumbnail")
def get_attachment_thumbnail(attachment_id: int) -> Response:
    """A JPEG of at most 320 px a side, for images that decoded; 404 for everything else."""
    attachment = db_session().get(Attachment, attachment_id)
    if attachment is None:
        raise ApiError(404, "not_found", f"no attachment with id {attachment_id}")
    if attachment.thumbnail_sha256 is None:
        raise ApiError(404, "not_found", f"attachment {attachment_id} ({attachment.content_type}) has no thumbnail")
    return thumbnail_response(attachment)


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


def _require_admin() -> None:
    if not g.api_token.is_admin:
        raise ApiError(403, "forbidden", "this needs an admin token (appliance token create NAME --admin)")


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "send a JSON object with Content-Type: application/json")
    return body


def _sim_for(session: Session, access_number: object) -> str:
    if access_number is not None:
        number = str(access_number).strip()
        iccid = session.scalar(select(AccessNumber.iccid).where(AccessNumber.number == number))
        iccid = iccid or session.scalar(select(Modem.iccid).where(Modem.msisdn == number))
        if iccid is None:
            raise ApiError(400, "invalid_parameter", f"no SIM has the access number {number}")
        return iccid
    iccid = session.scalar(select(Modem.iccid).where(Modem.state == "ready")
                           .order_by(Modem.last_seen_at.desc()).limit(1))
    if iccid is None:
        raise ApiError(409, "no_modem", "no modem is ready to send; see GET /api/v1/modems")
    return iccid


def _int_param(name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ApiError(400, "invalid_parameter", f"{name} must be {bounds}, not {value}")
    return value


def _number_param(name: str) -> str | None:
    raw = request.args.get(name, "")
    # An unencoded "+" in a query string arrives as a space: "?access_number=+4479..." means "+4479...".
    if raw.startswith(" ") and raw.strip().isdigit():
        raw = "+" + raw.strip()
    return raw.strip() or None
