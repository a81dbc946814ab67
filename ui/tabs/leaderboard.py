"""Leaderboard tab: Bradley–Terry ratings with interval bars, win-rate matrix, vote counts, the SPRT's state.

Everything is recomputed from the vote log on Refresh (votes are facts, ratings are views).
Nothing is computed at build time, so the page the browser first receives names no model.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from eval.sequential import arena_summary

LABEL = "Leaderboard"


def _champion(services: Any) -> str | None:
    from training.registry import champion  # torch-free registry access

    rec = champion(services.store)
    return rec.name if rec else None


def interval_plot(summary: dict[str, Any]) -> Any:
    """Horizontal bars: each model's rating with its 95% bootstrap interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratings = summary["leaderboard"]["ratings"]
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(ratings), 2) + 1))
    if not ratings:
        ax.text(0.5, 0.5, "No votes yet", ha="center", va="center")
        ax.axis("off")
        return fig
    rows = list(reversed(ratings))
    y = range(len(rows))
    ax.errorbar([r["rating"] for r in rows], list(y),
                xerr=[[r["rating"] - r["lower"] for r in rows], [r["upper"] - r["rating"] for r in rows]],
                fmt="o", capsize=4, color="#1f6feb")
    ax.set_yticks(list(y), [r["model"] + (" ★" if r["model"] == summary["champion"] else "") for r in rows])
    ax.axvline(1000, color="#999", lw=0.8, ls="--")
    rounds = summary["leaderboard"]["rounds"]
    ax.set_xlabel(f"Bradley–Terry rating (95% interval, {rounds} bootstrap rounds over prompts)")
    fig.tight_layout()
    return fig


def ratings_table(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r["model"], "rating": round(r["rating"]), "95% low": round(r["lower"]),
                          "95% high": round(r["upper"]), "votes": r["votes"]}
                         for r in summary["leaderboard"]["ratings"]],
                        columns=["model", "rating", "95% low", "95% high", "votes"])


def win_matrix_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Row beats column: decisive win rate with its Wilson interval and the vote count."""
    names = [r["model"] for r in summary["leaderboard"]["ratings"]]
    rows = []
    for a in names:
        row: dict[str, str] = {"model": a}
        for b in names:
            w = summary["win_rates"].get(a, {}).get(b)
            if a == b or w is None or w["rate"] is None:
                row[b] = "—"
            else:
                row[b] = (f"{w['rate']:.0%} [{w['lower'] * 100:.0f}–{w['upper'] * 100:.0f}] "
                          f"n={w['wins'] + w['losses']}+{w['ties']}t")
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", *names])


def counts_table(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(summary["pair_votes"], columns=["a", "b", "votes"])


def status_text(summary: dict[str, Any]) -> str:
    lines = [f"**{summary['votes']} votes.** Champion: **{summary['champion'] or 'none yet'}**."]
    for t in summary["sprt"]:
        lines.append(f"- Sequential test: {t['summary']}.")
    if not summary["sprt"]:
        lines.append("- Sequential test: no votes between the champion and a challenger yet.")
    lines.append(f"- {summary['position_bias']['summary']}")
    n_prompts = summary["leaderboard"]["prompts"]
    if summary["votes"] and n_prompts < 10:
        lines.append(f"- The intervals rest on only {n_prompts} prompt(s): treat them as rough "
                     "until there are 10 or more.")
    s = summary["settings"]
    lines.append(f"\n<small>SPRT p1 = {s['p1']}, α = {s['alpha']}, β = {s['beta']}; "
                 "ties and both-bad count as half a win in the ratings and are left out of the win rates "
                 "shown here.</small>")
    return "\n".join(lines)


def refresh(store: Any, champion: str | None, p1: float, alpha: float, beta: float,
            rounds: int) -> dict[str, Any]:
    """Recompute every leaderboard view from the vote log."""
    votes = store.arena.votes()
    summary = arena_summary(votes, champion=champion, rounds=int(rounds), p1=p1, alpha=alpha, beta=beta)
    return {"status": status_text(summary), "plot": interval_plot(summary), "ratings": ratings_table(summary),
            "matrix": win_matrix_table(summary), "counts": counts_table(summary)}


def build(services: Any) -> None:
    """Lay out the Leaderboard tab (called inside `with gr.Tab(LABEL):`)."""
    gr.Markdown("### Leaderboard\nRatings are recomputed from every vote; intervals resample prompts.")
    with gr.Row():
        go = gr.Button("Refresh", variant="primary", elem_id="leaderboard-refresh", scale=1)
        with gr.Accordion("Test settings", open=False):
            p1 = gr.Slider(0.55, 0.9, value=0.65, step=0.01, label="Win rate worth detecting (p1)")
            alpha = gr.Slider(0.01, 0.2, value=0.05, step=0.01, label="False promotion rate (α)")
            beta = gr.Slider(0.05, 0.4, value=0.2, step=0.01, label="Miss rate (β)")
            rounds = gr.Slider(200, 5000, value=1000, step=100, label="Bootstrap rounds")
    status = gr.Markdown(elem_id="leaderboard-status")
    plot = gr.Plot(label="Ratings with 95% intervals")
    ratings = gr.Dataframe(label="Ratings", interactive=False, elem_id="leaderboard-ratings")
    matrix = gr.Dataframe(label="Win rate, row against column (ties excluded)", interactive=False)
    counts = gr.Dataframe(label="Votes per pair", interactive=False)
    comp = {"status": status, "plot": plot, "ratings": ratings, "matrix": matrix, "counts": counts}

    def refresh_fn(p: float, a: float, b: float, r: float) -> dict[Any, Any]:
        # The champion changes here only when the sequential test or the intervals say so.
        decision = promote_if_earned(services.store, p1=p, alpha=a, beta=b, rounds=int(r))
        d = refresh(services.store, _champion(services), p, a, b, int(r))
        if decision["promote"]:
            d["status"] = f"**New champion: {decision['champion']}.** {decision['reason']}.\n\n" + d["status"]
        return {comp[k]: v for k, v in d.items()}

    go.click(refresh_fn, [p1, alpha, beta, rounds], list(comp.values()), api_name="leaderboard")


def promote_if_earned(store: Any, *, challenger: str | None = None, p1: float = 0.65, alpha: float = 0.05,
                      beta: float = 0.2, rounds: int = 1000) -> dict[str, Any]:
    """Make `challenger` (default: the newest adapter) champion if, and only if, the evidence says so.

    Without a champion the oldest base model is the one to beat. Returns the decision with
    its plain-words reason; the registry changes only when `promote` is true.
    """
    from eval.sequential import promotion
    from training.registry import adapters, champion, set_champion

    champ = champion(store)
    holder = champ.name if champ else next((m.name for m in store.registry.list_models(kind="base")), None)
    if challenger is None:
        pool = [a for a in adapters(store) if a.name != holder]
        challenger = pool[-1].name if pool else None
    if holder is None or challenger is None or challenger == holder:
        return {"promote": False, "champion": holder, "challenger": challenger,
                "reason": "nothing to compare: need a champion (or base model) and a different challenger"}
    decision = promotion(store.arena.votes(), holder, challenger, p1=p1, alpha=alpha, beta=beta, rounds=rounds)
    if decision["promote"]:
        set_champion(store, challenger)
    return {**decision, "champion": challenger if decision["promote"] else holder, "challenger": challenger,
            "previous": holder}
