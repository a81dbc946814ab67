"""Embed texts once: an embed function in front of the store's vector cache, keyed by text hash.

Embedding is the slowest part of dataset QC (about 150 short texts/s on two CPU cores), and
QC runs again on every report and snapshot. With this cache each example is embedded once,
when the drafting agent stores it (LLM drafting takes seconds per example, so the 7 ms does
not show), and QC of 10,000 examples reads vectors instead of computing them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.schemas import Example
    from core.store import Store

Embed = Callable[[list[str]], np.ndarray]

# How much of an example the near-duplicate check embeds: the prompt and the start of the
# answer carry what makes two examples the same; the tail adds cost, not signal.
EMBED_CHARS = 400


def text_key(text: str) -> str:
    """Return the cache key of `text` (its SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def example_text(example: Example, chars: int = EMBED_CHARS) -> str:
    """Return the text of `example` that semantic dedup compares."""
    return (example.prompt + "\n" + example.response)[:chars]


class CachedEmbed:
    """`embed(texts)` that answers from the store and embeds (and stores) only the misses.

    Args:
        embed: the real embed function, `texts -> (n, d)` L2-normalised float32 rows.
        store: where vectors persist (`store.embeddings`).
        model: the embedder's name; vectors of different models never mix.

    """

    def __init__(self, embed: Embed, store: Store, model: str) -> None:
        self._embed = embed
        self._store = store
        self.model = model
        self.hits = 0
        self.misses = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        found = self._store.embeddings.get_many(self.model, keys)
        missing = dict(sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items()))
        if missing:
            vecs = np.asarray(self._embed(list(missing.values())), dtype=np.float32)
            if vecs.shape[0] != len(missing):
                raise ValueError(f"embed returned {vecs.shape[0]} rows for {len(missing)} texts")
            fresh = dict(zip(missing, vecs, strict=True))
            self._store.embeddings.put_many(self.model, fresh)
            found.update(fresh)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def warm(self, examples: Iterable[Example], chars: int = EMBED_CHARS) -> int:
        """Embed and store the QC text of each example not cached yet; returns how many were new."""
        before = self.misses
        texts = [example_text(e, chars) for e in examples]
        if texts:
            self(texts)
        return self.misses - before
