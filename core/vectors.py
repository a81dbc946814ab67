"""The Chroma vector index: embedded PersistentClient by default, HttpClient when chroma_url is set.

An embedded Chroma folder is meant for one process. When another process writes to it
(the background fill started by `idiolect import` while the app runs), this process's
cached HNSW reader is stale: it misses the new vectors, or fails outright if it was made
before the first one reached disk. Reads here notice that the collection's count moved
without us and reopen the client; a Chroma server has no such problem.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings
    from core.embed import Embedder

log = logging.getLogger(__name__)


@dataclass
class VectorHit:
    id: str
    score: float
    document: str
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None


class VectorIndex:
    """Vectors are computed by our Embedder and handed to Chroma precomputed.

    Chroma's default embedding function downloads an ONNX model on first use (stack-notes
    §3), so the collection is created with no embedding function at all.

    Args:
        collection: the Chroma collection.
        embedder: what turns text into vectors.
        reopen: for an embedded client, makes a fresh (client, collection) pair; used when
            another process has written to the folder since this one read it.

    """

    def __init__(self, collection: Any, embedder: Embedder, *,
                 reopen: Callable[[], tuple[Any, Any]] | None = None, client: Any = None) -> None:
        self._col = collection
        self._client = client
        self._reopen = reopen
        self._lock = threading.Lock()
        self.embedder = embedder
        self.name = str(getattr(collection, "name", ""))
        self._seen = self._count()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder, client: Any = None) -> VectorIndex:
        # The embedder's name is part of the collection name: vectors from two models never mix.
        name = f"{settings.chroma_collection}-{_slug(embedder.name)}-{embedder.dim}"[:60]

        def connect(c: Any = None) -> tuple[Any, Any]:
            c = c if c is not None else chroma_client(settings.chroma_url, settings.chroma_path)
            return c, c.get_or_create_collection(
                name=name, embedding_function=None, metadata={"embedder": embedder.name},
                configuration={"hnsw": {"space": "cosine", "ef_search": 128, "ef_construction": 128}})

        embedded = client is None and not settings.chroma_url
        client, col = connect(client)
        return cls(col, embedder, reopen=connect if embedded else None, client=client)

    def _count(self) -> int:
        return int(self._col.count())

    def count(self) -> int:
        return self._count()

    def _fresh(self, *, force: bool = False) -> None:
        """Reopen an embedded client whose folder another process has written to."""
        if self._reopen is None:
            return
        with self._lock:
            n = self._count()
            if not force and n == self._seen:
                return
            close = getattr(self._client, "close", None)
            if close is not None:
                close()  # drops this process's cached system for the folder once no one else holds it
            self._client, self._col = self._reopen()
            self._seen = self._count()

    def _read(self, fn: Callable[[], Any]) -> Any:
        self._fresh()
        try:
            return fn()
        except Exception as e:  # chromadb raises its own InternalError for a stale or half-written reader
            if self._reopen is None:
                raise
            log.warning("Chroma read failed (%s); reopening the collection and retrying once", e)
            self._fresh(force=True)
            return fn()

    def _wrote(self) -> None:
        with self._lock:
            self._seen = self._count()

    def upsert(
        self,
        ids: list[str],
        documents: list[str],
        metadatas: list[dict[str, Any]],
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Add or replace chunks (embedding them unless vectors are given)."""
        if not ids:
            return
        vecs = self.embedder.encode(documents) if embeddings is None else embeddings
        step = 5000  # below Chroma's max batch size (5461)
        for i in range(0, len(ids), step):
            self._col.upsert(
                ids=ids[i : i + step],
                documents=documents[i : i + step],
                metadatas=[_clean_meta(m) for m in metadatas[i : i + step]],
                embeddings=vecs[i : i + step],
            )
        self._wrote()

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._col.delete(ids=ids)
            self._wrote()

    def query(self, text: str, k: int = 8, where: dict[str, Any] | None = None) -> list[VectorHit]:
        return self.query_vector(self.embedder.encode([text])[0], k, where)

    def query_vector(
        self, vec: np.ndarray, k: int = 8, where: dict[str, Any] | None = None, *, with_vectors: bool = False
    ) -> list[VectorHit]:
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])

        def run() -> Any:
            n = self._count()
            return None if n == 0 else self._col.query(query_embeddings=[vec], n_results=min(k, n), where=where,
                                                       include=include)

        r = self._read(run)
        if r is None:
            return []
        vecs = r["embeddings"][0] if with_vectors else [None] * len(r["ids"][0])
        return [
            VectorHit(id=i, score=1.0 - float(d), document=doc or "", metadata=dict(m or {}),
                      vector=None if v is None else np.asarray(v, dtype=np.float32))
            for i, d, doc, m, v in zip(r["ids"][0], r["distances"][0], r["documents"][0], r["metadatas"][0], vecs,
                                       strict=True)
        ]

    def get_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Return the stored vectors among `ids` (absent ids are left out)."""
        if not ids:
            return {}
        r = self._read(lambda: self._col.get(ids=ids, include=["embeddings"]))
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(r["ids"], r["embeddings"], strict=True)}


def chroma_client(url: str | None, path: Any) -> Any:
    """Return an HttpClient for a Chroma server at `url`, else an embedded PersistentClient at `path`.

    Chroma's anonymized telemetry is off either way (it is a no-op in 1.5, but stays off).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        u = urlparse(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"chroma_url {url!r} is not an http(s)://host:port URL")
        return chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                   ssl=u.scheme == "https", settings=chroma_settings)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.lower()).strip("-") or "model"


def _clean_meta(m: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata values must be str/int/float/bool and not None."""
    return {k: v for k, v in m.items() if isinstance(v, (str, int, float, bool))}
