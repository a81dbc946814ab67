"""Searching one's own messages for a person (the Search tab and `idiolect search` share it)."""

from __future__ import annotations

from typing import Any


def relevance_floor(min_cosine: float | None) -> float:
    """Return the cosine a hit needs: the caller's, else the index's default."""
    from agent.index import MIN_COSINE

    return MIN_COSINE if min_cosine is None else min_cosine


def search_for_person(sv: Any, query: str, k: int, *, mode: str = "fused",
                      min_cosine: float | None = None) -> list[Any]:
    """Return hits above the relevance floor, best first (diversity picks which, relevance orders them)."""
    hits = sv.message_index.search(query, k=int(k), mode=mode, min_cosine=relevance_floor(min_cosine))
    return sorted(hits, key=lambda h: -h.score)


def why_nothing(sv: Any, query: str, *, min_cosine: float | None = None, import_hint: str) -> str:
    """Say why a search found nothing: no history yet, or nothing close enough to `query`."""
    if sv.store.conversations.totals()["person_messages"] == 0:
        return f"Nothing to search yet: import an export first ({import_hint})."
    floor = relevance_floor(min_cosine)
    return (f"Nothing in your history is close to “{query.strip()}”: no message matches both its words and "
            f"meaning, or comes within {floor:.2f} of its meaning.")
