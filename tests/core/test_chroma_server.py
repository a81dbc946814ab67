"""The index against a real `chroma run` server (chroma_url set): the same results as the embedded client."""

from __future__ import annotations

import pytest

from agent.index import MessageIndex
from agent.ingest import import_exports
from agent.scrub import Scrubber
from core.config import Settings
from core.store import Store
from core.vectors import VectorIndex
from tests.chroma_server import chroma_server
from tests.conftest import EXPORTS

QUERIES = ["wiring a subpanel for the GPU room", "should I take the investor's money",
           "cheap fast network between my machines", "name for the company", "trainer crashes mid run"]


@pytest.mark.slow  # a server process, the fixtures embedded twice: 20-40 s
def test_a_chroma_server_gives_the_same_results_as_the_embedded_client(tmp_path, embedder, no_network) -> None:
    with chroma_server(tmp_path / "chroma-server") as url:
        results = {}
        for name, chroma_url in (("embedded", None), ("server", url)):
            s = Settings(home=tmp_path / name, chroma_url=chroma_url)
            s.ensure_dirs()
            store = Store.open(s.db_url)
            vectors = VectorIndex.open(s, embedder)
            index = MessageIndex(store, vectors, embedder)
            import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=store, scrubber=Scrubber(), index=index)
            assert vectors.count() == store.chunks.counts()["embedded"] > 40
            results[name] = [[(h.message_id, round(h.meta["cosine"], 4)) for h in index.search(q, 5, mode="dense")]
                             for q in QUERIES]
            # Deletes reach the server too: a vector removed is gone from its answers.
            gone = results[name][0][0][0] + "#0"
            vectors.delete([gone])
            assert gone not in {h.id for h in vectors.query(QUERIES[0], 5)}
            store.close()
        assert results["server"] == results["embedded"]
        assert not (tmp_path / "server" / "chroma" / "chroma.sqlite3").exists()  # nothing was written locally
        assert (tmp_path / "chroma-server" / "chroma.sqlite3").exists()


def test_a_bad_chroma_url_is_a_clear_error(tmp_path, embedder) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="chroma_url"):
        VectorIndex.open(Settings(home=tmp_path, chroma_url="localhost:8000"), embedder)
