"""history without foreign keys: the log names customers, invoices and runs by id

Half of what a catch-up run's writes cost PostgreSQL was checking the history's three
foreign keys, row by row (docs/decisions.md, "The run").

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 06:00:00.000000
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

FOREIGN_KEYS = (
    ('fk_history_run_id_run', 'run', 'run_id'),
    ('fk_history_customer_id_customer', 'customer', 'customer_id'),
    ('fk_history_invoice_id_invoice', 'invoice', 'invoice_id'),
)


def upgrade() -> None:
    with op.batch_alter_table('history', schema=None) as batch_op:
        for name, _, _ in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('history', schema=None) as batch_op:
        for name, table, column in FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ['id'])
