"""Metrics beside VGC on known inputs: M4 on content-masked text, M5 Away/Towards/Confusion, M8 ROUGE-L."""

from __future__ import annotations

import numpy as np
import pytest

from eval.attribution import c2st_auc, fit_vectorizer, make_vectorizer
from eval.function_words import is_function_word, mask_content
from eval.overlap import lcs_length, mean_rouge_l, rouge_l
from eval.style_space import StyleSpace, angular_sim, away_towards_confusion
from eval.stylometry import feature_matrix
from eval.tokens import segment
from eval.voice import METRICS, SECONDARY, VoiceData, evaluate_voice


def _lcs_dp(a: list[str], b: list[str]) -> int:
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def test_bit_parallel_lcs_matches_the_dp_table() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = [str(x) for x in rng.integers(0, 5, rng.integers(0, 40))]
        b = [str(x) for x in rng.integers(0, 5, rng.integers(0, 40))]
        assert lcs_length(a, b) == _lcs_dp(a, b)
    assert lcs_length(["a"] * 100, ["a"] * 70) == 70  # long runs cross the 64-bit word boundary


def test_rouge_l_on_known_pairs() -> None:
    # LCS "the cat on the mat" = 5 of 6 words each way: P = R = F = 5/6.
    assert rouge_l("The cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    assert rouge_l("same words here", "same words here") == pytest.approx(1.0)
    assert rouge_l("nothing shared", "entirely different") == 0.0
    assert rouge_l("", "anything") == 0.0
    # P = 2/2, R = 2/4 -> F1 = 2PR/(P+R) = 2/3.
    assert rouge_l("wire once", "measure twice wire once") == pytest.approx(2 / 3)
    mean, n = mean_rouge_l(["a b", "x", "c d"], ["a b", None, "c e"])
    assert n == 2 and mean == pytest.approx((1.0 + 0.5) / 2)
    assert mean_rouge_l(["a"], [None]) == (None, 0)
    with pytest.raises(ValueError, match="one reference slot per answer"):
        mean_rouge_l(["a", "b"], ["a"])


def test_rouge_l_matches_the_rouge_score_package() -> None:
    # The hand-written LCS must give the reference package's numbers (same word tokens).
    import random

    from rouge_score import rouge_scorer

    from eval.stylometry import words

    class Words:
        def tokenize(self, text: str) -> list[str]:
            return words(text)

    ref = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Words())
    rng = random.Random(0)
    vocab = "the a breaker panel wire load I it's don't own box naïve café 42 Run run".split()
    for _ in range(200):
        cand = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 70)))
        real = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 70)))
        assert rouge_l(cand, real) == pytest.approx(ref.score(real, cand)["rougeL"].fmeasure, abs=1e-12), (cand, real)


def test_masking_keeps_function_words_punctuation_and_shapes() -> None:
    assert mask_content("Honestly I'd wire the PANEL myself, 3 times! 😤") == "Honestly I'd x the XX myself, 0 x! 😤"
    assert mask_content("Kubernetes or Ray?\n- no") == "Xx or Xx?\n- no"
    assert is_function_word("Don’t") and not is_function_word("busbar")
    text = "Picking up where I left off. Every task is an event: created, streamed, done."
    # One shape token per word, so the masked text cuts into the same segments.
    assert [len(s.split()) for s in segment([mask_content(text)], max_words=6)[0]] == \
           [len(s.split()) for s in segment([text], max_words=6)[0]]


def test_vectorizer_has_a_function_word_block() -> None:
    vec = make_vectorizer()
    X = vec.fit_transform(["I would rather do it myself", "Certainly, here is the overview"])  # type: ignore[attr-defined]
    names = vec.get_feature_names_out()  # type: ignore[attr-defined]
    fw = np.array([n.startswith("function__") for n in names])
    assert fw.sum() > 200 and X[:, fw].nnz > 0
    assert "function__myself" in set(names) and "function__overview" not in set(names)


def test_masked_two_sample_test_ignores_topic_but_not_style() -> None:
    """Same sentence frames, different topic nouns: plain M4 separates them, masked M4 cannot."""
    frame = "I think the {} is fine, but I'd check the {} first."
    topic_a = (["breaker", "panel", "busbar", "conduit", "neutral", "ground"] * 3,
               ["feeder", "meter", "lug", "fuse", "relay", "circuit"] * 3)
    topic_b = (["kernel", "scheduler", "queue", "lane", "cache", "token"] * 3,
               ["batch", "worker", "shard", "index", "router", "socket"] * 3)
    a = [frame.format(x, y) for x, y in zip(*topic_a, strict=True)]
    b = [frame.format(x, y) for x, y in zip(*topic_b, strict=True)]
    c = ["## Overview\n\n- **Option A**: Certainly a solid choice.\n- **Option B**: Also great." for _ in range(18)]
    groups = np.arange(18)
    plain = fit_vectorizer(a + b + c)
    masked = fit_vectorizer([mask_content(t) for t in a + b + c])
    tp = lambda vec, xs: vec.transform(xs)  # noqa: E731
    tm = lambda xs: masked.transform([mask_content(t) for t in xs])  # type: ignore[attr-defined]  # noqa: E731
    assert c2st_auc(tp(plain, a), groups, tp(plain, b), groups) > 0.9  # topic alone separates them
    assert c2st_auc(tm(a), groups, tm(b), groups) == pytest.approx(0.5, abs=0.15)  # identical once masked
    assert c2st_auc(tm(a), groups, tm(c), groups) > 0.9  # style still does


