"""Backup and restore of the whole appliance: the database and the attachment files in one archive.

The archive is a gzip'd tar::

    manifest.json                  what it is, when, from which schema revision, row counts
    database.sqlite3               every table, as an SQLite database at that schema revision
    secrets.key                    the key the database's stored secrets are sealed with
    attachments/aa/bb/<sha256>     every file an attachment row of that database names

**Consistent while messages keep arriving.** The database is copied first, as one snapshot; the
files come after, chosen from the snapshot's attachment rows. That is enough because the reception
side writes (and fsyncs) an attachment's file before the transaction with its row commits, and files
are named by their content and never changed: every row in the snapshot already has its file on
disk, and files of messages stored after the snapshot are simply not taken.

- SQLite: the sqlite3 online backup API, in one step: it reads inside one read transaction, which in
  WAL mode lets the reception side keep writing meanwhile.
- PostgreSQL: one ``REPEATABLE READ, READ ONLY`` transaction reads every table into an SQLite file
  made by the same migrations. Not ``pg_dump``: it must match the server's major version (a remote
  server is upgraded on its own schedule, the Pi's client is not), it would make a second archive
  format that only PostgreSQL restores, and its restore needs ``pg_restore`` plus a database the
  appliance may not be allowed to drop. One SQLite file in every archive means a backup restores
  into either database, and an older one can be brought up to date with the same migrations.

**Restore** reads the whole archive into a scratch folder under the data directory and checks it
(every file's hash, the database's integrity, a schema this version knows, a file for every
attachment row) before anything is changed. Then the files go into the attachment store and, in one
transaction, every table's rows are replaced by the backup's. Messages arriving meanwhile wait for
that transaction (PostgreSQL: ``EXCLUSIVE`` locks, reads go on; SQLite: the write lock) and are kept
after it. Attachment files that only the replaced rows named stay on disk, unreferenced: deleting
them could race a message being stored.

The audit log is the one table a restore keeps as it is (the backup's copy of it is not read back):
a restore rewinds the configuration, not the record of who did what on this box, restores included.

**Secrets.** Stored secrets (webhook secrets, the SMTP and APN passwords) stay sealed in the copy
(:mod:`appliance.db.sealed`): the database file of an archive, taken alone, reveals none of them. The
archive carries the key file beside it, because a backup exists to bring a box back after its SD card
died, and without the key every webhook would be signed wrongly and every e-mail refused. Restore
seals the backup's secrets again with the key of the box it restores on, whose key file never
changes (the running appliance keeps using it). So the whole archive holds everything the box knows,
password hashes included, and the secrets with it: keep it as safe as the box.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    TableClause,
    column,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy import table as table_clause

from appliance import __version__
from appliance.attachments import ATTACHMENTS_DIR, AttachmentStore
from appliance.db.migrate import head_revision, is_known_revision, upgrade
from appliance.db.models import AuditEntry, Base
from appliance.db.sealed import (
    KEY_FILE,
    KeyFileError,
    SealedText,
    SealingKey,
    SecretUnavailable,
    is_sealed,
    load_key,
    sealed_key_id,
)

log = logging.getLogger(__name__)

FORMAT = "sms-appliance-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "database.sqlite3"
MAX_MANIFEST_BYTES = 1024 * 1024
COPY_BATCH = 1000
_ATTACHMENT_ENTRY = re.compile(r"attachments/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class BackupError(Exception):
    """A backup that cannot be made or an archive that is refused; the message says why, for a person."""


@dataclass(frozen=True)
class BackupSummary:
    created_at: datetime
    schema_revision: str
    rows: dict[str, int]
    attachment_files: int
    # Files an attachment row names that were already gone from the data directory.
    missing_files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreSummary:
    backup_created_at: datetime
    backup_revision: str
    # The schema revision the backup was brought up to, when it was older than this version's.
    upgraded_to: str | None
    rows: dict[str, int]
    attachment_files: int
    new_attachment_files: int
    missing_files: list[str] = field(default_factory=list)


# --- backup -------------------------------------------------------------------------------------

def write_backup(engine: Engine, data_dir: Path, out: BinaryIO) -> BackupSummary:
    """Write a backup of ``engine``'s database and ``data_dir``'s attachments to ``out`` (any writable
    binary stream; nothing is seeked). Scratch space is taken in ``data_dir``, which must have room
    for one more copy of the database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = AttachmentStore(data_dir)
    created_at = datetime.now(UTC)
    with _scratch(data_dir, ".backup-") as scratch:
        snapshot = scratch / DATABASE
        revision = _snapshot(engine, snapshot)
        with closing(sqlite3.connect(snapshot)) as db:
            rows = _row_counts(db)
            hashes = _referenced_files(db)
        present = sorted(h for h in hashes if store.exists(h))
        missing = sorted(hashes - set(present))
        if missing:
            log.warning("backup: %d attachment files named in the database are missing from %s, e.g. %s",
                        len(missing), store.root, missing[0])
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": created_at.isoformat(),
            "appliance_version": __version__,
            "schema_revision": revision,
            "source_database": engine.dialect.name,
            "rows": rows,
            "attachment_files": len(present),
            "missing_attachment_files": missing,
        }
        with tarfile.open(fileobj=out, mode="w|gz", format=tarfile.PAX_FORMAT) as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
            archive.add(snapshot, arcname=DATABASE)
            if (data_dir / KEY_FILE).exists():
                _add_bytes(archive, KEY_FILE, (data_dir / KEY_FILE).read_bytes())
            for sha256 in present:
                archive.add(store.path(sha256), arcname=_entry_name(sha256))
    log.info("backup written: schema %s, %d messages, %d attachment files", revision, rows.get("messages", 0),
             len(present))
    return BackupSummary(created_at, revision, rows, len(present), missing)


