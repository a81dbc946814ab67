"""Arena statistics as pure functions: Bradley–Terry with a prompt bootstrap, Wilson intervals, position bias.

Votes are facts; every number here is a view recomputed from them (voice-metrics.md §b).
Inputs are plain sequences of `RatedVote` (or anything with the same attributes), so the
functions run the same on store rows, simulations and benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import stats

SCALE = 400.0  # Elo points per factor-of-10 in odds, as in Chatbot Arena
INIT_RATING = 1000.0
LN10 = math.log(10.0)
Z95 = 1.959963984540054


class VoteLike(Protocol):
    left_model: str
    right_model: str
    choice: Any  # a VoteChoice or its string value
    prompt: str


@dataclass(frozen=True)
class RatedVote:
    """One vote reduced to what the statistics need."""

    left_model: str
    right_model: str
    choice: str  # left | right | tie | both_bad
    prompt: str = ""


def choice_of(v: VoteLike) -> str:
    """Return a vote's choice as its string value (left, right, tie, both_bad)."""
    c = v.choice
    return str(getattr(c, "value", c))


# --------------------------------------------------------------------------- Bradley–Terry


@dataclass
class _Design:
    """Votes aggregated per prompt and per ordered model pair, the sufficient statistics of BT."""

    models: list[str]
    pair_i: np.ndarray  # (K,) index of the first model of each unordered pair
    pair_j: np.ndarray  # (K,)
    wins: np.ndarray  # (P, K) wins of i over j per prompt, ties counted as half
    games: np.ndarray  # (P, K) votes per prompt and pair


def _design(votes: Sequence[VoteLike], models: Sequence[str] | None) -> _Design:
    names = sorted({m for v in votes for m in (v.left_model, v.right_model)} | set(models or []))
    idx = {m: k for k, m in enumerate(names)}
    prompts: dict[str, int] = {}
    pairs: dict[tuple[int, int], int] = {}
    rows, cols, w, g = [], [], [], []
    for v in votes:
        a, b = idx[v.left_model], idx[v.right_model]
        if a == b:
            continue  # a model against itself says nothing about its rating
        c = choice_of(v)
        if c not in ("left", "right", "tie", "both_bad"):
            raise ValueError(f"unknown vote choice {c!r}; expected left, right, tie or both_bad")
        # "Both bad" is a tie for ranking purposes (Arena's "tie (bothbad)"): neither side won.
        score_a = 1.0 if c == "left" else 0.0 if c == "right" else 0.5
        i, j, s = (a, b, score_a) if a < b else (b, a, 1.0 - score_a)
        k = pairs.setdefault((i, j), len(pairs))
        rows.append(prompts.setdefault(v.prompt, len(prompts)))
        cols.append(k)
        w.append(s)
        g.append(1.0)
    n_p, n_k = max(len(prompts), 1), max(len(pairs), 1)
    wins = np.zeros((n_p, n_k))
    games = np.zeros((n_p, n_k))
    if rows:
        np.add.at(wins, (rows, cols), w)
        np.add.at(games, (rows, cols), g)
    ij = sorted(pairs, key=pairs.__getitem__)
    return _Design(
        models=names,
        pair_i=np.array([p[0] for p in ij], dtype=int),
        pair_j=np.array([p[1] for p in ij], dtype=int),
        wins=wins[:, : len(pairs)],
        games=games[:, : len(pairs)],
    )


def _fit_bt(wins: np.ndarray, games: np.ndarray, pi: np.ndarray, pj: np.ndarray, m: int,
            l2: float = 1e-6, iters: int = 60, tol: float = 1e-9) -> np.ndarray:
    """Batched Newton's method for BT strengths (natural-log units), one row per replicate.

    `wins`/`games` are (R, K) per-pair totals. A vanishing L2 penalty, like Arena's
    LogisticRegression(C=1e6), keeps the fit finite when a model won or lost every vote and
    fixes the free additive constant; it moves well-identified ratings by far less than a point.
    """
    r = wins.shape[0]
    s = np.zeros((r, m))
    eye = np.eye(m)
    for _ in range(iters):
        d = s[:, pi] - s[:, pj]
        p = 1.0 / (1.0 + np.exp(-d))
        resid = wins - games * p  # (R, K) gradient contribution of each pair for i (minus for j)
        grad = -l2 * s
        np.add.at(grad.T, pi, resid.T)
        np.subtract.at(grad.T, pj, resid.T)
        wgt = games * p * (1.0 - p)
        hess = np.broadcast_to(-l2 * eye, (r, m, m)).copy()
        # Fisher information of a logistic pair: -w on the diagonal, +w off it.
        np.add.at(hess, (slice(None), pi, pi), -wgt)
        np.add.at(hess, (slice(None), pj, pj), -wgt)
        np.add.at(hess, (slice(None), pi, pj), wgt)
        np.add.at(hess, (slice(None), pj, pi), wgt)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        s = s - step
        if np.max(np.abs(step)) < tol:
            break
    return s