def test_away_towards_confusion_on_known_vectors() -> None:
    src, tgt = np.array([1.0, 0.0]), np.array([0.0, 1.0])  # orthogonal: sim = 0.75, simc = 0.25
    assert angular_sim(src, tgt)[0] == pytest.approx(0.75)
    assert away_towards_confusion(tgt, src, tgt) == pytest.approx({"away": 1.0, "towards": 1.0, "confusion": 1.0})
    assert away_towards_confusion(src, src, tgt) == pytest.approx({"away": 0.0, "towards": 0.0, "confusion": 0.0})
    # Half-way (45 degrees): sim 0.875 to both, so away = towards = 0.5 and no confusion (a tie is not nearer).
    half = away_towards_confusion(np.array([1.0, 1.0]), src, tgt)
    assert half == pytest.approx({"away": 0.5, "towards": 0.5, "confusion": 0.0})
    rows = away_towards_confusion(np.vstack([tgt, src]), np.vstack([src, src]), tgt)  # per-item sources
    assert rows == pytest.approx({"away": 0.5, "towards": 0.5, "confusion": 0.5})
    assert away_towards_confusion(tgt, tgt, tgt)["away"] == 0.0  # person == base: nothing to measure


def test_style_space_vectors_are_balanced_blocks() -> None:
    texts = [f"yeah ok, I'd wire box {i} myself." for i in range(10)] + \
            [f"Certainly! Here is **option {i}** in detail." for i in range(10)]
    vec = make_vectorizer()
    X = vec.fit_transform(texts)  # type: ignore[attr-defined]
    feats = feature_matrix(texts)
    space = StyleSpace.fit(feats, X, dim=256)
    v = space.vectors(feats, X, np.arange(len(texts)))
    assert v.shape[1] == feats.shape[1] + len(space.svd_mean) and len(space.svd_mean) <= 19
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    sims = angular_sim(v[:10], np.broadcast_to(v[:10].mean(axis=0), v[:10].shape)).mean()
    cross = angular_sim(v[10:], np.broadcast_to(v[:10].mean(axis=0), v[10:].shape)).mean()
    assert sims > cross  # person texts sit nearer their own centroid than the bot texts do


def test_suite_reports_secondary_metrics_beside_vgc(voice_fixture) -> None:  # type: ignore[no-untyped-def]
    p, a = voice_fixture.person, voice_fixture.assistant
    base = a[2] + a[3]
    refs = (p[2] * len(base))[: len(base)]  # a real person reply "for" each base answer's context
    near = [" ".join(r.split()[: max(3, len(r.split()) * 3 // 4)]) for r in refs]  # most of the real reply
    data = VoiceData(person_train=p[0] + p[1], person_test=p[2], base=base, negatives=a[0] + a[1])
    rep = evaluate_voice(data, {"near": near, "person_holdout": p[3], "base_like": a[1] + a[0]},
                         references=refs, repeats=8, c2st_repeats=3)
    s = rep.systems
    for m in SECONDARY:
        assert rep.floor[m] < rep.ceiling[m] and s["person_holdout"].secondary[m].gap_closed is not None
    assert set(s["near"].components) == set(METRICS)  # VGC stays M1-M4 only
    # M8: aligned systems only, relative to the base answers.
    assert s["near"].aligned and s["near"].rouge_l["n"] == len(base) and rep.base_rouge_l["n"] == len(base)
    assert s["near"].rouge_l["mean"] > 0.7 > rep.base_rouge_l["mean"]
    assert not s["person_holdout"].aligned and s["person_holdout"].rouge_l["mean"] is None
    # M5: person text lands nearer the person than the base does; assistant text does not.
    assert s["person_holdout"].away_towards["confusion"] > s["base_like"].away_towards["confusion"]
    assert rep.away_towards_floor["confusion"] >= 0.7
    assert any(c["check"] == "away_towards" for c in s["near"].checks)
    with pytest.raises(ValueError, match="aligned with the base answers"):
        evaluate_voice(data, {"x": p[3]}, references=refs[:-1])
