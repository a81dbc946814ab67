"""Rank fusion and diversification for hybrid search: pure functions, no I/O.

Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) adds 1 / (K + rank) over
the ranked lists an item appears in; it needs no score calibration between BM25-style
and cosine scores, which live on unrelated scales. K = 60 is the paper's constant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

RRF_K = 60


@dataclass
class Candidate:
    """One message's best chunk, with where it ranked in each list (1-based; None = absent)."""

    key: str
    chunk_id: str
    ranks: dict[str, int] = field(default_factory=dict)
    rel: float = 0.0
    vector: np.ndarray | None = None
    text: str = ""

    @cached_property
    def terms(self) -> set[str]:
        return set(re.findall(r"\w+", self.text.lower()))


def rrf(lists: dict[str, Sequence[tuple[str, str]]], k: int = RRF_K,
        weights: dict[str, float] | None = None) -> list[Candidate]:
    """Fuse ranked lists of (key, chunk_id), best first, into candidates ordered by fused score.

    Each candidate's `rel` is scaled so that first place in every list scores 1.0. Its
    chunk is the one that ranked best in any list. `weights` scale each list's votes (default 1).
    """
    weights = weights or {}
    out: dict[str, Candidate] = {}
    best_rank: dict[str, int] = {}
    for name, ranked in lists.items():
        for r, (key, chunk_id) in enumerate(ranked, 1):
            c = out.setdefault(key, Candidate(key=key, chunk_id=chunk_id))
            if name in c.ranks:
                continue
            c.ranks[name] = r
            c.rel += weights.get(name, 1.0) / (k + r)
            if r < best_rank.get(key, 1 << 30):
                best_rank[key], c.chunk_id = r, chunk_id
    used = sum(weights.get(name, 1.0) for name, ranked in lists.items() if ranked) or 1.0
    for c in out.values():
        c.rel *= (k + 1) / used
    return sorted(out.values(), key=lambda c: (-c.rel, c.key))


def _similarity(a: Candidate, b: Candidate) -> float:
    if a.vector is not None and b.vector is not None:
        return float(a.vector @ b.vector)
    ta, tb = a.terms, b.terms  # no vector yet (dense index still filling): word overlap instead
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def mmr(cands: Sequence[Candidate], k: int, lam: float = 0.7) -> list[Candidate]:
    """Maximal marginal relevance: relevant, but not five near-copies of one message."""
    # Not langchain-core's MMR: it needs a query vector and every candidate embedded; ours ranks fused `rel`.
    picked: list[Candidate] = []
    left = list(cands)
    while left and len(picked) < k:
        best = max(left, key=lambda c: lam * c.rel - (1 - lam) * max(
            (_similarity(c, p) for p in picked), default=0.0))
        picked.append(best)
        left.remove(best)
    return picked
