"""statistics daily summary

Revision ID: 0007
Revises: 0006
Created: 2026-11-26 10:00:00

Three tables (appliance.db.statistics_summary) and their backfill from the stored messages and
opt-in/opt-out events. The backfill is written out here rather than imported, so this revision keeps
doing what it did when later ones change the code: per scope (``sim:<ICCID>``, ``keyword:<id>``) and
calendar day of Europe/Warsaw, messages, opt-ins, opt-outs; messages per sender and day; and each
day's senders by the day they last wrote before (at most 366 days back, older counts as 367).
"""

from collections import Counter, defaultdict
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ZONE = ZoneInfo("Europe/Warsaw")
LOOKBACK_DAYS = 366
CHUNK = 10_000


def upgrade() -> None:
    op.create_table('statistics_days',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('opt_ins', sa.Integer(), nullable=False),
    sa.Column('opt_outs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', name=op.f('pk_statistics_days'))
    )
    op.create_table('statistics_sender_days',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'sender', 'day', name=op.f('pk_statistics_sender_days'))
    )
    op.create_table('statistics_day_senders',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('previous_day', sa.Date(), nullable=False),
    sa.Column('senders', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', 'previous_day', name=op.f('pk_statistics_day_senders'))
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table('statistics_day_senders')
    op.drop_table('statistics_sender_days')
    op.drop_table('statistics_days')


def _backfill(connection: sa.Connection) -> None:
    messages = sa.table('messages', sa.column('id', sa.Integer()), sa.column('iccid', sa.String()),
                        sa.column('keyword_id', sa.Integer()), sa.column('sender', sa.String()),
                        sa.column('received_at', sa.DateTime(timezone=True)))
    events = sa.table('contact_events', sa.column('message_id', sa.Integer()), sa.column('kind', sa.String()))
    days = sa.table('statistics_days', sa.column('scope', sa.String()), sa.column('day', sa.Date()),
                    sa.column('messages', sa.Integer()), sa.column('opt_ins', sa.Integer()),
                    sa.column('opt_outs', sa.Integer()))
    sender_days = sa.table('statistics_sender_days', sa.column('scope', sa.String()), sa.column('sender', sa.String()),
                           sa.column('day', sa.Date()), sa.column('messages', sa.Integer()))
    day_senders = sa.table('statistics_day_senders', sa.column('scope', sa.String()), sa.column('day', sa.Date()),
                           sa.column('previous_day', sa.Date()), sa.column('senders', sa.Integer()))

    def local_day(moment):  # SQLite hands back the UTC instant without its zone
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(ZONE).date()

    per_day: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    visits: Counter = Counter()
    pending: list[dict] = []

    def finish(scope: str, sender: str, seen: Counter) -> None:
        pending.extend({'scope': scope, 'sender': sender, 'day': day, 'messages': n} for day, n in sorted(seen.items()))
        previous = None
        for day in sorted(seen):
            floor = day - timedelta(days=LOOKBACK_DAYS + 1)
            visits[scope, day, previous if previous is not None and previous > floor else floor] += 1
            previous = day
        if len(pending) >= CHUNK:
            connection.execute(sender_days.insert(), pending)
            pending.clear()

    for column, prefix in ((messages.c.iccid, 'sim:'), (messages.c.keyword_id, 'keyword:')):
        query = (sa.select(column, messages.c.sender, messages.c.received_at).where(column.is_not(None))
                 .order_by(column, messages.c.sender, messages.c.received_at))
        current, seen = None, Counter()
        for key, sender, received_at in connection.execute(query.execution_options(yield_per=CHUNK)):
            scope, day = f'{prefix}{key}', local_day(received_at)
            per_day[scope, day][0] += 1
            if sender is None:
                continue
            if current != (scope, sender):
                if current is not None:
                    finish(*current, seen)
                current, seen = (scope, sender), Counter()
            seen[day] += 1
        if current is not None:
            finish(*current, seen)
    if pending:
        connection.execute(sender_days.insert(), pending)

    query = (sa.select(messages.c.iccid, messages.c.keyword_id, messages.c.received_at, events.c.kind)
             .select_from(events.join(messages, messages.c.id == events.c.message_id))
             .where(events.c.kind.in_(('opt_in', 'opt_out'))))
    for iccid, keyword_id, received_at, kind in connection.execute(query.execution_options(yield_per=CHUNK)):
        day = local_day(received_at)
        for scope in [f'sim:{iccid}'] + ([f'keyword:{keyword_id}'] if keyword_id is not None else []):
            per_day[scope, day][1 if kind == 'opt_in' else 2] += 1

    rows = [{'scope': scope, 'day': day, 'messages': n[0], 'opt_ins': n[1], 'opt_outs': n[2]}
            for (scope, day), n in sorted(per_day.items())]
    for start in range(0, len(rows), CHUNK):
        connection.execute(days.insert(), rows[start:start + CHUNK])
    rows = [{'scope': scope, 'day': day, 'previous_day': previous, 'senders': n}
            for (scope, day, previous), n in sorted(visits.items())]
    for start in range(0, len(rows), CHUNK):
        connection.execute(day_senders.insert(), rows[start:start + CHUNK])
