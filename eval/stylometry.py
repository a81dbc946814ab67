"""Offline stylometric primitives: style features, Delta, attribution classifiers, phrases, guards.

Pure functions over lists of texts, numpy and scikit-learn only: nothing here downloads a
model or opens a socket. The formulas follow shared/docs/voice-metrics.md (M1–M4, M6, M7);
eval/voice.py combines them into floors, ceilings and Voice Gap Closed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp

from core.errors import IdiolectError
from eval.tokens import WORD_RE, sentences, words
from eval.tokens import segment as segment  # re-exported: voice.py reads it as st.segment


class InsufficientText(IdiolectError, ValueError):
    """Too little text to compute a metric; the message says which input and how much it needs."""


# --------------------------------------------------------------------------- M1 features

_EMOJI_RE = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\U0001F1E6-\U0001F1FF\u2B50\u2B55]")
_PROFANITY = {
    "damn", "dammit", "hell", "shit", "shitty", "crap", "crappy", "ass", "bastard", "bullshit",
    "piss", "pissed", "bloody", "goddamn", "wtf", "fuck", "fucking", "fucked", "screw", "sucks",
}
_FIRST_PERSON = {"i", "me", "my", "mine", "myself", "i'm", "i'd", "i've", "i'll"}
_CONTRACTION_RE = re.compile(r"^[^\W_]+'(t|s|re|ll|d|ve|m)$")
_ANALOGY_RE = re.compile(
    r"\b(like an? |think of it (as|like)|it'?s like|kind of like|sort of like|basically an? |"
    r"imagine |same as an? |the way an? )", re.IGNORECASE)
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_HEADER_RE = re.compile(r"^\s*#{1,6}\s", re.MULTILINE)
_BOLD_RE = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_CODE_RE = re.compile(r"```|`[^`\n]+`")
_PUNCT = {
    "comma": ",", "period": ".", "exclaim": "!", "question": "?", "semicolon": ";",
    "colon": ":", "paren": "(", "quote": "\"“”„«»",
}

FEATURES: tuple[str, ...] = (
    "log_chars", "log_words", "sent_len_mean", "sent_len_sd", "mattr50",
    *(f"per1k_{k}" for k in _PUNCT), "per1k_dash", "per1k_ellipsis",
    "lower_initial_share", "allcaps_per1k_words", "emoji_per1k", "profanity_per1k_words",
    "question_share", "contractions_per1k_words", "first_person_per1k_words",
    "bullet_line_share", "header_line_share", "bold_per1k", "code_per1k", "analogy_per1k_words",
)


def mattr(tokens: Sequence[str], window: int = 50) -> float:
    """Moving-average type-token ratio; plain TTR when the text is shorter than the window."""
    n = len(tokens)
    if n == 0:
        return 0.0
    if n <= window:
        return len(set(tokens)) / n
    counts = Counter(tokens[:window])
    total = len(counts)
    for i in range(window, n):
        out, inc = tokens[i - window], tokens[i]
        counts[out] -= 1
        if counts[out] == 0:
            del counts[out]
        counts[inc] += 1
        total += len(counts)
    return total / ((n - window + 1) * window)


def style_features(text: str) -> np.ndarray:
    """One text's M1 feature vector, in the order of `FEATURES`."""
    toks = words(text)
    sents = sentences(text)
    chars = max(len(text), 1)
    nw = max(len(toks), 1)
    sl = np.array([len(words(s)) for s in sents], dtype=float) if sents else np.zeros(1)
    lines = [ln for ln in text.splitlines() if ln.strip()] or [""]
    k1 = 1000.0 / chars
    kw = 1000.0 / nw
    punct = [sum(text.count(c) for c in chars_) * k1 for chars_ in _PUNCT.values()]
    dash = (text.count("—") + text.count("–") + text.count(" - ")) * k1
    ellipsis = (text.count("…") + text.count("...")) * k1
    lower_init = np.mean([s[0].islower() for s in sents if s[0].isalpha()] or [0.0])
    raw_tokens = WORD_RE.findall(text)
    allcaps = sum(1 for w in raw_tokens if len(w) >= 2 and w.isupper() and w.isalpha()) * kw
    emoji = len(_EMOJI_RE.findall(text)) * k1
    profanity = sum(1 for w in toks if w in _PROFANITY) * kw
    questions = np.mean([s.rstrip().endswith("?") for s in sents] or [0.0])
    contractions = sum(1 for w in toks if _CONTRACTION_RE.match(w)) * kw
    first = sum(1 for w in toks if w in _FIRST_PERSON) * kw
    bullets = len(_BULLET_RE.findall(text)) / len(lines)
    headers = len(_HEADER_RE.findall(text)) / len(lines)
    bold = len(_BOLD_RE.findall(text)) * k1
    code = len(_CODE_RE.findall(text)) * k1
    analogy = len(_ANALOGY_RE.findall(text)) * kw
    return np.array([
        math.log1p(len(text)), math.log1p(len(toks)), float(sl.mean()), float(sl.std()),
        mattr(toks), *punct, dash, ellipsis, float(lower_init), allcaps, emoji, profanity,
        float(questions), contractions, first, bullets, headers, bold, code, analogy,
    ], dtype=float)


