"""M5 Away / Towards / Confusion (Patel et al. 2022) in an offline style space.

The vectors stand in for learned style embeddings (UAR, Wegmann), which would need a model
download: z-scored M1 style features joined with an SVD of M3's TF-IDF space
(voice-metrics.md, M5). src is what the base model said, out what the system said, tgt the
person; all three are compared by an angular similarity in [0.5, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

SVD_DIM = 256
SVD_MAX_ROWS = 2000  # the SVD only needs the main directions: more rows cost seconds (2,585 rows: 4 s), not accuracy


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@dataclass
class StyleSpace:
    """Fitted z-scoring of M1 features and SVD of the M3 TF-IDF rows."""

    mu: np.ndarray
    sd: np.ndarray
    svd: object
    svd_mean: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, tfidf: sparse.csr_matrix, *, dim: int = SVD_DIM, seed: int = 0) -> StyleSpace:
        """Fit on the reference texts (person training text plus negatives).

        Args:
            features: M1 feature rows of the reference texts.
            tfidf: the M3 classifier's TF-IDF training rows (segments of the same texts).
            dim: SVD components (fewer when the matrix is smaller).
            seed: RNG seed for the row subsample and the randomised SVD.

        """
        from sklearn.decomposition import TruncatedSVD

        sd = features.std(axis=0)
        rng = np.random.default_rng(seed)
        if tfidf.shape[0] > SVD_MAX_ROWS:
            tfidf = tfidf[rng.choice(tfidf.shape[0], SVD_MAX_ROWS, replace=False)]
        rows = tfidf
        k = max(1, min(dim, min(rows.shape) - 1))
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=3, random_state=seed).fit(rows)
        return cls(mu=features.mean(axis=0), sd=np.where(sd > 1e-9, sd, 1.0), svd=svd,
                   svd_mean=np.asarray(svd.transform(rows)).mean(axis=0))  # type: ignore[attr-defined]

    def vectors(self, features: np.ndarray, seg_tfidf: sparse.csr_matrix | None, owner: np.ndarray) -> np.ndarray:
        """One style vector per text: its z-scored features ⊕ the mean SVD projection of its segments.

        Both blocks are centred on the reference texts (so a direction means "unlike the average
        text") and scaled to unit length, so that neither the 29 features nor the 256 SVD
        components decide the cosine alone.
        """
        n = features.shape[0]
        z = np.clip((features - self.mu) / self.sd, -5.0, 5.0)  # a stray header must not own the vector
        k = len(self.svd_mean)
        proj = np.zeros((n, k))
        if seg_tfidf is not None and seg_tfidf.shape[0]:
            seg = np.asarray(self.svd.transform(seg_tfidf)) - self.svd_mean  # type: ignore[attr-defined]
            counts = np.bincount(owner, minlength=n)
            for j in range(k):
                proj[:, j] = np.bincount(owner, weights=seg[:, j], minlength=n)
            proj /= np.maximum(counts, 1)[:, None]
        return np.hstack([_unit_rows(z), _unit_rows(proj)]) / np.sqrt(2.0)


def angular_sim(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise sim = (s + 1) / 2 with s = 1 - arccos(cos(u, v)) / pi (Patel et al. 2022)."""
    u, v = np.atleast_2d(u), np.atleast_2d(v)
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    cos = np.einsum("ij,ij->i", u, v) / np.where(nu * nv > 0, nu * nv, 1.0)
    s = 1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
    return (s + 1.0) / 2.0


def away_towards_confusion(out: np.ndarray, src: np.ndarray, tgt: np.ndarray) -> dict[str, float]:
    """Mean Away, Towards and Confusion over rows.

    Away = min(simc(out,src), simc(tgt,src)) / simc(tgt,src): how far the output left the
    base, capped at the person's own distance from it. Towards = max(sim(out,tgt) -
    sim(tgt,src), 0) / simc(src,tgt): how much of the way to the person it went. Confusion =
    1[sim(out,tgt) > sim(out,src)]: nearer the person than the base. simc = 1 - sim.

    Args:
        out: (n, d) system outputs.
        src: (n, d) base outputs for the same contexts, or (d,) / (1, d) broadcast to all rows.
        tgt: the person, (n, d) or (d,) broadcast.

    """
    out = np.atleast_2d(out)
    src = np.broadcast_to(np.atleast_2d(src), out.shape)
    tgt = np.broadcast_to(np.atleast_2d(tgt), out.shape)
    s_os, s_ot, s_ts = angular_sim(out, src), angular_sim(out, tgt), angular_sim(tgt, src)
    c_ts = 1.0 - s_ts
    ok = c_ts > 1e-9  # the person and the base coincide: nothing to move away from or towards
    safe = np.where(ok, c_ts, 1.0)
    away = np.where(ok, np.minimum(1.0 - s_os, c_ts) / safe, 0.0)
    towards = np.where(ok, np.maximum(s_ot - s_ts, 0.0) / safe, 0.0)
    confusion = (s_ot > s_os).astype(float)
    return {"away": float(away.mean()), "towards": float(towards.mean()), "confusion": float(confusion.mean())}
