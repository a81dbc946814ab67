"""The offline voice-fidelity suite: M1-M4 between a floor and a ceiling, Voice Gap Closed, guards.

`evaluate_voice(data, systems)` answers "does it sound like the owner?" without a network or
a judge. Every metric is oriented so that lower means more person-like and is reported
three ways (shared/docs/voice-metrics.md §1, §a):

- floor: the owner's held-out text against itself (random split halves, repeated);
- ceiling: the base model's answers against the same held-out half;
- value: each system's answers against that half, subsampled to the floor's size so that
  small-sample noise hits floor, ceiling and system alike.

gap closed = (ceiling - value) / (ceiling - floor); Voice Gap Closed (VGC) is the median over
M1-M4, always shown with its components.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval import attribution as at
from eval import stylometry as st

METRICS = ("M1_spd", "M2_cosine_delta", "M3_not_person", "M4_c2st_auc")
METRIC_LABELS = {
    "M1_spd": "M1 style-profile distance",
    "M2_cosine_delta": "M2 Cosine Delta (pooled chunks)",
    "M3_not_person": "M3 1 - P(person)",
    "M4_c2st_auc": "M4 two-sample AUC vs held-out person",
}
MIN_STABLE_TEST = 150  # held-out person messages for AUC SE ~0.03-0.04 (voice-metrics §1)
EDER_CHUNK_WORDS = 2500  # Delta needs 2,500-5,000-word samples (Eder 2015)
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


@dataclass(frozen=True)
class Targets:
    """'Clearly worked' thresholds from voice-metrics.md (proposals; calibrate on real users)."""

    vgc: float = 0.6
    min_component: float = 0.3
    max_c2st_auc: float = 0.70
    min_mean_p_person: float = 0.5
    min_attributed_share: float = 0.6
    max_memorisation: float = 0.02
    phrase_ratio: tuple[float, float] = (0.5, 1.5)
    phrase_red_flag: float = 2.0
    distinct_tolerance: float = 0.2
    feature_d: float = 0.8
    min_sanity_auc: float = 0.9


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


@dataclass
class VoiceReport:
    systems: dict[str, SystemResult]
    floor: dict[str, float]
    ceiling: dict[str, float]
    sanity_auc: float
    signature_phrases: list[tuple[str, float]]
    settings: dict[str, Any]
    warnings: list[str]

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


class _Side:
    """Everything precomputed for one set of texts, so repeats only index into arrays."""

    def __init__(self, texts: Sequence[str], clf: at.AttributionModel, space: st.DeltaSpace,
                 max_words: int, max_per_text: int) -> None:
        self.texts = list(texts)
        self.features = st.feature_matrix(self.texts)
        self.ids = [space.encode(st.words(t)) for t in self.texts]
        segs, owner = st.segment(self.texts, max_words=max_words, max_per_text=max_per_text)
        self.owner = np.array(owner, dtype=int)
        self.X = clf.transform(segs) if segs else None
        p = clf.segment_proba(segs)
        sums = np.bincount(self.owner, weights=p, minlength=len(self.texts)) if segs else np.zeros(len(self.texts))
        counts = np.bincount(self.owner, minlength=len(self.texts)) if segs else np.zeros(len(self.texts))
        self.p = np.where(counts > 0, sums / np.maximum(counts, 1), 0.5)

    def pool(self, idx: np.ndarray) -> np.ndarray:
        return np.concatenate([self.ids[i] for i in idx]) if len(idx) else np.zeros(0, dtype=np.int64)

    def segments(self, idx: np.ndarray) -> tuple[Any, np.ndarray]:
        mask = np.isin(self.owner, idx)
        return self.X[mask], self.owner[mask]  # type: ignore[index]


def _check_inputs(data: VoiceData, systems: Mapping[str, Sequence[str]]) -> None:
    need = {"person_test": 4, "person_train": 3, "base": 2, "negatives": 3}
    for name, minimum in need.items():
        got = [t for t in getattr(data, name) if t.strip()]
        if len(got) < minimum:
            raise st.InsufficientText(f"voice evaluation needs at least {minimum} non-empty {name} texts; got {len(got)}")
    for name, texts in systems.items():
        if len([t for t in texts if t.strip()]) < 2:
            raise st.InsufficientText(f"system {name!r} needs at least 2 non-empty answers; got {len(texts)}")


def evaluate_voice(data: VoiceData, systems: Mapping[str, Sequence[str]], *, repeats: int = 20,
                   c2st_repeats: int | None = None, seed: int = 0, max_words: int = 60,
                   max_per_text: int = 6, n_mfw: int = 200, bags: int = 3,
                   targets: Targets | None = None) -> VoiceReport:
    """Run the offline suite for each system against the floor and the base-model ceiling.

    Args:
        data: person train/test text, base answers (ceiling) and classifier negatives.
        systems: name -> answers to the held-out contexts (prompting baseline, adapters...).
        repeats: random split halves of the held-out person text (voice-metrics uses 20). With
            fewer than SMALL_TEST held-out messages at least SMALL_REPEATS are run: on a
            dozen messages the Monte-Carlo noise of 20 halves moves VGC by +-0.3.
        c2st_repeats: how many of those also run the M4 two-sample test (the slow part);
            default 30 on small data (cheap there, and noisy), 10 otherwise.
        seed: RNG seed; the same seed gives the same report.
        max_words: words per classifier segment.
        max_per_text: segments kept per text (long pasted messages must not dominate).
        n_mfw: most-frequent words for Delta.
        bags: random word bags per side per repeat for Delta.
        targets: thresholds for the pass/fail checks.

    Returns:
        The report: per-system components, VGC, guards, checks and warnings.
    """
    _check_inputs(data, systems)
    targets = targets or Targets()
    rng = np.random.default_rng(seed)
    clean = lambda xs: [t for t in xs if t.strip()]  # noqa: E731
    train, test, base, negs = (clean(data.person_train), clean(data.person_test), clean(data.base),
                               clean(data.negatives))
    systems = {k: clean(v) for k, v in systems.items()}

    clf = at.AttributionModel.fit(train, negs, seed=seed, max_words=max_words, max_per_text=max_per_text)
    test_tokens = st.token_count(test)
    chunk_words = max(50, min(EDER_CHUNK_WORDS, test_tokens // 2))
    space = st.DeltaSpace.fit([sum((st.words(t) for t in train), []), sum((st.words(t) for t in negs), [])],
                              n_mfw=n_mfw, chunk_words=chunk_words, seed=seed)
    scale = st.StyleScale.fit(st.feature_matrix(train), st.feature_matrix(negs))
    side = lambda xs: _Side(xs, clf, space, max_words, max_per_text)  # noqa: E731
    ref, ceil = side(test), side(base)
    sys_sides = {k: side(v) for k, v in systems.items()}

    n_ref = len(test)
    half = n_ref // 2
    if n_ref < SMALL_TEST:
        repeats = max(repeats, SMALL_REPEATS)
    if c2st_repeats is None:
        c2st_repeats = min(repeats, 30 if n_ref < SMALL_TEST else 10)
    c2st_repeats = min(c2st_repeats, repeats)
    rows: dict[str, dict[str, list[float]]] = {k: {m: [] for m in METRICS} for k in ["__floor__", "__base__", *systems]}
    nearer_person: dict[str, list[float]] = {k: [] for k in systems}
    for r in range(repeats):
        perm = rng.permutation(n_ref)
        a_idx, b_idx = perm[:half], perm[half:]
        b_pool = ref.pool(b_idx)
        z_b = [space.z(space.bag_freqs(b_pool, rng)) for _ in range(bags)]
        Xb, gb = ref.segments(b_idx)
        base_idx = rng.choice(len(base), size=min(half, len(base)), replace=False)
        z_base = [space.z(space.bag_freqs(ceil.pool(base_idx), rng)) for _ in range(bags)]
        cases = [("__floor__", ref, a_idx), ("__base__", ceil, base_idx)]
        cases += [(k, s, rng.choice(len(s.texts), size=min(half, len(s.texts)), replace=False))
                  for k, s in sys_sides.items()]
        for name, s, idx in cases:
            out = rows[name]
            out["M1_spd"].append(st.style_profile_distance(s.features[idx], ref.features[b_idx], scale))
            z_s = [space.z(space.bag_freqs(s.pool(idx), rng)) for _ in range(bags)]
            out["M2_cosine_delta"].append(float(np.mean([st.cosine_delta(x, y) for x, y in zip(z_s, z_b)])))
            out["M3_not_person"].append(1.0 - float(s.p[idx].mean()))
            if r < c2st_repeats:
                Xs, gs = s.segments(idx)
                out["M4_c2st_auc"].append(at.c2st_auc(Xs, gs, Xb, gb, seed=seed + r))
            if name in nearer_person:
                to_person = np.mean([st.cosine_delta(x, y) for x, y in zip(z_s, z_b)])
                to_base = np.mean([st.cosine_delta(x, y) for x, y in zip(z_s, z_base)])
                nearer_person[name].append(float(to_person < to_base))

    mean = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in rows.items()}
    floor, ceiling = mean["__floor__"], mean["__base__"]
    phrases = st.signature_phrases(train, negs)
    phrase_list = [p for p, _ in phrases]
    ref_rate = st.phrase_rate(test, phrase_list)
    results: dict[str, SystemResult] = {}
    for name, s in sys_sides.items():
        comps = {m: Band(value=mean[name][m], sd=float(np.std(rows[name][m])), floor=floor[m],
                         ceiling=ceiling[m], gap_closed=gap_closed(mean[name][m], floor[m], ceiling[m]))
                 for m in METRICS}
        rate = st.phrase_rate(s.texts, phrase_list)
        budget = min(st.token_count(s.texts), test_tokens)
        diversity: dict[str, float | None] = {}
        for n in (1, 2):
            mine, theirs = st.distinct_n(s.texts, n, budget=budget), st.distinct_n(test, n, budget=budget)
            diversity[f"distinct_{n}"] = mine
            diversity[f"person_distinct_{n}"] = theirs
            diversity[f"distinct_{n}_ratio"] = mine / theirs if theirs else None
        res = SystemResult(
            name=name, n=len(s.texts), components=comps, vgc=voice_gap_closed(comps),
            attribution={"mean_p_person": float(s.p.mean()), "attributed_share": float((s.p > 0.5).mean())},
            delta={"nearer_person_than_base": float(np.mean(nearer_person[name])),
                   "burrows_delta": _burrows(s, ref, space, rng)},
            phrases={"rate_per_1k": rate, "person_rate_per_1k": ref_rate,
                     "ratio": rate / ref_rate if ref_rate else None},
            memorisation=st.memorisation_rate(s.texts, train),
            diversity=diversity, features=st.feature_report(s.features, ref.features, scale),
        )
        res.checks = run_checks(res, targets)
        results[name] = res

    sanity = at.roc_auc(ref.p, ceil.p)
    report = VoiceReport(
        systems=results, floor=floor, ceiling=ceiling, sanity_auc=sanity, signature_phrases=phrases,
        settings={"repeats": repeats, "c2st_repeats": c2st_repeats, "seed": seed, "chunk_words": chunk_words,
                  "n_mfw": len(space.vocab), "max_words": max_words, "max_per_text": max_per_text,
                  "attribution_C": clf.C, "n_person_train": len(train), "n_person_test": n_ref,
                  "n_base": len(base), "n_negatives": len(negs), "person_test_words": test_tokens},
        warnings=[],
    )
    report.warnings = small_sample_warnings(report, targets)
    return report


def _burrows(s: _Side, ref: _Side, space: st.DeltaSpace, rng: np.random.Generator) -> float:
    """Burrows' Delta of one bag of the whole system against one bag of all held-out text."""
    za = space.z(space.bag_freqs(s.pool(np.arange(len(s.texts))), rng))
    zb = space.z(space.bag_freqs(ref.pool(np.arange(len(ref.texts))), rng))
    return st.burrows_delta(za, zb)


