"""The web layer: the shop owner's panel on the LAN and the REST API v1 for developers.

``create_app`` follows Flask's tutorial factory: settings in, blueprints registered here, one database
session per request (:func:`db_session`), closed when the request ends.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from appliance.atomic_files import create_file_once
from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.sealed import Keyring, use_key
from appliance.delivery.outbox import Channel
from appliance.modem.at_log import PortAtLog
from appliance.recent_log import LogEntry

SECRET_KEY_FILE = "secret_key"


def create_app(settings: Settings, session_factory: sessionmaker[Session] | None = None,
               wake_sim: Callable[[str], None] | None = None,
               device_issues: Callable[[], Sequence[object]] | None = None,
               forwarding_channels: Mapping[str, Channel] | None = None,
               wake_outbox: Callable[[], None] | None = None,
               log_entries: Callable[[], Sequence[LogEntry]] | None = None,
               at_logs: Callable[[], Sequence[PortAtLog]] | None = None) -> Flask:
    """Build the Flask app; without ``session_factory`` it opens ``settings.effective_database_url``.

    ``wake_sim(iccid)`` tells the modem pool a text was queued for that SIM (sent within seconds
    without it). ``device_issues()`` lists plugged USB devices that are no working modem yet, each
    with ``kind``, ``what`` and ``remedy`` (udev discovery). ``forwarding_channels`` send a target's
    test message; ``wake_outbox()`` has a retried delivery tried at once. ``log_entries()`` gives the
    running appliance's recent log records and ``at_logs()`` each modem port's recent AT dialogue, for
    the System page. The schema is not migrated here: ``appliance run`` upgrades it before serving.
    """
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key or _stored_secret_key(settings.data_dir)
    app.config["APPLIANCE_SETTINGS"] = settings
    app.json.sort_keys = False  # keep the documented field order, it reads better
    if session_factory is None:
        engine = use_key(make_engine(settings.effective_database_url), Keyring.from_data_dir(settings.data_dir))
        session_factory = make_session_factory(engine)
    app.extensions["appliance.sessions"] = session_factory
    app.extensions["appliance.wake_sim"] = wake_sim
    app.extensions["appliance.device_issues"] = device_issues or (lambda: [])
    app.extensions["appliance.forwarding_channels"] = dict(forwarding_channels or {})
    app.extensions["appliance.wake_outbox"] = wake_outbox
    app.extensions["appliance.log_entries"] = log_entries
    app.extensions["appliance.at_logs"] = at_logs or (lambda: [])
    app.extensions["appliance.started_at"] = time.time()
    app.teardown_appcontext(_close_session)

    from flask_login import current_user

    from appliance.web import (  # noqa: F401 - api_* nest in api.bp; panel_dashboard, _events, _gallery add to panel.bp, settings_https to settings.bp
        api,
        api_audit,
        api_config,
        api_conversations,
        api_credentials,
        api_forwarding,
        api_group_sends,
        api_personal_data,
        api_stats,
        conversations,
        group_sends,
        openapi,
        panel,
        panel_access_numbers,
        panel_accounts,
        panel_audit,
        panel_autoresponders,
        panel_contacts,
        panel_contests,
        panel_dashboard,
        panel_events,
        panel_forwarding,
        panel_gallery,
        panel_keywords,
        panel_personal_data,
        panel_polls,
        panel_statistics,
        panel_system,
        settings_https,
        sms_counter,
    )
    from appliance.web import settings as settings_pages  # not to shadow the parameter
    from appliance.web.auth import HOME_ENDPOINT, csrf, current_language, init_auth
    from appliance.web.campaign_pages import BOX_ZONE, local_text
    from appliance.web.dates import long_date
    from appliance.web.navigation import navigation

    init_auth(app)
    app.register_blueprint(api.bp)
    # Bearer tokens, no cookies: nothing for another site to ride on. The API's nested blueprints
    # ("api.config" …) are exempted one by one, as flask-wtf looks up the innermost.
    for name, blueprint in app.blueprints.items():
        if name == "api" or name.startswith("api."):
            csrf.exempt(blueprint)
    app.register_blueprint(panel.bp)
    app.register_blueprint(panel_forwarding.bp)
    app.register_blueprint(panel_accounts.bp)
    app.register_blueprint(panel_access_numbers.bp)
    app.register_blueprint(panel_keywords.bp)
    app.register_blueprint(panel_autoresponders.bp)
    app.register_blueprint(panel_system.bp)
    app.register_blueprint(panel_audit.bp)
    app.register_blueprint(settings_pages.bp)
    app.register_blueprint(panel_contacts.bp)
    app.register_blueprint(panel_polls.bp)
    app.register_blueprint(panel_contests.bp)
    app.register_blueprint(panel_statistics.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(group_sends.bp)
    app.register_blueprint(sms_counter.bp)
    app.register_blueprint(panel_personal_data.bp)

    # Globals, not a context processor: macros rendered alone (live rows) extend the layout too.
    app.jinja_env.globals.update(navigation=navigation, home_endpoint=HOME_ENDPOINT,
                                 current_language=current_language, current_user=current_user)
    app.jinja_env.globals["box_zone"] = BOX_ZONE.key
    app.jinja_env.filters["local_time"] = local_text
    app.jinja_env.filters["long_date"] = long_date

    return app


def db_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["appliance.sessions"]()
    return g.db_session


def end_db_session() -> None:
    """Close the request's session; the next :func:`db_session` opens a new one.

    A long response (the live events stream) reads in short sessions so that between reads it holds
    no pooled connection and no snapshot (an open SQLite read keeps the WAL from being checkpointed).
    """
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _close_session(_exc: BaseException | None) -> None:
    end_db_session()


def _stored_secret_key(data_dir: Path) -> str:
    """The key kept in ``data_dir/secret_key``, generated on first start so sessions survive restarts."""
    path = data_dir / SECRET_KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    if not create_file_once(path, f"{key}\n".encode()):
        return _read_key(path)  # another process made it first
    return key


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to have a new secret key generated")
    return key
