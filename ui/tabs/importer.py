"""Import tab: upload an export, watch it import, see what was found and what was scrubbed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from core.errors import IdiolectError
from ui.services import Services

SUMMARY_KEYS = [
    ("conversations", "Conversations"), ("person_messages", "Your messages (shown branch)"),
    ("assistant_messages", "Assistant messages (shown branch)"),
    ("abandoned_person_messages", "Your messages on abandoned branches"),
    ("chunks_indexed", "Chunks searchable (new or changed)"), ("seconds", "Seconds"),
]
POLL_S = 5.0  # how often an open Import tab refreshes the meaning index's progress while it fills


def summary_markdown(s: dict[str, Any]) -> str:
    """Render the import's result for people: a headline (new, updated or unchanged), then the counts."""
    same = int(s.get("conversations_unchanged") or 0)
    if same and not (s.get("conversations_new") or s.get("conversations_updated")):
        head = [f"**Nothing new**: all {same} conversation(s) are unchanged since they were last imported.", ""]
    else:
        head = [f"**Imported.** {same} conversation(s) were unchanged and skipped.", ""] if same else []
    lines = head + ["| | |", "|---|---|"] + [f"| {label} | {s.get(k, 0)} |" for k, label in SUMMARY_KEYS]
    red = s.get("redactions") or {}
    lines.append(f"| Redactions | {', '.join(f'{k}: {v}' for k, v in sorted(red.items())) or 'none'} |")
    if s.get("skipped"):
        lines.append(f"| Skipped | {', '.join(f'{k}: {v}' for k, v in s['skipped'].items())} |")
    if s.get("warnings"):
        lines.append("\n**Warnings**\n" + "\n".join(f"- {w}" for w in s["warnings"][:20]))
    return "\n".join(lines)


def redaction_log(services: Services) -> pd.DataFrame:
    rows = services.store.conversations.redactions(limit=1000)
    return pd.DataFrame(rows, columns=["kind", "conversation", "message_id", "field", "start", "length"])


def dense_markdown(services: Services) -> tuple[str, bool]:
    """Return the meaning index's progress for people, and whether it is still filling (keep polling)."""
    from agent.index import dense_status
    from ui.ops.dense_fill import progress_line

    st = dense_status(services.store)
    return f"**Search index.** {progress_line(st)}", bool(st["filling"])


def finish_dense(services: Services) -> str:
    """Fill the meaning index in the background (a no-op if a fill is already running anywhere)."""
    from ui.ops.dense_fill import start_fill

    start_fill(services)
    return "**Search index.** Started filling the meaning index in the background…"


def import_files(services: Services, files: list[Any] | None, progress: gr.Progress | None = None) -> dict[str, Any]:
    """Import uploaded files; the uploads are deleted afterwards (they hold unscrubbed text).

    Returns once the words are searchable; a background worker fills the meaning index.
    """
    from ui.ops.imports import import_exports

    paths = [str(getattr(f, "name", f)) for f in files or []]
    if not paths:
        raise gr.Error("Choose a ChatGPT or Claude export (.zip) first.")
    try:
        if progress is not None:
            progress(0, desc="Importing…")
        s = import_exports(services, paths)
    except IdiolectError as e:
        raise gr.Error(str(e)) from e
    finally:
        for p in paths:
            Path(p).unlink(missing_ok=True)
    finish_dense(services)
    return {"summary": summary_markdown(s), "log": redaction_log(services)}


def build(services: Services) -> None:
    gr.Markdown("Upload a **ChatGPT** or **Claude** export (the .zip from *Settings → Export data*), "
                "a `conversations.json`, or `.jsonl` / `.md` transcripts. Secrets and personal data are "
                "replaced by placeholders before anything is stored.")
    files = gr.File(label="Export files", file_count="multiple",
                    file_types=[".zip", ".json", ".jsonl", ".md", ".html"], elem_id="import-files")
    go = gr.Button("Import", variant="primary", elem_id="import-go")
    summary = gr.Markdown(elem_id="import-summary")
    with gr.Row():
        dense = gr.Markdown(value=lambda: dense_markdown(services)[0], elem_id="dense-progress")
        finish = gr.Button("Finish the meaning index", size="sm", scale=0, elem_id="dense-finish")
    # Polls only while a fill runs (an import or the button starts it), not for every open page.
    timer = gr.Timer(POLL_S, active=False)
    gr.Markdown("### Redaction log\nKind and place of every redaction. The values themselves are never stored.")
    log = gr.Dataframe(value=lambda: redaction_log(services), interactive=False, elem_id="redaction-log")

    def on_import(fs: list[Any] | None, progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:
        r = import_files(services, fs, progress)
        return {summary: r["summary"], log: r["log"], dense: dense_markdown(services)[0],
                timer: gr.Timer(active=True)}

    def on_tick() -> dict[Any, Any]:
        text, filling = dense_markdown(services)
        return {dense: text, timer: gr.Timer(active=filling)}

    go.click(on_import, inputs=files, outputs=[summary, log, dense, timer])
    finish.click(lambda: {dense: finish_dense(services), timer: gr.Timer(active=True)}, None, [dense, timer],
                 api_name=False)
    timer.tick(on_tick, None, [dense, timer], api_name=False)
