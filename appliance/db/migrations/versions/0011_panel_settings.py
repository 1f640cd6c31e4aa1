"""panel settings

Revision ID: 0011
Revises: 0010
Created: 2026-12-05 10:12:40.118234
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('panel_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_panel_settings'))
    )


def downgrade() -> None:
    op.drop_table('panel_settings')