def run_checks(res: SystemResult, t: Targets) -> list[dict[str, Any]]:
    """The voice-metrics 'clearly worked' targets as pass/fail lines (None = not measurable)."""
    gaps = {m: b.gap_closed for m, b in res.components.items()}
    defined = [g for g in gaps.values() if g is not None]
    ratio = res.phrases.get("ratio")
    d1 = res.diversity.get("distinct_1_ratio")
    big = [f["feature"] for f in res.features if abs(float(f["d"])) > t.feature_d]
    checks = [
        ("voice_gap_closed", res.vgc is not None and res.vgc >= t.vgc, f"VGC {_fmt(res.vgc)} (target >= {t.vgc})"),
        ("no_weak_component", bool(defined) and min(defined) >= t.min_component,
         f"weakest component {_fmt(min(defined) if defined else None)} (target >= {t.min_component})"),
        ("c2st_auc", res.components["M4_c2st_auc"].value <= t.max_c2st_auc,
         f"AUC vs held-out person {res.components['M4_c2st_auc'].value:.2f} (target <= {t.max_c2st_auc})"),
        ("attribution", res.attribution["mean_p_person"] >= t.min_mean_p_person
         and res.attribution["attributed_share"] >= t.min_attributed_share,
         f"mean P(person) {res.attribution['mean_p_person']:.2f}, attributed "
         f"{res.attribution['attributed_share']:.0%} (targets >= {t.min_mean_p_person}, >= {t.min_attributed_share:.0%})"),
        ("memorisation", res.memorisation < t.max_memorisation,
         f"{res.memorisation:.1%} of answers copy 10+ words from training (target < {t.max_memorisation:.0%})"),
        ("signature_phrases", None if ratio is None else t.phrase_ratio[0] <= ratio <= t.phrase_ratio[1],
         f"phrase usage ratio {_fmt(ratio)} (target {t.phrase_ratio[0]}-{t.phrase_ratio[1]}; "
         f"> {t.phrase_red_flag} is caricature)"),
        ("diversity", None if d1 is None else abs(d1 - 1) <= t.distinct_tolerance,
         f"distinct-1 ratio {_fmt(d1)} (target within ±{t.distinct_tolerance:.0%} of the person)"),
        ("style_features", not big, f"features with |d| > {t.feature_d}: {', '.join(big) or 'none'}"),
    ]
    return [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks]


def small_sample_warnings(report: VoiceReport, t: Targets) -> list[str]:
    """Plain-language caveats when the data is too small or the metric is uninformative."""
    s = report.settings
    out: list[str] = []
    if s["n_person_test"] < MIN_STABLE_TEST:
        out.append(f"Only {s['n_person_test']} held-out person messages (>= {MIN_STABLE_TEST} keeps AUCs "
                   "stable); floors come from split halves of them, so read small differences as noise "
                   "and look at each component's sd.")
    if s["chunk_words"] < EDER_CHUNK_WORDS:
        out.append(f"Delta bags hold {s['chunk_words']} words (Eder 2015 wants >= {EDER_CHUNK_WORDS}); "
                   "M2 is noisy at this size.")
    if report.sanity_auc < t.min_sanity_auc:
        out.append(f"Sanity check failed: the person-vs-not classifier separates held-out person text from "
                   f"base answers with AUC {report.sanity_auc:.2f} (< {t.min_sanity_auc}), so M3 is uninformative.")
    for m in METRICS:
        if report.ceiling[m] - report.floor[m] <= 1e-6:
            out.append(f"{METRIC_LABELS[m]}: the base model is already at the person's own floor, so this "
                       "component has no gap to close and is left out of VGC.")
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
