"""Arena operations: the leaderboard's data and the promotion decision, with the registry's champion."""

from __future__ import annotations

from typing import Any


def default_design(settings: Any) -> Any:
    """Read the promotion test's design from the settings (a duel keeps the one of its first look)."""
    from eval.sequential import Design

    return Design(p1=settings.arena_p1, alpha=settings.arena_alpha, beta=settings.arena_beta,
                  max_votes=settings.arena_max_votes)


def champion_name(store: Any) -> str | None:
    from training.runs.registry import champion  # torch-free registry access

    rec = champion(store)
    return rec.name if rec else None


def promote(store: Any, settings: Any, *, challenger: str | None = None) -> dict[str, Any]:
    """Run the promotion decision (eval/promotion.py) with the registry's champion record."""
    from eval.promotion import promote_if_earned
    from training.runs.registry import set_champion

    return promote_if_earned(store, champion=champion_name(store), set_champion=lambda n: set_champion(store, n),
                             default=default_design(settings), challenger=challenger)


def summary(store: Any, settings: Any, *, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Compute the leaderboard's data, each duel judged under its own fixed design."""
    from eval.promotion import design_for
    from eval.sequential import arena_summary

    champ = champion_name(store)
    default = default_design(settings)
    design = (lambda other: design_for(store, champ, other, default)) if champ else default
    return arena_summary(store.arena.votes(), champion=champ, rounds=rounds, seed=seed, design=design)