def feature_matrix(texts: Sequence[str]) -> np.ndarray:
    """(n_texts, n_features) matrix of `style_features`."""
    if not texts:
        return np.zeros((0, len(FEATURES)))
    return np.vstack([style_features(t) for t in texts])


@dataclass(frozen=True)
class StyleScale:
    """Per-feature spread of the person's own messages, used to standardise differences."""

    sd: np.ndarray

    @classmethod
    def fit(cls, person_features: np.ndarray, other_features: np.ndarray | None = None) -> StyleScale:
        """Scale from the person's feature matrix (rows = messages).

        Args:
            person_features: the person's training messages.
            other_features: not-person messages; when given, each sd is floored at a quarter
                of the pooled sd, because a feature the person barely varies on (never a
                header) would otherwise turn one stray header into an unbounded distance.

        """
        if len(person_features) < 2:
            raise InsufficientText("style scale needs at least 2 person messages")
        sd = person_features.std(axis=0, ddof=1)
        if other_features is not None and len(other_features) > 1:
            pooled = np.vstack([person_features, other_features]).std(axis=0, ddof=1)
            sd = np.maximum(sd, 0.25 * pooled)
        positive = sd[sd > 1e-9]
        fallback = 0.1 * float(np.median(positive)) if positive.size else 1.0
        return cls(sd=np.where(sd > 1e-9, sd, fallback))


SPD_TERM_CAP = 10.0  # one runaway feature must not decide the mean on its own


def standardised_diffs(gen: np.ndarray, person: np.ndarray, scale: StyleScale) -> np.ndarray:
    """Per-feature (mean_gen - mean_person) / sd_person."""
    return (gen.mean(axis=0) - person.mean(axis=0)) / scale.sd


def style_profile_distance(gen: np.ndarray, person: np.ndarray, scale: StyleScale) -> float:
    """M1 SPD: mean over features of |standardised mean difference|, each term capped."""
    return float(np.minimum(np.abs(standardised_diffs(gen, person, scale)), SPD_TERM_CAP).mean())


def feature_report(gen: np.ndarray, person: np.ndarray, scale: StyleScale) -> list[dict[str, float | str]]:
    """Per-feature report card: means, standardised d and the KS two-sample p-value."""
    d = standardised_diffs(gen, person, scale)
    out: list[dict[str, float | str]] = []
    for j, name in enumerate(FEATURES):
        a, b = gen[:, j], person[:, j]
        p = float(ks_2samp(a, b).pvalue) if len(a) > 1 and len(b) > 1 and np.ptp(np.r_[a, b]) > 0 else 1.0
        out.append({"feature": name, "generated": float(a.mean()), "person": float(b.mean()),
                    "d": float(d[j]), "ks_p": p})
    return out


# --------------------------------------------------------------------------- M2 Delta


