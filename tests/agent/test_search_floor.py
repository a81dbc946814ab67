"""Search has a relevance floor: an unrelated query finds nothing rather than the k nearest strangers."""

from __future__ import annotations

import pytest

from agent.index import MIN_COSINE, MessageIndex
from agent.ingest import import_exports
from agent.scrub import Scrubber
from tests.conftest import EXPORTS


@pytest.fixture
def index(services):  # type: ignore[no-untyped-def]
    idx = MessageIndex(services.store, services.index, services.embedder)
    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=services.store, scrubber=Scrubber(), index=idx)
    return idx


def test_unrelated_query_finds_nothing_and_related_ones_pass_the_floor(index) -> None:  # type: ignore[no-untyped-def]
    assert index.search("knitting a wool sweater for my grandmother", 8, min_cosine=MIN_COSINE) == []
    hits = index.search("why I run my own server at home", 8, min_cosine=MIN_COSINE)
    assert hits
    for h in hits:  # words and meaning agree, or the meaning alone is close; a shared word is not enough
        assert len(h.meta["ranks"]) == 2 or h.meta["cosine"] >= MIN_COSINE
    # Without the floor (retrieval for drafting) the same query returns k messages.
    assert len(index.search("knitting a wool sweater for my grandmother", 8)) == 8


def test_search_tab_lists_hits_best_first_and_says_why_nothing_matched(services, index) -> None:  # type: ignore[no-untyped-def]
    import re

    from ui.tabs.search import search_markdown

    page = search_markdown(services, "why I run my own server at home")
    scores = [float(x) for x in re.findall(r"score (\d\.\d\d)", page)]
    assert len(scores) >= 2 and scores == sorted(scores, reverse=True)
    assert "Nothing in your history is close" in search_markdown(services, "knitting a wool sweater for my grandmother")
