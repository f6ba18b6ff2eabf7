"""Alembic environment: the engine comes from engine.store.migrate, never from a URL in a file."""

from alembic import context

from engine.store.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
