"""clients: admin_structure, the structure a structure-scoped administrator's admin:delegations is limited to

Revision ID: 0006_client_admin_structure
Revises: 0005_grant_delegation
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = '0006_client_admin_structure'
down_revision = '0005_grant_delegation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('admin_structure', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('admin_structure')
