"""A numpy forward pass of a BERT sentence encoder (the bundled all-MiniLM-L6-v2) for a few texts at a time.

Embedding one search query through sentence-transformers first imports torch and
transformers, which is most of a `search` command's time. This computes the same vectors
(BERT encoder, mean pooling over real tokens, L2 norm, as sentence-transformers does for this
model) with numpy, the `tokenizers` library and safetensors, which load in a fraction of
that. Bulk embedding (imports, QC) still goes through sentence-transformers: it is faster
per text once loaded. tests/core/test_minilm.py checks both give the same vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 noise; saves importing scipy.
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    ax = np.abs(x)
    t = 1.0 / (1.0 + p * ax)
    y = 1.0 - ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t * np.exp(-ax * ax)
    return np.sign(x) * y


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))  # BERT's exact (erf) GELU, not the tanh one


class NumpyBert:
    """Mean-pooled, normalised BERT sentence embeddings computed with numpy (float32)."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = json.loads((folder / "config.json").read_text("utf-8"))
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(f"{folder}: not a BERT model with GELU ({cfg.get('model_type')}, {cfg.get('hidden_act')})")
        st_cfg = folder / "sentence_bert_config.json"
        self.max_len = int(json.loads(st_cfg.read_text("utf-8")).get("max_seq_length", 512)) if st_cfg.exists() else 512
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.w: dict[str, Any] = load_file(str(folder / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v for k, v in self.w.items()}
        self.dim = int(self.w["embeddings.word_embeddings.weight"].shape[1])
        self._wt: dict[str, np.ndarray] = {}
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(max_length=self.max_len)
        self.tok.enable_padding(pad_id=int(cfg.get("pad_token_id", 0)))

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        # 2-D and contiguous, so numpy hands the product to BLAS (a stacked or transposed view is looped).
        wt = self._wt.get(name)
        if wt is None:
            wt = self._wt[name] = np.ascontiguousarray(self.w[f"{name}.weight"].T)
        return (x.reshape(-1, x.shape[-1]) @ wt + self.w[f"{name}.bias"]).reshape(*x.shape[:-1], wt.shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed `texts`: shape (n, dim), rows L2-normalised."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from threadpoolctl import threadpool_limits

        # One BLAS thread: these products are small, and spinning BLAS threads on a busy machine
        # made one query take a second instead of a few milliseconds (measured).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        enc = self.tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        w, n, t = self.w, ids.shape[0], ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hd = self.dim // self.heads
        bias = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min  # padding is never attended to
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (np.ascontiguousarray(self._dense(x, f"{p}.attention.self.{m}")
                                            .reshape(n, t, self.heads, hd).transpose(0, 2, 1, 3))
                       for m in ("query", "key", "value"))
            scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(hd)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = np.ascontiguousarray(ctx.transpose(0, 2, 1, 3)).reshape(n, t, self.dim)
            x = _layer_norm(self._dense(ctx, f"{p}.attention.output.dense") + x,
                            w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"],
                            self.eps)
            h = _gelu(self._dense(x, f"{p}.intermediate.dense"))
            x = _layer_norm(self._dense(h, f"{p}.output.dense") + x, w[f"{p}.output.LayerNorm.weight"],
                            w[f"{p}.output.LayerNorm.bias"], self.eps)
        pooled = (x * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
