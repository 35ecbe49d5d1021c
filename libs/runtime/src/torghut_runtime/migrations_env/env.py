"""Alembic environment shared by every service.

The runtime drives Alembic programmatically: it passes an open connection (already pointed at the
service's schema through ``search_path``) in ``config.attributes``. Each service only ships its
``versions/`` directory.
"""

from alembic import context

connection = context.config.attributes["connection"]
schema = context.config.attributes["schema"]
context.configure(connection=connection, version_table_schema=schema, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
