"""The offline voice-fidelity suite: M1-M4 between a floor and a ceiling, Voice Gap Closed, guards.

`evaluate_voice(data, systems)` answers "does it sound like the owner?" without a network or
a judge. Every metric is oriented so that lower means more person-like and is reported
three ways (shared/docs/voice-metrics.md §1, §a):

- floor: the owner's held-out text against itself (random split halves, repeated);
- ceiling: the base model's answers against the same held-out half;
- value: each system's answers against that half, subsampled to the floor's size so that
  small-sample noise hits floor, ceiling and system alike.

gap closed = (ceiling - value) / (ceiling - floor); Voice Gap Closed (VGC) is the median over
M1-M4, always shown with its components. Beside them, never inside VGC: M4 on content-masked
text (topic leakage check), M5 Away/Towards/Confusion and M8 ROUGE-L against the real replies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval import attribution as at
from eval import stylometry as st
from eval.function_words import mask_all
from eval.overlap import mean_rouge_l
from eval.style_space import StyleSpace, away_towards_confusion
from eval.voice_checks import (  # noqa: F401  (re-exported: the suite's names live with its checks)
    EDER_CHUNK_WORDS,
    METRIC_LABELS,
    METRICS,
    MIN_STABLE_TEST,
    SECONDARY,
    SECONDARY_LABELS,
    Targets,
    run_checks,
    small_sample_warnings,
)

SMALL_TEST = 50
SMALL_REPEATS = 60


@dataclass(frozen=True)
class VoiceData:
    """The texts every system is measured against.

    Attributes:
        person_train: the owner's training targets (classifier positives, memorisation index).
        person_test: the owner's held-out messages: the reference and the floor.
        base: the base model's answers to the same held-out contexts: the ceiling.
        negatives: base answers on training contexts plus the assistant turns of the owner's
            own chats (topic-matched not-person text for the M3 classifier).

    """

    person_train: list[str]
    person_test: list[str]
    base: list[str]
    negatives: list[str]


@dataclass
class Band:
    """One metric for one system, with the floor and ceiling it is read against."""

    value: float
    sd: float
    floor: float
    ceiling: float
    gap_closed: float | None


@dataclass
class SystemResult:
    name: str
    n: int
    components: dict[str, Band]
    vgc: float | None
    attribution: dict[str, float]
    delta: dict[str, float]
    phrases: dict[str, float | None]
    memorisation: float
    diversity: dict[str, float | None]
    features: list[dict[str, Any]]
    checks: list[dict[str, Any]] = field(default_factory=list)
    secondary: dict[str, Band] = field(default_factory=dict)  # SECONDARY bands, not in VGC
    away_towards: dict[str, float] = field(default_factory=dict)  # M5 means
    rouge_l: dict[str, float | None] = field(default_factory=dict)  # M8: mean and n aligned items
    aligned: bool = False  # answers the same contexts as the base answers, in the same order


@dataclass
class VoiceReport:
    systems: dict[str, SystemResult]
    floor: dict[str, float]
    ceiling: dict[str, float]
    sanity_auc: float
    signature_phrases: list[tuple[str, float]]
    settings: dict[str, Any]
    warnings: list[str]
    away_towards_floor: dict[str, float] = field(default_factory=dict)  # M5 of held-out person text
    base_rouge_l: dict[str, float | None] = field(default_factory=dict)  # M8 of the base answers

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (what the store and the report files keep)."""
        return asdict(self)


def gap_closed(value: float, floor: float, ceiling: float, *, min_gap: float = 1e-6) -> float | None:
    """(ceiling - value) / (ceiling - floor); None when the base is already at the floor."""
    span = ceiling - floor
    if span <= min_gap:
        return None
    return float((ceiling - value) / span)


def voice_gap_closed(components: Mapping[str, Band]) -> float | None:
    """Median of the components' gap closed (those that are defined)."""
    vals = [b.gap_closed for b in components.values() if b.gap_closed is not None]
    return float(np.median(vals)) if vals else None


@dataclass
class _Spaces:
    """The fitted feature spaces every side is projected into."""

    clf: at.AttributionModel
    masked: object  # TF-IDF vectorizer fitted on content-masked reference segments
    delta: st.DeltaSpace
    style: StyleSpace
    max_words: int
    max_per_text: int


