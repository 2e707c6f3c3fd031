"""delegation: delegations and their notifications

Revision ID: 0004_delegation
Revises: 0003_client_audiences
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

import idp.db
from alembic import op

revision = '0004_delegation'
down_revision = '0003_client_audiences'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delegations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('principal_id', sa.String(length=32), nullable=False),
    sa.Column('delegate_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('context', sa.String(length=300), nullable=True),
    sa.Column('valid_from', idp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', idp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', idp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', idp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('responded_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=200), nullable=True),
    sa.Column('revocation_reason', sa.String(length=500), nullable=True),
    sa.Column('expired_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expiry_reason', sa.String(length=40), nullable=True),
    sa.Column('teen_consent_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('teen_consent_withdrawn_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delegate_id'], ['accounts.id'], name=op.f('fk_delegations_delegate_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['principal_id'], ['accounts.id'], name=op.f('fk_delegations_principal_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegations'))
    )
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.create_index('ix_delegations_delegate', ['delegate_id', 'status', 'valid_until'], unique=False)
        batch_op.create_index('ix_delegations_principal', ['principal_id', 'status'], unique=False)
        batch_op.create_index('ix_delegations_pair', ['principal_id', 'delegate_id'], unique=False)
        batch_op.create_index('ix_delegations_lapse', ['status', 'valid_until'], unique=False)

    op.create_table('delegation_notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('delegation_id', sa.String(length=32), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', idp.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', idp.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_delegation_notifications_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['delegation_id'], ['delegations.id'], name=op.f('fk_delegation_notifications_delegation_id_delegations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation_notifications'))
    )
    with op.batch_alter_table('delegation_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_delegation_notifications_account', ['account_id', 'id'], unique=False)
        batch_op.create_index('ix_delegation_notifications_delegation', ['delegation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delegation_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_delegation_notifications_delegation')
        batch_op.drop_index('ix_delegation_notifications_account')
    op.drop_table('delegation_notifications')
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_index('ix_delegations_lapse')
        batch_op.drop_index('ix_delegations_pair')
        batch_op.drop_index('ix_delegations_principal')
        batch_op.drop_index('ix_delegations_delegate')
    op.drop_table('delegations')
