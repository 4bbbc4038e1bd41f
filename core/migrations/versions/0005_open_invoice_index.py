"""open invoice index: the daily run reads open invoices only, however many are paid

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 00:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_invoice_open', 'invoice', ['customer_id', 'due_date'], unique=False,
                    sqlite_where=sa.text('open_minor > 0'),
                    postgresql_where=sa.text('open_minor > 0'))


def downgrade() -> None:
    op.drop_index('ix_invoice_open', table_name='invoice')
