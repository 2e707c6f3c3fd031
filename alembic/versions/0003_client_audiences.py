"""client audiences: who signs in through a client (citizen, professional or both)

Revision ID: 0003_client_audiences
Revises: 0002_domains
Create Date: 2026-12-02 11:45:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = '0003_client_audiences'
down_revision = '0002_domains'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('audiences', sa.String(length=40), server_default='citizen', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('audiences')
