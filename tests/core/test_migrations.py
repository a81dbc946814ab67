"""The Alembic migrations build exactly the schema the SQLAlchemy models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from core.db import Base, modelled
from core.store import Store

pytestmark = pytest.mark.both_backends


def test_migrated_database_matches_the_models(settings, db_backend) -> None:
    store = Store.open(settings.db_url)  # an empty database: every migration runs
    assert store.dialect == db_backend
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": modelled})
        diff = compare_metadata(ctx, Base.metadata)
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        chunk_cols = {c["name"] for c in insp.get_columns("chunks")}
        vote_indexes = {i["name"]: i for i in insp.get_indexes("votes")}
    store.close()
    assert diff == [], diff  # a model changed without a migration (or the other way round)
    assert "text_embeddings" in tables and "alembic_version" in tables
    assert version == "0003_h15a_lexical_index"
    assert vote_indexes["uq_votes_battle_rater"]["unique"]
    # The full-text machinery each backend keeps outside the models.
    if db_backend == "sqlite":
        assert "chunks_fts" in tables
    else:
        assert "tsv" in chunk_cols


def test_migrations_run_down_and_up_again(settings) -> None:
    from alembic import command
    from alembic.config import Config

    import core.db

    store = Store.open(settings.db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(core.db.Path(core.db.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with store.engine.connect() as conn:
        assert "fts_id" not in {c["name"] for c in inspect(conn).get_columns("chunks")}
    store.close()
    store = Store.open(settings.db_url)  # and up to the head again
    assert store.chunks.counts()["chunks"] == 0
    store.close()


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
