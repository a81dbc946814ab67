"""The arena statistics recover known truths: simulated votes, reference fits, reference SPRT."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from eval.ratings import (
    RatedVote,
    bootstrap_ratings,
    bradley_terry,
    elo_to_win_prob,
    head_to_head,
    position_bias,
    vote_counts,
    wilson,
    win_rate_matrix,
)
from eval.sequential import Design, arena_summary, promotion, sprt, sprt_bounds, sprt_votes_needed


def simulate(true: dict[str, float], n: int, rng: np.random.Generator, *, tie_rate: float = 0.0,
             n_prompts: int | None = None, left_bias: float = 0.0) -> list[RatedVote]:
    names = list(true)
    out = []
    for k in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        left, right = names[a], names[b]
        p = elo_to_win_prob(true[left] - true[right]) + left_bias
        if rng.random() < tie_rate:
            c = "tie"
        else:
            c = "left" if rng.random() < p else "right"
        out.append(RatedVote(left, right, c, f"p{k % (n_prompts or n)}"))
    return out


def arena_reference(votes: list[RatedVote], models: list[str], anchor: str) -> dict[str, float]:
    """Chatbot Arena's compute_mle_elo, transcribed: duplicated rows, LogisticRegression."""
    df = pd.DataFrame([{"model_a": v.left_model, "model_b": v.right_model,
                        "winner": {"left": "model_a", "right": "model_b"}.get(v.choice, "tie")} for v in votes])
    df = pd.concat([df, df])
    idx = {m: i for i, m in enumerate(models)}
    n = len(df)
    x = np.zeros((n, len(models)))
    x[np.arange(n), df.model_a.map(idx)] = math.log(10)
    x[np.arange(n), df.model_b.map(idx)] = -math.log(10)
    y = np.zeros(n)
    y[(df.winner == "model_a").to_numpy()] = 1.0
    tie = (df.winner == "tie").to_numpy().copy()
    tie[n // 2:] = False  # one tie = one win for A (first copy) + one win for B (second copy)
    y[tie] = 1.0
    lr = LogisticRegression(fit_intercept=False, C=1e6, tol=1e-10, max_iter=2000).fit(x, y)
    elo = 400 * lr.coef_[0]
    return {m: float(elo[i] - elo[idx[anchor]] + 1000) for m, i in idx.items()}


def test_bt_matches_chatbot_arena_reference_with_ties() -> None:
    rng = np.random.default_rng(7)
    votes = simulate({"base": 1000, "v1": 1080, "v2": 1150}, 600, rng, tie_rate=0.2)
    ours = bradley_terry(votes, anchor="base")
    ref = arena_reference(votes, sorted(ours), "base")
    for m in ours:
        assert ours[m] == pytest.approx(ref[m], abs=0.05)


def test_bt_recovers_true_ratings() -> None:
    rng = np.random.default_rng(3)
    true = {"base": 1000.0, "icl": 1060.0, "voice-v1": 1150.0}
    est = bradley_terry(simulate(true, 6000, rng), anchor="base")
    for m, r in true.items():
        assert est[m] == pytest.approx(r, abs=20)  # about 4 standard errors at 2,000 votes per pair


def test_both_bad_counts_as_tie_and_unknown_choice_is_refused() -> None:
    a = [RatedVote("x", "y", "both_bad", "p")] * 3 + [RatedVote("x", "y", "left", "q")]
    b = [RatedVote("x", "y", "tie", "p")] * 3 + [RatedVote("x", "y", "left", "q")]
    assert bradley_terry(a) == pytest.approx(bradley_terry(b))
    with pytest.raises(ValueError, match="unknown vote choice 'sideways'"):
        bradley_terry([RatedVote("x", "y", "sideways")])


def test_unanimous_votes_stay_finite_and_ordered() -> None:
    votes = [RatedVote("a", "b", "left", f"p{i}") for i in range(10)]
    r = bradley_terry(votes)
    assert all(math.isfinite(v) for v in r.values())
    assert r["a"] > r["b"]


def test_bootstrap_intervals_cover_truth_at_about_nominal_rate() -> None:
    """200 simulated arenas: the 95% prompt-bootstrap interval for v1's rating covers the truth ~95%."""
    rng = np.random.default_rng(11)
    true = {"base": 1000.0, "v1": 1100.0, "v2": 1050.0}
    covered = 0
    sims = 200
    for s in range(sims):
        votes = simulate(true, 240, rng)
        lb = bootstrap_ratings(votes, rounds=200, seed=s, anchor="base")
        r = {x.model: x for x in lb.ratings}["v1"]
        covered += r.lower <= true["v1"] <= r.upper
    rate = covered / sims
    # Binomial sd at 0.95 with 200 sims is 0.015; the percentile bootstrap runs a bit short.
    assert 0.88 <= rate <= 0.99, rate


def test_prompt_bootstrap_is_honest_when_votes_cluster_on_prompts() -> None:
    """With strong per-prompt effects, resampling prompts keeps coverage; the interval widens."""
    rng = np.random.default_rng(5)
    covered = 0
    sims = 120
    widths_prompt, widths_vote = [], []
    for s in range(sims):
        votes = []
        for p in range(30):
            # Each prompt has its own true gap (some prompts suit v1, some don't), mean 100 Elo.
            gap = 100.0 + rng.normal(0, 150)
            q = elo_to_win_prob(gap)
            for _ in range(10):
                left_is_v1 = rng.random() < 0.5
                v1_wins = rng.random() < q
                c = "left" if v1_wins == left_is_v1 else "right"
                votes.append(RatedVote("v1" if left_is_v1 else "base", "base" if left_is_v1 else "v1", c, f"p{p}"))
        lb = bootstrap_ratings(votes, rounds=200, seed=s, anchor="base")
        r = {x.model: x for x in lb.ratings}["v1"]
        # The truth for the population of prompts: the rating gap implied by the mean win rate.
        q_mean = np.mean([elo_to_win_prob(100.0 + g) for g in rng.normal(0, 150, 4000)])
        target = 1000 + 400 * math.log10(q_mean / (1 - q_mean))
        covered += r.lower <= target <= r.upper
        widths_prompt.append(r.upper - r.lower)
        per_vote = [RatedVote(v.left_model, v.right_model, v.choice, f"v{i}") for i, v in enumerate(votes)]
        rv = {x.model: x for x in bootstrap_ratings(per_vote, rounds=200, seed=s, anchor="base").ratings}["v1"]
        widths_vote.append(rv.upper - rv.lower)
    assert covered / sims >= 0.85
    assert np.mean(widths_prompt) > 1.2 * np.mean(widths_vote)


def test_bootstrap_is_reproducible_and_lists_unvoted_models() -> None:
    votes = simulate({"a": 1000, "b": 1100}, 100, np.random.default_rng(0))
    one = bootstrap_ratings(votes, rounds=100, seed=3, models=["a", "b", "c-new"])
    two = bootstrap_ratings(votes, rounds=100, seed=3, models=["a", "b", "c-new"])
    assert one.as_dict() == two.as_dict()
    assert {r.model for r in one.ratings} == {"a", "b", "c-new"}
    assert next(r for r in one.ratings if r.model == "c-new").votes == 0


def test_wilson_matches_doc_examples_and_exact_coverage() -> None:
    # voice-metrics.md §b: p̂ = 60% gives [0.46, 0.72] at n=50 and [0.50, 0.69] at n=100.
    _, lo, hi = wilson(30, 50)
    assert (round(lo, 2), round(hi, 2)) == (0.46, 0.72)
    _, lo, hi = wilson(60, 100)
    assert (round(lo, 2), round(hi, 2)) == (0.50, 0.69)
    # Exact coverage over the binomial distribution is close to 95% for moderate n.
    for n, p in [(60, 0.65), (120, 0.55), (200, 0.7)]:
        cover = sum(stats.binom.pmf(k, n, p) for k in range(n + 1) if wilson(k, n)[1] <= p <= wilson(k, n)[2])
        assert 0.92 <= cover <= 0.975, (n, p, cover)


def test_head_to_head_counts_both_sides_and_ties_two_ways() -> None:
    votes = [RatedVote("v2", "v1", "left"), RatedVote("v1", "v2", "right"), RatedVote("v1", "v2", "left"),
             RatedVote("v1", "v2", "tie"), RatedVote("v2", "v1", "both_bad"), RatedVote("base", "v2", "left")]
    r = head_to_head(votes, "v2", "v1")
    assert (r.wins, r.losses, r.ties) == (2, 1, 2)
    assert r.rate == pytest.approx(2 / 3)
    assert r.rate_half == pytest.approx(3 / 5)
    m = win_rate_matrix(votes)
    assert m["v1"]["v2"].wins == 1 and m["base"]["v2"].wins == 1
    assert vote_counts(votes) == {("v1", "v2"): 5, ("base", "v2"): 1}


def test_position_bias_detects_a_planted_left_preference_only() -> None:
    rng = np.random.default_rng(2)
    fair = simulate({"a": 1000, "b": 1000}, 800, rng)
    biased = simulate({"a": 1000, "b": 1000}, 800, rng, left_bias=0.15)
    assert not position_bias(fair).biased
    pb = position_bias(biased)
    assert pb.biased and pb.left_share > 0.58
    assert "favour one side" in pb.describe()
    assert position_bias([]).p_value is None


def test_sprt_bounds_and_steps_match_the_reference_numbers() -> None:
    a, b = sprt_bounds(0.05, 0.2)
    assert (round(a, 2), round(b, 2)) == (3.0, -1.56)  # A = ln(1/α) (Ville), B = Wald's
    res = sprt([], "v1", "v2", p1=0.65)
    assert (round(res.win_step, 3), round(res.loss_step, 3)) == (0.262, -0.357)


def reference_sprt(seq: list[int], p1: float, alpha: float, beta: float) -> tuple[str, int | None]:
    """Wald 1945 written out longhand, with Ville's upper bound 1/α: multiply likelihood ratios until one crosses."""
    a, b = 1 / alpha, beta / (1 - alpha)
    lr = 1.0
    for n, w in enumerate(seq, 1):
        lr *= (p1 / 0.5) if w else ((1 - p1) / 0.5)
        if lr >= a:
            return "challenger", n
        if lr <= b:
            return "champion", n
    return "continue", None


@pytest.mark.parametrize("p1,alpha,beta", [(0.65, 0.05, 0.2), (0.6, 0.05, 0.1), (0.7, 0.01, 0.2)])
def test_sprt_decisions_match_reference_computation(p1: float, alpha: float, beta: float) -> None:
    rng = np.random.default_rng(int(p1 * 100))
    for run in range(60):
        true_p = rng.choice([0.45, 0.5, 0.6, 0.7])
        seq = [int(rng.random() < true_p) for _ in range(120)]
        votes = []
        for i, w in enumerate(seq):
            chall_left = i % 2 == 0
            c = "left" if w == chall_left else "right"
            votes.append(RatedVote("v2" if chall_left else "v1", "v1" if chall_left else "v2", c))
            if i % 7 == 3:  # ties carry no evidence but count as votes seen
                votes.append(RatedVote("v1", "v2", "tie"))
        res = sprt(votes, "v1", "v2", p1=p1, alpha=alpha, beta=beta)
        want, n = reference_sprt(seq, p1, alpha, beta)
        assert res.decision == want, run
        if n is not None:
            assert res.wins + res.losses == n
            assert res.decided_after == n + sum(1 for i in range(n) if i % 7 == 3) - (1 if (n - 1) % 7 == 3 else 0)


def test_sprt_operating_characteristics_match_the_planning_table() -> None:
    """voice-metrics.md §b, with the upper bound at ln(1/α): p1=.65 needs ~50 votes at p=.65, ~32 at p=.5;
    type I below α (~.04), power ~.83."""
    rng = np.random.default_rng(0)
    for true_p, mean_n, accept_rate, lo, hi in [(0.65, 50, "power", 0.78, 0.88), (0.5, 32, "type1", 0.02, 0.05)]:
        outcomes = (rng.random((5000, 400)) < true_p).astype(int)
        decision, n = sprt_votes_needed(outcomes, p1=0.65, alpha=0.05, beta=0.2)
        assert abs(n.mean() - mean_n) < 4, (true_p, n.mean())
        share = (decision == 1).mean()
        assert lo <= share <= hi, (accept_rate, share)


def test_sprt_describes_itself_in_plain_words() -> None:
    votes = [RatedVote("voice-v3", "voice-v2", "left")] * 12
    res = sprt(votes, "voice-v2", "voice-v3", p1=0.65)
    assert res.decision == "challenger" and res.decided_after == 12  # ln(1/0.05) = 3.0 needs 12 wins
    assert res.describe().startswith("voice-v3 beats voice-v2: 100% [")
    assert res.describe().endswith("decided after 12 votes")
    undecided = sprt(votes[:3], "voice-v2", "voice-v3")
    assert "undecided after 3 votes" in undecided.describe()
    lost = sprt([RatedVote("voice-v3", "voice-v2", "right")] * 6, "voice-v2", "voice-v3")
    assert lost.decision == "champion" and "does not beat" in lost.describe()
    capped = sprt([RatedVote("voice-v3", "voice-v2", c) for c in ["left", "right"] * 10], "voice-v2",
                  "voice-v3", max_decisive=10)
    assert capped.decision == "cap" and "champion stays" in capped.describe()
    with pytest.raises(ValueError, match="p0 < p1"):
        sprt(votes, "a", "b", p1=0.4)


def test_promotion_follows_the_sequential_test_alone_and_summary_is_json_ready() -> None:
    import json

    rng = np.random.default_rng(4)
    strong = simulate({"voice-v1": 1000, "voice-v2": 1200}, 120, rng)
    yes = promotion(strong, "voice-v1", "voice-v2")
    assert yes["promote"] and "beats voice-v1" in yes["reason"] and yes["design"]["alpha"] == 0.05
    even = simulate({"voice-v1": 1000, "voice-v2": 1000}, 12, rng)
    assert not promotion(even, "voice-v1", "voice-v2")["promote"]
    one_prompt = [RatedVote("voice-v2", "voice-v1", "left", "same prompt")] * 2
    assert not promotion(one_prompt, "voice-v1", "voice-v2")["promote"]
    summary = arena_summary(strong + simulate({"base": 900, "voice-v1": 1000}, 40, rng),
                            champion="voice-v1", rounds=100)
    assert summary["sprt"][0]["design"] == Design().as_dict()
    json.dumps(summary)
    assert summary["votes"] == 160 and summary["sprt"][0]["challenger"] in ("voice-v2", "base")
    assert {r["model"] for r in summary["leaderboard"]["ratings"]} == {"base", "voice-v1", "voice-v2"}
    assert summary["win_rates"]["voice-v2"]["voice-v1"]["wins"] > 0
