"""Signing in to the panel: first-run setup of the admin, sign-in with a rate limit, sign-out, language.

Every panel page needs a signed-in user; until the first user exists every page leads to the setup
form, so a new box never has a default password. The setup form asks for the box's one-time setup
code (:mod:`appliance.setup_code`), so that a guest on the shop's LAN who opens the panel before the
owner cannot claim the box. The REST API has its own bearer tokens and no
cookies, so it is exempt from both the sign-in check and CSRF.

Cookies: HttpOnly and SameSite=Lax always, Secure whenever the request came over HTTPS (a box reached
over plain HTTP on the LAN must still be usable). The session id a cookie carries includes a fragment
of the password hash, so changing a password signs out every other browser.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from appliance.audit import acting_as, record, record_request
from appliance.db.models import User
from appliance.setup_code import code_matches, ensure_code, void_code
from appliance.users import (
    MIN_PASSWORD_LENGTH,
    SignInRefused,
    UserError,
    any_user_exists,
    create_user,
    record_wrong_setup_code,
    setup_code_wait,
    sign_in,
)
from appliance.web import db_session
from appliance.web.access import Principal

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

LANGUAGES = ("en", "pl")
# Reachable without signing in: the sign-in and setup forms, the language switch they show, assets.
PUBLIC_ENDPOINTS = frozenset({"auth.setup", "auth.login", "auth.language", "static"})
SESSION_LIFETIME = timedelta(days=14)
# Where signing in leads, and the brand link.
HOME_ENDPOINT = "panel.dashboard"

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


class SignedInUser(UserMixin):
    """What flask-login keeps for a request: the row's fields, not the row (sessions close per request)."""

    def __init__(self, user: User) -> None:
        self.user_id = user.id
        self.email = user.email
        self.is_admin = user.is_admin
        self.account_id = user.account_id
        self.language = user.language
        self._session_id = f"{user.id}.{_password_fragment(user)}"

    def get_id(self) -> str:
        return self._session_id

    def principal(self) -> Principal:
        return Principal(is_admin=self.is_admin, account_id=self.account_id, label=f"user {self.email}",
                         user_id=self.user_id)


