"""Eval tab: run a voice evaluation, read the latest report and its plots, edit the golden prompts.

Handlers are module-level functions of explicit inputs returning dicts keyed by component,
so tests call them directly. There is no per-session state: every view is re-read from the
store.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from core.errors import IdiolectError
from core.schemas import GoldenPrompt

LABEL = "Eval"
GOLDEN_COLUMNS = ["id", "domain", "source", "prompt"]
SUMMARY_COLUMNS = ["model", "vgc", "M1", "M2", "M3", "M4", "p_person", "auc_vs_person", "copied", "phrase_ratio",
                   "M4m", "confusion", "rouge_l", "checks"]


def golden_table(store: Any) -> pd.DataFrame:
    """Return the golden prompts as a table (seeding the defaults on first use)."""
    from eval.golden import golden_prompts

    return pd.DataFrame([{"id": p.id, "domain": p.domain, "source": p.source, "prompt": p.prompt}
                         for p in golden_prompts(store)], columns=GOLDEN_COLUMNS)


def add_golden(store: Any, prompt: str, domain: str) -> dict[str, Any]:
    """Add one golden prompt; returns the refreshed table and a status line."""
    try:
        store.evals.add_golden(GoldenPrompt(prompt=prompt or "", domain=domain or "", source="owner"))
    except IdiolectError as e:
        return {"table": golden_table(store), "status": f"Not added: {e}"}
    return {"table": golden_table(store), "status": "Added."}


def save_golden(store: Any, table: pd.DataFrame) -> dict[str, Any]:
    """Write edits made in the table back (text and domain of each row)."""
    changed = 0
    try:
        current = {p["id"]: p for p in golden_table(store).to_dict("records")}
        for row in table.to_dict("records"):
            old = current.get(row.get("id"))
            if old and (row["prompt"], row["domain"]) != (old["prompt"], old["domain"]):
                store.evals.update_golden(row["id"], prompt=str(row["prompt"]), domain=str(row["domain"]))
                changed += 1
    except IdiolectError as e:
        return {"table": golden_table(store), "status": f"Not saved: {e}"}
    return {"table": golden_table(store), "status": f"Saved {changed} change(s)."}


def delete_golden(store: Any, prompt_id: str) -> dict[str, Any]:
    try:
        store.evals.delete_golden((prompt_id or "").strip())
    except IdiolectError as e:
        return {"table": golden_table(store), "status": f"Not deleted: {e}"}
    return {"table": golden_table(store), "status": "Deleted."}


def report_view(store: Any) -> dict[str, Any]:
    """Return the newest run: summary table, report HTML and plot paths (empty when none yet)."""
    from ui.ops.eval import summary_rows

    run = store.evals.latest_run()
    if run is None:
        return {"summary": pd.DataFrame(columns=SUMMARY_COLUMNS), "html": "<p>No evaluation yet.</p>",
                "plots": [], "status": "No evaluation yet: choose models and press Run."}
    result = run.metrics
    files = result.get("report") or {}
    html = "<p>Report file missing.</p>"
    if files.get("html"):
        from pathlib import Path

        p = Path(files["html"])
        if p.exists():
            html = p.read_text("utf-8")
    plots = [(files[k], k) for k in ("gap_closed", "bands", "features") if files.get(k)]
    caveats = "; ".join((result.get("voice") or {}).get("warnings", [])[:2])
    return {"summary": pd.DataFrame(summary_rows(result), columns=SUMMARY_COLUMNS), "html": html, "plots": plots,
            "status": f"Run {run.id} ({run.created_at:%Y-%m-%d %H:%M}), ceiling {result.get('base')}. {caveats}"}


NEXT_STEP = {
    "base": "Press **Start the local model** below (a minute or two the first time), then run again.",
    "model": "Use `base` or a trained adapter's name (the Training tab's job list shows it under adapter / output).",
    "data": "Import more of your conversations in the Import tab, or approve more examples and make a snapshot "
            "in the Dataset tab.",
}


def run_view(services: Any, models: str, judge: bool) -> dict[str, Any]:
    """Run an evaluation from the tab, then show it; preconditions are checked before any generation."""
    from eval.runner import EvalNotReady
    from ui.ops.eval import run_evaluation

    names = [m.strip() for m in (models or "").split(",") if m.strip()]
    if not names:
        return {**report_view(services.store), "status": "Name at least one model, e.g. base,voice-v1."}
    s = services.settings
    if judge and (s.judge_provider or s.llm_provider) == "none":
        return {**report_view(services.store), "status": (
            "**Not run:** LLM judges need a judge model, and none is configured (llm_provider and judge_provider "
            "are \"none\" in idiolect.toml). Untick *LLM judges* to run the offline metrics.")}
    try:
        run_evaluation(services, names, judge=judge)
    except EvalNotReady as e:
        return {**report_view(services.store), "status": f"**Not run:** {e}. {NEXT_STEP.get(e.need, '')}"}
    except IdiolectError as e:
        return {**report_view(services.store), "status": f"Evaluation failed: {e}"}
    return report_view(services.store)


def start_local_model(services: Any) -> dict[str, Any]:
    """Find or start the local model server (the base model every evaluation compares against)."""
    try:
        rec = services.local_server.ensure()
    except IdiolectError as e:
        return {"status": f"**The local model did not start:** {e}"}
    return {"status": f"The local model **{rec.name}** is serving at `{rec.endpoint}`. Press **Run evaluation**."}


def draft_golden_view(services: Any, n: float, use_llm: bool) -> dict[str, Any]:
    """Draft golden prompts from the person's topics (source "drafted"), then show the table."""
    from ui.ops.eval import draft_golden_prompts

    try:
        res = draft_golden_prompts(services, max(1, int(n or 5)), use_llm=use_llm)
    except IdiolectError as e:
        step = " Import your conversations in the Import tab first." if "topics" in str(e) else ""
        return {"table": golden_table(services.store), "status": f"**Not drafted:** {e}.{step}"}
    how = "by the LLM" if res["how"] == "llm" else "from templates over your topics"
    note = f" ({res['note']})" if res["note"] else ""
    return {"table": golden_table(services.store),
            "status": f"Drafted {len(res['added'])} prompt(s) {how}{note}; edit them in the table and save."}


