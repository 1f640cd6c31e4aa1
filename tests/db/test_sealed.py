"""Secrets at rest: sealed with a key file kept beside the database, never in it; a box whose key file
is gone still receives, and only what needs a secret says why it cannot; a full backup brings the
secrets to a new box, the database inside it alone does not."""

from __future__ import annotations

import base64
import io
import logging
import secrets
import sqlite3
import stat
import tarfile
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.backup import DATABASE, restore_backup, write_backup
from appliance.config import Settings
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import downgrade, upgrade
from appliance.db.models import AccessNumber, Account, Delivery, ForwardTarget, Message
from appliance.db.sealed import (
    KEY_FILE,
    Keyring,
    LockedSecret,
    SealingKey,
    SecretUnavailable,
    load_key,
    reveal,
    use_key,
)
from appliance.delivery.channels import EmailChannel, WebhookChannel
from appliance.delivery.email import SmtpSettings
from appliance.delivery.outbox import DeliveryJob, enqueue_for_messages
from appliance.delivery.webhook import verify_signature
from appliance.panel_settings import SmtpChange, save_smtp, smtp_settings_reader, stored_values
from appliance.representation import forward_target_json
from appliance.runtime import Appliance
from tests.support.http_receiver import HttpReceiver

WEBHOOK_SECRET = "whsec-" + "Kwiaciarnia-2026-grudzien"
SMTP_PASSWORD = "smtp-Haslo-93b1e7"
APN_PASSWORD = "apn-Haslo-5d20c4"
SIM = "8948000000000000001"


class Boxes:
    """Sessions on a database as a box with a given data directory (and so its key file) opens it."""

    def __init__(self) -> None:
        self._engines: list[Engine] = []

    def sessions(self, database_url: str, data_dir: Path) -> sessionmaker[Session]:
        engine = use_key(make_engine(database_url), Keyring.from_data_dir(data_dir))
        self._engines.append(engine)
        return make_session_factory(engine)

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()


@pytest.fixture
def boxes() -> Iterator[Boxes]:
    boxes = Boxes()
    yield boxes
    boxes.dispose()


def store_secrets(sessions: sessionmaker[Session]) -> int:
    """One of each kind: a webhook target (secret, download token), an APN password, the SMTP password."""
    with sessions.begin() as session:
        account = Account(name="Kwiaciarnia")
        session.add(account)
        session.flush()
        session.add(AccessNumber(number="+48500600700", iccid=SIM, kind="dedicated", account_id=account.id,
                                 mms_apn_password=APN_PASSWORD))
        session.add(ForwardTarget(account_id=account.id, name="CRM", kind="url", address="http://127.0.0.1:9/hook",
                                  secret=WEBHOOK_SECRET, download_token=secrets.token_urlsafe(32)))
        save_smtp(session, SmtpChange(host="127.0.0.1", port=2525, security="none", user="bramka",
                                      sender="bramka@kwiaciarnia.example", password=SMTP_PASSWORD))
        return account.id


def raw_values(sessions: sessionmaker[Session]) -> list[str]:
    """The stored secrets as the database holds them, read past the column types (a JSON text unquoted)."""
    with sessions() as session:
        return [str(value).strip('"') for value in [
            *session.execute(text("SELECT secret FROM forward_targets")).scalars(),
            *session.execute(text("SELECT mms_apn_password FROM access_numbers")).scalars(),
            *session.execute(text("SELECT value FROM panel_settings WHERE key = 'smtp_password'")).scalars()]]


# --- the key file ---------------------------------------------------------------------------------

