"""REST API v1, one phone number's personal data (admin token only; :mod:`appliance.erasure` says why).

    POST /api/v1/numbers/erase   {"number"} → {"receipt", "erased": {kind: count}}
    POST /api/v1/numbers/export  {"number"} → application/zip (data.json + attachments/)

The number travels in the body, never in the URL, so no access log or proxy keeps it. Both are
recorded in the audit log (``number.erase`` with its receipt id, ``number.export``), never with the
number. The panel's page calls the same two functions.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from appliance.erasure import (
    ErasureRefused,
    NumberForms,
    checkpoint,
    erase_number,
    export_number,
    number_forms,
)
from appliance.retention import Removed, delete_files
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import ApiError, _json_body, _require_admin, attachment_store
from appliance.web.api_config import normalise_msisdn

bp = Blueprint("api_personal_data", __name__)
api.bp.register_blueprint(bp)


def forms_of(raw: object) -> NumberForms:
    """The number as typed (``600 100 200``, ``+48 600 100 200`` …); 400 when it is none."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "invalid_field", "number: is required (+48600100200 or 600100200)")
    try:
        return number_forms(normalise_msisdn(raw))
    except ValueError as exc:
        raise ApiError(400, "invalid_field", f"number: {exc}") from exc


def erase(forms: NumberForms) -> tuple[str, Removed]:
    """Erase and commit; the files go after the commit. 409 when the erasure is refused."""
    session = db_session()
    try:
        receipt, removed = erase_number(session, forms, actor=current_principal().label,
                                        address=request.remote_addr)
    except ErasureRefused as refusal:
        session.rollback()
        raise ApiError(409, "refused", str(refusal)) from refusal
    session.commit()
    delete_files(current_app.extensions["appliance.sessions"], attachment_store(), removed)
    checkpoint(session)
    session.commit()
    return receipt, removed


def export(forms: NumberForms) -> bytes:
    session = db_session()
    archive = export_number(session, attachment_store(), forms, actor=current_principal().label,
                            address=request.remote_addr)
    session.commit()
    return archive


def zip_response(archive: bytes) -> Response:
    return Response(archive, mimetype="application/zip",
                    headers={"Content-Disposition": "attachment; filename=personal-data.zip",
                             "Cache-Control": "no-store"})


@bp.before_request
def _admins_only() -> None:
    _require_admin()


@bp.post("/numbers/erase")
def erase_route() -> Response:
    receipt, removed = erase(forms_of(_json_body().get("number")))
    return jsonify({"receipt": receipt, "erased": removed.summary()})


@bp.post("/numbers/export")
def export_route() -> Response:
    return zip_response(export(forms_of(_json_body().get("number"))))

