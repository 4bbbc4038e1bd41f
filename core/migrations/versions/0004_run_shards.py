"""run shards: a daily run split into N shards records each shard as a run of its own

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shard', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('shards', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('shards')
        batch_op.drop_column('shard')