def _to_elo(s: np.ndarray, anchor: int | None) -> np.ndarray:
    """Strengths to Elo points: 400 per factor of 10 in odds, centred on 1000 (or on `anchor`)."""
    elo = SCALE * s / LN10
    ref = elo[..., anchor] if anchor is not None else elo.mean(axis=-1)
    return elo - ref[..., None] + INIT_RATING


@dataclass
class Rating:
    model: str
    rating: float
    lower: float
    upper: float
    votes: int


@dataclass
class Leaderboard:
    """Bradley–Terry ratings with bootstrap intervals, best first."""

    ratings: list[Rating]
    rounds: int
    prompts: int
    votes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds, "prompts": self.prompts, "votes": self.votes,
            "ratings": [r.__dict__ for r in self.ratings],
        }


def bradley_terry(votes: Sequence[VoteLike], *, models: Sequence[str] | None = None,
                  anchor: str | None = None) -> dict[str, float]:
    """Bradley–Terry MLE ratings in Elo points, ties (and both-bad) as half a win each way.

    Identical to Chatbot Arena's `compute_mle_elo` (logistic regression without intercept on
    rows x[a]=+ln10, x[b]=-ln10 with every battle duplicated so a tie is one win for each
    side), solved on per-pair totals instead of one row per vote.

    Args:
        votes: the votes (left_model, right_model, choice, prompt).
        models: models to include even if they have no votes yet.
        anchor: a model pinned to 1000; default centres the mean on 1000.

    """
    d = _design(votes, models)
    if not d.models:
        return {}
    s = _fit_bt(d.wins.sum(0)[None], d.games.sum(0)[None], d.pair_i, d.pair_j, len(d.models))[0]
    elo = _to_elo(s, d.models.index(anchor) if anchor else None)
    return dict(zip(d.models, (float(x) for x in elo), strict=True))


