"""secrets stored sealed with the key file of the data directory

Revision ID: 0016
Revises: 0015
Created: 2026-12-04 18:20:00

Webhook secrets and download tokens of forward targets, APN passwords of access numbers and the SMTP
password set in the panel are encrypted (appliance.db.sealed); the columns grow to hold the
ciphertext, and download tokens lose their unique index (each sealed value differs anyway; a token is
found by comparing it). The key is ``secrets.key`` in the data directory, which this migration finds
in the Alembic config's ``data_dir`` attribute (``appliance run``, ``appliance db upgrade``, restore),
else in the settings (APPLIANCE_CONFIG, APPLIANCE_DATA_DIR). A database with no secret stored needs
no key here. The downgrade opens every value again with the same key.
"""

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from appliance.db.sealed import SEALED_LENGTH, SealingKey, is_sealed, load_key

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

SEALED_COLUMNS = (("forward_targets", "secret"), ("forward_targets", "download_token"),
                  ("access_numbers", "mms_apn_password"))
SEALED_SETTINGS = ("smtp_password",)


def upgrade() -> None:
    _foreign_keys(on=False)
    with op.batch_alter_table('forward_targets', schema=None) as batch_op:
        batch_op.drop_constraint('uq_forward_targets_download_token', type_='unique')
        batch_op.alter_column('secret', existing_type=sa.String(length=100), type_=sa.String(length=SEALED_LENGTH),
                              existing_nullable=False)
        batch_op.alter_column('download_token', existing_type=sa.String(length=100),
                              type_=sa.String(length=SEALED_LENGTH), existing_nullable=False)
    with op.batch_alter_table('access_numbers', schema=None) as batch_op:
        batch_op.alter_column('mms_apn_password', existing_type=sa.String(length=100),
                              type_=sa.String(length=SEALED_LENGTH), existing_nullable=True)
    _foreign_keys(on=True)
    _rewrite(_sealed)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:  # PostgreSQL checks lengths: open the values before the columns shrink
        _rewrite(_opened)
    _foreign_keys(on=False)
    with op.batch_alter_table('access_numbers', schema=None) as batch_op:
        batch_op.alter_column('mms_apn_password', existing_type=sa.String(length=SEALED_LENGTH),
                              type_=sa.String(length=100), existing_nullable=True)
    with op.batch_alter_table('forward_targets', schema=None) as batch_op:
        batch_op.alter_column('download_token', existing_type=sa.String(length=SEALED_LENGTH),
                              type_=sa.String(length=100), existing_nullable=False)
        batch_op.alter_column('secret', existing_type=sa.String(length=SEALED_LENGTH),
                              type_=sa.String(length=100), existing_nullable=False)
        batch_op.create_unique_constraint('uq_forward_targets_download_token', ['download_token'])
    _foreign_keys(on=True)
    if sqlite:  # after the copies: the value updates start pysqlite's transaction, in which the switch does nothing
        _rewrite(_opened)


def _foreign_keys(on: bool) -> None:
    """SQLite's batch mode copies a table, drops it and renames the copy: rows of other tables that refer
    to it would fail the drop, so the check is off while the copies are made. The switch works outside a
    transaction only, which is where these statements run (pysqlite starts none for DDL); the copies
    keep every id, so every reference holds again when it is back on."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def _sealed(value: str, column: str, key: Callable[[], SealingKey]) -> str:
    return value if is_sealed(value) else key().seal(value, column)


def _opened(value: str, column: str, key: Callable[[], SealingKey]) -> str:
    return key().open(value, column) if is_sealed(value) else value


def _rewrite(change: Callable[[str, str, Callable[[], SealingKey]], str]) -> None:
    """Every stored secret through ``change(value, "table.column", key)``; the key is loaded at the first
    value that needs it."""
    connection = op.get_bind()
    loaded: list[SealingKey] = []

    def key() -> SealingKey:
        if not loaded:
            loaded.append(load_key(_data_dir()))
        return loaded[0]

    for table_name, column_name in SEALED_COLUMNS:
        table = sa.table(table_name, sa.column('id', sa.Integer), sa.column(column_name, sa.String))
        column = table.c[column_name]
        for row_id, value in connection.execute(sa.select(table.c.id, column).where(column.is_not(None))).all():
            new = change(value, f"{table_name}.{column_name}", key)
            if new != value:
                connection.execute(table.update().where(table.c.id == row_id).values({column_name: new}))
    settings = sa.table('panel_settings', sa.column('key', sa.String), sa.column('value', sa.JSON))
    for name, value in connection.execute(sa.select(settings.c.key, settings.c.value)
                                          .where(settings.c.key.in_(SEALED_SETTINGS))).all():
        if isinstance(value, str) and value:
            new = change(value, f"panel_settings.{name}", key)
            if new != value:
                connection.execute(settings.update().where(settings.c.key == name).values(value=new))


def _data_dir() -> Path:
    data_dir = context.config.attributes.get('data_dir')
    if data_dir is None:
        from appliance.config import load_settings
        data_dir = load_settings().data_dir
    return Path(data_dir)
