"""Promotion in the arena: which duel is on, its test design fixed at the first look, and the decision.

The champion changes only when `eval.sequential.promotion` (one sequential test) says so. The
design (alpha, beta, p1, vote cap) is written to the store the first time a duel is looked
at and read back at every later look, so a refresh, a restart or a changed setting cannot
re-run the same votes at a friendlier alpha. Registry writes are passed in (`set_champion`):
eval reads the store, the caller owns the champion record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.schemas import ModelKind, utcnow
from eval.sequential import Design, promotion

if TYPE_CHECKING:
    from core.store import Store

DESIGN_KEY = "arena_design"  # kv: {"<champion>|<challenger>": {design…, "fixed_at": iso time}}


def design_for(store: Store, champion: str, challenger: str, default: Design) -> Design:
    """Return the duel's design: the one fixed at its first look, else `default`, fixed now."""
    table: dict[str, Any] = dict(store.kv.get(DESIGN_KEY) or {})
    key = f"{champion}|{challenger}"
    rec = table.get(key)
    if rec is None:
        rec = {**default.as_dict(), "fixed_at": utcnow().isoformat()}
        table[key] = rec
        store.kv.put(DESIGN_KEY, table)
    return Design(p1=float(rec["p1"]), alpha=float(rec["alpha"]), beta=float(rec["beta"]),
                  max_votes=int(rec["max_votes"]))


def current_duel(store: Store, champion: str | None, challenger: str | None = None) -> tuple[str | None, str | None]:
    """(holder, challenger): the champion (else the oldest base model) and, by default, the newest adapter."""
    holder = champion or next((m.name for m in store.registry.list_models(kind=ModelKind.base)), None)
    if challenger is None:
        pool = [a for a in store.registry.list_models(kind=ModelKind.adapter, status="ready") if a.name != holder]
        challenger = pool[-1].name if pool else None
    return holder, challenger


def promote_if_earned(store: Store, *, champion: str | None, set_champion: Callable[[str], Any],
                      default: Design, challenger: str | None = None) -> dict[str, Any]:
    """Make `challenger` (default: the newest adapter) champion if, and only if, the sequential test says so.

    Args:
        store: the open Store (votes, registry, the fixed designs).
        champion: the current champion's name (None: the oldest base model holds the title).
        set_champion: records a new champion (training.runs.registry.set_champion bound to the store).
        default: the design a duel gets at its first look (from the settings).
        challenger: the model trying to take over; default the newest ready adapter.

    Returns:
        The decision with its plain-words reason and the design it was judged under.

    """
    holder, challenger = current_duel(store, champion, challenger)
    if holder is None or challenger is None or challenger == holder:
        return {"promote": False, "champion": holder, "challenger": challenger,
                "reason": "nothing to compare: need a champion (or base model) and a different challenger"}
    design = design_for(store, holder, challenger, default)
    decision = promotion(store.arena.votes(), holder, challenger, design=design)
    if decision["promote"]:
        set_champion(challenger)
    return {**decision, "champion": challenger if decision["promote"] else holder, "challenger": challenger,
            "previous": holder}
