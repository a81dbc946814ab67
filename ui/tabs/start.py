"""The Getting started panel: the starter loop's steps, their state, and what to do next."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.ops.starter import STEPS, Starter

ICONS = {"waiting": "○", "running": "◐", "done": "●", "failed": "✕", "skipped": "–"}


def panel_markdown(starter: Starter) -> str:
    """Render the steps as a table, then one line saying what to do now."""
    state = starter.state()
    rows = ["| | step | state |", "|---|---|---|"]
    for s in STEPS:
        st = state[s.key]
        text = st.get("error") if st["status"] == "failed" else st.get("detail") or ""
        took = f" ({st['seconds']:.0f} s)" if st.get("seconds") and st["status"] == "done" else ""
        rows.append(f"| {ICONS.get(st['status'], '?')} | {s.title} | {_cell(text)}{took} |")
    return "\n".join(rows) + "\n\n" + next_line(starter, state)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")[:300]


def next_line(starter: Starter, state: dict[str, dict[str, Any]] | None = None) -> str:
    """Say what the person can do now: the newest finished step's suggestion, or what went wrong."""
    state = state or starter.state()
    failed = next((s for s in STEPS if state[s.key]["status"] == "failed"), None)
    if failed is not None:
        return (f"**{failed.title} failed.** {_cell(state[failed.key].get('error') or '')} "
                "Fix the cause, then press **Retry**.")
    if starter.finished():
        return "**All set.** Vote in the **Arena**, draft more examples in **Chat**, retrain from your votes."
    done = [s for s in STEPS if state[s.key]["status"] == "done"]
    running = next((s for s in STEPS if state[s.key]["status"] == "running"), None)
    now = f"Working on: **{running.title}**. " if running else ""
    return now + (f"Meanwhile: {done[-1].next}" if done else "The app is usable meanwhile.")


def build(starter: Starter) -> None:
    """Lay out the panel (called inside the app's Blocks, above the tabs)."""
    with gr.Accordion("Getting started", open=not starter.finished()):
        md = gr.Markdown(panel_markdown(starter))
        retry = gr.Button("Retry", size="sm", visible=False)
    timer = gr.Timer(3.0, active=not starter.finished())

    def refresh() -> dict[Any, Any]:
        failed = any(v["status"] == "failed" for v in starter.state().values())
        return {md: panel_markdown(starter), retry: gr.update(visible=failed and not starter.running()),
                timer: gr.update(active=not starter.finished())}

    def on_retry() -> dict[Any, Any]:
        starter.retry()
        starter.start_background()
        return refresh()

    timer.tick(refresh, outputs=[md, retry, timer], show_progress="hidden")
    retry.click(on_retry, outputs=[md, retry, timer], show_progress="hidden")
