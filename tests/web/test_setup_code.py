"""The first-run setup asks for the box's one-time code: refused without it, rate limited when wrong,
void once the first admin exists; the console's `appliance user create` needs none."""

from __future__ import annotations

import re
import stat

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from appliance.cli import main
from appliance.db.models import AuditEntry, User
from appliance.setup_code import ALPHABET, SETUP_CODE_FILE, code_matches, ensure_code, new_code, read_code
from appliance.users import SETUP_CODE_FAILURES_PER_ADDRESS
from tests.web.conftest import PASSWORD
from tests.web.test_auth import form_token

OWNER = "owner@shop.pl"


def set_up(client: FlaskClient, code: str | None, address: str = "192.168.1.20"):
    data = {"csrf_token": form_token(client, "/setup"), "email": OWNER, "password": PASSWORD, "confirm": PASSWORD}
    if code is not None:
        data["code"] = code
    return client.post("/setup", data=data, environ_base={"REMOTE_ADDR": address})


def users(session_factory) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(User.email)))


def test_a_code_is_three_groups_of_four_from_an_alphabet_without_look_alikes():
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        assert not set(code.replace("-", "")) - set(ALPHABET)
    assert not {"I", "L", "O", "U"} & set(ALPHABET) and len(ALPHABET) == 32  # 12 × 5 = 60 bits


def test_the_code_is_read_as_a_person_types_it(tmp_path):
    (tmp_path / SETUP_CODE_FILE).write_text("7K0M-Q91D-2HWB\n")
    for typed in ("7K0M-Q91D-2HWB", "7k0mq91d2hwb", " 7KOM Q9ID 2HWB ", "7kom-q9ld-2hwb"):
        assert code_matches(tmp_path, typed), typed
    for typed in ("7K0M-Q91D-2HWC", "7K0M-Q91D", "", "7K0M-Q91D-2HWB-0000"):
        assert not code_matches(tmp_path, typed), typed


def test_the_code_is_made_once_readable_by_the_service_only(client, settings):
    assert client.get("/setup").status_code == 200
    path = settings.data_dir / SETUP_CODE_FILE
    code = read_code(settings.data_dir)
    assert code is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert client.get("/setup").status_code == 200 and ensure_code(settings.data_dir) == code


def test_setup_without_the_code_is_refused(client, session_factory):
    response = set_up(client, None)
    assert response.status_code == 400 and "Setup code" in response.get_data(as_text=True)
    assert users(session_factory) == []


def test_wrong_codes_are_refused_then_rate_limited_per_address(client, session_factory, settings):
    for _ in range(SETUP_CODE_FAILURES_PER_ADDRESS):
        response = set_up(client, "AAAA-BBBB-CCCC")
        assert response.status_code == 403
        assert "This is not the setup code of this box." in response.get_data(as_text=True)
    code = read_code(settings.data_dir)
    limited = set_up(client, code)
    assert limited.status_code == 429 and "Too many failed attempts" in limited.get_data(as_text=True)
    assert users(session_factory) == []
    # A guest guessing from another address does not lock the owner out.
    assert set_up(client.application.test_client(), code, address="192.168.1.77").status_code == 302
    assert users(session_factory) == [OWNER]


def test_the_right_code_creates_the_admin_is_recorded_and_is_void_afterwards(client, session_factory, settings):
    code = read_code(settings.data_dir) or ensure_code(settings.data_dir)
    response = set_up(client, code.lower().replace("-", " "))
    assert response.status_code == 302 and client.get("/").status_code == 200
    assert users(session_factory) == [OWNER]
    assert read_code(settings.data_dir) is None and not (settings.data_dir / SETUP_CODE_FILE).exists()
    with session_factory() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "setup"))
    assert (entry.actor, entry.address, entry.details) == (f"user {OWNER}", "192.168.1.20", {"admin": True})
    # The form is gone, and the old code opens nothing.
    stranger = client.application.test_client()
    assert stranger.get("/setup").headers["Location"] == "/login"
    assert not code_matches(settings.data_dir, code)


def test_the_console_creates_an_admin_without_a_code_and_voids_it(client, session_factory, settings, database_url):
    client.get("/setup")
    assert read_code(settings.data_dir) is not None
    env = {"APPLIANCE_DATA_DIR": str(settings.data_dir), "APPLIANCE_DATABASE_URL": database_url}
    made = CliRunner().invoke(main, ["user", "create", OWNER, "--admin", "--password-stdin"],
                              input=PASSWORD + "\n", env=env)
    assert made.exit_code == 0, made.output
    assert read_code(settings.data_dir) is None
    assert client.get("/setup").headers["Location"] == "/login"
