"""The panel's Settings: your own password, API tokens, and for admins the e-mail server, users and backups.

Every user sees "Your account" (change the own password, which needs the current one) and the API
tokens they may hold: an admin every token, an account's user only their account's. The e-mail
server, users, backup and restore are admins' only: anyone else gets 403.

A new token's secret is rendered into the answer to the form that made it, never into a redirect's
flash: the session cookie is signed, not encrypted, and would carry the secret around in clear.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange

from appliance.audit import record_request
from appliance.db.models import Account, ApiToken, User
from appliance.delivery.email import EmailError, SmtpSettings
from appliance.panel_settings import SettingError, SmtpChange, effective_settings, save_smtp, stored_values
from appliance.users import (
    MIN_PASSWORD_LENGTH,
    UserError,
    change_own_password,
    create_user,
    disable_user,
    enable_user,
    set_password,
)
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.auth import SignedInUser
from appliance.web.panel import utc_text
from appliance.web.tokens import TokenError, create_scoped_token, revoke_token, token_scope

log = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/settings")

# The test e-mail is sent while the browser waits: a dead server must not hold the page for long.
TEST_EMAIL_TIMEOUT_SECONDS = 15.0
SECURITY_CHOICES = [SelectChoice("none", _l("None (plain SMTP)")), SelectChoice("starttls", _l("STARTTLS")),
                    SelectChoice("ssl", _l("SSL/TLS"))]
SCOPE_LABELS = {"admin": _l("Admin"), "account": _l("Account"), "read_only": _l("Read-only")}

View = TypeVar("View", bound=Callable[..., Any])


def admin_only(view: View) -> View:
    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not current_principal().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def when(moment: datetime | None) -> dict[str, str] | None:
    """A moment for ``<time datetime=…>``; the page's script shows it in the browser's time zone."""
    return None if moment is None else {"iso": moment.isoformat(), "text": utc_text(moment)}


# --- your account -------------------------------------------------------------------------------

class OwnPasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new_password", _l("The passwords differ."))])


@bp.route("", methods=["GET", "POST"])
def index() -> str | BaseResponse | tuple[str, int]:
    """Your account: who you are signed in as, and a new password."""
    session = db_session()
    user = session.get(User, current_user.user_id)
    assert user is not None  # the sign-in check loaded it a moment ago
    form = OwnPasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            change_own_password(user, form.current_password.data or "", form.new_password.data or "")
        except UserError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            # The session id carries a fragment of the password hash: sign this browser in again with
            # the new one; every other browser is signed out.
            login_user(SignedInUser(user))
            log.info("user %s changed their password", user.email)
            flash(_("Your password was changed. Other browsers signed in as you were signed out."), "success")
            return redirect(url_for("settings.index"), 303)
    account = session.get(Account, user.account_id) if user.account_id is not None else None
    status = 400 if form.is_submitted() else 200
    return render_template("settings/account.html", form=form, error=error, user=user, account=account), status


# --- e-mail server ------------------------------------------------------------------------------

class SmtpForm(FlaskForm):
    host = StringField(_l("SMTP server"), validators=[Length(max=253)])
    port = IntegerField(_l("Port"), validators=[InputRequired(), NumberRange(1, 65535)])
    security = SelectField(_l("Security"), choices=SECURITY_CHOICES)
    user = StringField(_l("User name"), validators=[Length(max=200)])
    password = PasswordField(_l("Password"), validators=[Length(max=200)])
    clear_password = BooleanField(_l("Remove the stored password"))
    sender = StringField(_l("Sender address"), validators=[Length(max=300)])


class TestEmailForm(FlaskForm):
    recipient = EmailField(_l("Send a test e-mail to"), validators=[DataRequired(), Length(max=254)])


SMTP_FIELDS = {"smtp_host": "host", "smtp_port": "port", "smtp_security": "security", "smtp_user": "user",
               "smtp_password": "password", "smtp_sender": "sender"}


@bp.route("/smtp", methods=["GET", "POST"])
@admin_only
def smtp() -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    current = _smtp_in_force(session)
    form = SmtpForm(data={"host": current.host, "port": current.port, "security": current.security,
                          "user": current.user, "sender": current.sender})
    if form.validate_on_submit():
        password = "" if form.clear_password.data else (form.password.data or None)
        change = SmtpChange(host=form.host.data or "", port=int(form.port.data or 0), security=form.security.data,
                            user=form.user.data or "", sender=form.sender.data or "", password=password)
        try:
            save_smtp(session, change)
        except SettingError as exc:
            session.rollback()
            getattr(form, SMTP_FIELDS[exc.key]).errors.append(exc.message)
        else:
            session.commit()
            log.info("%s changed the SMTP settings: %s:%s (%s)", current_user.email, change.host, change.port,
                     change.security)
            flash(_("The e-mail server settings were saved; the next e-mail is sent with them."), "success")
            return redirect(url_for("settings.smtp"), 303)
    status = 400 if form.is_submitted() else 200
    return _render_smtp(session, form, TestEmailForm(formdata=None)), status


@bp.post("/smtp/test")
@admin_only
def smtp_test() -> str | tuple[str, int]:
    """Send one e-mail through the settings in force, and say what the server answered."""
    # Here, not at the top: smtplib and the email package's header modules (about 0.7 MiB) are loaded
    # only when they are used (docs/performance.md, "Memory").
    from appliance.delivery.email_sending import EmailSender, render_test_email

    session = db_session()
    smtp = dataclasses.replace(_smtp_in_force(session), timeout=TEST_EMAIL_TIMEOUT_SECONDS)
    test_form = TestEmailForm()
    if not test_form.validate_on_submit():
        return _render_smtp(session, _smtp_form(smtp), test_form), 400
    result: dict[str, Any]
    body = _("This is a test e-mail from the SMS reception box. If you can read it, forwarding by e-mail works."
             "\n\nServer: %(host)s, port %(port)s, security: %(security)s.", host=smtp.host, port=smtp.port,
             security=smtp.security)
    try:
        mail = render_test_email(smtp.sender, test_form.recipient.data or "",
                                 _("Test e-mail from the SMS reception box"), body)
        reply = EmailSender(smtp).send(mail)
    except EmailError as exc:
        result = {"ok": False, "text": exc.reason}
    else:
        result = {"ok": True, "text": reply}
    log.info("%s sent a test e-mail to %s: %s", current_user.email, test_form.recipient.data, result["text"])
    return _render_smtp(session, _smtp_form(smtp), test_form, result=result), 200


def _smtp_in_force(session: Session) -> SmtpSettings:
    return SmtpSettings.from_settings(effective_settings(current_app.config["APPLIANCE_SETTINGS"], session))


def _smtp_form(smtp: SmtpSettings) -> SmtpForm:
    return SmtpForm(formdata=None, data={"host": smtp.host, "port": smtp.port, "security": smtp.security,
                                         "user": smtp.user, "sender": smtp.sender})


def _render_smtp(session: Session, form: SmtpForm, test_form: TestEmailForm,
                 result: dict[str, Any] | None = None) -> str:
    stored = stored_values(session)
    return render_template("settings/smtp.html", form=form, test_form=test_form, result=result,
                           has_password=bool(_smtp_in_force(session).password),
                           from_panel=bool(stored))


# --- users --------------------------------------------------------------------------------------

class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))])


@bp.route("/users", methods=["GET", "POST"])
@admin_only
def users() -> str | BaseResponse | tuple[str, int]:
    session = db_session()
    form = NewUserForm()
    form.role.choices = _role_choices(session)
    error = None
    if form.validate_on_submit():
        admin, account_id = _parse_role(form.role.data)
        try:
            user = create_user(session, form.email.data or "", form.password.data or "", admin=admin,
                               account_id=account_id)
        except UserError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            log.info("%s created user %s", current_user.email, user.email)
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("settings.users"), 303)
    status = 400 if form.is_submitted() else 200
    return _render_users(session, form, error), status


@bp.post("/users/<int:user_id>/disable")
@admin_only
def disable(user_id: int) -> BaseResponse | tuple[str, int]:
    session = db_session()
    user = _user(session, user_id)
    try:
        disable_user(session, user, current_user.user_id)
    except UserError as exc:
        session.rollback()
        return _render_users(session, _new_user_form(session), str(exc)), 400
    session.commit()
    log.info("%s disabled user %s", current_user.email, user.email)
    flash(_("%(email)s can no longer sign in; their API tokens are refused.", email=user.email), "success")
    return redirect(url_for("settings.users"), 303)


@bp.post("/users/<int:user_id>/enable")
@admin_only
def enable(user_id: int) -> BaseResponse:
    session = db_session()
    user = _user(session, user_id)
    enable_user(user)
    session.commit()
    log.info("%s enabled user %s", current_user.email, user.email)
    flash(_("%(email)s can sign in again.", email=user.email), "success")
    return redirect(url_for("settings.users"), 303)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_only
def user_password(user_id: int) -> str | BaseResponse | tuple[str, int]:
    """An admin sets someone's new password (they forgot theirs); it signs them out everywhere."""
    session = db_session()
    user = _user(session, user_id)
    form = NewPasswordForm()
    error = None
    if user.id == current_user.user_id:
        error = _("Change your own password under Your account: it needs your current password.")
    elif form.validate_on_submit():
        try:
            set_password(user, form.password.data or "")
        except UserError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            log.info("%s set a new password for %s", current_user.email, user.email)
            flash(_("New password set for %(email)s; they were signed out everywhere.", email=user.email), "success")
            return redirect(url_for("settings.users"), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("settings/user_password.html", form=form, error=error, user=user), status


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _role_choices(session: Session) -> list[SelectChoice]:
    accounts = session.scalars(select(Account).order_by(Account.name)).all()
    return [SelectChoice("admin", _("Admin (every account)"))] + [
        SelectChoice(f"account:{a.id}", _("User of %(account)s", account=a.name)) for a in accounts]


def _parse_role(role: str) -> tuple[bool, int | None]:
    if role == "admin":
        return True, None
    return False, int(role.removeprefix("account:"))


def _new_user_form(session: Session) -> NewUserForm:
    form = NewUserForm(formdata=None)
    form.role.choices = _role_choices(session)
    return form


def _render_users(session: Session, form: NewUserForm, error: str | None) -> str:
    accounts = dict(session.execute(select(Account.id, Account.name)).all())
    rows = [{"user": u, "account": accounts.get(u.account_id) if u.account_id is not None else None,
             "created": when(u.created_at), "last_login": when(u.last_login_at), "disabled": when(u.disabled_at)}
            for u in session.scalars(select(User).order_by(User.email))]
    return render_template("settings/users.html", form=form, error=error, rows=rows,
                           me=current_user.user_id)


# --- API tokens ---------------------------------------------------------------------------------

class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)],
                       description=_l("What uses it, e.g. “shop website”."))
    scope = SelectField(_l("What it may do"))


