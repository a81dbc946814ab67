"""Lexical index over the chunks (SQLite FTS5 / PostgreSQL tsvector + GIN), dense-index ledger, one vote per rater

Revision ID: 0003_h15a_lexical_index
Revises: 0002
Create Date: 2026-12-02 00:10:00

The chunk ledger becomes the searchable corpus itself: each row keeps its text, written
while an export is parsed, and the database keeps a full-text index of it. Rows already
there were in Chroma (they had no text yet); `MessageIndex.ensure_current` fills their text
in from the stored messages the first time the index is used.
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003_h15a_lexical_index"
down_revision = "0002"
branch_labels = None
depends_on = None


def _fts_id(chunk_id: str) -> int:
    # Same derivation as core.store.chunks.fts_id (kept here: a migration must not change with the code).
    return int.from_bytes(hashlib.blake2b(chunk_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def upgrade() -> None:
    bind = op.get_bind()
    add = [
        sa.Column("fts_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("context", sa.Text(), nullable=False, server_default=""),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("shown", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("pasted_share", sa.Float(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        # Rows from before this revision are in Chroma already.
        sa.Column("embedded", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("dirty", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]
    for col in add:
        op.add_column("chunks", col)
    chunks = sa.table("chunks", sa.column("id", sa.String), sa.column("fts_id", sa.BigInteger))
    ids = [r[0] for r in bind.execute(sa.select(chunks.c.id))]
    for i in range(0, len(ids), 1000):
        bind.execute(chunks.update().where(chunks.c.id == sa.bindparam("cid")).values(fts_id=sa.bindparam("fid")),
                     [{"cid": c, "fid": _fts_id(c)} for c in ids[i:i + 1000]])
    with op.batch_alter_table("chunks") as b:
        b.alter_column("fts_id", existing_type=sa.BigInteger(), nullable=False)
        # New rows start behind the dense index (the models' defaults say so too).
        b.alter_column("embedded", existing_type=sa.Boolean(), server_default=sa.false())
        b.alter_column("dirty", existing_type=sa.Boolean(), server_default=sa.true())
    op.create_index("ix_chunks_fts_id", "chunks", ["fts_id"], unique=True)
    op.create_index("ix_chunks_dirty", "chunks", ["dirty"])
    op.create_index("uq_votes_battle_rater", "votes", ["battle_id", "rater"], unique=True)

    if bind.dialect.name == "sqlite":
        # External-content FTS5: the text lives once, in `chunks`; triggers keep the index in step
        # with every write, whichever code path makes it.
        op.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='fts_id', "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER chunks_fts_ai AFTER INSERT ON chunks BEGIN "
                   "INSERT INTO chunks_fts(rowid, text) VALUES (new.fts_id, new.text); END")
        op.execute("CREATE TRIGGER chunks_fts_ad AFTER DELETE ON chunks BEGIN "
                   "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.fts_id, old.text); END")
        op.execute("CREATE TRIGGER chunks_fts_au AFTER UPDATE OF text, fts_id ON chunks BEGIN "
                   "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.fts_id, old.text); "
                   "INSERT INTO chunks_fts(rowid, text) VALUES (new.fts_id, new.text); END")
        op.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE chunks ADD COLUMN tsv tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED")
        op.execute("CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for t in ("chunks_fts_ai", "chunks_fts_ad", "chunks_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {t}")
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_chunks_tsv")
        op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS tsv")
    op.drop_index("uq_votes_battle_rater", table_name="votes")
    op.drop_index("ix_chunks_dirty", table_name="chunks")
    op.drop_index("ix_chunks_fts_id", table_name="chunks")
    with op.batch_alter_table("chunks") as b:
        for name in ("removed", "dirty", "embedded", "created_at", "pasted_share", "shown", "position",
                     "context", "text", "fts_id"):
            b.drop_column(name)
