"""Dataset tab: review examples one at a time by keyboard, bulk actions on a filter, report card, snapshot, export.

The handlers live in dataset_review.py (table, record, keys), dataset_bulk.py (approve or
reject all matching, after a count) and dataset_curate.py (report card, snapshot, export,
domains from the person's history); each returns a dict keyed by component name and `build`
maps the names to components. The review queue is the table on screen: its ids, in order.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ui.tabs.dataset_bulk import bulk_cancel, bulk_confirm, bulk_preview
from ui.tabs.dataset_curate import (
    DOMAIN_COLUMNS,
    EXPORT_FORMATS,
    FAMILIES,
    apply_domains_view,
    export_view,
    qc_markdown,
    refresh_report,
    snapshot_choices,
    suggest_domains_view,
    take_snapshot,
)
from ui.tabs.dataset_review import (
    COLUMNS,
    KEYS_HELP,
    KEYS_JS,
    example_table,
    open_example,
    row_id,
    save_edits,
    search_examples,
    set_status,
    step,
)

__all__ = ["LABEL", "build", "bulk_cancel", "bulk_confirm", "bulk_preview", "example_table", "open_example",
           "qc_markdown", "refresh_report", "row_id", "save_edits", "search_examples", "set_status", "step",
           "take_snapshot", "export_view", "suggest_domains_view", "apply_domains_view", "table_ids"]

LABEL = "Dataset"
STATUSES = ["any", "pending", "approved", "rejected"]
ORIGINS = ["any", "drafted", "bulk", "mined", "gold", "manual"]


def table_ids(table: pd.DataFrame | None) -> list[str]:
    """Return the ids of the examples on screen, in order (the review queue)."""
    return [] if table is None or len(table) == 0 else [str(i) for i in table["id"]]


def build(services: Any) -> None:
    """Lay out the Dataset tab (called inside `with gr.Tab(LABEL):`)."""
    store = services.store
    current = gr.State(None)
    pending = gr.State(None)
    domains = ["any", *services.settings.domains]

    with gr.Accordion("Report card", open=False):
        with gr.Row():
            semantic = gr.Checkbox(value=False, label="Semantic dedup (embeddings; slower)")
            refresh = gr.Button("Refresh report", variant="primary", elem_id="dataset-refresh")
        with gr.Row():
            card = gr.Markdown(elem_id="dataset-card")
            qc = gr.Markdown(elem_id="dataset-qc")
        with gr.Row():
            p_domains = gr.Plot(label="Domain share vs target")
            p_scores = gr.Plot(label="Scores")
            p_growth = gr.Plot(label="Growth")

    with gr.Row():
        f_status = gr.Dropdown(STATUSES, value="pending", label="Status", scale=1)
        f_domain = gr.Dropdown(domains, value="any", label="Domain", scale=1, allow_custom_value=True)
        f_origin = gr.Dropdown(ORIGINS, value="any", label="Origin", scale=1, allow_custom_value=True)
        f_query = gr.Textbox(label="Search prompt / reasoning / response", scale=3, elem_id="dataset-query")
        go = gr.Button("Search", scale=1, elem_id="dataset-search")
    # Callable values are re-read on every page load: the pending queue is on screen at once.
    counts = gr.Markdown(lambda: search_examples(store, "pending", "any", "")["counts"], elem_id="dataset-counts")
    table = gr.Dataframe(lambda: search_examples(store, "pending", "any", "")["table"], headers=COLUMNS,
                         interactive=False, wrap=True, elem_id="dataset-table")

    with gr.Group(elem_id="dataset-review"):
        with gr.Row():
            with gr.Column(scale=3):
                status = gr.Markdown("Click a row, or press **J** for the first example in the list.")
                note = gr.Markdown(elem_id="dataset-review-note")
                prompt = gr.Textbox(label="Prompt", lines=3)
                reasoning = gr.Textbox(label="Reasoning", lines=5)
                response = gr.Textbox(label="Response", lines=8, elem_id="dataset-response")
                domain = gr.Dropdown(list(services.settings.domains), label="Domain", allow_custom_value=True)
                with gr.Row():
                    prev = gr.Button("← Previous (K)", elem_id="dataset-prev")
                    approve = gr.Button("Approve (A)", variant="primary", elem_id="dataset-approve")
                    reject = gr.Button("Reject (R)", variant="stop", elem_id="dataset-reject")
                    save = gr.Button("Save edits (Ctrl+Enter)", elem_id="dataset-save")
                    nxt = gr.Button("Next (J) →", elem_id="dataset-next")
            with gr.Column(scale=2):
                gr.Markdown("**Where it came from**")
                prov = gr.Markdown(elem_id="dataset-provenance")
        gr.Markdown(KEYS_HELP)
        gr.HTML("", js_on_load=KEYS_JS, elem_id="dataset-keys")

    with gr.Accordion("Bulk actions on the filter above", open=False):
        bulk_ids = gr.Textbox(label="Or these example ids / id prefixes only (comma or space separated)")
        with gr.Row():
            bulk_approve = gr.Button("Approve all matching", elem_id="dataset-bulk-approve")
            bulk_reject = gr.Button("Reject all matching", elem_id="dataset-bulk-reject")
            confirm = gr.Button("Confirm", variant="primary", visible=False, elem_id="dataset-bulk-confirm")
            cancel = gr.Button("Cancel", visible=False, elem_id="dataset-bulk-cancel")
        bulk_result = gr.Markdown(elem_id="dataset-bulk-result")

    with gr.Accordion("Snapshot", open=False):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed")
            val = gr.Slider(0.0, 0.5, value=0.1, step=0.01, label="Validation share")
            snote = gr.Textbox(label="Note")
        snap_btn = gr.Button("Make a snapshot", elem_id="dataset-snapshot")
        snap_result = gr.Markdown(elem_id="dataset-snapshot-result")

    with gr.Accordion("Export for a trainer", open=False):
        with gr.Row():
            e_snap = gr.Dropdown(snapshot_choices(store), value="", label="Snapshot (blank: latest)",
                                 allow_custom_value=True)
            e_fmt = gr.Dropdown(EXPORT_FORMATS, value="messages", label="Format")
            e_fam = gr.Dropdown(FAMILIES, value="qwen3", label="Target model family (reasoning format)",
                                allow_custom_value=True)
        export = gr.Button("Export", elem_id="dataset-export")
        export_result = gr.Markdown(elem_id="dataset-export-result")

    with gr.Accordion("Domains from your history", open=False):
        suggest = gr.Button("Suggest domains", elem_id="dataset-suggest-domains")
        d_table = gr.Dataframe(headers=DOMAIN_COLUMNS, interactive=True, wrap=True, elem_id="dataset-domains")
        apply = gr.Button("Apply to my settings", elem_id="dataset-apply-domains")
        d_status = gr.Markdown(elem_id="dataset-domains-status")

    comp: dict[str, Any] = {
        "card": card, "qc": qc, "domains": p_domains, "scores": p_scores, "growth": p_growth, "table": table,
        "counts": counts, "current": current, "prompt": prompt, "reasoning": reasoning, "response": response,
        "domain": domain, "status": status, "provenance": prov, "review_note": note, "bulk_result": bulk_result,
        "bulk_ids": bulk_ids, "bulk_pending": pending, "bulk_confirm": confirm, "bulk_cancel": cancel,
        "snapshot_result": snap_result, "export_result": export_result, "domains_table": d_table,
        "domains_status": d_status,
    }

    def wire(fn: Any, outputs: list[str]) -> tuple[Any, list[Any]]:
        def run(*args: Any) -> dict[Any, Any]:
            return {comp[k]: v for k, v in fn(*args).items() if k in comp}

        return run, [comp[k] for k in outputs]

    editor = ["current", "prompt", "reasoning", "response", "domain", "status", "provenance", "review_note"]
    listing = ["table", "counts"]
    filters = [f_status, f_domain, f_query, f_origin]
    search_fn, search_outs = wire(lambda s, d, q, o: search_examples(store, s, d, q, o), listing)
    fn, outs = wire(lambda sem: refresh_report(services, sem), ["card", "qc", "domains", "scores", "growth"])
    refresh.click(fn, [semantic], outs)
    go.click(search_fn, filters, search_outs)
    f_query.submit(search_fn, filters, search_outs)

    def on_select(tbl: pd.DataFrame, evt: gr.SelectData) -> dict[Any, Any]:
        return {comp[k]: v for k, v in {**open_example(store, row_id(tbl, evt.index)), "review_note": ""}.items()}

    table.select(on_select, [table], [comp[k] for k in editor])
    for btn, st in ((approve, "approved"), (reject, "rejected")):
        fn, outs = wire(lambda cur, tbl, st=st: set_status(store, cur, st, table_ids(tbl)), editor)
        btn.click(fn, [current, table], outs).then(search_fn, filters, search_outs)
    for btn, direction in ((nxt, 1), (prev, -1)):
        fn, outs = wire(lambda cur, tbl, d=direction: step(store, table_ids(tbl), cur, d), editor)
        btn.click(fn, [current, table], outs)
    fn, outs = wire(lambda cur, p, r, a, d: save_edits(store, cur, p, r, a, d), editor)
    save.click(fn, [current, prompt, reasoning, response, domain], outs).then(search_fn, filters, search_outs)

    bulk_outs = ["bulk_result", "bulk_pending", "bulk_confirm", "bulk_cancel"]
    for btn, action in ((bulk_approve, "approve"), (bulk_reject, "reject")):
        fn, outs = wire(lambda ids, s, d, q, o, a=action: bulk_preview(store, a, ids, s, d, q, o), bulk_outs)
        btn.click(fn, [bulk_ids, *filters], outs)
    fn, outs = wire(lambda p: bulk_confirm(store, p), [*bulk_outs, "bulk_ids"])
    confirm.click(fn, [pending], outs).then(search_fn, filters, search_outs)
    fn, outs = wire(bulk_cancel, bulk_outs)
    cancel.click(fn, None, outs)

    fn, outs = wire(lambda sd, v, n, sem: take_snapshot(services, sd, v, n, sem), ["snapshot_result"])
    snap_btn.click(fn, [seed, val, snote, semantic], outs).then(
        lambda: gr.update(choices=snapshot_choices(store)), None, e_snap)
    fn, outs = wire(lambda s, f, fam: export_view(services, s, f, fam), ["export_result"])
    export.click(fn, [e_snap, e_fmt, e_fam], outs)
    fn, outs = wire(lambda: suggest_domains_view(services), ["domains_table", "domains_status"])
    suggest.click(fn, None, outs)
    fn, outs = wire(lambda t: apply_domains_view(services, t), ["domains_status"])
    apply.click(fn, [d_table], outs)
