"""statistics daily summary

Revision ID: 0007
Revises: 0006
Created: 2026-11-26 10:00:00

Three tables (appliance.db.statistics_summary) and their backfill from the stored messages and
opt-in/opt-out events. The backfill is written out here rather than imported, so this revision keeps
doing what it did when later ones change the code: per scope (``sim:<ICCID>``, ``keyword:<id>``) and
calendar day of Europe/Warsaw, messages, opt-ins, opt-outs, poll votes per option, contest entries
and correct ones; messages per sender and day; and each day's senders by the day they last wrote
before (at most 366 days back, older counts as 367). A contest's numbers are the senders of
``<scope>/contest:<id>``.
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
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('opt_ins', sa.Integer(), nullable=False),
    sa.Column('opt_outs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', name=op.f('pk_statistics_days')),
    sqlite_with_rowid=False
    )
    op.create_table('statistics_sender_days',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'sender', 'day', name=op.f('pk_statistics_sender_days')),
    sqlite_with_rowid=False
    )
    op.create_table('statistics_day_senders',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('previous_day', sa.Date(), nullable=False),
    sa.Column('senders', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', 'previous_day', name=op.f('pk_statistics_day_senders')),
    sqlite_with_rowid=False
    )
    op.create_table('statistics_poll_days',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_code', sa.String(length=32), nullable=False),
    sa.Column('votes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', 'poll_id', 'option_code', name=op.f('pk_statistics_poll_days')),
    sqlite_with_rowid=False
    )
    op.create_table('statistics_contest_days',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('contest_id', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'day', 'contest_id', name=op.f('pk_statistics_contest_days')),
    sqlite_with_rowid=False
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table('statistics_contest_days')
    op.drop_table('statistics_poll_days')
    op.drop_table('statistics_day_senders')
    op.drop_table('statistics_sender_days')
    op.drop_table('statistics_days')


def _backfill(connection: sa.Connection) -> None:
    m = sa.table('messages', sa.column('id', sa.Integer()), sa.column('iccid', sa.String()),
                 sa.column('keyword_id', sa.Integer()), sa.column('sender', sa.String()),
                 sa.column('received_at', sa.DateTime(timezone=True)))
    events = sa.table('contact_events', sa.column('message_id', sa.Integer()), sa.column('kind', sa.String()))
    votes = sa.table('poll_votes', sa.column('message_id', sa.Integer()), sa.column('poll_id', sa.Integer()),
                     sa.column('option_code', sa.String()))
    entries = sa.table('contest_entries', sa.column('message_id', sa.Integer()), sa.column('contest_id', sa.Integer()),
                       sa.column('msisdn', sa.String()), sa.column('correct', sa.Boolean()))
    columns = {'scope': sa.String(), 'sender': sa.String(), 'day': sa.Date(), 'previous_day': sa.Date(),
               'option_code': sa.String()}

    def table(name: str, *names: str) -> sa.TableClause:
        return sa.table(name, *(sa.column(n, columns.get(n, sa.Integer())) for n in names))

    days = table('statistics_days', 'scope', 'day', 'messages', 'opt_ins', 'opt_outs')
    sender_days = table('statistics_sender_days', 'scope', 'sender', 'day', 'messages')
    day_senders = table('statistics_day_senders', 'scope', 'day', 'previous_day', 'senders')
    poll_days = table('statistics_poll_days', 'scope', 'day', 'poll_id', 'option_code', 'votes')
    contest_days = table('statistics_contest_days', 'scope', 'day', 'contest_id', 'entries', 'correct')

    def local_day(moment):  # SQLite hands back the UTC instant without its zone
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(ZONE).date()

    def scopes(iccid, keyword_id):
        return [f'sim:{iccid}'] + ([f'keyword:{keyword_id}'] if keyword_id is not None else [])

    def insert(target, rows):
        for start in range(0, len(rows), CHUNK):
            connection.execute(target.insert(), rows[start:start + CHUNK])

    counts: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    poll_counts: Counter = Counter()
    contest_counts: dict[tuple[str, date, int], list[int]] = defaultdict(lambda: [0, 0])
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
            insert(sender_days, pending)
            pending.clear()

    # Messages and their senders, per scope: a sender's days in a scope come together.
    for column, prefix in ((m.c.iccid, 'sim:'), (m.c.keyword_id, 'keyword:')):
        query = (sa.select(column, m.c.sender, m.c.received_at).where(column.is_not(None))
                 .order_by(column, m.c.sender, m.c.received_at))
        current, seen = None, Counter()
        for key, sender, received_at in connection.execute(query.execution_options(yield_per=CHUNK)):
            scope, day = f'{prefix}{key}', local_day(received_at)
            counts[scope, day][0] += 1
            if sender is None:
                continue
            if current != (scope, sender):
                if current is not None:
                    finish(*current, seen)
                current, seen = (scope, sender), Counter()
            seen[day] += 1
        if current is not None:
            finish(*current, seen)

    # Contest entries; the numbers that entered are the senders of '<scope>/contest:<id>'.
    query = (sa.select(entries.c.contest_id, entries.c.msisdn, entries.c.correct, m.c.iccid, m.c.keyword_id,
                       m.c.received_at)
             .select_from(entries.join(m, m.c.id == entries.c.message_id))
             .order_by(entries.c.contest_id, entries.c.msisdn))
    current, numbers = None, defaultdict(Counter)
    for contest_id, msisdn, correct, iccid, keyword_id, received_at in connection.execute(
            query.execution_options(yield_per=CHUNK)):
        if current != (contest_id, msisdn):
            for scope, seen in numbers.items():
                finish(scope, current[1], seen)
            current, numbers = (contest_id, msisdn), defaultdict(Counter)
        day = local_day(received_at)
        for scope in scopes(iccid, keyword_id):
            contest_counts[scope, day, contest_id][0] += 1
            contest_counts[scope, day, contest_id][1] += 1 if correct else 0
            numbers[f'{scope}/contest:{contest_id}'][day] += 1
    for scope, seen in numbers.items():
        finish(scope, current[1], seen)
    if pending:
        insert(sender_days, pending)

    query = (sa.select(m.c.iccid, m.c.keyword_id, m.c.received_at, events.c.kind)
             .select_from(events.join(m, m.c.id == events.c.message_id))
             .where(events.c.kind.in_(('opt_in', 'opt_out'))))
    for iccid, keyword_id, received_at, kind in connection.execute(query.execution_options(yield_per=CHUNK)):
        for scope in scopes(iccid, keyword_id):
            counts[scope, local_day(received_at)][1 if kind == 'opt_in' else 2] += 1
    query = (sa.select(m.c.iccid, m.c.keyword_id, m.c.received_at, votes.c.poll_id, votes.c.option_code)
             .select_from(votes.join(m, m.c.id == votes.c.message_id)))
    for iccid, keyword_id, received_at, poll_id, option in connection.execute(query.execution_options(yield_per=CHUNK)):
        for scope in scopes(iccid, keyword_id):
            poll_counts[scope, local_day(received_at), poll_id, option] += 1

    insert(days, [{'scope': scope, 'day': day, 'messages': n[0], 'opt_ins': n[1], 'opt_outs': n[2]}
                  for (scope, day), n in sorted(counts.items())])
    insert(day_senders, [{'scope': scope, 'day': day, 'previous_day': previous, 'senders': n}
                         for (scope, day, previous), n in sorted(visits.items())])
    insert(poll_days, [{'scope': scope, 'day': day, 'poll_id': poll_id, 'option_code': option, 'votes': n}
                       for (scope, day, poll_id, option), n in sorted(poll_counts.items())])
    insert(contest_days, [{'scope': scope, 'day': day, 'contest_id': contest_id, 'entries': n[0], 'correct': n[1]}
                          for (scope, day, contest_id), n in sorted(contest_counts.items())])
