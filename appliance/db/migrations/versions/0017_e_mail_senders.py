"""columns that hold a message's sender widened to 254 characters (an MMS from an e-mail address)

Revision ID: 0017
Revises: 0016
Created: 2026-12-04 19:00:00

An MMS may come from an e-mail address of up to 254 characters (RFC 5321). The sender column of
messages and of the statistics summary, and the columns the campaign engine copies a sender into
(contacts, poll votes, contest entries, automatic answers, group send recipients) were 64 or 32
characters: PostgreSQL refused such a vote, entry or opt-in, and the MMS fetcher refused MMS from a
longer address. The downgrade refuses while a longer value is stored rather than cut a sender short.
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

SENDER_LENGTH = 254
# (table, column, length before, nullable)
SENDER_COLUMNS = (
    ('messages', 'sender', 64, True),
    ('statistics_sender_days', 'sender', 64, False),
    ('contacts', 'msisdn', 32, False),
    ('poll_votes', 'msisdn', 32, False),
    ('contest_entries', 'msisdn', 32, False),
    ('auto_replies', 'recipient', 32, False),
    ('group_send_recipients', 'msisdn', 32, False),
)


def upgrade() -> None:
    _foreign_keys(on=False)
    for table, column, length, nullable in SENDER_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=length),
                                  type_=sa.String(length=SENDER_LENGTH), existing_nullable=nullable)
    _foreign_keys(on=True)


def downgrade() -> None:
    connection = op.get_bind()
    for table, column, length, _ in SENDER_COLUMNS:
        longer = connection.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE length({column}) > {length}"))
        if longer:
            raise RuntimeError(f"{longer} value(s) of {table}.{column} are longer than the {length} characters "
                               "the downgrade leaves: a sender would be cut short")
    _foreign_keys(on=False)
    for table, column, length, nullable in reversed(SENDER_COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=SENDER_LENGTH),
                                  type_=sa.String(length=length), existing_nullable=nullable)
    _foreign_keys(on=True)


def _foreign_keys(on: bool) -> None:
    """SQLite's batch mode copies a table, drops it and renames the copy: rows of other tables that refer
    to it (every table refers to messages) would fail the drop, so the check is off while the copies are
    made. The switch works outside a transaction only, which is where these statements run; the copies
    keep every id, so every reference holds again when it is back on."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
