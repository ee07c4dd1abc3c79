"""Alembic environment: the URL comes from the caller, WANGGE_DATABASE_URL or the embedded cluster."""

from __future__ import annotations

import logging.config

from alembic import context
from geoalchemy2 import alembic_helpers

from gis.db.engine import database_url, make_engine
from gis.db.migrate import include_object
from gis.db.models import Base
from gis.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def configure_kwargs() -> dict:
    return {
        "target_metadata": target_metadata,
        "include_object": include_object,
        "process_revision_directives": alembic_helpers.writer,
        "render_item": alembic_helpers.render_item,
        "compare_type": True,
        "transaction_per_migration": True,
    }


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **configure_kwargs())
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or database_url(Settings())
    engine = make_engine(url, pool_pre_ping=False)
    with engine.connect() as conn:
        context.configure(connection=conn, **configure_kwargs())
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **configure_kwargs())
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