def build(services: Any) -> None:
    """Build the tab's components and wiring (called inside `with gr.Tab(LABEL):`)."""
    store = services.store
    with gr.Row():
        models = gr.Textbox(label="Models (comma-separated registry names)", value="base", scale=4)
        judge = gr.Checkbox(label="LLM judges", value=False, scale=1)
        run = gr.Button("Run evaluation", variant="primary", scale=1, elem_id="eval-run")
        refresh = gr.Button("Show latest", scale=1)
        local = gr.Button("Start the local model", scale=1, elem_id="eval-start-local")
    # Callable values are re-read from the store on every page load, never at build time.
    status = gr.Markdown(lambda: report_view(store)["status"], elem_id="eval-status")
    summary = gr.Dataframe(lambda: report_view(store)["summary"], headers=SUMMARY_COLUMNS, interactive=False,
                           label="Voice Gap Closed and components")
    plots = gr.Gallery(lambda: report_view(store)["plots"], label="Plots", columns=3, height=320)
    with gr.Accordion("Full report", open=False):
        html = gr.HTML(lambda: report_view(store)["html"])
    with gr.Accordion("Golden prompts", open=False):
        table = gr.Dataframe(lambda: golden_table(store), headers=GOLDEN_COLUMNS, interactive=True, wrap=True)
        with gr.Row():
            new_prompt = gr.Textbox(label="New prompt", scale=4)
            new_domain = gr.Dropdown(choices=list(services.settings.domains), label="Domain",
                                     value=next(iter(services.settings.domains), "reasoning"), allow_custom_value=True)
            add = gr.Button("Add")
        with gr.Row():
            n_draft = gr.Number(value=5, precision=0, label="How many", scale=1)
            use_llm = gr.Checkbox(value=services.settings.llm_provider != "none", scale=2,
                                  label="Write them with the configured LLM (else templates)")
            draft = gr.Button("Draft from my topics", scale=2, elem_id="eval-draft-golden")
        with gr.Row():
            save = gr.Button("Save table edits")
            del_id = gr.Textbox(label="Delete prompt by id", scale=3)
            delete = gr.Button("Delete")
        gstatus = gr.Markdown()

    def _report(d: dict[str, Any]) -> dict[Any, Any]:
        return {summary: d["summary"], html: d["html"], plots: d["plots"], status: d["status"]}

    def _golden(d: dict[str, Any]) -> dict[Any, Any]:
        return {table: d["table"], gstatus: d["status"]}

    outs = [summary, html, plots, status]
    run.click(lambda m, j: _report(run_view(services, m, j)), [models, judge], outs)
    refresh.click(lambda: _report(report_view(store)), None, outs)
    add.click(lambda p, d: _golden(add_golden(store, p, d)), [new_prompt, new_domain], [table, gstatus])
    save.click(lambda t: _golden(save_golden(store, t)), [table], [table, gstatus])
    delete.click(lambda i: _golden(delete_golden(store, i)), [del_id], [table, gstatus])
    draft.click(lambda k, u: _golden(draft_golden_view(services, k, u)), [n_draft, use_llm], [table, gstatus])
    local.click(lambda: start_local_model(services)["status"], None, [status])