class _Side:
    """Everything precomputed for one set of texts, so repeats only index into arrays."""

    def __init__(self, texts: Sequence[str], positions: Sequence[int], sp: _Spaces) -> None:
        self.texts = list(texts)
        # Index of each text in the caller's (uncleaned) list: aligned sides pair up through it.
        self.positions = np.array(positions, dtype=int)
        self.features = st.feature_matrix(self.texts)
        self.ids = [sp.delta.encode(st.words(t)) for t in self.texts]
        segs, owner = st.segment(self.texts, max_words=sp.max_words, max_per_text=sp.max_per_text)
        self.owner = np.array(owner, dtype=int)
        self.X = sp.clf.transform(segs) if segs else None
        p = sp.clf.segment_proba(segs)
        sums = np.bincount(self.owner, weights=p, minlength=len(self.texts)) if segs else np.zeros(len(self.texts))
        counts = np.bincount(self.owner, minlength=len(self.texts)) if segs else np.zeros(len(self.texts))
        self.p = np.where(counts > 0, sums / np.maximum(counts, 1), 0.5)
        msegs, mowner = st.segment(mask_all(self.texts), max_words=sp.max_words, max_per_text=sp.max_per_text)
        self.mowner = np.array(mowner, dtype=int)
        self.Xm = sp.masked.transform(msegs) if msegs else None  # type: ignore[attr-defined]
        self.vec = sp.style.vectors(self.features, self.X, self.owner)

    def pool(self, idx: np.ndarray) -> np.ndarray:
        return np.concatenate([self.ids[i] for i in idx]) if len(idx) else np.zeros(0, dtype=np.int64)

    def segments(self, idx: np.ndarray, *, masked: bool = False) -> tuple[Any, np.ndarray]:
        X, owner = (self.Xm, self.mowner) if masked else (self.X, self.owner)
        mask = np.isin(owner, idx)
        return X[mask], owner[mask]  # type: ignore[index]