@bp.route("/tokens", methods=["GET", "POST"])
def tokens() -> str | tuple[str, int] | BaseResponse:
    """Tokens the principal may see; a new token's secret is shown once, in the answer to this form."""
    session = db_session()
    principal = current_principal()
    form = _token_form(session)
    error = None
    if form.validate_on_submit():
        if principal.is_admin:
            scope, account_id = _parse_scope(form.scope.data or "")
        else:
            scope, account_id = "account", principal.account_id
        try:
            token, secret = create_scoped_token(session, form.name.data or "", scope, account_id,
                                                user_id=current_user.user_id)
        except TokenError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            log.info("%s created API token %r (%s)", current_user.email, token.name, scope)
            response = make_response(_render_tokens(session, _token_form(session, formdata=None), None,
                                                    created={"token": token, "secret": secret}))
            response.headers["Cache-Control"] = "no-store"
            return response
    status = 400 if form.is_submitted() else 200
    return _render_tokens(session, form, error), status


@bp.post("/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> BaseResponse:
    session = db_session()
    token = session.get(ApiToken, token_id)
    principal = current_principal()
    if token is None or not (principal.is_admin or (token.account_id is not None
                                                    and token.account_id == principal.account_id)):
        abort(404)
    revoke_token(token)
    session.commit()
    log.info("%s revoked API token %r", current_user.email, token.name)
    flash(_("Token %(name)s revoked: it is refused from now on.", name=token.name), "success")
    return redirect(url_for("settings.tokens"), 303)


def _token_form(session: Session, **kwargs: Any) -> NewTokenForm:
    """The form with the scopes this principal may give; an account's user has no choice to make."""
    form = NewTokenForm(**kwargs)
    if current_principal().is_admin:
        form.scope.choices = _scope_choices(session)
    else:
        del form.scope
    return form


def _scope_choices(session: Session) -> list[SelectChoice]:
    accounts = session.scalars(select(Account).order_by(Account.name)).all()
    return [SelectChoice("admin", _("Admin: reads and changes everything")),
            SelectChoice("read_only", _("Read-only: reads every account, changes nothing"))] + [
        SelectChoice(f"account:{a.id}", _("Account %(account)s: reads and changes only it", account=a.name))
        for a in accounts]


def _parse_scope(value: str) -> tuple[str, int | None]:
    if value.startswith("account:"):
        return "account", int(value.removeprefix("account:"))
    return value, None


def _render_tokens(session: Session, form: NewTokenForm, error: str | None,
                   created: dict[str, Any] | None = None) -> str:
    principal = current_principal()
    query = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    if not principal.is_admin:
        query = query.where(ApiToken.account_id == principal.account_id)
    tokens = session.scalars(query).all()
    accounts = dict(session.execute(select(Account.id, Account.name)).all())
    emails = dict(session.execute(select(User.id, User.email)).all())
    rows = [{"token": t, "scope": token_scope(t), "scope_label": SCOPE_LABELS[token_scope(t)],
             "account": accounts.get(t.account_id) if t.account_id is not None else None,
             "by": emails.get(t.user_id) if t.user_id is not None else None,
             "created": when(t.created_at), "last_used": when(t.last_used_at), "revoked": when(t.revoked_at)}
            for t in tokens]
    own_account = accounts.get(principal.account_id) if principal.account_id is not None else None
    return render_template("settings/tokens.html", form=form, error=error, rows=rows, created=created,
                           own_account=own_account)


# --- backup and restore -------------------------------------------------------------------------

class RestoreForm(FlaskForm):
    archive = FileField(_l("Backup file (.tar.gz)"), validators=[FileRequired(_l("Choose a backup file."))])
    confirm = BooleanField(_l("Replace every message, setting, user and token with the backup's"),
                           validators=[DataRequired(_l("Tick the box to confirm."))])


@bp.get("/backup")
@admin_only
def backup() -> str:
    return render_template("settings/backup.html", form=RestoreForm(formdata=None), summary=None, error=None)


@bp.post("/backup/download")
@admin_only
def backup_download() -> BaseResponse:
    """The archive is written to an unnamed file in the data directory (gone when the download ends)
    before it is sent, so a failure can still be answered with a page instead of a cut-off file."""
    # Imported here, as in the restore: tarfile and gzip are 0.35 MiB a box needs once in a while.
    from appliance.backup import BackupError, write_backup

    settings = current_app.config["APPLIANCE_SETTINGS"]
    session = db_session()
    engine = session.get_bind()
    session.rollback()  # nothing of this request's own stays open while the snapshot is taken
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    archive = tempfile.TemporaryFile(dir=settings.data_dir, prefix=".download-")
    try:
        summary = write_backup(engine, settings.data_dir, archive)  # type: ignore[arg-type]
    except BackupError as exc:
        archive.close()
        flash(str(exc), "error")
        return redirect(url_for("settings.backup"), 303)
    archive.seek(0)
    record_request(session, "backup.download", details={"messages": summary.rows.get("messages", 0),
                                                         "attachment_files": summary.attachment_files})
    session.commit()
    log.info("%s downloaded a backup: %d messages, %d attachment files", current_user.email,
             summary.rows.get("messages", 0), summary.attachment_files)
    name = f"sms-appliance-backup-{summary.created_at:%Y%m%d-%H%M%S}.tar.gz"
    return send_file(archive, mimetype="application/gzip", as_attachment=True, download_name=name,
                     max_age=0)


@bp.post("/backup/restore")
@admin_only
def backup_restore() -> tuple[str, int]:
    form = RestoreForm()
    if not form.validate_on_submit():
        return render_template("settings/backup.html", form=form, summary=None, error=None), 400
    from appliance.backup import BackupError, restore_backup

    settings = current_app.config["APPLIANCE_SETTINGS"]
    session = db_session()
    engine = session.get_bind()
    session.rollback()
    who = current_user.email
    try:
        summary = restore_backup(engine, settings.data_dir, form.archive.data.stream)  # type: ignore[arg-type]
    except BackupError as exc:
        log.warning("%s tried to restore %r: %s", who, form.archive.data.filename, exc)
        return render_template("settings/backup.html", form=form, summary=None, error=str(exc)), 400
    log.warning("%s restored the backup %r of %s", who, form.archive.data.filename, summary.backup_created_at)
    record_request(session, "backup.restore", details={
        "file": form.archive.data.filename, "backup_created_at": summary.backup_created_at.isoformat(),
        "schema": summary.backup_revision, "messages": summary.rows.get("messages", 0)})
    session.commit()
    return render_template("settings/backup.html", form=RestoreForm(formdata=None), summary=summary, error=None,
                           restored_at=when(datetime.now(UTC)), backup_made=when(summary.backup_created_at)), 200
