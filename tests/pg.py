"""PostgreSQL for the tests: a fresh database per test on the server IDIOLECT_TEST_PG_URL names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL_ENV = "IDIOLECT_TEST_PG_URL"


def pg_server_url() -> str | None:
    """The test server's URL (any database on it; .ci/run starts one and sets it), or None."""
    return os.environ.get(PG_URL_ENV) or None


@contextmanager
def fresh_database(server_url: str, prefix: str = "idiolect_test") -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it afterwards (even if still in use)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
