"""Alembic environment: runs on the connection handed over by core.db.migrate."""

from alembic import context

from core.db import Base, modelled

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use (autogenerate during development)
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  include_object=modelled)
with context.begin_transaction():
    context.run_migrations()
