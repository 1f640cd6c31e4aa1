"""Backup and restore: one archive with the database and the attachment files, taken while messages
keep arriving, restored only when it is complete and of a schema this version knows."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from appliance.attachments import AttachmentStore
from appliance.backup import DATABASE, MANIFEST, BackupError, restore_backup, write_backup
from appliance.cli import main
from appliance.db.engine import make_engine, make_session_factory
from appliance.db.migrate import head_revision, upgrade
from appliance.db.models import Account, ApiToken, Attachment, Message, User
from appliance.users import create_user
from appliance.web.tokens import create_token, find_token

PASSWORD = "correct horse battery"


@pytest.fixture
def other_database_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> str:
    """A second fresh database on the same backend: where a backup is restored."""
    if database_url.startswith("sqlite"):
        directory = tmp_path / "restored"
        directory.mkdir()
        return request.getfixturevalue("sqlite_databases").create(directory)
    return request.getfixturevalue("postgres_databases").create()


@pytest.fixture
def restored(other_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(other_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def store_mms(sessions: sessionmaker[Session], store: AttachmentStore, n: int) -> None:
    """An MMS the way reception stores it: the files first, then the message and its rows in one commit."""
    with sessions() as session:
        message = Message(iccid="8948000000000000001", sender=f"+4860010{n:04d}", text=f"photo {n}", kind="mms",
                          status="unmatched", received_at=datetime.now(UTC))
        store.add_parts(session, message, [("text/plain", "note.txt", f"note {n}".encode()),
                                           ("image/jpeg", f"photo-{n}.jpg", f"jpeg bytes {n}".encode() * 50)])
        session.commit()


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def backup_bytes(sessions: sessionmaker[Session], data_dir: Path) -> bytes:
    out = io.BytesIO()
    write_backup(sessions.kw["bind"], data_dir, out)
    return out.getvalue()


def test_a_backup_taken_while_messages_arrive_restores_every_message_with_its_attachments(
        session_factory, restored, tmp_path):
    source_dir, target_dir = tmp_path / "data", tmp_path / "restored-data"
    store = AttachmentStore(source_dir)
    stored = threading.Event()
    stop = threading.Event()
    failures: list[BaseException] = []

    def receive() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                store_mms(session_factory, store, n)
                if n == 20:
                    stored.set()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
            stored.set()

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        assert stored.wait(60)
        before = count(session_factory, Message)
        archive = backup_bytes(session_factory, source_dir)
        after = count(session_factory, Message)
    finally:
        stop.set()
        receiver.join(60)
    assert failures == []
    assert after > before, "messages must keep arriving while the backup is taken"

    summary = restore_backup(restored.kw["bind"], target_dir, io.BytesIO(archive))

    restored_store = AttachmentStore(target_dir)
    with restored() as session:
        messages = session.scalars(select(Message)).all()
        assert before <= len(messages) <= after and summary.rows["messages"] == len(messages)
        for message in messages:
            assert [a.name for a in message.attachments] == ["note.txt", f"photo-{message.text.split()[1]}.jpg"]
            for attachment in message.attachments:
                assert restored_store.read(attachment.sha256) == store.read(attachment.sha256)
    assert summary.new_attachment_files == summary.attachment_files == 2 * len(messages)


def test_restore_replaces_every_row_and_new_rows_get_fresh_ids(session_factory, restored, tmp_path):
    with session_factory() as session:
        shop = Account(name="Kwiaciarnia")
        session.add(shop)
        session.flush()
        create_user(session, "ala@kwiaciarnia.pl", PASSWORD, account_id=shop.id)
        secret = create_token(session, "crm", account_id=shop.id)
        session.commit()
    store_mms(session_factory, AttachmentStore(tmp_path / "data"), 1)
    archive = backup_bytes(session_factory, tmp_path / "data")
    with restored() as session:  # what the restore replaces
        session.add(Account(name="Piekarnia"))
        session.commit()
    store_mms(restored, AttachmentStore(tmp_path / "restored-data"), 2)

    restore_backup(restored.kw["bind"], tmp_path / "restored-data", io.BytesIO(archive))

    with restored() as session:
        assert session.scalars(select(Account.name)).all() == ["Kwiaciarnia"]
        assert session.scalars(select(Message.text)).all() == ["photo 1"]
        assert session.scalars(select(User.email)).all() == ["ala@kwiaciarnia.pl"]
        assert find_token(session, secret) is not None
        # The next message continues after the restored ids.
        account = Account(name="Piekarnia")
        session.add(account)
        session.commit()
        assert account.id > session.scalar(select(func.min(Account.id)))


def test_a_backup_of_an_older_schema_is_upgraded_on_restore(tmp_path, sqlite_databases):
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(old_url, "0009")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("INSERT INTO accounts (name, opt_out_words, created_at) VALUES ('Stara firma', '[]', "
                   "'2026-01-02 03:04:05.000000')")
    old_engine = make_engine(old_url)
    out = io.BytesIO()
    write_backup(old_engine, tmp_path / "old-data", out)
    old_engine.dispose()
    (tmp_path / "new").mkdir()
    engine = make_engine(sqlite_databases.create(tmp_path / "new"))

    summary = restore_backup(engine, tmp_path / "new-data", io.BytesIO(out.getvalue()))

    assert (summary.backup_revision, summary.upgraded_to) == ("0009", head_revision())
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Account.name)).all() == ["Stara firma"]
    engine.dispose()


def rewritten(archive: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The archive with ``change(name, data)`` applied to every entry (returning None drops it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source, \
            tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            data = change(member.name, data)
            if data is None:
                continue
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return out.getvalue()


def newer_schema(name: str, data: bytes) -> bytes:
    if name != DATABASE:
        return data
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / DATABASE
        path.write_bytes(data)
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE alembic_version SET version_num = '9999'")
        return path.read_bytes()


def damaged_attachment(name: str, data: bytes) -> bytes:
    return data[:-1] + b"!" if name.startswith("attachments/") else data


def without_attachments(name: str, data: bytes) -> bytes | None:
    return None if name.startswith("attachments/") else data


def newer_format(name: str, data: bytes) -> bytes:
    if name != MANIFEST:
        return data
    manifest = json.loads(data)
    manifest["version"] = 2
    return json.dumps(manifest).encode()


@pytest.mark.parametrize("change, complaint", [
    (newer_schema, "schema 9999, which this appliance does not know"),
    (newer_format, "made by a newer version"),
    (damaged_attachment, "is damaged"),
    (without_attachments, "the archive is incomplete"),
])
def test_a_bad_archive_is_refused_and_nothing_changes(session_factory, restored, tmp_path, change, complaint):
    store_mms(session_factory, AttachmentStore(tmp_path / "data"), 1)
    archive = rewritten(backup_bytes(session_factory, tmp_path / "data"), change)
    with restored() as session:
        session.add(Account(name="Piekarnia"))
        session.commit()

    with pytest.raises(BackupError, match=complaint):
        restore_backup(restored.kw["bind"], tmp_path / "restored-data", io.BytesIO(archive))

    with restored() as session:
        assert session.scalars(select(Account.name)).all() == ["Piekarnia"]
        assert session.scalars(select(Message)).all() == []
    assert list((tmp_path / "restored-data").iterdir()) == [], "no files and no scratch folder are left"


@pytest.mark.parametrize("archive, complaint", [
    (b"PK\x03\x04 a zip file", "not a backup archive"),
    (b"", "not a backup archive"),
])
def test_a_file_that_is_no_backup_is_refused(archive, complaint, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    with pytest.raises(BackupError, match=complaint):
        restore_backup(engine, tmp_path / "data", io.BytesIO(archive))
    engine.dispose()


def test_a_cut_short_archive_is_refused(session_factory, restored, tmp_path):
    store_mms(session_factory, AttachmentStore(tmp_path / "data"), 1)
    archive = backup_bytes(session_factory, tmp_path / "data")
    with pytest.raises(BackupError, match="cut short|not a backup"):
        restore_backup(restored.kw["bind"], tmp_path / "restored-data", io.BytesIO(archive[: len(archive) // 2]))
    assert count(restored, Message) == 0


def test_a_tar_with_foreign_entries_is_refused(restored, tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"root"))
    with pytest.raises(BackupError, match="not a backup of this appliance"):
        restore_backup(restored.kw["bind"], tmp_path / "restored-data", io.BytesIO(out.getvalue()))


def test_the_cli_backs_up_and_restores(database_url, other_database_url, tmp_path):
    source = {"APPLIANCE_DATA_DIR": str(tmp_path / "data"), "APPLIANCE_DATABASE_URL": database_url}
    target = {"APPLIANCE_DATA_DIR": str(tmp_path / "restored-data"), "APPLIANCE_DATABASE_URL": other_database_url}
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    store_mms(sessions, AttachmentStore(tmp_path / "data"), 1)
    with sessions() as session:
        create_token(session, "crm", admin=True)
        session.commit()
    engine.dispose()
    archive = tmp_path / "backup.tar.gz"

    made = CliRunner().invoke(main, ["backup", str(archive)], env=source)
    assert made.exit_code == 0, made.output
    assert "1 messages, 2 attachment files" in made.output

    refused = CliRunner().invoke(main, ["restore", str(archive)], env=target, input="n\n")
    assert refused.exit_code != 0
    done = CliRunner().invoke(main, ["restore", str(archive), "--yes"], env=target)
    assert done.exit_code == 0, done.output
    assert "1 messages" in done.output and "2 attachment files (2 new)" in done.output
    engine = make_engine(other_database_url)
    sessions = make_session_factory(engine)
    assert count(sessions, Message) == 1 and count(sessions, Attachment) == 2 and count(sessions, ApiToken) == 1
    engine.dispose()

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not an archive")
    failed = CliRunner().invoke(main, ["restore", str(broken), "--yes"], env=target)
    assert failed.exit_code != 0 and "not a backup archive" in failed.output and "Traceback" not in failed.output
