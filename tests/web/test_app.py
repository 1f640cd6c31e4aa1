"""The app factory: secret key and database from the settings."""

from __future__ import annotations

import stat

from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import upgrade
from appliance.web import create_app
from appliance.web.tokens import create_token


def test_a_configured_secret_key_is_used(settings, session_factory):
    app = create_app(settings, session_factory)

    assert app.secret_key == "test-secret-key"
    assert not (settings.data_dir / "secret_key").exists()


def test_without_a_configured_key_one_is_generated_and_kept_in_the_data_dir(tmp_path, session_factory):
    settings = Settings(data_dir=tmp_path / "fresh")

    first = create_app(settings, session_factory).secret_key
    second = create_app(settings, session_factory).secret_key

    key_file = settings.data_dir / "secret_key"
    assert first and len(first) >= 64
    assert first == second
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in settings.data_dir.iterdir()] == ["secret_key"]


def test_without_a_session_factory_the_app_opens_the_configured_database(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key="k")
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            secret = create_token(session, "factory test")
            session.commit()
    finally:
        engine.dispose()

    app = create_app(settings)
    try:
        response = app.test_client().get("/api/v1/modems", headers={"Authorization": f"Bearer {secret}"})
    finally:
        app.extensions["appliance.sessions"].kw["bind"].dispose()

    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_after_id": None}