def test_the_key_file_is_made_on_first_start_readable_by_its_owner_only_and_kept(tmp_path: Path) -> None:
    first = load_key(tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(tmp_path / "data").key == first.key
    assert load_key(tmp_path / "other").key != first.key


def test_a_key_file_others_may_read_is_made_private_again_with_a_warning(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    first = load_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="appliance.db.sealed"):
        again = load_key(tmp_path)
    assert again.key == first.key and stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert "could be read by other users (mode 0644): set back to 0600" in caplog.text


def test_a_damaged_key_file_leaves_the_box_running_and_the_secrets_saying_why(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / KEY_FILE).write_text("not a key\n")
    with caplog.at_level(logging.ERROR, logger="appliance.db.sealed"):
        keyring = Keyring.from_data_dir(tmp_path)
    assert f"{tmp_path / KEY_FILE} cannot be read as a key" in caplog.text
    with pytest.raises(SecretUnavailable, match="forward_targets.secret cannot be stored: .* cannot be read as a key"):
        keyring.seal(WEBHOOK_SECRET, "forward_targets.secret")


# --- sealed in the database, plain in the code -------------------------------------------------------

def test_secrets_are_stored_sealed_and_read_back_plain(session_factory: sessionmaker[Session]) -> None:
    store_secrets(session_factory)
    stored = raw_values(session_factory)
    assert len(stored) == 3 and all(value.startswith("sealed:1:") for value in stored)
    assert not any(secret in value for value in stored for secret in (WEBHOOK_SECRET, APN_PASSWORD, SMTP_PASSWORD))
    with session_factory() as session:
        assert session.scalar(select(ForwardTarget.secret)) == WEBHOOK_SECRET
        assert session.scalar(select(AccessNumber.mms_apn_password)) == APN_PASSWORD
        assert stored_values(session)["smtp_password"] == SMTP_PASSWORD


def test_a_sealed_value_moved_into_another_column_does_not_open(session_factory: sessionmaker[Session]) -> None:
    store_secrets(session_factory)
    with session_factory.begin() as session:
        session.execute(text("UPDATE access_numbers SET mms_apn_password = (SELECT secret FROM forward_targets)"))
    with session_factory() as session:
        password = session.scalar(select(AccessNumber.mms_apn_password))
    assert isinstance(password, LockedSecret)
    with pytest.raises(SecretUnavailable, match="access_numbers.mms_apn_password is damaged"):
        reveal(password)


# --- the key file lost -------------------------------------------------------------------------------

def sealed_by_cryptography(key: SealingKey, plain: str, column: str) -> str:
    """A value as the box sealed it before AES-GCM came from pycryptodome: cryptography's AESGCM (OpenSSL's
    GCM), which returns the ciphertext with the tag after it."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key.key).encrypt(nonce, plain.encode(), column.encode())
    return f"sealed:1:{key.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def opened_by_cryptography(key: SealingKey, sealed: str, column: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.rpartition(":")[2])
    return AESGCM(key.key).decrypt(raw[:12], raw[12:], column.encode()).decode()


def test_values_sealed_with_cryptography_open_and_new_ones_open_with_cryptography(tmp_path: Path) -> None:
    key = load_key(tmp_path)
    column, other_column = "forward_targets.secret", "access_numbers.mms_apn_password"
    for plain in (WEBHOOK_SECRET, "", "Zażółć gęślą jaźń 🌷" * 20):
        earlier = sealed_by_cryptography(key, plain, column)
        assert key.open(earlier, column) == plain
        now = key.seal(plain, column)
        assert opened_by_cryptography(key, now, column) == plain
        # The column name is the associated data in both.
        with pytest.raises(SecretUnavailable, match=f"{other_column} is damaged"):
            key.open(earlier, other_column)
        with pytest.raises(InvalidTag):
            opened_by_cryptography(key, now, other_column)
    flipped = bytearray(base64.urlsafe_b64decode(earlier.rpartition(":")[2]))
    flipped[-1] ^= 1
    for damaged in (bytes(flipped), bytes(flipped[:27]), b""):
        with pytest.raises(SecretUnavailable, match=f"{column} is damaged"):
            key.open(f"sealed:1:{key.key_id}:{base64.urlsafe_b64encode(damaged).decode()}", column)


def test_a_secret_stored_before_the_switch_to_pycryptodome_reads_back_plain(
        session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    store_secrets(session_factory)
    earlier = sealed_by_cryptography(load_key(tmp_path / "data"), "whsec-stored-by-0.9", "forward_targets.secret")
    with session_factory.begin() as session:
        session.execute(text("UPDATE forward_targets SET secret = :sealed"), {"sealed": earlier})
    with session_factory() as session:
        assert session.scalar(select(ForwardTarget.secret)) == "whsec-stored-by-0.9"


def test_without_its_key_file_the_box_receives_and_only_forwarding_says_the_secret_is_locked(
        database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    account = store_secrets(session_factory)
    (tmp_path / "data" / KEY_FILE).unlink()  # the SD card's data directory lost it; the database is elsewhere

    with HttpReceiver() as receiver:
        with session_factory.begin() as session:
            session.scalar(select(ForwardTarget)).address = receiver.url + "hook"
        with caplog.at_level(logging.ERROR):
            box = Appliance(Settings(data_dir=tmp_path / "data", database_url=database_url, udev_discovery=False,
                                     forward_first_retry_seconds=60), serve_http=False)
        box.start()
        try:
            assert "4 stored secrets cannot be opened" in caplog.text and "put back the key file" in caplog.text
            with box.sessions.begin() as session:  # a text arrives and is routed: its forward is queued
                message = Message(iccid=SIM, sender="+48600100200", text="Poproszę róże", status="routed",
                                  account_id=account, received_at=datetime.now(UTC))
                session.add(message)
                session.flush()
                enqueue_for_messages(session, [message.id])
            box.outbox.wake()
            delivery = wait_for_attempt(box.sessions)
            with box.sessions() as session:
                assert forward_target_json(session.scalar(select(ForwardTarget)))["secret"] is None
                assert session.scalar(select(Message.text)) == "Poproszę róże"
            smtp = smtp_settings_reader(box.settings, box.sessions)()
        finally:
            box.stop()
        assert receiver.requests == [], "nothing is sent signed with a wrong secret"
    assert delivery.status == "pending", "retried: putting the key file back makes the next attempt work"
    assert delivery.last_error is not None
    assert "the webhook secret cannot be used: forward_targets.secret was sealed with key" in delivery.last_error
    assert isinstance(smtp.password, LockedSecret)
    with pytest.raises(SecretUnavailable, match="panel_settings.smtp_password was sealed with key"):
        reveal(smtp.password)


def wait_for_attempt(sessions: sessionmaker[Session], timeout: float = 20) -> Delivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            delivery = session.scalar(select(Delivery))
            if delivery is not None and delivery.last_error:
                return delivery
        time.sleep(0.05)
    raise AssertionError("the outbox made no attempt")


def test_a_lost_key_file_put_back_opens_the_secrets_again(database_url: str, session_factory: sessionmaker[Session],
                                                          tmp_path: Path, boxes: Boxes) -> None:
    store_secrets(session_factory)
    key_file = tmp_path / "data" / KEY_FILE
    saved = key_file.read_bytes()
    key_file.unlink()
    with boxes.sessions(database_url, tmp_path / "data")() as session:
        assert isinstance(session.scalar(select(ForwardTarget.secret)), LockedSecret)
    key_file.write_bytes(saved)
    with boxes.sessions(database_url, tmp_path / "data")() as session:
        assert session.scalar(select(ForwardTarget.secret)) == WEBHOOK_SECRET


# --- the migration -----------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'appliance.db'}"
    return request.getfixturevalue("postgres_databases").create_empty()


def test_the_migration_seals_the_secrets_stored_before_it_and_its_downgrade_opens_them(
        empty_database_url: str, tmp_path: Path, boxes: Boxes) -> None:
    data_dir = tmp_path / "data"
    upgrade(empty_database_url, "0012")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:  # as 0012 stored them: in plain text
            connection.execute(text("INSERT INTO accounts (id, name, opt_out_words, created_at) "
                                    "VALUES (1, 'Kwiaciarnia', '[]', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO access_numbers (id, number, iccid, kind, account_id, mms_enabled, mms_apn_password, "
                "created_at, updated_at) VALUES (1, '+48500600700', :sim, 'dedicated', 1, false, :apn, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"sim": SIM, "apn": APN_PASSWORD})
            connection.execute(text(
                "INSERT INTO forward_targets (id, account_id, name, kind, address, enabled, actions_only, format, "
                "secret, timeout_seconds, download_token, attach_limit_bytes, give_up_hours, created_at) VALUES "
                "(1, 1, 'CRM', 'url', 'http://127.0.0.1:9/', true, false, 'json', :secret, 10, 'token-1', 100, 24, "
                "CURRENT_TIMESTAMP)"), {"secret": WEBHOOK_SECRET})
            connection.execute(text("INSERT INTO panel_settings (key, value, updated_at) "
                                    "VALUES ('smtp_password', :value, CURRENT_TIMESTAMP)"), {"value": f'"{SMTP_PASSWORD}"'})
            connection.execute(text("INSERT INTO messages (id, iccid, sender, text, status, kind, parts_total, "
                                    "parts_received, received_at) VALUES (1, :sim, '+48600100200', 'Róże', "
                                    "'routed', 'sms', 1, 1, CURRENT_TIMESTAMP)"), {"sim": SIM})

        upgrade(empty_database_url, "0016", data_dir=data_dir)

        sessions = make_session_factory(engine)
        stored = raw_values(sessions)
        assert all(value.startswith("sealed:1:") for value in stored)
        assert not any(secret in value for value in stored for secret in (WEBHOOK_SECRET, APN_PASSWORD, SMTP_PASSWORD))
        with boxes.sessions(empty_database_url, data_dir)() as session:
            target = session.scalar(select(ForwardTarget))
            assert (target.secret, target.download_token) == (WEBHOOK_SECRET, "token-1")
            assert session.scalar(select(AccessNumber.mms_apn_password)) == APN_PASSWORD
            assert stored_values(session)["smtp_password"] == SMTP_PASSWORD
            assert session.scalar(select(Message.text)) == "Róże"

        downgrade(empty_database_url, "0012", data_dir=data_dir)

        assert sorted(raw_values(sessions)) == sorted([WEBHOOK_SECRET, APN_PASSWORD, SMTP_PASSWORD])
    finally:
        engine.dispose()


# --- backups -----------------------------------------------------------------------------------------

@pytest.fixture
def new_box_database(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on the same backend, for a box built anew after the first one died."""
    if database_url.startswith("sqlite"):
        directory = tmp_path / "new-box"
        directory.mkdir()
        yield request.getfixturevalue("sqlite_databases").create(directory)
    else:
        yield request.getfixturevalue("postgres_databases").create()


def test_a_full_backup_brings_working_secrets_to_a_new_box_and_its_database_alone_reveals_none(
        session_factory: sessionmaker[Session], new_box_database: str, tmp_path: Path, boxes: Boxes) -> None:
    store_secrets(session_factory)
    archive = io.BytesIO()
    write_backup(session_factory.kw["bind"], tmp_path / "data", archive)

    with tarfile.open(fileobj=io.BytesIO(archive.getvalue()), mode="r:gz") as tar:
        names = tar.getnames()
        database = tar.extractfile(DATABASE).read()  # type: ignore[union-attr]
    assert KEY_FILE in names
    assert not any(secret.encode() in database for secret in (WEBHOOK_SECRET, APN_PASSWORD, SMTP_PASSWORD))
    (tmp_path / "database-alone.sqlite3").write_bytes(database)
    with closing(sqlite3.connect(tmp_path / "database-alone.sqlite3")) as alone:
        assert alone.execute("SELECT count(*) FROM forward_targets").fetchone() == (1,)

    new_box = tmp_path / "new-box-data"  # its own key file, made at its first start
    new_key = load_key(new_box).key
    sessions = boxes.sessions(new_box_database, new_box)
    restore_backup(sessions.kw["bind"], new_box, io.BytesIO(archive.getvalue()))

    assert load_key(new_box).key == new_key, "the box keeps its key file: the running appliance still holds it"
    with sessions() as session:
        target = session.scalar(select(ForwardTarget))
        assert session.scalar(select(AccessNumber.mms_apn_password)) == APN_PASSWORD
        assert stored_values(session)["smtp_password"] == SMTP_PASSWORD
        session.expunge(target)
    with HttpReceiver() as receiver:
        target.address = receiver.url + "hook"
        result = WebhookChannel(tmp_path / "ca").deliver(DeliveryJob(
            1, "key-1", 1, target, {"id": 1, "kind": "sms", "text": "Róże", "attachments": []}, SIM))
        [request] = receiver.requests
    assert result.ok and verify_signature(WEBHOOK_SECRET, request.headers["X-Appliance-Timestamp"], request.body,
                                          request.headers["X-Appliance-Signature"])


def test_an_e_mail_channel_without_its_smtp_password_says_why_and_retries(tmp_path: Path) -> None:
    locked = LockedSecret("sealed:1:00000000:AAAA", "panel_settings.smtp_password was sealed with key 00000000")
    smtp = SmtpSettings(host="127.0.0.1", port=9, user="bramka", password=locked,  # type: ignore[arg-type]
                        sender="bramka@kwiaciarnia.example", timeout=2)
    channel = EmailChannel(lambda: smtp, AttachmentStore(tmp_path))
    target = ForwardTarget(kind="email", address="zamowienia@kwiaciarnia.example", attach_limit_bytes=1000)
    result = channel.deliver(DeliveryJob(1, "key-1", 1, target, {"id": 1, "kind": "sms", "text": "Róże",
                                                                 "attachments": [], "received_at": None}, SIM))
    assert not result.ok and not result.permanent
    assert result.error is not None and "the SMTP password cannot be used" in result.error
