"""Sequential decisions for the arena: one SPRT decides champion vs challenger; promotion; the summary view.

Pure functions over votes (see eval/ratings.py for the vote shape); voice-metrics.md §b has
the formulas. The promotion rule is one sequential likelihood-ratio test whose false
promotion rate stays at most alpha however often it is looked at: under "the challenger is
no better" the likelihood ratio is a non-negative (super)martingale, so by Ville's inequality
it ever reaches 1/alpha with probability at most alpha, whatever the stopping time, cap or
refresh rate. The test design (alpha, beta, p1, vote cap) is fixed for a duel when it is
first looked at (eval/promotion.py), so nobody can re-run it at a friendlier alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from eval.ratings import (
    VoteLike,
    bootstrap_ratings,
    choice_of,
    position_bias,
    vote_counts,
    wilson,
    win_rate_matrix,
)

# --------------------------------------------------------------------------- SPRT


@dataclass(frozen=True)
class Design:
    """A promotion test's design, fixed before the votes it judges (pre-registered).

    p1: the win rate worth detecting; alpha: the most often a challenger that is not better
    may be promoted; beta: the miss rate at p1 (it places the "not better" boundary);
    max_votes: decisive votes after which the champion stays.
    """

    p1: float = 0.65
    alpha: float = 0.05
    beta: float = 0.2
    max_votes: int = 500

    def as_dict(self) -> dict[str, Any]:
        return {"p1": self.p1, "alpha": self.alpha, "beta": self.beta, "max_votes": self.max_votes}


@dataclass
class SPRTResult:
    """State of Wald's sequential test of challenger-vs-champion."""

    champion: str
    challenger: str
    p1: float
    alpha: float
    beta: float
    upper: float  # A = ln((1-β)/α): accept H1, the challenger is better
    lower: float  # B = ln(β/(1-α)): accept H0, it is not better
    win_step: float
    loss_step: float
    llr: float
    wins: int
    losses: int
    ties: int
    decision: Literal["challenger", "champion", "continue", "cap"]
    decided_after: int | None  # votes on this pair (ties included) when the test stopped
    rate: float | None = None  # challenger's decisive win rate when it stopped (or now)
    lower_ci: float | None = None
    upper_ci: float | None = None
    path: list[float] = field(default_factory=list)

    def describe(self) -> str:
        """Describe the state in plain words, e.g. "voice-v3 beats voice-v2: 68% [58–76], decided after 54 votes"."""
        rate = (f"{self.rate:.0%} [{self.lower_ci * 100:.0f}–{self.upper_ci * 100:.0f}]"
                if self.rate is not None and self.lower_ci is not None and self.upper_ci is not None
                else "no decisive votes")
        if self.decision == "challenger":
            return f"{self.challenger} beats {self.champion}: {rate}, decided after {self.decided_after} votes"
        if self.decision == "champion":
            return (f"{self.challenger} does not beat {self.champion} (not {self.p1:.0%} or better): "
                    f"{rate}, decided after {self.decided_after} votes")
        if self.decision == "cap":
            return (f"{self.challenger} vs {self.champion}: no decision by the vote cap "
                    f"({self.decided_after} votes), {rate}; the champion stays")
        return (f"{self.challenger} vs {self.champion}: undecided after {self.wins + self.losses + self.ties} "
                f"votes ({self.wins}–{self.losses}, {self.ties} ties), {rate}; "
                f"evidence {self.llr:+.2f} of [{self.lower:.2f}, {self.upper:.2f}]")

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "path"}
        d["summary"] = self.describe()
        return d


def sprt_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """Boundaries (A, B) on the log-likelihood ratio.

    A = ln(1/alpha), Ville's bound: the chance the ratio ever reaches it when the challenger
    is no better is at most alpha, for any number of looks and any cap (Wald's
    ln((1-beta)/alpha) is only approximately alpha). B = ln(beta/(1-alpha)), Wald's: crossing
    it ends the duel with the champion staying, which can only lower the promotion rate.
    """
    if not (0 < alpha < 1 and 0 < beta < 1):
        raise ValueError(f"alpha and beta must be in (0, 1); got alpha={alpha}, beta={beta}")
    return math.log(1 / alpha), math.log(beta / (1 - alpha))


def sprt(votes: Sequence[VoteLike], champion: str, challenger: str, *, p1: float = 0.65,
         alpha: float = 0.05, beta: float = 0.2, p0: float = 0.5,
         max_decisive: int | None = None) -> SPRTResult:
    """Wald SPRT of H0: P(challenger wins) = p0 against H1: = p1, over votes in the given order.

    Ties and both-bad votes carry no evidence about who is better and are skipped (they are
    still counted in `decided_after`). The test stops at the first crossing and later votes
    do not reopen it: continuing to peek after a decision is what SPRT exists to prevent.

    Args:
        votes: all votes in time order; only champion-vs-challenger votes are used.
        champion: current champion (H0 says it is at least as good).
        challenger: the model trying to take over.
        p1: the win rate worth detecting (pre-register it).
        alpha: false "challenger is better" rate.
        beta: miss rate at p1.
        p0: win rate under H0.
        max_decisive: optional cap on decisive votes; reaching it without a crossing stops
            the test with decision "cap" (the champion stays).

    """
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1; got p0={p0}, p1={p1}")
    upper, lower = sprt_bounds(alpha, beta)
    win_step, loss_step = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    llr = 0.0
    wins = losses = ties = seen = 0
    decision: Literal["challenger", "champion", "continue", "cap"] = "continue"
    decided_after: int | None = None
    path = []
    for v in votes:
        if {v.left_model, v.right_model} != {champion, challenger}:
            continue
        seen += 1
        c = choice_of(v)
        if c in ("tie", "both_bad"):
            ties += 1
            continue
        if (c == "left") == (v.left_model == challenger):
            wins += 1
            llr += win_step
        else:
            losses += 1
            llr += loss_step
        path.append(llr)
        if llr >= upper:
            decision = "challenger"
        elif llr <= lower:
            decision = "champion"
        elif max_decisive is not None and wins + losses >= max_decisive:
            decision = "cap"
        if decision != "continue":
            decided_after = seen
            break
    res = SPRTResult(champion, challenger, p1, alpha, beta, upper, lower, win_step, loss_step,
                     llr, wins, losses, ties, decision, decided_after, path=path)
    if wins + losses:
        res.rate, res.lower_ci, res.upper_ci = wilson(wins, wins + losses)
    return res


