"""Leaderboard tab: Bradley–Terry ratings with interval bars, win-rate matrix, vote counts, the SPRT's state.

Everything is recomputed from the vote log on Refresh (votes are facts, ratings are views).
Nothing is computed at build time, so the page the browser first receives names no model.
The promotion test's design is shown, not adjustable: each duel keeps the design it got at
its first look (eval/promotion.py), so refreshing cannot shop for a friendlier alpha.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ui.ops.arena import promote, summary

LABEL = "Leaderboard"


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
    designs = "; ".join(f"{t['challenger']}: p1 = {t['design']['p1']}, α = {t['design']['alpha']}, "
                        f"β = {t['design']['beta']}, cap {t['design']['max_votes']} votes" for t in summary["sprt"])
    lines.append(f"\n<small>Sequential test design, fixed for each duel at its first look: {designs or 'none yet'}. "
                 "Ties and both-bad count as half a win in the ratings and are left out of the win rates "
                 "shown here; the intervals describe, only the sequential test promotes.</small>")
    return "\n".join(lines)


def refresh(store: Any, settings: Any, rounds: int) -> dict[str, Any]:
    """Recompute every leaderboard view from the vote log."""
    data = summary(store, settings, rounds=int(rounds))
    return {"status": status_text(data), "plot": interval_plot(data), "ratings": ratings_table(data),
            "matrix": win_matrix_table(data), "counts": counts_table(data)}


def build(services: Any) -> None:
    """Lay out the Leaderboard tab (called inside `with gr.Tab(LABEL):`)."""
    gr.Markdown("### Leaderboard\nRatings are recomputed from every vote; intervals resample prompts.")
    with gr.Row():
        go = gr.Button("Refresh", variant="primary", elem_id="leaderboard-refresh", scale=1)
        with gr.Accordion("View settings", open=False):
            rounds = gr.Slider(200, 5000, value=1000, step=100, label="Bootstrap rounds (intervals only)")
    status = gr.Markdown(elem_id="leaderboard-status")
    plot = gr.Plot(label="Ratings with 95% intervals")
    ratings = gr.Dataframe(label="Ratings", interactive=False, elem_id="leaderboard-ratings")
    matrix = gr.Dataframe(label="Win rate, row against column (ties excluded)", interactive=False)
    counts = gr.Dataframe(label="Votes per pair", interactive=False)
    comp = {"status": status, "plot": plot, "ratings": ratings, "matrix": matrix, "counts": counts}

    def refresh_fn(r: float) -> dict[Any, Any]:
        # The champion changes here only when the sequential test says so, under the duel's fixed design.
        decision = promote(services.store, services.settings)
        d = refresh(services.store, services.settings, int(r))
        if decision["promote"]:
            d["status"] = f"**New champion: {decision['champion']}.** {decision['reason']}.\n\n" + d["status"]
        return {comp[k]: v for k, v in d.items()}

    go.click(refresh_fn, [rounds], list(comp.values()), api_name="leaderboard")