def _snapshot(engine: Engine, target: Path) -> str:
    """Copy the database, as of one moment, into the SQLite file ``target``; its schema revision."""
    if engine.dialect.name == "sqlite":
        source_path = engine.url.database
        if not source_path or source_path == ":memory:":
            raise BackupError("an in-memory SQLite database has nothing to back up")
        with closing(sqlite3.connect(source_path, timeout=30)) as source, \
                closing(sqlite3.connect(target)) as copy:
            source.backup(copy)  # pages=-1: one step, one read transaction
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        with closing(sqlite3.connect(target)) as copy:
            return _sqlite_revision(copy)
    head = head_revision()
    upgrade(f"sqlite:///{target}")
    copy_engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as source, copy_engine.begin() as copy:
            source = source.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with source.begin():
                # The first query fixes the snapshot every later one reads.
                revision = source.scalar(text("SELECT version_num FROM alembic_version"))
                if revision != head:
                    raise BackupError(f"the database is at schema {revision}, this program at {head}: "
                                      "run `appliance db upgrade` first")
                _copy_rows(source, copy, Base.metadata.sorted_tables)
            copy.exec_driver_sql("PRAGMA journal_mode=DELETE")
    finally:
        copy_engine.dispose()
    return head


def _copy_rows(source: Connection, target: Connection, tables: list[Table],
               reseal: Callable[[str, str], str] | None = None) -> dict[str, int]:
    """``tables`` from ``source`` into (empty) ``target``, parents before children. Sealed secrets
    are copied as stored, never opened; ``reseal(value, "table.column")`` may give each one another
    form (restore: sealed with the key of the box restored on)."""
    counts = {}
    for model_table in tables:
        stored = _as_stored(model_table)
        counts[stored.name] = 0
        order = [stored.c[key.name] for key in model_table.primary_key]
        result = source.execution_options(yield_per=COPY_BATCH).execute(select(stored).order_by(*order))
        for batch in result.partitions():
            rows = [dict(row._mapping) for row in batch]
            if reseal is not None:
                for row in rows:
                    _reseal_row(model_table, row, reseal)
            target.execute(stored.insert(), rows)
            counts[stored.name] += len(batch)
    return counts


def _as_stored(model_table: Table) -> TableClause:
    """``model_table`` with its sealed columns typed as the text they hold, so nothing opens or seals them."""
    return table_clause(model_table.name, *(column(c.name, c.type.impl if isinstance(c.type, SealedText) else c.type)
                                     for c in model_table.columns))


def _reseal_row(model_table: Table, row: dict[str, object], reseal: Callable[[str, str], str]) -> None:
    if model_table.name == "panel_settings":  # JSON values; a sealed one is bound to its setting's name
        if is_sealed(row["value"]):
            row["value"] = reseal(str(row["value"]), f"panel_settings.{row['key']}")
        return
    for c in model_table.columns:
        if isinstance(c.type, SealedText) and is_sealed(row[c.name]):
            row[c.name] = reseal(str(row[c.name]), c.type.column)


