"""Duplicate detection for QC: MinHash signing over shingle hashes, and the semantic (embedding) step.

qc.py runs these in its chain; they take the chain's counter and config and import nothing
from it at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from core.embedcache import example_text
from core.schemas import Example

if TYPE_CHECKING:
    from training.dataset.qc import Embed, QCConfig, _Counter


def hash_shingles(t: str, k: int) -> np.ndarray:
    """Distinct 32-bit hashes of the k-character shingles of `t` (already normalised).

    A vectorised polynomial hash over code points replaces per-shingle Python hashing (the
    slow part of MinHash at 10k examples); it is deterministic across processes.
    """
    codes = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < k:
        codes = np.concatenate([codes, np.zeros(k - len(codes), dtype=np.uint64)])
    n = len(codes) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # k small: k vector ops, not n Python calls
        h = (h * np.uint64(1_000_003) + codes[j:j + n]) & np.uint64(0xFFFFFFFF)
    return np.unique(h)


def _identity(x: int) -> int:
    return x


class Signer:
    """MinHash objects sharing one set of permutations, fed precomputed shingle hashes."""

    def __init__(self, num_perm: int, seed: int = 1) -> None:
        from datasketch import MinHash

        self._MinHash = MinHash
        self.num_perm = num_perm
        # Generating permutations costs more than signing a short text: do it once.
        self.permutations = MinHash(num_perm=num_perm, seed=seed).permutations

    def sign(self, hashes: np.ndarray) -> Any:
        mh = self._MinHash(num_perm=self.num_perm, hashfunc=_identity, permutations=self.permutations,
                           scheme="affine32")
        mh.update_batch(hashes.tolist())
        return mh


def step_semantic_dedup(data: Iterable[Example], c: _Counter, cfg: QCConfig, embed: Embed) -> Iterator[Example]:
    """Embedding cosine >= threshold against every kept example (rows are L2-normalised)."""
    items = list(data)
    if not items:
        return
    texts = [example_text(ex, cfg.embed_chars) for ex in items]
    vecs = np.asarray(embed(texts), dtype=np.float32)
    if vecs.shape[0] != len(items):
        raise ValueError(f"embed returned {vecs.shape[0]} rows for {len(items)} texts")
    # Candidate pairs (j < i, cosine >= threshold) from blocked matrix products (BLAS gemm is
    # ~50x faster than one mat-vec per example), then a greedy pass in best-first order: an
    # example is a duplicate only if an earlier *kept* example is that close.
    n, block = len(items), 1024
    candidates: dict[int, list[tuple[int, float]]] = {}
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = vecs[start:stop] @ vecs[:stop].T
        rows, cols = np.nonzero(sims >= cfg.semantic_threshold)
        for r, col in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if col < i:
                candidates.setdefault(i, []).append((col, float(sims[r, col])))
    kept_flags = np.zeros(n, dtype=bool)
    for i, ex in enumerate(items):
        hits = [(j, sim) for j, sim in candidates.get(i, ()) if kept_flags[j]]
        if hits:
            j, sim = max(hits, key=lambda h: h[1])
            c.drop(ex, "semantic_duplicate", f"cosine {sim:.3f}", items[j].id)
            continue
        kept_flags[i] = True
        yield ex
