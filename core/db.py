"""SQLAlchemy 2 models and the engine. The schema itself changes only through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    false,
    true,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.schemas import utcnow


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow)


class ImportRow(Base):
    __tablename__ = "imports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime] = _ts()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SourceFileRow(Base):
    """Hash of each imported file: an unchanged export is skipped without parsing."""

    __tablename__ = "source_files"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[str] = mapped_column(String(36))
    imported_at: Mapped[datetime] = _ts()


class ConversationRow(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    content_hash: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[str] = mapped_column(String(36))
    n_person: Mapped[int] = mapped_column(Integer, default=0)
    n_assistant: Mapped[int] = mapped_column(Integer, default=0)
    n_abandoned: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MessageRow(Base):
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    own_text: Mapped[str] = mapped_column(Text, default="")
    pasted_share: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_shown_branch: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RedactionRow(Base):
    __tablename__ = "redactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(String(36), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(200), index=True)
    message_id: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64), default="text")
    start: Mapped[int] = mapped_column(Integer, default=0)
    length: Mapped[int] = mapped_column(Integer, default=0)


class ChunkRow(Base):
    """One searchable piece of a person message: the lexical index's row and the dense index's ledger.

    Written while an export is parsed, so the text is searchable (SQLite FTS5 / PostgreSQL
    full-text, both maintained by the database from `text`) before anything is embedded.
    The dense (Chroma) index catches up in the background: `dirty` rows are behind it,
    `embedded` says Chroma holds some vector under this id, and a `removed` row is a
    tombstone kept until its vector is deleted from Chroma.
    """

    __tablename__ = "chunks"
    id: Mapped[str] = mapped_column(String(320), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300), index=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    text_hash: Mapped[str] = mapped_column(String(64))
    # Stable 63-bit key derived from `id`: SQLite FTS5's rowid (a plain rowid can change on VACUUM).
    fts_id: Mapped[int] = mapped_column(BigInteger, index=True, unique=True)
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    context: Mapped[str] = mapped_column(Text, default="", server_default="")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shown: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    pasted_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    embedded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), index=True)
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class KVRow(Base):
    """Small named documents: the voice profile, the style card, app preferences."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = _ts()


class TextEmbeddingRow(Base):
    """A text's embedding by one model, keyed by the text's hash: computed once, reused by every QC run."""

    __tablename__ = "text_embeddings"
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, `dim` values


class ExampleRow(Base):
    __tablename__ = "examples"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    response: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(64), index=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)
    origin: Mapped[str] = mapped_column(String(16), index=True)
    source_message_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    edits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class PreferenceRow(Base):
    __tablename__ = "preferences"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text)
    chosen: Mapped[str] = mapped_column(Text)
    rejected: Mapped[str] = mapped_column(Text)
    chosen_reasoning: Mapped[str] = mapped_column(Text, default="")
    rejected_reasoning: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16), index=True)
    battle_id: Mapped[str | None] = mapped_column(String(36), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _ts()


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = _ts()
    seed: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(Text)
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_validation: Mapped[int] = mapped_column(Integer, default=0)
    n_preferences: Mapped[int] = mapped_column(Integer, default=0)
    qc_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")


class ModelRow(Base):
    __tablename__ = "models"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    base_model: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(200))
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    preference_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    method: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="ready")
    endpoint: Mapped[str | None] = mapped_column(Text)
    served_name: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _ts()


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pid: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    loss: Mapped[list[Any]] = mapped_column(JSON, default=list)
    eval_loss: Mapped[list[Any]] = mapped_column(JSON, default=list)
    log_path: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BattleRow(Base):
    __tablename__ = "battles"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    prompt_source: Mapped[str] = mapped_column(String(16))
    left_model: Mapped[str] = mapped_column(String(200))
    right_model: Mapped[str] = mapped_column(String(200))
    left_answer: Mapped[str] = mapped_column(Text, default="")
    right_answer: Mapped[str] = mapped_column(Text, default="")
    rater: Mapped[str] = mapped_column(String(100), default="owner")
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = _ts()


class VoteRow(Base):
    """Append-only: a vote is a fact. Ratings are recomputed from these rows."""

    __tablename__ = "votes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id"), index=True)
    rater: Mapped[str] = mapped_column(String(100))
    choice: Mapped[str] = mapped_column(String(16))
    left_model: Mapped[str] = mapped_column(String(200))
    right_model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text, default="")
    written_answer: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _ts()


class EvalRunRow(Base):
    __tablename__ = "eval_runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    models: Mapped[list[Any]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts()


class GoldenPromptRow(Base):
    __tablename__ = "golden_prompts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="owner")


class BulkRunRow(Base):
    __tablename__ = "bulk_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


Index("ix_messages_conv_pos", MessageRow.conversation_id, MessageRow.position)
# One vote per rater and battle, enforced by the database: two app processes cannot both append it.
Index("uq_votes_battle_rater", VoteRow.battle_id, VoteRow.rater, unique=True)

# Objects the migrations create outside the models (dialect-specific search machinery):
# SQLite's FTS5 table and its shadow tables, PostgreSQL's generated tsvector column and GIN index.
_UNMODELLED_TABLES = ("chunks_fts",)
_UNMODELLED = {("column", "tsv"), ("index", "ix_chunks_tsv")}


def modelled(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic `include_object`: leave the full-text machinery out of model comparisons."""
    if type_ == "table" and name and name.startswith(_UNMODELLED_TABLES):
        return False
    return not (reflected and compare_to is None and (type_, name) in _UNMODELLED)


def make_engine(url: str) -> Engine:
    """Engine for `url`; SQLite gets WAL, foreign keys and a busy timeout for concurrent raters."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
