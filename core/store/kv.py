"""Small named JSON documents (voice profile, style card, preferences)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.db import KVRow
from core.schemas import utcnow
from core.store.sql import upsert

if TYPE_CHECKING:
    from core.store import Store


class KVStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: str, default: dict[str, Any] | None = None) -> dict[str, Any] | None:
        with self._store.session() as s:
            row = s.get(KVRow, key)
            return dict(row.value) if row else default

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Set `key` to `value` in one atomic statement (two processes writing at once: the last one wins)."""
        with self._store.session() as s:
            upsert(s, KVRow, [{"key": key, "value": value, "updated_at": utcnow()}], update=("value", "updated_at"))
