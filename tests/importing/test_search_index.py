"""Searchable at import, embedded later: the lexical index, the resumable dense fill, hybrid search. Both backends."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.index import MessageIndex, dense_status
from agent.ingest import import_exports
from agent.scrub import Scrubber
from core.store.chunks import query_terms
from tests.conftest import EXPORTS
from ui.cli import app

pytestmark = pytest.mark.both_backends
RUNNER = CliRunner()
SUBPANEL = "claude:553121cb-1606-42f0-b931-3ab0a42a3b50"


class NoEmbedder:
    """Stands in for the embedder where nothing may be embedded (any call fails the test)."""

    name, dim, batch_size = "bundled:all-MiniLM-L6-v2", 384, 64

    def encode(self, texts, **kw):  # noqa: ANN001, ANN003, ANN201
        raise AssertionError(f"embedded {len(texts)} texts; the lexical path must not embed")


class FailingEmbedder:
    """The real embedder, until its `fail_on`-th call (a worker killed mid-fill)."""

    def __init__(self, real, fail_on: int) -> None:  # noqa: ANN001
        self.real, self.fail_on, self.calls = real, fail_on, 0
        self.name, self.dim, self.batch_size = real.name, real.dim, real.batch_size

    def encode(self, texts, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("worker lost power")
        return self.real.encode(texts, **kw)


def _cli(services, *args) -> dict:
    res = RUNNER.invoke(app, [*args, "--json"], obj=services)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_words_are_searchable_before_anything_is_embedded(settings, services) -> None:
    from ui.services import Services

    sv = Services(settings, store=services.store, embedder=NoEmbedder())
    s = _cli(sv, "import", "--no-index", str(EXPORTS / "claude"), str(EXPORTS / "chatgpt"))
    assert s["chunks_indexed"] > 40 and s["chunks_embedded"] == 0
    st = _cli(sv, "status")
    assert st["chunks_indexed"] == s["chunks_indexed"] and st["chunks_embedded"] == 0
    assert st["dense_index"]["pending"] == s["chunks_indexed"] and not st["dense_index"]["filling"]
    # Fused search with an empty dense index is the lexical ranking; the embedder is never touched.
    for mode in ("fused", "lexical"):
        hits = _cli(sv, "search", "subpanel GPU room inspector", "-k", "3", "--mode", mode)["hits"]
        assert hits[0]["conversation_id"] == SUBPANEL and hits[0]["conversation_title"] == "Subpanel for the GPU room"
        assert len({h["message_id"] for h in hits}) == len(hits)
    # A hit carries the assistant turn it answered.
    reply = _cli(sv, "search", "bonding screw neutrals", "-k", "1")["hits"][0]
    assert reply["text"].startswith("Good eye on the bonding screw") and "bond" in reply["context"].lower()
    # Filters apply to the lexical index too.
    idx = sv.message_index
    assert {h.conversation_id.split(":")[0] for h in idx.search("model", 8, where={"vendor": "chatgpt"})} == {"chatgpt"}
    only = idx.search("GPU apprentice", 8, where={"conversation_id": SUBPANEL}, mode="lexical")
    assert only and {h.conversation_id for h in only} == {SUBPANEL}
    abandoned = "I meant used gear, I'm not paying retail"
    assert any(h.text == abandoned for h in idx.search("used gear retail", 8, mode="lexical"))
    assert not any(h.text == abandoned for h in idx.search("used gear retail", 8, mode="lexical", shown_only=True))


@pytest.mark.parametrize("query", ['"unbalanced', "NEAR(a b)", "a* OR -b", "AND", "((x", "what's ^ col:val", "🔌⚡"])
def test_any_typed_query_is_safe_for_the_full_text_engines(store, query) -> None:
    from core.config import Settings
    from core.vectors import VectorIndex

    index = MessageIndex(store, VectorIndex.open(Settings(), NoEmbedder()), NoEmbedder())  # type: ignore[arg-type]
    import_exports([EXPORTS / "claude"], store=store, scrubber=Scrubber())
    assert isinstance(index.search(query, 5, mode="lexical"), list)


def test_query_terms_drop_stop_words_and_syntax() -> None:
    assert query_terms("Why I self-host my own models?") == ["self", "host", "models"]
    assert query_terms('"NEAR(a b)" AND x* 42') == ["near", "42"] and query_terms("the of and") == []


def test_a_crashed_fill_resumes_where_it_stopped(services, embedder) -> None:
    store = services.store
    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=store, scrubber=Scrubber())
    total = store.chunks.counts()["chunks"]
    broken = MessageIndex(store, services.index, FailingEmbedder(embedder, fail_on=3))
    with pytest.raises(RuntimeError, match="lost power"):
        broken.fill(batch=8)
    st = dense_status(store)
    assert st["embedded"] == 16 == services.index.count()  # two batches recorded, the third never happened
    assert "lost power" in st["error"] and not st["filling"]  # the lock went with the failure
    done = services.message_index.fill(batch=8)
    assert done.embedded == total - 16 and done.remaining == 0
    assert services.index.count() == total == store.chunks.counts()["embedded"]
    assert services.message_index.fill().embedded == 0  # nothing left: a second fill is free


def test_a_newer_export_updates_both_indexes(services, tmp_path: Path) -> None:
    store, index = services.store, services.message_index
    import_exports([EXPORTS / "chatgpt"], store=store, scrubber=Scrubber(), index=index)
    before = store.chunks.counts()["chunks"]
    convs = json.loads((EXPORTS / "chatgpt" / "conversations.json").read_text("utf-8"))
    newer = copy.deepcopy(convs)
    c = next(c for c in newer if c["conversation_id"] == "67c501e7-f337-842b-9ce1-ded3f16a3a50")
    first = next(n for n in c["mapping"].values() if (n.get("message") or {}).get("author", {}).get("role") == "user"
                 and "main panel" in str(n["message"]["content"]["parts"]))
    first["message"]["content"]["parts"] = ["Switchgear ferrules everywhere; the bus is a plain queue now."]
    c["update_time"] += 60
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "conversations.json").write_text(json.dumps(newer))
    s = import_exports([tmp_path / "newer"], store=store, scrubber=Scrubber())
    assert s.conversations_updated == 1 and s.chunks_indexed == 1
    # The words changed at once; the old ones are gone from the lexical index.
    assert [h.text for h in index.search("switchgear ferrules", 1, mode="lexical")][0].startswith("Switchgear")
    assert not index.search("asyncio Redis NATS", 8, mode="lexical")
    counts = store.chunks.counts()
    assert counts["chunks"] == before and counts["pending"] == 1
    # Until the fill catches up, a stale vector never shows its old text.
    for h in index.search("which message queue should I use for my event bus", 8):
        assert "NATS" not in h.text
    assert index.fill().embedded == 1 and services.index.count() == before
    hit = index.search("switchgear ferrules", 1, mode="dense")[0]
    assert hit.text.startswith("Switchgear") and hit.meta["cosine"] > 0.3


def test_rows_from_before_the_lexical_index_are_filled_in_without_embedding_again(settings, services) -> None:
    from alembic import command
    from alembic.config import Config

    import core.db
    from core.store import Store

    store, index = services.store, services.message_index
    import_exports([EXPORTS / "claude"], store=store, scrubber=Scrubber(), index=index)
    n = store.chunks.counts()["chunks"]
    # Back to the schema before this index existed: the ledger keeps ids and hashes, no text.
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(core.db.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    store.close()
    upgraded = Store.open(settings.db_url)
    assert upgraded.chunks.counts() == {"chunks": n, "embedded": n, "pending": 0, "tombstones": 0}
    assert upgraded.chunks.lexical("subpanel", 5) == []  # no words yet
    again = MessageIndex(upgraded, services.index, services.embedder)
    report = again.fill()
    assert report.embedded == 0  # the vectors were there already
    assert upgraded.chunks.lexical("subpanel", 5)
    assert again.search("subpanel GPU room", 1)[0].conversation_id == SUBPANEL
    upgraded.close()


def test_rank_fusion_and_diversity_without_vectors() -> None:
    from agent.fusion import Candidate, mmr, rrf

    fused = rrf({"lexical": [("m1", "m1#0"), ("m2", "m2#0")], "dense": [("m2", "m2#1"), ("m3", "m3#0")]})
    assert [c.key for c in fused] == ["m2", "m1", "m3"] and fused[0].chunk_id == "m2#1"
    assert fused[0].rel == pytest.approx((1 / 62 + 1 / 61) * 61 / 2)
    same = [Candidate("a", "a", rel=1.0, text="bus queue breaker"), Candidate("b", "b", rel=0.99,
            text="bus queue breaker"), Candidate("c", "c", rel=0.6, text="hire an apprentice")]
    assert [c.key for c in mmr(same, 2)] == ["a", "c"]  # near-copies give way without any vector
    v = np.ones(3, dtype=np.float32) / np.sqrt(3)
    assert mmr([Candidate("x", "x", rel=1.0, vector=v), Candidate("y", "y", rel=0.9, vector=v)], 1)[0].key == "x"
