"""Dataset tab: report card with plots, browse, edit, approve/reject, bulk actions, provenance, snapshots.

Handlers are module-level functions over explicit inputs returning dicts keyed by component
name; `build` maps the names to components. Per-session data (the open example, the ids on
screen) lives in gr.State only.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from core.errors import IdiolectError, NotFound
from core.schemas import Example, ExampleStatus

LABEL = "Dataset"
STATUSES = ["any", "pending", "approved", "rejected"]
COLUMNS = ["id", "status", "domain", "score", "origin", "prompt", "response", "created"]


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def example_table(examples: list[Example]) -> pd.DataFrame:
    """One row per example, long texts shortened."""
    rows = [[e.id, e.status.value, e.domain, e.scores.overall, e.origin.value, _short(e.prompt),
             _short(e.response), e.created_at.strftime("%Y-%m-%d")] for e in examples]
    return pd.DataFrame(rows, columns=COLUMNS)


def search_examples(store: Any, status: str, domain: str, query: str, limit: int = 300) -> dict[str, Any]:
    """Examples matching the filters, newest first, and the ids now on screen."""
    exs = store.examples.list(status=None if status in ("", "any") else status,
                              domain=None if domain in ("", "any") else domain,
                              query=(query or "").strip() or None, limit=limit)
    counts = store.examples.counts().get("status", {})
    summary = " · ".join(f"{k}: {counts.get(k, 0)}" for k in ("pending", "approved", "rejected"))
    return {"table": example_table(exs), "shown_ids": [e.id for e in exs],
            "counts": f"Showing {len(exs)} · all examples: {summary}"}


def provenance(store: Any, ex: Example) -> dict[str, Any]:
    """Where an example came from: source messages (text), conversation, model, prompt version, edits."""
    sources = []
    for mid in ex.source_message_ids:
        try:
            m = store.conversations.message(mid)
            sources.append({"id": mid, "role": m.role.value, "conversation_id": m.conversation_id,
                            "text": m.text[:2000]})
        except NotFound:
            sources.append({"id": mid, "missing": True})
    title = None
    if ex.conversation_id:
        try:
            title = store.conversations.conversation(ex.conversation_id).get("title")
        except NotFound:
            title = None
    return {"origin": ex.origin.value, "model": ex.model, "prompt_version": ex.prompt_version,
            "run_id": ex.run_id, "conversation_id": ex.conversation_id, "conversation_title": title,
            "source_messages": sources, "scores": ex.scores.model_dump(), "edits": ex.edits,
            "created_at": ex.created_at.isoformat(), "updated_at": ex.updated_at.isoformat()}


def open_example(store: Any, example_id: str | None) -> dict[str, Any]:
    """Load one example into the editor, with its provenance."""
    if not example_id:
        raise gr.Error("Pick an example in the table first.")
    try:
        ex = store.examples.get(example_id)
    except NotFound as e:
        raise gr.Error(str(e)) from e
    return {"current": ex.id, "prompt": ex.prompt, "reasoning": ex.reasoning, "response": ex.response,
            "domain": ex.domain, "status": f"**{ex.status.value}** · {ex.id}",
            "provenance": provenance(store, ex)}


def row_id(table: pd.DataFrame, index: Any) -> str | None:
    """Return the example id in the clicked table row (`index` is Gradio's SelectData.index)."""
    row = index[0] if isinstance(index, list | tuple) else index
    if table is None or row is None or not 0 <= int(row) < len(table):
        return None
    return str(table.iloc[int(row)]["id"])


def set_status(store: Any, example_id: str | None, status: str) -> dict[str, Any]:
    """Approve or reject the open example in place."""
    if not example_id:
        raise gr.Error("Open an example first.")
    try:
        store.examples.set_status([example_id], ExampleStatus(status))
    except (IdiolectError, ValueError) as e:
        raise gr.Error(str(e)) from e
    return open_example(store, example_id)


def save_edits(store: Any, example_id: str | None, prompt: str, reasoning: str, response: str,
               domain: str, editor: str = "owner") -> dict[str, Any]:
    """Save edited texts/domain; the change goes into the example's edit log."""
    if not example_id:
        raise gr.Error("Open an example first.")
    if not (prompt or "").strip() or not (response or "").strip():
        raise gr.Error("Prompt and response cannot be empty.")
    try:
        store.examples.update(example_id, editor=editor, prompt=prompt, reasoning=reasoning,
                              response=response, domain=(domain or "").strip() or "reasoning")
    except (IdiolectError, ValueError) as e:
        raise gr.Error(str(e)) from e
    return open_example(store, example_id)


def bulk_status(store: Any, ids_text: str, shown_ids: list[str] | None, status: str) -> dict[str, Any]:
    """Set `status` on the ids typed (comma/space separated), or on every example shown when empty."""
    ids = [i for i in (ids_text or "").replace(",", " ").split() if i] or list(shown_ids or [])
    if not ids:
        raise gr.Error("Nothing selected: type ids, or filter the table to the examples you mean.")
    missing = []
    for i in ids:
        try:
            store.examples.get(i)
        except NotFound:
            missing.append(i)
    if missing:
        raise gr.Error(f"No such example: {', '.join(missing[:5])}")
    n = store.examples.set_status(ids, ExampleStatus(status))
    return {"bulk_result": f"{status.capitalize()} {n} example(s).", "bulk_ids": ""}


def qc_markdown(qc: dict[str, Any]) -> str:
    lines = [f"**QC kept {qc['kept']} of {qc['total']}.**", "", "| dropped because | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in qc["dropped"].items()] or ["| (nothing dropped) | 0 |"]
    if not qc.get("semantic_checked"):
        lines.append("\n_Semantic (embedding) dedup was skipped._")
    if qc["drops"]:
        lines.append("\n<details><summary>Every drop</summary>\n")
        lines += [f"- `{d['id']}` {d['reason']} {d['detail']}"
                  + (f" (duplicate of `{d['duplicate_of']}`)" if d.get("duplicate_of") else "")
                  for d in qc["drops"][:500]]
        lines.append("\n</details>")
    return "\n".join(lines)


def refresh_report(services: Any, semantic: bool) -> dict[str, Any]:
    """QC the approved examples, grade them, and draw the three plots."""
    from training.report import assess, plots
    from ui.commands.dataset import qc_callables

    exs = services.store.examples.list(status=ExampleStatus.approved)
    _kept, qc, card = assess(exs, services.settings, **qc_callables(services, semantic))
    figs = plots(card)
    return {"card": card.to_markdown(), "qc": qc_markdown(qc), "domains": figs["domains"],
            "scores": figs["scores"], "growth": figs["growth"]}


def take_snapshot(services: Any, seed: float, validation: float, note: str, semantic: bool) -> dict[str, Any]:
    """Freeze the approved examples into a versioned snapshot."""
    from training.snapshots import create_snapshot
    from ui.commands.dataset import qc_callables

    try:
        snap, created = create_snapshot(services.store, services.settings, seed=int(seed),
                                        validation_fraction=float(validation), note=note or "",
                                        **qc_callables(services, semantic))
    except IdiolectError as e:
        raise gr.Error(str(e)) from e
    head = "New snapshot" if created else "Data unchanged since snapshot"
    return {"snapshot_result": f"{head} **v{snap.version}** (`{snap.id[:12]}`): {snap.n_train} train · "
                               f"{snap.n_validation} validation · {snap.n_preferences} pairs  \n`{snap.path}`\n\n"
                               f"Export it with `idiolect dataset export --snapshot {snap.version} "
                               f"--format messages --target-model qwen3`."}


def build(services: Any) -> None:
    """Lay out the Dataset tab (called inside `with gr.Tab(LABEL):`)."""
    store = services.store
    domains = ["any", *services.settings.domains]
    current = gr.State(None)
    shown_ids = gr.State([])

    with gr.Accordion("Report card", open=True):
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
        f_query = gr.Textbox(label="Search prompt / reasoning / response", scale=3, elem_id="dataset-query")
        go = gr.Button("Search", scale=1, elem_id="dataset-search")
    counts = gr.Markdown()
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="dataset-table")

    with gr.Row():
        with gr.Column(scale=3):
            status = gr.Markdown("Click a row to open it.")
            prompt = gr.Textbox(label="Prompt", lines=3)
            reasoning = gr.Textbox(label="Reasoning", lines=5)
            response = gr.Textbox(label="Response", lines=8)
            domain = gr.Dropdown(list(services.settings.domains), label="Domain", allow_custom_value=True)
            with gr.Row():
                approve = gr.Button("Approve", variant="primary", elem_id="dataset-approve")
                reject = gr.Button("Reject", variant="stop", elem_id="dataset-reject")
                save = gr.Button("Save edits", elem_id="dataset-save")
        with gr.Column(scale=2), gr.Accordion("Provenance", open=False):
            prov = gr.JSON(label="Source messages, model, edits")

    with gr.Accordion("Bulk actions", open=False):
        bulk_ids = gr.Textbox(label="Example ids (comma or space separated; empty = every example shown)")
        with gr.Row():
            bulk_approve = gr.Button("Approve selected", elem_id="dataset-bulk-approve")
            bulk_reject = gr.Button("Reject selected", elem_id="dataset-bulk-reject")
        bulk_result = gr.Markdown()

    with gr.Accordion("Snapshot", open=False):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed")
            val = gr.Slider(0.0, 0.5, value=0.1, step=0.01, label="Validation share")
            note = gr.Textbox(label="Note")
        snap_btn = gr.Button("Take snapshot", elem_id="dataset-snapshot")
        snap_result = gr.Markdown()

    comp: dict[str, Any] = {
        "card": card, "qc": qc, "domains": p_domains, "scores": p_scores, "growth": p_growth,
        "table": table, "shown_ids": shown_ids, "counts": counts, "current": current, "prompt": prompt,
        "reasoning": reasoning, "response": response, "domain": domain, "status": status,
        "provenance": prov, "bulk_result": bulk_result, "bulk_ids": bulk_ids, "snapshot_result": snap_result,
    }

    def wire(fn: Any, outputs: list[str]) -> tuple[Any, list[Any]]:
        def run(*args: Any) -> dict[Any, Any]:
            return {comp[k]: v for k, v in fn(*args).items() if k in comp}

        return run, [comp[k] for k in outputs]

    editor = ["current", "prompt", "reasoning", "response", "domain", "status", "provenance"]
    listing = ["table", "shown_ids", "counts"]

    def search(s: str, d: str, q: str) -> dict[str, Any]:
        return search_examples(store, s, d, q)

    search_fn, search_outs = wire(search, listing)
    filters = [f_status, f_domain, f_query]
    fn, outs = wire(lambda sem: refresh_report(services, sem), ["card", "qc", "domains", "scores", "growth"])
    refresh.click(fn, [semantic], outs)
    go.click(search_fn, filters, search_outs)
    f_query.submit(search_fn, filters, search_outs)

    def on_select(tbl: pd.DataFrame, evt: gr.SelectData) -> dict[Any, Any]:
        return {comp[k]: v for k, v in open_example(store, row_id(tbl, evt.index)).items()}

    table.select(on_select, [table], [comp[k] for k in editor])
    for btn, st in ((approve, "approved"), (reject, "rejected")):
        fn, outs = wire(lambda cur, st=st: set_status(store, cur, st), editor)
        btn.click(fn, [current], outs).then(search_fn, filters, search_outs)
    fn, outs = wire(lambda cur, p, r, a, d: save_edits(store, cur, p, r, a, d), editor)
    save.click(fn, [current, prompt, reasoning, response, domain], outs)
    for btn, st in ((bulk_approve, "approved"), (bulk_reject, "rejected")):
        fn, outs = wire(lambda ids, shown, st=st: bulk_status(store, ids, shown, st), ["bulk_result", "bulk_ids"])
        btn.click(fn, [bulk_ids, shown_ids], outs).then(search_fn, filters, search_outs)
    fn, outs = wire(lambda sd, v, n, sem: take_snapshot(services, sd, v, n, sem), ["snapshot_result"])
    snap_btn.click(fn, [seed, val, note, semantic], outs)