def sprt_votes_needed(outcomes: np.ndarray, *, p1: float, alpha: float, beta: float,
                      p0: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised SPRT over many simulated runs: `outcomes` (runs, n) of 1 = challenger win.

    Returns (decision, n): decision +1 challenger, -1 champion, 0 none within n; n = decisive
    votes used (n.shape[1] when undecided). The same boundaries as `sprt`, so a simulation
    of many arenas looked at after every vote (with n = the vote cap) measures the real rule.
    """
    upper, lower = sprt_bounds(alpha, beta)
    steps = np.where(outcomes == 1, math.log(p1 / p0), math.log((1 - p1) / (1 - p0)))
    path = np.cumsum(steps, axis=1)
    hit = (path >= upper) | (path <= lower)
    any_hit = hit.any(axis=1)
    first = np.where(any_hit, hit.argmax(axis=1), outcomes.shape[1] - 1)
    final = path[np.arange(len(path)), first]
    decision = np.where(~any_hit, 0, np.where(final >= upper, 1, -1))
    return decision, np.where(any_hit, first + 1, outcomes.shape[1])


# --------------------------------------------------------------------------- the whole picture


def promotion(votes: Sequence[VoteLike], champion: str, challenger: str, *,
              design: Design = Design()) -> dict[str, Any]:
    """Decide whether `challenger` replaces `champion`: yes only when the sequential test says so.

    One rule, no second route: bootstrap intervals are descriptive and never promote (their
    separation, re-checked at every refresh, has no error guarantee under repeated looks).
    """
    test = sprt(votes, champion, challenger, p1=design.p1, alpha=design.alpha, beta=design.beta,
                max_decisive=design.max_votes)
    prompts = len({v.prompt for v in votes if {v.left_model, v.right_model} == {champion, challenger}})
    return {"promote": test.decision == "challenger", "reason": test.describe(), "sprt": test.as_dict(),
            "prompts": prompts, "design": design.as_dict()}


def simulate_duels(true_p: float, *, arenas: int, max_votes: int, design: Design,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Simulate `arenas` duels at a true challenger win rate, each looked at after every decisive vote.

    Returns the share promoted, and the votes each took to a decision (the cap when none).
    """
    outcomes = (rng.random((arenas, max_votes)) < true_p).astype(np.int8)
    decision, n = sprt_votes_needed(outcomes, p1=design.p1, alpha=design.alpha, beta=design.beta)
    return {"promoted": int((decision == 1).sum()), "share_promoted": float((decision == 1).mean()),
            "decided": int((decision != 0).sum()), "votes": n, "median_votes": float(np.median(n))}


def arena_summary(votes: Sequence[VoteLike], *, champion: str | None, models: Sequence[str] | None = None,
                  rounds: int = 1000, seed: int = 0,
                  design: Design | Callable[[str], Design] = Design()) -> dict[str, Any]:
    """Everything the leaderboard shows, as plain JSON-ready data.

    `design` is one Design for every duel, or a function from the challenger's name to its
    duel's fixed design (eval/promotion.py's `design_for`).
    """
    design_of = design if callable(design) else (lambda _other: design)
    lb = bootstrap_ratings(votes, rounds=rounds, seed=seed, models=models)
    names = [r.model for r in lb.ratings]
    matrix = win_rate_matrix(votes, names)
    tests = []
    if champion and champion in names:
        for other in names:
            if other != champion and any({v.left_model, v.right_model} == {champion, other} for v in votes):
                d = design_of(other)
                tests.append({**sprt(votes, champion, other, p1=d.p1, alpha=d.alpha, beta=d.beta,
                                     max_decisive=d.max_votes).as_dict(), "design": d.as_dict()})
    bias = position_bias(votes)
    return {
        "votes": len(votes),
        "champion": champion,
        "leaderboard": lb.as_dict(),
        "win_rates": {a: {b: {k: getattr(w, k) for k in ("wins", "losses", "ties", "rate", "lower", "upper",
                                                         "rate_half", "lower_half", "upper_half")}
                          for b, w in row.items()} for a, row in matrix.items()},
        "pair_votes": [{"a": a, "b": b, "votes": n} for (a, b), n in sorted(vote_counts(votes).items())],
        "position_bias": {**bias.__dict__, "summary": bias.describe()},
        "sprt": tests,
        "settings": {"rounds": rounds, **(design.as_dict() if isinstance(design, Design) else {})},
    }
