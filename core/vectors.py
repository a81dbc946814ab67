"""The Chroma vector index: embedded PersistentClient by default, HttpClient when chroma_url is set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings
    from core.embed import Embedder


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
    """

    def __init__(self, collection: Any, embedder: Embedder) -> None:
        self._col = collection
        self.embedder = embedder
        self.name = str(getattr(collection, "name", ""))

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder, client: Any = None) -> VectorIndex:
        if client is None:
            client = chroma_client(settings.chroma_url, settings.chroma_path)
        # The embedder's name is part of the collection name: vectors from two models never mix.
        name = f"{settings.chroma_collection}-{_slug(embedder.name)}-{embedder.dim}"
        col = client.get_or_create_collection(
            name=name[:60],
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": 128, "ef_construction": 128}},
            metadata={"embedder": embedder.name},
        )
        return cls(col, embedder)

    def count(self) -> int:
        return int(self._col.count())

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

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._col.delete(ids=ids)

    def query(self, text: str, k: int = 8, where: dict[str, Any] | None = None) -> list[VectorHit]:
        return self.query_vector(self.embedder.encode([text])[0], k, where)

    def query_vector(
        self, vec: np.ndarray, k: int = 8, where: dict[str, Any] | None = None, *, with_vectors: bool = False
    ) -> list[VectorHit]:
        n = self.count()
        if n == 0:
            return []
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])
        r = self._col.query(query_embeddings=[vec], n_results=min(k, n), where=where, include=include)
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
        r = self._col.get(ids=ids, include=["embeddings"])
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
