"""All SQL lives in this package. `Store(engine)` hands out one sub-store per domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, migrate

if TYPE_CHECKING:
    from core.store.arena import ArenaStore
    from core.store.chunks import ChunkStore
    from core.store.conversations import ConversationStore
    from core.store.embeddings import EmbeddingStore
    from core.store.evals import EvalStore
    from core.store.examples import ExampleStore
    from core.store.kv import KVStore
    from core.store.locks import NamedLock
    from core.store.registry import RegistryStore
    from core.store.snapshots import SnapshotStore


class Store:
    """The one door to the database. Takes an engine; never builds one from settings itself."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at `url`."""
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a transaction: committed on success, rolled back whole on any error."""
        with self._sessions() as s, s.begin():
            yield s

    @property
    def dialect(self) -> str:
        """The database's dialect name: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @cached_property
    def lock_engine(self) -> Engine:
        """Unpooled engine for PostgreSQL advisory locks: a lock's session ends with its connection."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        return create_engine(self.engine.url, poolclass=NullPool)

    def lock(self, name: str) -> NamedLock:
        """Return the lock named `name`, shared by every process on this database (advisory lock or flock)."""
        from core.store.locks import NamedLock

        return NamedLock(self, name)

    @cached_property
    def chunks(self) -> ChunkStore:
        from core.store.chunks import ChunkStore

        return ChunkStore(self)

    @cached_property
    def conversations(self) -> ConversationStore:
        from core.store.conversations import ConversationStore

        return ConversationStore(self)

    @cached_property
    def kv(self) -> KVStore:
        from core.store.kv import KVStore

        return KVStore(self)

    @cached_property
    def examples(self) -> ExampleStore:
        from core.store.examples import ExampleStore

        return ExampleStore(self)

    @cached_property
    def registry(self) -> RegistryStore:
        from core.store.registry import RegistryStore

        return RegistryStore(self)

    @cached_property
    def arena(self) -> ArenaStore:
        from core.store.arena import ArenaStore

        return ArenaStore(self)

    @cached_property
    def embeddings(self) -> EmbeddingStore:
        from core.store.embeddings import EmbeddingStore

        return EmbeddingStore(self)

    @cached_property
    def evals(self) -> EvalStore:
        from core.store.evals import EvalStore

        return EvalStore(self)

    @cached_property
    def snapshots(self) -> SnapshotStore:
        from core.store.snapshots import SnapshotStore

        return SnapshotStore(self)

    def close(self) -> None:
        self.engine.dispose()
        if "lock_engine" in self.__dict__:
            self.lock_engine.dispose()

