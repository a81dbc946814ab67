"""Promotion under repeated looks (issue 14, finding 7): the arena's rule, simulated.

    python benchmarks/bench_promotion.py [--arenas 2000] [--out benchmarks/results/hardening.md]

2,000 arenas per true win rate, each looked at after every decisive vote up to 500: how
often the champion changes at a true 50% (target: at most alpha), and the votes to a
decision at 70% (target: median at most 60). Side by side, the rule it replaced (SPRT with
Wald's bound *or* separated bootstrap intervals, re-checked at every look) on fewer arenas,
since it bootstraps at every look.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.results_file import write_section  # noqa: E402
from eval.ratings import RatedVote, bootstrap_ratings  # noqa: E402
from eval.sequential import Design, simulate_duels  # noqa: E402


def old_rule_promotes(wins: np.ndarray, design: Design, every: int, rounds: int, seed: int) -> bool:
    """The replaced rule, looked at every `every` votes: Wald's SPRT or separated bootstrap intervals."""
    upper = math.log((1 - design.beta) / design.alpha)
    lower = math.log(design.beta / (1 - design.alpha))
    steps = np.where(wins == 1, math.log(design.p1 / 0.5), math.log((1 - design.p1) / 0.5))
    path = np.cumsum(steps)
    sprt_says = bool(((path >= upper).argmax() < (path <= lower).argmax()) if (path >= upper).any() and
                     (path <= lower).any() else (path >= upper).any())
    if sprt_says:
        return True
    votes = [RatedVote("new", "champ", "left" if w else "right", f"p{k}") for k, w in enumerate(wins)]
    for n in range(every, len(wins) + 1, every):
        if n < 20:
            continue
        lb = bootstrap_ratings(votes[:n], rounds=rounds, seed=seed, models=["champ", "new"])
        r = {x.model: x for x in lb.ratings}
        if r["new"].lower > r["champ"].upper:
            return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arenas", type=int, default=2000)
    ap.add_argument("--votes", type=int, default=500)
    ap.add_argument("--old-arenas", type=int, default=200)
    ap.add_argument("--old-every", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/hardening.md"))
    args = ap.parse_args()
    design = Design(p1=0.65, alpha=0.05, beta=0.2, max_votes=args.votes)
    started = time.perf_counter()
    rows = {}
    for k, p in enumerate((0.5, 0.6, 0.65, 0.7)):
        rows[p] = simulate_duels(p, arenas=args.arenas, max_votes=args.votes, design=design,
                                 rng=np.random.default_rng(100 + k))
    new_s = time.perf_counter() - started
    rng = np.random.default_rng(7)
    t = time.perf_counter()
    old = sum(old_rule_promotes((rng.random(args.votes) < 0.5).astype(int), design, args.old_every, 200, s)
              for s in range(args.old_arenas))
    old_s = time.perf_counter() - t
    null = rows[0.5]
    v70 = rows[0.7]["votes"]
    lines = [
        "### Promotion under repeated looks (finding 7)",
        f"Machine: {platform.machine()}, 2 cores shared with other jobs, Python {platform.python_version()}; "
        f"{date.today()}. Command: `python benchmarks/bench_promotion.py --arenas {args.arenas}`. Rule: one SPRT "
        f"(p1 {design.p1}, α {design.alpha}, β {design.beta}), upper bound ln(1/α) (Ville: valid at any "
        f"stopping time), cap {args.votes} decisive votes; design fixed per duel at its first look.",
        "",
        "| measure | result | target | |",
        "|---|---|---|---|",
        f"| champion changed at a true 50%, look after every vote up to {args.votes} | **{null['promoted']} of "
        f"{args.arenas}** = {null['share_promoted']:.2%} | ≤ α = {design.alpha:.0%} ({design.alpha * args.arenas:.0f}) "
        f"| {'pass' if null['promoted'] <= design.alpha * args.arenas else 'FAIL'} |",
        f"| votes to a decision at a true 70% | **median {np.median(v70):.0f}**, mean {v70.mean():.1f}, "
        f"90th percentile {np.percentile(v70, 90):.0f}; promoted {rows[0.7]['share_promoted']:.1%} | median ≤ 60 | "
        f"{'pass' if np.median(v70) <= 60 else 'FAIL'} |",
        f"| the replaced rule (Wald SPRT or separated bootstrap intervals) at a true 50%, looked at every "
        f"{args.old_every} votes | {old} of {args.old_arenas} = **{old / args.old_arenas:.1%}** | (was the bug) | |",
        "",
        "| true win rate | promoted | decided within the cap | median votes | 90th pct votes |",
        "|---|---|---|---|---|",
        *[f"| {p:.0%} | {r['share_promoted']:.1%} | {r['decided'] / args.arenas:.1%} | {np.median(r['votes']):.0f} "
          f"| {np.percentile(r['votes'], 90):.0f} |" for p, r in rows.items()],
        "",
        f"New rule: {args.arenas * len(rows):,} simulated arenas in {new_s:.1f} s. Replaced rule: "
        f"{args.old_arenas} arenas in {old_s:.0f} s (200 bootstrap rounds per look).",
    ]
    write_section(Path(args.out), "promotion", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
