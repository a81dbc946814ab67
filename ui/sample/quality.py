"""Measures of the bundled sample: what `tests/sample` asserts and `benchmarks/bench_sample.py` reports.

All of them read the sample as the importer stored it (her `own_text`, the assistant's `text`),
never the generator's internals, except `material_domains`, the topic labels written in
`persona.txt`, which only real exports lack.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterable, Sequence

from ui.sample.make_sample import five_grams, shared_share
from ui.sample.persona import load

# Her ways of reasoning out loud: a cause, a consequence, a conclusion, or her signature frame.
REASONING_CUES = re.compile(
    r"\b(?:because|which means|means|that's why|the reason|here's how i think|here's the thing|"
    r"if (?:i|you|they|it|the)\b)|(?:^|[.,:;]\s+)so\b", re.IGNORECASE)
_MARKDOWN = re.compile(r"\*\*|^\s*(?:[-*]|\d+[.)])\s+|^>\s?", re.MULTILINE)

Row = tuple[str, str]  # (conversation id, text)


def material_domains() -> dict[str, str]:
    """Conversation title -> the domain its topic was written for."""
    return {t.title: t.domain for t in load().topics}


def strip_markdown(text: str) -> str:
    """Text without bold markers, list bullets and quote marks (the assistant's layout, not its words)."""
    return _MARKDOWN.sub("", text)


def most_shared_5grams(texts: Sequence[str]) -> tuple[float, int, int]:
    """Return the largest share of word 5-grams any two texts have in common, and which two."""
    grams = [five_grams(t) for t in texts]
    best = (0.0, -1, -1)
    for (i, a), (j, b) in itertools.combinations(enumerate(grams), 2):
        share = shared_share(a, b)
        if share > best[0]:
            best = (share, i, j)
    return best


def reasoning_share(texts: Iterable[str]) -> float:
    texts = list(texts)
    return sum(bool(REASONING_CUES.search(t)) for t in texts) / len(texts) if texts else 0.0


def keyword_domain(text: str, keywords: dict[str, list[str]]) -> str:
    """Return the domain whose keywords (word prefixes) occur most often; ties go to the first listed."""
    order = list(keywords)
    hits = {d: sum(len(re.findall(r"\b" + re.escape(k.lower()), text.lower())) for k in ks)
            for d, ks in keywords.items()}
    return max(order, key=lambda d: (hits[d], -order.index(d)))


def split_by_conversation(person: Sequence[Row], assistant: Sequence[Row], seed: int = 0) -> tuple[set[str], set[str]]:
    """Half of the conversations for training, the other half for testing (no conversation on both sides)."""
    ids = sorted({c for c, _ in (*person, *assistant)})
    random.Random(seed).shuffle(ids)
    return set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])


def voice_auc(person: Sequence[Row], assistant: Sequence[Row], *, seed: int = 0, analyzer: str = "char_wb",
              transform: Callable[[str], str] = lambda t: t) -> float:
    """ROC AUC of a TF-IDF n-gram logistic regression telling her messages from the assistant's.

    Trained on half of the conversations, scored on the other half. `analyzer` "char_wb"
    uses character 2-5-grams; "function" uses only function-word counts (topic-free style).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from eval.function_words import FUNCTION_WORDS

    train, _ = split_by_conversation(person, assistant, seed)
    rows = [(c, transform(t), 1) for c, t in person] + [(c, transform(t), 0) for c, t in assistant]
    fit = [(t, y) for c, t, y in rows if c in train]
    held = [(t, y) for c, t, y in rows if c not in train]
    if analyzer == "function":
        vec = TfidfVectorizer(analyzer="word", vocabulary=sorted(FUNCTION_WORDS), token_pattern=r"(?u)\b\w+(?:'\w+)?\b",
                              sublinear_tf=True)
    else:
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    x = vec.fit_transform([t for t, _ in fit])
    clf = LogisticRegression(max_iter=2000).fit(x, [y for _, y in fit])
    scores = clf.predict_proba(vec.transform([t for t, _ in held]))[:, 1]
    return float(roc_auc_score([y for _, y in held], scores))
