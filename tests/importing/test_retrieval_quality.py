"""Retrieval quality on queries with known answers from the shared fixtures: lexical, dense and fused side by side."""

from __future__ import annotations

import pytest

from agent.ingest import import_exports
from agent.scrub import Scrubber
from tests.conftest import EXPORTS


@pytest.mark.slow  # 132 searches and the fixtures embedded: 30-80 s on a loaded 2-core box
def test_fused_retrieval_on_the_fixture_set(services) -> None:
    """Quality: on queries with known answers, fusion keeps what each index finds."""
    from agent.retrieval_eval import evaluate, load_retrieval_set

    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=services.store, scrubber=Scrubber(),
                   index=services.message_index)
    queries = load_retrieval_set()
    assert len(queries) >= 40
    got = {mode: evaluate(lambda q, m=mode: [h.message_id for h in services.message_index.search(
        q, 8, mode=m, diverse=False)], queries) for mode in ("lexical", "dense", "fused")}
    assert got["lexical"]["keyword"]["recall"] >= 0.9  # words alone find jargon
    # Meaning finds paraphrases that share no words with the message.
    assert got["dense"]["paraphrase"]["recall"] >= got["lexical"]["paraphrase"]["recall"] + 0.1
    assert got["fused"]["recall"] >= max(got["lexical"]["recall"], got["dense"]["recall"]) - 0.02
    assert got["fused"]["ndcg"] >= 0.75
