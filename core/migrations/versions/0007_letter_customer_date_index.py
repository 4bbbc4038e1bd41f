"""letter index by customer and date: a run finds the letters posted on its date

One letter per customer per day (SEMANTICS.md §5) must count every letter of the
day, also one whose invoices were paid since, without reading all of a customer's
letters ever posted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 08:20:00.000000
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_letter_customer_date', 'letter', ['customer_id', 'date'], unique=False)
    op.drop_index('ix_letter_customer_id', table_name='letter')


def downgrade() -> None:
    op.create_index('ix_letter_customer_id', 'letter', ['customer_id'], unique=False)
    op.drop_index('ix_letter_customer_date', table_name='letter')