def _row_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Rows per table of the snapshot, whatever its schema revision."""
    names = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name")]
    return {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _referenced_files(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT sha256 FROM attachments UNION "
                      "SELECT thumbnail_sha256 FROM attachments WHERE thumbnail_sha256 IS NOT NULL")
    return {sha256 for (sha256,) in rows}


def _entry_name(sha256: str) -> str:
    return f"{ATTACHMENTS_DIR}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    archive.addfile(info, BytesIO(data))


# --- restore ------------------------------------------------------------------------------------

def restore_backup(engine: Engine, data_dir: Path, archive: BinaryIO) -> RestoreSummary:
    """Replace the database's rows and add the attachment files from the backup read from ``archive``.

    ``engine``'s database must be at this version's schema (``appliance db upgrade``). Raises
    :class:`BackupError`, having changed nothing, when the archive is not a complete backup of a
    schema this version knows.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    store = AttachmentStore(data_dir)
    with _scratch(data_dir, ".restore-") as scratch:
        manifest, staged = _unpack(archive, scratch)
        created_at = _check_manifest(manifest)
        database = scratch / DATABASE
        revision, upgraded_to = _checked_database(database, data_dir)
        with closing(sqlite3.connect(database)) as db:
            hashes = _referenced_files(db)
        known_missing = set(manifest.get("missing_attachment_files") or [])
        absent = sorted(h for h in hashes - staged.keys() - known_missing if not store.exists(h))
        if absent:
            raise BackupError(f"the archive is incomplete: {len(absent)} attachment files the database names "
                              f"are not in it (e.g. {absent[0]})")
        box_key, backup_key = _keys(data_dir, scratch)
        new_files = 0
        for sha256, path in staged.items():
            if not store.exists(sha256):
                store.put(path.read_bytes())
                new_files += 1
        rows = _replace_rows(engine, database, _resealer(box_key, backup_key))
    missing = sorted(h for h in hashes & known_missing if not store.exists(h))
    log.warning("restored the backup of %s (schema %s%s): %d messages, %d attachment files (%d new)",
                created_at.isoformat(), revision, f", upgraded to {upgraded_to}" if upgraded_to else "",
                rows.get("messages", 0), len(staged), new_files)
    return RestoreSummary(created_at, revision, upgraded_to, rows, len(staged), new_files, missing)


def _unpack(archive: BinaryIO, scratch: Path) -> tuple[dict[str, object], dict[str, Path]]:
    """The manifest and the attachment files (by hash, each checked against its name), with the
    database written to ``scratch``; anything that is not part of a backup is refused."""
    manifest: dict[str, object] | None = None
    has_database = False
    staged: dict[str, Path] = {}
    (scratch / ATTACHMENTS_DIR).mkdir()
    try:
        with tarfile.open(fileobj=archive, mode="r|gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise BackupError(f"the archive holds {member.name!r}, which is not a file: not a backup "
                                      "of this appliance")
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError("the archive's manifest is too large to be one of ours")
                    manifest = _parse_manifest(source.read())
                elif member.name == DATABASE:
                    with (scratch / DATABASE).open("wb") as copy:
                        shutil.copyfileobj(source, copy)
                    has_database = True
                elif member.name == KEY_FILE:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError("the archive's key file is too large to be one of ours")
                    (scratch / KEY_FILE).touch(mode=0o600)
                    (scratch / KEY_FILE).write_bytes(source.read())
                elif (match := _ATTACHMENT_ENTRY.fullmatch(member.name)) and \
                        match.group(3).startswith(match.group(1) + match.group(2)):
                    sha256 = match.group(3)
                    staged[sha256] = _stage_file(source, scratch / ATTACHMENTS_DIR / sha256, sha256)
                else:
                    raise BackupError(f"the archive holds {member.name!r}: not a backup of this appliance")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"the file is not a backup archive (.tar.gz), or it is cut short: {exc}") from None
    if manifest is None or not has_database:
        raise BackupError("the archive has no " + (MANIFEST if manifest is None else DATABASE)
                          + ": not a backup of this appliance")
    return manifest, staged


def _parse_manifest(data: bytes) -> dict[str, object]:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BackupError("the archive's manifest is not JSON: not a backup of this appliance") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("the archive is not a backup of this appliance (its manifest says otherwise)")
    return manifest


def _stage_file(source: BinaryIO, path: Path, sha256: str) -> Path:
    digest = hashlib.sha256()
    with path.open("wb") as copy:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
            copy.write(chunk)
    if digest.hexdigest() != sha256:
        raise BackupError(f"attachment file {sha256} in the archive is damaged (its content does not match its name)")
    return path


