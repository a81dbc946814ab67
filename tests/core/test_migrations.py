"""The Alembic migrations build exactly the schema the SQLAlchemy models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.db import Base
from core.store import Store


def test_migrated_database_matches_the_models(settings) -> None:
    store = Store.open(settings.db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    store.close()
    assert diff == [], diff  # a model changed without a migration (or the other way round)
    assert "text_embeddings" in tables and "alembic_version" in tables


def test_the_embedding_cache_keeps_one_row_per_model_and_text(settings) -> None:
    import numpy as np

    store = Store.open(settings.db_url)
    v = np.arange(4, dtype=np.float32)
    assert store.embeddings.put_many("m", {"k1": v, "k2": v + 1}) == 2
    store.embeddings.put_many("m", {"k1": v + 9})  # a second writer of the same text: first one stays
    got = store.embeddings.get_many("m", ["k1", "k2", "nope"])
    assert sorted(got) == ["k1", "k2"] and got["k1"].tolist() == [0, 1, 2, 3]
    assert store.embeddings.get_many("other", ["k1"]) == {} and store.embeddings.count() == 2
    store.close()