def _clean(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Non-empty texts and their positions in the original list."""
    keep = [i for i, t in enumerate(texts) if t.strip()]
    return [texts[i] for i in keep], keep


def _m5_source(s: _Side, base: _Side, aligned: bool) -> np.ndarray:
    """Per-text M5 source: the base answer to the same context when aligned, else the base centroid."""
    centroid = base.vec.mean(axis=0)
    if not aligned:
        return np.broadcast_to(centroid, s.vec.shape)
    where = {int(p): i for i, p in enumerate(base.positions)}
    return np.vstack([base.vec[where[int(p)]] if int(p) in where else centroid for p in s.positions])


def _check_inputs(data: VoiceData, systems: Mapping[str, Sequence[str]]) -> None:
    need = {"person_test": 4, "person_train": 3, "base": 2, "negatives": 3}
    for name, minimum in need.items():
        got = [t for t in getattr(data, name) if t.strip()]
        if len(got) < minimum:
            raise st.InsufficientText(f"voice evaluation needs at least {minimum} non-empty {name} texts; "
                                      f"got {len(got)}")
    for name, texts in systems.items():
        if len([t for t in texts if t.strip()]) < 2:
            raise st.InsufficientText(f"system {name!r} needs at least 2 non-empty answers; got {len(texts)}")


def evaluate_voice(data: VoiceData, systems: Mapping[str, Sequence[str]], *, repeats: int = 20,
                   c2st_repeats: int | None = None, seed: int = 0, max_words: int = 60,
                   max_per_text: int = 6, n_mfw: int = 200, bags: int = 3,
                   references: Sequence[str | None] | None = None,
                   targets: Targets | None = None) -> VoiceReport:
    """Run the offline suite for each system against the floor and the base-model ceiling.

    Args:
        data: person train/test text, base answers (ceiling) and classifier negatives.
        systems: name -> answers to the held-out contexts (prompting baseline, adapters...).
        repeats: random split halves of the held-out person text (voice-metrics uses 20). With
            fewer than SMALL_TEST held-out messages at least SMALL_REPEATS are run: on a
            dozen messages the Monte-Carlo noise of 20 halves moves VGC by +-0.3.
        c2st_repeats: how many of those also run the M4 two-sample tests (the slow part);
            default 30 on small data (cheap there, and noisy), 10 otherwise.
        seed: RNG seed; the same seed gives the same report.
        max_words: words per classifier segment.
        max_per_text: segments kept per text (long pasted messages must not dominate).
        n_mfw: most-frequent words for Delta.
        bags: random word bags per side per repeat for Delta.
        references: the person's real reply to the context of each base answer (None where
            there is none, e.g. golden prompts), aligned with `data.base`. A system with as
            many answers as the base is taken to answer the same contexts in the same order:
            it gets M8 (ROUGE-L against these replies) and a per-item M5 source. Others (held-out
            person text used as a system) get no M8 and the base centroid as M5 source.
        targets: thresholds for the pass/fail checks.

    Returns:
        The report: per-system components, VGC, secondary metrics, guards, checks and warnings.

    """
    _check_inputs(data, systems)
    if references is not None and len(references) != len(data.base):
        raise ValueError(f"references must be aligned with the base answers: got {len(references)} references "
                         f"for {len(data.base)} base answers")
    targets = targets or Targets()
    rng = np.random.default_rng(seed)
    train, test, negs = (_clean(data.person_train)[0], _clean(data.person_test)[0], _clean(data.negatives)[0])

    clf = at.AttributionModel.fit(train, negs, seed=seed, max_words=max_words, max_per_text=max_per_text)
    test_tokens = st.token_count(test)
    chunk_words = max(50, min(EDER_CHUNK_WORDS, test_tokens // 2))
    train_feats, neg_feats = st.feature_matrix(train), st.feature_matrix(negs)
    sp = _Spaces(clf=clf, max_words=max_words, max_per_text=max_per_text,
                 masked=at.fit_vectorizer(mask_all(train + negs), max_words=max_words, max_per_text=max_per_text),
                 delta=st.DeltaSpace.fit([sum((st.words(t) for t in train), []),
                                          sum((st.words(t) for t in negs), [])],
                                         n_mfw=n_mfw, chunk_words=chunk_words, seed=seed),
                 style=StyleSpace.fit(np.vstack([train_feats, neg_feats]), clf.train_matrix, seed=seed))
    scale = st.StyleScale.fit(train_feats, neg_feats)
    ref, ceil = _Side(test, range(len(test)), sp), _Side(*_clean(data.base), sp)
    sys_sides = {k: _Side(*_clean(v), sp) for k, v in systems.items()}
    aligned = {k: references is not None and len(v) == len(data.base) for k, v in systems.items()}
    m5_src = {k: _m5_source(s, ceil, aligned[k]) for k, s in sys_sides.items()}

    n_ref = len(test)
    half = n_ref // 2
    if n_ref < SMALL_TEST:
        repeats = max(repeats, SMALL_REPEATS)
    if c2st_repeats is None:
        c2st_repeats = min(repeats, 30 if n_ref < SMALL_TEST else 10)
    c2st_repeats = min(c2st_repeats, repeats)
    names = ["__floor__", "__base__", *systems]
    rows: dict[str, dict[str, list[float]]] = {k: {m: [] for m in (*METRICS, *SECONDARY)} for k in names}
    m5: dict[str, list[dict[str, float]]] = {k: [] for k in ["__floor__", *systems]}
    nearer_person: dict[str, list[float]] = {k: [] for k in systems}
    base_centroid = ceil.vec.mean(axis=0)
    space = sp.delta
    for r in range(repeats):
        perm = rng.permutation(n_ref)
        a_idx, b_idx = perm[:half], perm[half:]
        b_pool = ref.pool(b_idx)
        z_b = [space.z(space.bag_freqs(b_pool, rng)) for _ in range(bags)]
        Xb, gb = ref.segments(b_idx)
        Xbm, gbm = ref.segments(b_idx, masked=True)
        person_centroid = ref.vec[b_idx].mean(axis=0)
        base_idx = rng.choice(len(ceil.texts), size=min(half, len(ceil.texts)), replace=False)
        z_base = [space.z(space.bag_freqs(ceil.pool(base_idx), rng)) for _ in range(bags)]
        cases = [("__floor__", ref, a_idx), ("__base__", ceil, base_idx)]
        cases += [(k, s, rng.choice(len(s.texts), size=min(half, len(s.texts)), replace=False))
                  for k, s in sys_sides.items()]
        for name, s, idx in cases:
            out = rows[name]
            out["M1_spd"].append(st.style_profile_distance(s.features[idx], ref.features[b_idx], scale))
            z_s = [space.z(space.bag_freqs(s.pool(idx), rng)) for _ in range(bags)]
            to_person = float(np.mean([st.cosine_delta(x, y) for x, y in zip(z_s, z_b, strict=True)]))
            out["M2_cosine_delta"].append(to_person)
            out["M3_not_person"].append(1.0 - float(s.p[idx].mean()))
            if r < c2st_repeats:
                Xs, gs = s.segments(idx)
                out["M4_c2st_auc"].append(at.c2st_auc(Xs, gs, Xb, gb, seed=seed + r))
                Xsm, gsm = s.segments(idx, masked=True)
                out["M4m_c2st_masked"].append(at.c2st_auc(Xsm, gsm, Xbm, gbm, seed=seed + r))
            if name in m5:  # the person's target is the other half's centroid, as for every metric
                src = base_centroid if name == "__floor__" else m5_src[name][idx]
                m5[name].append(away_towards_confusion(s.vec[idx], src, person_centroid))
            if name in nearer_person:
                to_base = np.mean([st.cosine_delta(x, y) for x, y in zip(z_s, z_base, strict=True)])
                nearer_person[name].append(float(to_person < to_base))

    mean = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in rows.items()}
    floor, ceiling = mean["__floor__"], mean["__base__"]
    band = lambda name, m: Band(value=mean[name][m], sd=float(np.std(rows[name][m])), floor=floor[m],  # noqa: E731
                                ceiling=ceiling[m], gap_closed=gap_closed(mean[name][m], floor[m], ceiling[m]))
    m5_mean = {k: {q: float(np.mean([d[q] for d in v])) for q in ("away", "towards", "confusion")}
               for k, v in m5.items()}
    phrases = st.signature_phrases(train, negs)
    phrase_list = [p for p, _ in phrases]
    ref_rate = st.phrase_rate(test, phrase_list)
    base_m8 = mean_rouge_l(data.base, references) if references is not None else (None, 0)
    results: dict[str, SystemResult] = {}
    for name, s in sys_sides.items():
        comps = {m: band(name, m) for m in METRICS}
        rate = st.phrase_rate(s.texts, phrase_list)
        budget = min(st.token_count(s.texts), test_tokens)
        diversity: dict[str, float | None] = {}
        for n in (1, 2):
            mine, theirs = st.distinct_n(s.texts, n, budget=budget), st.distinct_n(test, n, budget=budget)
            diversity[f"distinct_{n}"] = mine
            diversity[f"person_distinct_{n}"] = theirs
            diversity[f"distinct_{n}_ratio"] = mine / theirs if theirs else None
        m8 = mean_rouge_l(systems[name], references) if aligned[name] and references is not None else (None, 0)
        res = SystemResult(
            name=name, n=len(s.texts), components=comps, vgc=voice_gap_closed(comps),
            attribution={"mean_p_person": float(s.p.mean()), "attributed_share": float((s.p > 0.5).mean())},
            delta={"nearer_person_than_base": float(np.mean(nearer_person[name])),
                   "burrows_delta": _burrows(s, ref, space, rng)},
            phrases={"rate_per_1k": rate, "person_rate_per_1k": ref_rate,
                     "ratio": rate / ref_rate if ref_rate else None},
            memorisation=st.memorisation_rate(s.texts, train),
            diversity=diversity, features=st.feature_report(s.features, ref.features, scale),
            secondary={m: band(name, m) for m in SECONDARY}, away_towards=m5_mean[name],
            rouge_l={"mean": m8[0], "n": m8[1]}, aligned=aligned[name],
        )
        res.checks = run_checks(res, targets)
        results[name] = res

    sanity = at.roc_auc(ref.p, ceil.p)
    report = VoiceReport(
        systems=results, floor=floor, ceiling=ceiling, sanity_auc=sanity, signature_phrases=phrases,
        settings={"repeats": repeats, "c2st_repeats": c2st_repeats, "seed": seed, "chunk_words": chunk_words,
                  "n_mfw": len(space.vocab), "max_words": max_words, "max_per_text": max_per_text,
                  "attribution_C": clf.C, "n_person_train": len(train), "n_person_test": n_ref,
                  "n_base": len(ceil.texts), "n_negatives": len(negs), "person_test_words": test_tokens,
                  "style_space_dims": len(sp.style.svd_mean) + len(st.FEATURES)},
        warnings=[], away_towards_floor=m5_mean["__floor__"], base_rouge_l={"mean": base_m8[0], "n": base_m8[1]},
    )
    report.warnings = small_sample_warnings(report, targets)
    return report


def _burrows(s: _Side, ref: _Side, space: st.DeltaSpace, rng: np.random.Generator) -> float:
    """Burrows' Delta of one bag of the whole system against one bag of all held-out text."""
    za = space.z(space.bag_freqs(s.pool(np.arange(len(s.texts))), rng))
    zb = space.z(space.bag_freqs(ref.pool(np.arange(len(ref.texts))), rng))
    return st.burrows_delta(za, zb)
