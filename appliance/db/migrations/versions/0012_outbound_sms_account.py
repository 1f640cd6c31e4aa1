"""outbound texts say which account they speak for

Revision ID: 0012
Revises: 0011
Created: 2026-12-04 15:10:00

Texts queued before this revision get their account where the box knows it: automatic answers
(auto_replies), group sends (group_send_recipients), and every text of a dedicated number (its
owner's). Manual replies and API texts on shared numbers stay without one.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbound_sms_account_id_accounts'), 'accounts',
                                    ['account_id'], ['id'])
    op.execute("""
        UPDATE outbound_sms SET account_id = (
            SELECT a.account_id FROM access_numbers a
            WHERE a.iccid = outbound_sms.iccid AND a.kind = 'dedicated')
        WHERE account_id IS NULL""")
    op.execute("""
        UPDATE outbound_sms SET account_id = (
            SELECT MAX(r.account_id) FROM auto_replies r WHERE r.outbound_id = outbound_sms.id)
        WHERE account_id IS NULL""")
    op.execute("""
        UPDATE outbound_sms SET account_id = (
            SELECT MAX(s.account_id) FROM group_send_recipients r JOIN group_sends s ON s.id = r.group_send_id
            WHERE r.outbound_id = outbound_sms.id)
        WHERE account_id IS NULL""")


def downgrade() -> None:
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbound_sms_account_id_accounts'), type_='foreignkey')
        batch_op.drop_column('account_id')
