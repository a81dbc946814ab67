"""Dialect-neutral SQL building blocks: "insert unless present" and "insert or update" on SQLite and PostgreSQL.

Both dialects speak `INSERT ... ON CONFLICT`; SQLAlchemy exposes it per dialect, so the
statement is built with the insert of the dialect the session is bound to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from core.errors import ConfigError

# SQLite caps the variables of one statement (32,766 since 3.32, 999 before); stay well under.
MAX_ROWS = 500


def _dialect_insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise ConfigError(f"database dialect {name!r} is not supported; use SQLite or PostgreSQL")
    return insert


def _table(entity: Any) -> Table:
    return entity if isinstance(entity, Table) else entity.__table__


def insert_ignore(session: Session, entity: Any, rows: Sequence[Mapping[str, Any]],
                  keys: Sequence[str] | None = None) -> None:
    """Insert `rows`, silently keeping any row whose key (default: the primary key) already exists.

    Two processes inserting the same key at once both succeed and one row remains, on both
    backends; no IntegrityError ever reaches the caller for that key.
    """
    if not rows:
        return
    insert = _dialect_insert(session)
    table = _table(entity)
    cols = list(keys) if keys else [c.name for c in table.primary_key.columns]
    for i in range(0, len(rows), MAX_ROWS):
        stmt = insert(table).values(list(rows[i:i + MAX_ROWS])).on_conflict_do_nothing(index_elements=cols)
        session.execute(stmt)


def upsert(session: Session, entity: Any, rows: Sequence[Mapping[str, Any]], *,
           update: Sequence[str], keys: Sequence[str] | None = None) -> None:
    """Insert `rows`; where the key exists, overwrite the columns named in `update` (one atomic statement)."""
    if not rows:
        return
    insert = _dialect_insert(session)
    table = _table(entity)
    cols = list(keys) if keys else [c.name for c in table.primary_key.columns]
    for i in range(0, len(rows), MAX_ROWS):
        stmt = insert(table).values(list(rows[i:i + MAX_ROWS]))
        stmt = stmt.on_conflict_do_update(index_elements=cols, set_={c: stmt.excluded[c] for c in update})
        session.execute(stmt)
