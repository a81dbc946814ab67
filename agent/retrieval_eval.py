"""Retrieval quality of the message index on a set of queries with known relevant messages.

The bundled set (retrieval_set.json) is written against the shared fixture exports: each
query names the person messages it is about (grade 2) and others that also answer it
(grade 1). Metrics are the standard ones at a cut-off k: recall (share of the relevant
messages retrieved) and nDCG (graded gain 2^g - 1, log2 rank discount; Järvelin &
Kekäläinen, 2002).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETRIEVAL_SET = Path(__file__).with_name("retrieval_set.json")


@dataclass
class RetrievalQuery:
    query: str
    kind: str
    relevant: dict[str, int]  # message id -> grade


def load_retrieval_set(path: Path = RETRIEVAL_SET) -> list[RetrievalQuery]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [RetrievalQuery(q["query"], q.get("kind", ""), dict(q["relevant"])) for q in data["queries"]]


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of the relevant messages among the first k results."""
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the first k results (graded relevance)."""
    dcg = sum((2 ** relevant.get(m, 0) - 1) / math.log2(i + 2) for i, m in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def evaluate(search: Callable[[str], Sequence[str]], queries: Sequence[RetrievalQuery],
             k: int = 8) -> dict[str, Any]:
    """Run `search(query) -> ranked message ids` over the set; mean recall@k and nDCG@k, overall and per kind."""
    rows = []
    for q in queries:
        ranked = list(search(q.query))
        rows.append((q.kind, recall_at(ranked, q.relevant, k), ndcg_at(ranked, q.relevant, k)))

    def mean(xs: list[float]) -> float:
        return round(sum(xs) / len(xs), 4) if xs else 0.0

    out: dict[str, Any] = {"queries": len(rows), "k": k, "recall": mean([r for _, r, _ in rows]),
                           "ndcg": mean([n for _, _, n in rows])}
    for kind in sorted({kd for kd, _, _ in rows}):
        out[kind] = {"queries": sum(kd == kind for kd, _, _ in rows),
                     "recall": mean([r for kd, r, _ in rows if kd == kind]),
                     "ndcg": mean([n for kd, _, n in rows if kd == kind])}
    return out