def _check_manifest(manifest: dict[str, object]) -> datetime:
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise BackupError("the archive's manifest has no format version")
    if version > FORMAT_VERSION:
        raise BackupError(f"the backup was made by a newer version of the appliance (archive format {version}); "
                          "update this appliance first")
    try:
        return datetime.fromisoformat(str(manifest.get("created_at")))
    except ValueError:
        raise BackupError("the archive's manifest has no valid creation time") from None


def _keys(data_dir: Path, scratch: Path) -> tuple[SealingKey, SealingKey | None]:
    """The key of the box restored on, and the one the archive carries (None: an archive without one)."""
    try:
        box_key = load_key(data_dir)
        backup_key = load_key(scratch) if (scratch / KEY_FILE).exists() else None
    except KeyFileError as exc:
        raise BackupError(str(exc)) from None
    return box_key, backup_key


def _resealer(box_key: SealingKey, backup_key: SealingKey | None) -> Callable[[str, str], str]:
    """A backup's sealed value, sealed with ``box_key``: the box's key file stays as it is, so the
    running appliance opens the restored secrets with the key it already has."""
    unopened: list[str] = []

    def reseal(value: str, column: str) -> str:
        key_id = sealed_key_id(value)
        if key_id == box_key.key_id:
            return value
        if backup_key is not None and key_id == backup_key.key_id:
            try:
                return box_key.seal(backup_key.open(value, column), column)
            except SecretUnavailable:
                pass
        if not unopened:
            log.warning("restore: %s of the backup was sealed with key %s, which neither the archive nor %s "
                        "holds: it is restored as it is and must be entered again", column, key_id, box_key.path)
        unopened.append(column)
        return value

    return reseal


def _checked_database(path: Path, data_dir: Path) -> tuple[str, str | None]:
    """The backup database's schema revision, and the one it was upgraded to (None: already current).
    An older backup's secrets are sealed by the upgrade with the key in ``data_dir``."""
    try:
        with closing(sqlite3.connect(path)) as db:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"the backup's database is damaged: {result}")
            revision = _sqlite_revision(db)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup's database cannot be read: {exc}") from None
    head = head_revision()
    if not is_known_revision(revision):
        raise BackupError(f"the backup's database is at schema {revision}, which this appliance does not know "
                          f"(it knows up to {head}): it was made by a newer version; update this appliance first")
    if revision == head:
        return revision, None
    upgrade(f"sqlite:///{path}", data_dir=data_dir)
    return revision, head


def _sqlite_revision(db: sqlite3.Connection) -> str:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is None:
        raise BackupError("the database has no schema revision (alembic_version): not an appliance database")
    return str(row[0])


def _replace_rows(engine: Engine, database: Path, reseal: Callable[[str, str], str]) -> dict[str, int]:
    tables = [table for table in Base.metadata.sorted_tables if table is not AuditEntry.__table__]
    source_engine = create_engine(f"sqlite:///{database}")
    try:
        with source_engine.connect() as source, engine.begin() as target:
            if engine.dialect.name == "postgresql":
                names = ", ".join(target.dialect.identifier_preparer.format_table(t) for t in tables)
                # Writers wait until the backup's rows are in; readers go on seeing the old ones.
                target.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
            for table in reversed(tables):
                target.execute(table.delete())
            counts = _copy_rows(source, target, tables, reseal)
            if engine.dialect.name == "postgresql":
                _restart_sequences(target, tables)
    finally:
        source_engine.dispose()
    return counts


def _restart_sequences(connection: Connection, tables: list[Table]) -> None:
    """Rows came with their ids: each id sequence continues after the largest one restored."""
    for table in tables:
        if len(table.primary_key.columns) != 1:
            continue
        column = next(iter(table.primary_key.columns))
        sequence = connection.scalar(select(func.pg_get_serial_sequence(table.name, column.name)))
        if sequence is None:
            continue
        largest = connection.scalar(select(func.max(column))) or 0
        connection.execute(select(func.setval(sequence, largest + 1, False)))


# --- shared -------------------------------------------------------------------------------------

@contextmanager
def _scratch(data_dir: Path, prefix: str) -> Iterator[Path]:
    """A folder in the data directory (the one disk sure to have room), removed afterwards."""
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=prefix) as name:
        yield Path(name)

