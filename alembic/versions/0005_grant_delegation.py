"""grants acting under a delegation: the delegation and its principal

Revision ID: 0005_grant_delegation
Revises: 0004_delegation
Create Date: 2026-12-05 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = '0005_grant_delegation'
down_revision = '0004_delegation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('grants') as batch:
        batch.add_column(sa.Column('delegation_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('principal_id', sa.String(length=32), nullable=True))
        batch.create_index('ix_grants_delegation', ['delegation_id'])


def downgrade() -> None:
    with op.batch_alter_table('grants') as batch:
        batch.drop_index('ix_grants_delegation')
        batch.drop_column('principal_id')
        batch.drop_column('delegation_id')