@dataclass(frozen=True)
class DeltaSpace:
    """Most-frequent words and their z-score calibration (mean/sd over reference chunks)."""

    vocab: dict[str, int]
    mu: np.ndarray
    sigma: np.ndarray
    chunk_words: int

    @classmethod
    def fit(cls, reference_tokens: Sequence[Sequence[str]], *, n_mfw: int = 200, chunk_words: int,
            n_chunks: int = 20, seed: int = 0) -> DeltaSpace:
        """MFW list and z-score calibration from random bags of words of the reference pools.

        Args:
            reference_tokens: one token pool per reference corpus (person train, negatives).
            n_mfw: how many most-frequent words to keep.
            chunk_words: words per bag (Eder 2015 wants 2,500-5,000; small corpora get less).
            n_chunks: bags drawn per pool for the mean/sd.
            seed: RNG seed.

        """
        counts: Counter[str] = Counter()
        for pool in reference_tokens:
            counts.update(pool)
        if not counts:
            raise InsufficientText("Delta needs reference text (person train and negatives are empty)")
        vocab = {w: i for i, (w, _) in enumerate(counts.most_common(n_mfw))}
        rng = np.random.default_rng(seed)
        space = cls(vocab=vocab, mu=np.zeros(len(vocab)), sigma=np.ones(len(vocab)), chunk_words=chunk_words)
        rows = [space.bag_freqs(space.encode(pool), rng) for pool in reference_tokens if pool
                for _ in range(n_chunks)]
        f = np.vstack(rows)
        sd = f.std(axis=0, ddof=1)
        sd = np.where(sd > 1e-12, sd, float(np.median(sd[sd > 1e-12])) if (sd > 1e-12).any() else 1.0)
        return cls(vocab=vocab, mu=f.mean(axis=0), sigma=sd, chunk_words=chunk_words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids over the MFW list; -1 for every other word (it still counts in the total)."""
        return np.fromiter((self.vocab.get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))

    def bag_freqs(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Relative MFW frequencies in one random bag of `chunk_words` tokens from `ids`."""
        if ids.size == 0:
            return np.zeros(len(self.vocab))
        take = rng.choice(ids.size, size=self.chunk_words, replace=ids.size < self.chunk_words)
        sample = ids[take]
        return np.bincount(sample[sample >= 0], minlength=len(self.vocab)) / self.chunk_words

    def z(self, freqs: np.ndarray) -> np.ndarray:
        return (freqs - self.mu) / self.sigma


def burrows_delta(za: np.ndarray, zb: np.ndarray) -> float:
    """Burrows' Delta: mean absolute z-score difference."""
    return float(np.abs(za - zb).mean())


def cosine_delta(za: np.ndarray, zb: np.ndarray) -> float:
    """Cosine Delta (Jannidis et al. 2015): 1 - cos(z_a, z_b)."""
    den = float(np.linalg.norm(za) * np.linalg.norm(zb))
    return 1.0 - float(za @ zb) / den if den > 0 else 1.0


# --------------------------------------------------------------------------- M6 phrases


def ngrams(tokens: Sequence[str], n: int) -> list[str]:
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _gram_counts(texts: Sequence[str], max_n: int) -> Counter[str]:
    c: Counter[str] = Counter()
    for t in texts:
        toks = words(t)
        for n in range(1, max_n + 1):
            c.update(ngrams(toks, n))
    return c


def signature_phrases(person: Sequence[str], others: Sequence[str], *, top: int = 50, max_n: int = 3,
                      prior: float = 500.0, min_count: int = 2) -> list[tuple[str, float]]:
    """M6: the person's most distinctive 1-3-grams by Fightin' Words weighted log-odds.

    Monroe et al. 2008 with an informative Dirichlet prior: alpha_w is the pooled frequency
    of w scaled to `prior` pseudo-counts, which keeps rare n-grams from topping the list.

    Returns:
        (n-gram, z) pairs, most person-typical first.

    """
    cp, cb = _gram_counts(person, max_n), _gram_counts(others, max_n)
    n_p, n_b = sum(cp.values()), sum(cb.values())
    if n_p == 0 or n_b == 0:
        raise InsufficientText("signature phrases need person text and not-person text")
    total = n_p + n_b
    scored: list[tuple[str, float]] = []
    for w, yp in cp.items():
        if yp < min_count:
            continue
        yb = cb.get(w, 0)
        a = prior * (yp + yb) / total
        delta = math.log((yp + a) / (n_p + prior - yp - a)) - math.log((yb + a) / (n_b + prior - yb - a))
        z = delta / math.sqrt(1.0 / (yp + a) + 1.0 / (yb + a))
        scored.append((w, z))
    scored.sort(key=lambda x: -x[1])
    return scored[:top]


def phrase_rate(texts: Sequence[str], phrases: Sequence[str]) -> float:
    """Occurrences of the phrases per 1,000 tokens of `texts`."""
    wanted = {p: len(p.split()) for p in phrases}
    sizes = sorted(set(wanted.values()))
    hits = 0
    tokens = 0
    for t in texts:
        toks = words(t)
        tokens += len(toks)
        for n in sizes:
            hits += sum(1 for g in ngrams(toks, n) if g in wanted)
    return 1000.0 * hits / tokens if tokens else 0.0


# --------------------------------------------------------------------------- M7 guards


def memorisation_rate(outputs: Sequence[str], training_targets: Sequence[str], *, span: int = 10) -> float:
    """Share of outputs that contain a span of >= `span` words copied verbatim from training."""
    if not outputs:
        return 0.0
    seen = {hash(g) for t in training_targets for g in ngrams(words(t), span)}
    copied = sum(1 for o in outputs if any(hash(g) in seen for g in ngrams(words(o), span)))
    return copied / len(outputs)


def distinct_n(texts: Sequence[str], n: int, *, budget: int | None = None, seed: int = 0) -> float:
    """Return unique n-grams / all n-grams, over at most `budget` tokens of shuffled texts.

    distinct-n falls as text grows, so two systems are only comparable on the same budget.
    """
    order = np.random.default_rng(seed).permutation(len(texts))
    grams: list[str] = []
    used = 0
    for i in order:
        toks = words(texts[i])
        if budget is not None and used + len(toks) > budget:
            toks = toks[: max(budget - used, 0)]
        used += len(toks)
        grams.extend(ngrams(toks, n))
        if budget is not None and used >= budget:
            break
    return len(set(grams)) / len(grams) if grams else 0.0


def token_count(texts: Sequence[str]) -> int:
    return sum(len(words(t)) for t in texts)