def _password_fragment(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


class _CookieSession(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def init_auth(app: Flask) -> None:
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME, WTF_CSRF_TIME_LIMIT=None)
    app.session_interface = _CookieSession()
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    babel.init_app(app, locale_selector=select_language)
    app.register_blueprint(bp)


@login_manager.user_loader
def _load_user(session_id: str) -> SignedInUser | None:
    user_id, _, fragment = session_id.partition(".")
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    if user is None or user.disabled_at is not None or fragment != _password_fragment(user):
        return None
    return SignedInUser(user)


def select_language() -> str:
    """The language chosen with the switch, else the user's, else the browser's best, else English."""
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return chosen
    user_language = getattr(current_user, "language", None) if request else None
    if user_language in LANGUAGES:
        return user_language
    return request.accept_languages.best_match(LANGUAGES) or "en"


def current_language() -> str:
    """The language this page is rendered in, for ``<html lang>`` and the switch."""
    language = str(get_locale() or "en")
    return language if language in LANGUAGES else "en"


@bp.before_app_request
def _require_sign_in() -> BaseResponse | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint.startswith("api.") or endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if not any_user_exists(db_session()):
            return redirect(url_for("auth.setup"))
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.principal = current_user.principal()
    return None


@bp.app_errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    log.warning("form refused from %s: %s", request.remote_addr, error.description)
    return render_template("auth/csrf_refused.html", reason=error.description), 400


class SetupForm(FlaskForm):
    code = StringField(_l("Setup code"), validators=[DataRequired(), Length(max=40)])
    email = EmailField(_l("Your e-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(_l("Password again"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))])


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> str | BaseResponse | tuple[str, int]:
    """The first admin, for whoever has the setup code; once any user exists this form is gone for good."""
    sessions = db_session()
    if any_user_exists(sessions):
        return redirect(url_for("auth.login"))
    data_dir = current_app.config["APPLIANCE_SETTINGS"].data_dir
    ensure_code(data_dir)  # made at start by the appliance; here too for an app run on its own
    form = SetupForm()
    error = None
    status = 400 if form.is_submitted() else 200
    if form.validate_on_submit():
        address = request.remote_addr or ""
        wait = setup_code_wait(sessions, address)
        if wait:
            sessions.commit()
            error, status = _too_many_text(wait), 429
            log.warning("setup code refused from %s: too many wrong codes", address)
        elif not code_matches(data_dir, form.code.data or ""):
            record_wrong_setup_code(sessions, address)
            sessions.commit()
            form.code.errors.append(str(_l("This is not the setup code of this box.")))
            status = 403
            log.warning("wrong setup code from %s", address)
        else:
            actor = f"user {form.email.data}"
            try:
                with acting_as(actor, address):
                    user = create_user(sessions, form.email.data or "", form.password.data or "", admin=True)
                    record(sessions, "setup", actor=actor, address=address, target=f"user {user.id}",
                           details={"admin": True})
                    sessions.commit()
            except UserError as exc:
                sessions.rollback()
                error = str(exc)
            else:
                void_code(data_dir)
                log.info("first admin %s created from %s; the setup code is void", user.email, address)
                _start_session(user)
                return redirect(url_for(HOME_ENDPOINT))
    return render_template("auth/setup.html", form=form, error=error), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse | tuple[str, int]:
    sessions = db_session()
    if not any_user_exists(sessions):
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(_safe_next())
    form = SignInForm()
    error = None
    status = 200
    if form.validate_on_submit():
        result = sign_in(sessions, form.email.data or "", form.password.data or "", request.remote_addr or "")
        if isinstance(result, User):
            record(sessions, "login", actor=f"user {result.email}", address=request.remote_addr)
        else:
            record(sessions, "login.failed", actor="anonymous", address=request.remote_addr,
                   target=_tried(form.email.data or ""), details={"reason": result.reason})
        sessions.commit()
        if isinstance(result, User):
            _start_session(result)
            return redirect(_safe_next())
        error, status = _refusal_text(result)
        log.warning("sign-in refused for %r from %s: %s", form.email.data, request.remote_addr, result.reason)
    elif form.is_submitted():
        status = 400
    response = render_template("auth/login.html", form=form, error=error)
    return response, status


def _tried(email: str) -> str | None:
    """The account a failed sign-in tried, for the audit log; not what was typed when it is no e-mail
    address: a password typed into the wrong field must not be kept."""
    return f"user {email.strip()[:254]}" if "@" in email else None


def _refusal_text(refusal: SignInRefused) -> tuple[str, int]:
    if refusal.reason == "rate_limited":
        return _too_many_text(refusal.retry_after_seconds), 429
    return str(_l("Wrong e-mail or password.")), 401


def _too_many_text(retry_after_seconds: int) -> str:
    minutes = max(1, round(retry_after_seconds / 60))
    return str(_l("Too many failed attempts. Try again in %(minutes)d min.", minutes=minutes))


def _start_session(user: User) -> None:
    session.clear()  # a fresh session: nothing set before sign-in carries over (session fixation)
    session.permanent = True
    login_user(SignedInUser(user))


def _safe_next() -> str:
    """The page asked for before sign-in, when it is a path on this box; never another site."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return url_for(HOME_ENDPOINT)
    return target


@bp.post("/logout")
def logout() -> BaseResponse:
    record_request(db_session(), "logout")
    db_session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> BaseResponse:
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session["language"] = chosen
        if current_user.is_authenticated:
            user = db_session().get(User, current_user.user_id)
            if user is not None:
                user.language = chosen
                db_session().commit()
    back = request.referrer or ""
    parts = urlsplit(back)
    same_site = parts.netloc == request.host and parts.path.startswith("/")
    return redirect(parts.path + ("?" + parts.query if parts.query else "") if same_site else url_for("auth.login"))
