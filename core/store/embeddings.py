"""Embeddings of texts by hash, per embedding model: the cache QC and the drafting agent share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from core.db import TextEmbeddingRow
from core.store.sql import insert_ignore

if TYPE_CHECKING:
    from core.store import Store

# SQLite caps the variables of one statement; stay well under every version's limit.
_CHUNK = 500


class EmbeddingStore:
    """Vectors keyed by (model, text hash). Writes are idempotent: the same key keeps one row."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get_many(self, model: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Return the stored vectors among `keys` (missing keys are simply absent)."""
        wanted = sorted(set(keys))
        out: dict[str, np.ndarray] = {}
        with self._store.session() as s:
            for i in range(0, len(wanted), _CHUNK):
                rows = s.execute(select(TextEmbeddingRow.key, TextEmbeddingRow.vector).where(
                    TextEmbeddingRow.model == model, TextEmbeddingRow.key.in_(wanted[i:i + _CHUNK])))
                for key, blob in rows:
                    out[key] = np.frombuffer(blob, dtype="<f4")
        return out

    def put_many(self, model: str, vectors: Mapping[str, np.ndarray]) -> int:
        """Store `vectors` (key -> 1-d float vector) in one transaction; returns how many were given."""
        rows = [{"model": model, "key": k, "dim": int(v.shape[0]),
                 "vector": np.asarray(v, dtype="<f4").tobytes()} for k, v in vectors.items()]
        if not rows:
            return 0
        with self._store.session() as s:
            # Two writers may embed the same text at once; the vectors are equal, keep the first.
            insert_ignore(s, TextEmbeddingRow, rows)
        return len(rows)

    def count(self, model: str | None = None) -> int:
        """How many vectors are stored (for one model, or all)."""
        from sqlalchemy import func

        q = select(func.count()).select_from(TextEmbeddingRow)
        if model is not None:
            q = q.where(TextEmbeddingRow.model == model)
        with self._store.session() as s:
            return int(s.scalar(q) or 0)