def bootstrap_ratings(votes: Sequence[VoteLike], *, rounds: int = 1000, seed: int = 0,
                      models: Sequence[str] | None = None, anchor: str | None = None,
                      chunk: int = 250) -> Leaderboard:
    """BT ratings with percentile 95% intervals from a bootstrap over PROMPTS.

    Votes on the same prompt are correlated (one easy prompt makes every vote on it lopsided),
    so resampling single votes would understate the uncertainty; each round draws prompts
    with replacement and carries all their votes (voice-metrics.md §b). Rounds are fitted
    together, vectorised, `chunk` at a time to bound memory.

    Args:
        votes: the votes.
        rounds: bootstrap rounds (>= 1000 for a reported interval).
        seed: RNG seed; the same votes and seed give the same intervals.
        models: models to list even without votes.
        anchor: a model pinned to 1000 (its interval is then a point).
        chunk: rounds fitted per batch.

    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    d = _design(votes, models)
    m = len(d.models)
    point = bradley_terry(votes, models=models, anchor=anchor)
    n_votes = {name: 0 for name in d.models}
    for v in votes:
        n_votes[v.left_model] += 1
        n_votes[v.right_model] += 1
    if m == 0:
        return Leaderboard([], rounds, 0, 0)
    rng = np.random.default_rng(seed)
    n_p = d.wins.shape[0]
    samples = []
    a = d.models.index(anchor) if anchor else None
    for start in range(0, rounds, chunk):
        r = min(chunk, rounds - start)
        # Prompt multiplicities for each round: a (r, P) count matrix, then per-pair totals
        # are one matrix product instead of r re-aggregations.
        draws = rng.integers(0, n_p, size=(r, n_p)) + (np.arange(r) * n_p)[:, None]
        mult = np.bincount(draws.ravel(), minlength=r * n_p).reshape(r, n_p).astype(float)
        s = _fit_bt(mult @ d.wins, mult @ d.games, d.pair_i, d.pair_j, m)
        samples.append(_to_elo(s, a))
    boot = np.concatenate(samples)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    out = [Rating(name, point[name], float(lo[k]), float(hi[k]), n_votes[name])
           for k, name in enumerate(d.models)]
    out.sort(key=lambda x: -x.rating)
    return Leaderboard(out, rounds, n_p if len(votes) else 0, len(votes))


def elo_to_win_prob(delta: float) -> float:
    """P(a beats b) for an Elo difference `delta` = rating_a - rating_b."""
    return 1.0 / (1.0 + 10.0 ** (-delta / SCALE))


# --------------------------------------------------------------------------- win rates


@dataclass
class WinRate:
    """Pairwise record of `a` against `b` with Wilson 95% intervals."""

    a: str
    b: str
    wins: int
    losses: int
    ties: int  # including both-bad
    rate: float | None  # ties excluded
    lower: float | None
    upper: float | None
    rate_half: float | None  # ties counted as half a win
    lower_half: float | None
    upper_half: float | None

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def total(self) -> int:
        return self.wins + self.losses + self.ties


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float, float]:
    """Wilson score interval: (p̂, lower, upper). `successes` may be fractional (ties = ½)."""
    if n <= 0:
        raise ValueError("Wilson interval needs n > 0")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def head_to_head(votes: Iterable[VoteLike], a: str, b: str) -> WinRate:
    """Record of model `a` against model `b` over all votes between them, either side."""
    wins = losses = ties = 0
    for v in votes:
        c = choice_of(v)
        if {v.left_model, v.right_model} != {a, b} or a == b:
            continue
        if c in ("tie", "both_bad"):
            ties += 1
        elif (c == "left") == (v.left_model == a):
            wins += 1
        else:
            losses += 1
    rate = lo = hi = rh = loh = hih = None
    if wins + losses:
        rate, lo, hi = wilson(wins, wins + losses)
    if wins + losses + ties:
        rh, loh, hih = wilson(wins + 0.5 * ties, wins + losses + ties)
    return WinRate(a, b, wins, losses, ties, rate, lo, hi, rh, loh, hih)


def win_rate_matrix(votes: Sequence[VoteLike], models: Sequence[str] | None = None) -> dict[str, dict[str, WinRate]]:
    """`m[a][b]` is a's record against b, for every ordered pair of distinct models."""
    names = list(models) if models else sorted({x for v in votes for x in (v.left_model, v.right_model)})
    return {a: {b: head_to_head(votes, a, b) for b in names if b != a} for a in names}


def vote_counts(votes: Iterable[VoteLike]) -> dict[tuple[str, str], int]:
    """Votes per unordered pair, keyed by the sorted name pair."""
    out: dict[tuple[str, str], int] = {}
    for v in votes:
        key = (min(v.left_model, v.right_model), max(v.left_model, v.right_model))
        out[key] = out.get(key, 0) + 1
    return out


# --------------------------------------------------------------------------- position bias


@dataclass
class PositionBias:
    left_wins: int
    right_wins: int
    left_share: float | None
    p_value: float | None
    biased: bool

    def describe(self) -> str:
        if self.left_share is None:
            return "Position bias: no decisive votes yet."
        verdict = "raters favour one side" if self.biased else "no evidence of a side preference"
        return (f"Left side won {self.left_share:.0%} of {self.left_wins + self.right_wins} decisive votes "
                f"(binomial p = {self.p_value:.3g}): {verdict}.")


def position_bias(votes: Iterable[VoteLike], alpha: float = 0.05) -> PositionBias:
    """Two-sided exact binomial test of P(left wins) = 0.5 over decisive votes."""
    left = right = 0
    for v in votes:
        c = choice_of(v)
        left += c == "left"
        right += c == "right"
    n = left + right
    if n == 0:
        return PositionBias(0, 0, None, None, False)
    p = float(stats.binomtest(left, n, 0.5).pvalue)
    return PositionBias(left, right, left / n, p, p < alpha)
