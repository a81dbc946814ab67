"""The numpy MiniLM (small batches: a search query) gives sentence-transformers' vectors."""

from __future__ import annotations

import numpy as np

from tests.conftest import fixture_texts


def test_numpy_path_matches_sentence_transformers(embedder) -> None:  # type: ignore[no-untyped-def]
    from core.config import BUNDLED_EMBEDDER
    from core.embed import Embedder, bundled_model_path
    from core.minilm import NumpyBert

    texts = ["why I self-host", "", "Émile's café, naïve résumé 🙂 [SECRET:anthropic_key]", "word " * 600,
             *fixture_texts()[:12]]
    fast = NumpyBert(bundled_model_path()).encode(texts)
    slow = np.asarray(embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), np.float32)
    assert fast.shape == slow.shape == (len(texts), 384) and fast.dtype == np.float32
    assert np.abs(fast - slow).max() < 1e-5  # long texts are truncated at the model's 256 tokens, like ST

    lazy = Embedder.load(BUNDLED_EMBEDDER)  # a fresh one: small batches never load sentence-transformers
    one = lazy.encode(["why I self-host"])
    assert lazy._model is None and np.abs(one - slow[:1]).max() < 1e-5
    many = lazy.encode(texts)  # a bulk batch loads the full model
    assert lazy._model is not None and np.abs(many - slow).max() < 1e-5
