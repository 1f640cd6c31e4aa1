"""Settings → HTTPS: the certificate in use (its fingerprint, to check against the browser's), the
owner's own certificate uploaded, and the two switches: plain HTTP redirected to HTTPS, and HSTS.

Both switches are off on a new box and can be turned on only from a page loaded over HTTPS: the
admin then knows their browser reaches the HTTPS port before telling every browser to go there.

The redirect covers the panel, not the REST API: a token sent over plain HTTP has already crossed the
LAN in clear by the time a redirect could answer, and an integration following redirects would only
hide that from its developer. API clients use the ``https://`` address directly.

Describing, checking and installing a certificate need cryptography (about 8 MiB resident, for good): the
views have a child process do that work (appliance.https), so the daemon never loads it.
"""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField

from appliance.audit import record_request
from appliance.config import Settings
from appliance.https import (
    CertificateError,
    CertificateInfo,
    CertificateUnavailable,
    describe_certificate,
    install_certificate,
)
from appliance.panel_settings import effective_settings, save_https
from appliance.web import db_session
from appliance.web.settings import admin_only, bp, when

log = logging.getLogger(__name__)

# A year; browsers keep to HTTPS for this long after each visit.
HSTS_MAX_AGE = 365 * 24 * 3600
# PEM certificates with a chain, or a key: a few kilobytes. Anything larger is not one.
MAX_PEM_BYTES = 64 * 1024


class HttpsForm(FlaskForm):
    redirect = BooleanField(_l("Redirect plain HTTP to HTTPS"))
    hsts = BooleanField(_l("Send HSTS (Strict-Transport-Security)"))


class CertificateForm(FlaskForm):
    certificate = FileField(_l("Certificate (PEM, intermediate certificates after it)"),
                            validators=[FileRequired(_l("Choose the certificate file."))])
    key = FileField(_l("Private key (PEM, without a passphrase)"),
                    validators=[FileRequired(_l("Choose the key file."))])


def https_port() -> int | None:
    """The port the running appliance serves HTTPS on; None when this app is served over HTTP only."""
    return current_app.extensions.get("appliance.https_port")


def _in_force() -> Settings:
    return effective_settings(current_app.config["APPLIANCE_SETTINGS"], db_session())


def https_url(path: str) -> str | None:
    """``path`` on this box over HTTPS, by the host name the browser used; None without HTTPS."""
    port = https_port()
    if port is None:
        return None
    host = request.host
    if host.startswith("["):
        host = host[:host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return f"https://{host}{'' if port == 443 else f':{port}'}{path}"


@bp.before_app_request
def _redirect_to_https() -> BaseResponse | None:
    if request.is_secure or (request.endpoint or "").startswith("api.") or https_port() is None:
        return None
    if not _in_force().https_redirect:
        return None
    # 307: the method and body are kept, and nothing is cached, so turning the switch off takes effect.
    return redirect(https_url(request.full_path if request.query_string else request.path) or "/", 307)


@bp.after_app_request
def _strict_transport_security(response: BaseResponse) -> BaseResponse:
    # RFC 6797 §7.2: only over a secure transport; a browser ignores it over plain HTTP anyway.
    if request.is_secure and _in_force().https_hsts:
        response.headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}"
    return response


@bp.route("/https", methods=["GET", "POST"])
@admin_only
def https() -> str | BaseResponse | tuple[str, int]:
    settings = current_app.config["APPLIANCE_SETTINGS"]
    in_force = _in_force()
    form = HttpsForm(data={"redirect": in_force.https_redirect, "hsts": in_force.https_hsts})
    error = None
    if form.validate_on_submit():
        turning_on = (form.redirect.data and not in_force.https_redirect) or (form.hsts.data and not in_force.https_hsts)
        if turning_on and not request.is_secure:
            error = _("Open this page over HTTPS first (%(url)s): then you know your browser reaches it.",
                      url=https_url(url_for("settings.https")) or _("no HTTPS server runs"))
        else:
            session = db_session()
            changed = save_https(session, settings, bool(form.redirect.data), bool(form.hsts.data))
            if changed:
                record_request(session, "https.settings", details=changed)
            session.commit()
            log.info("%s set HTTPS redirect %s, HSTS %s", current_user.email, form.redirect.data, form.hsts.data)
            flash(_("The HTTPS settings were saved."), "success")
            return redirect(url_for("settings.https"), 303)
    status = 400 if form.is_submitted() else 200
    return _render(form, CertificateForm(formdata=None), error), status


@bp.post("/https/certificate")
@admin_only
def https_certificate() -> str | BaseResponse | tuple[str, int]:
    """The owner's own certificate: checked, stored in the data directory, served from the next connection."""
    upload = CertificateForm()
    if not upload.validate_on_submit():
        return _render(_switches(), upload, None), 400
    certificate_pem = upload.certificate.data.read(MAX_PEM_BYTES + 1)
    key_pem = upload.key.data.read(MAX_PEM_BYTES + 1)
    data_dir = current_app.config["APPLIANCE_SETTINGS"].data_dir
    try:
        if len(certificate_pem) > MAX_PEM_BYTES or len(key_pem) > MAX_PEM_BYTES:
            raise CertificateError(f"a PEM certificate or key is a few kilobytes, not more than {MAX_PEM_BYTES // 1024} KB")
        info = install_certificate(data_dir, certificate_pem, key_pem)
    except CertificateError as exc:
        log.warning("%s uploaded an HTTPS certificate that was refused: %s", current_user.email, exc)
        return _render(_switches(), upload, str(exc), upload_failed=True), 400
    except CertificateUnavailable as exc:
        log.error("%s uploaded an HTTPS certificate: %s", current_user.email, exc)
        return _render(_switches(), upload, None, upload_unchecked=True), 500
    session = db_session()
    record_request(session, "https.certificate", target=info.subject,
                   details={"fingerprint": info.fingerprint, "names": list(info.names),
                            "not_after": info.not_after.isoformat()})
    session.commit()
    reload = current_app.extensions.get("appliance.reload_certificate")
    if reload is not None:
        reload()
        flash(_("The certificate was saved and is served from now on."), "success")
    else:
        flash(_("The certificate was saved; it is served from the next start of the appliance."), "success")
    log.info("%s uploaded an HTTPS certificate for %s, SHA-256 %s", current_user.email, info.subject,
             info.fingerprint)
    return redirect(url_for("settings.https"), 303)


def _switches() -> HttpsForm:
    in_force = _in_force()
    return HttpsForm(formdata=None, data={"redirect": in_force.https_redirect, "hsts": in_force.https_hsts})


def _render(form: HttpsForm, upload: CertificateForm, error: str | None, upload_failed: bool = False,
            upload_unchecked: bool = False) -> str:
    info: CertificateInfo | None = None
    unreadable = False
    try:
        info = describe_certificate(current_app.config["APPLIANCE_SETTINGS"].data_dir)
    except CertificateUnavailable as exc:
        log.error("Settings → HTTPS cannot show the certificate in use: %s", exc)
        unreadable = True
    return render_template("settings/https.html", form=form, upload=upload, error=error, info=info,
                           unreadable=unreadable, upload_failed=upload_failed, upload_unchecked=upload_unchecked,
                           https_url=https_url("/"), secure=request.is_secure,
                           not_after=when(info.not_after) if info else None)
