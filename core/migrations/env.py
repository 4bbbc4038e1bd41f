"""Alembic environment: the connection comes from ``arrears.core.db.Database``."""

from alembic import context

from arrears.core.schema import metadata

target_metadata = metadata
connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through Database.upgrade()
    raise SystemExit("run migrations through `arrears init`")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
