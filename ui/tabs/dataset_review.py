"""Dataset tab, record review: the filtered table, one example at a time, keyboard approve/reject/edit/next.

Handlers are module-level functions over explicit inputs returning dicts keyed by component
name (ui/tabs/dataset.py maps names to components). The review queue is the list of ids the
table shows; approving or rejecting moves on to the next example in it that is still pending.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

from core.errors import IdiolectError, NotFound
from core.schemas import Example
from ui.ops import review

COLUMNS = ["id", "status", "domain", "score", "origin", "prompt", "response", "created"]
ANYS = ("", "any", None)

# Keys, when the Dataset tab is on screen and no text box has focus: A approve, R reject,
# J/N next, K/P previous, E edit the response. Ctrl/Cmd+Enter saves, even while typing; Esc
# leaves a text box. The listener sits on window in the capture phase and stops the keys it
# handles, so the Arena tab's document-level shortcuts (a, n…) never see them.
KEYS_JS = """
if (!window.__idiolectDatasetKeys) {
  window.__idiolectDatasetKeys = true;
  const click = (id) => {
    const el = document.getElementById(id);
    const btn = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
    if (btn && !btn.disabled) { btn.click(); return true; }
    return false;
  };
  window.addEventListener('keydown', (e) => {
    const panel = document.getElementById('dataset-review');
    if (!panel || panel.offsetParent === null) return;  // the Dataset tab is not on screen
    const t = e.target;
    const typing = t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.isContentEditable);
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && panel.contains(t)) {
      if (click('dataset-save')) { e.preventDefault(); e.stopPropagation(); }
      return;
    }
    if (typing) { if (e.key === 'Escape') t.blur(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const map = {'a': 'dataset-approve', 'r': 'dataset-reject', 'j': 'dataset-next', 'n': 'dataset-next',
                 'k': 'dataset-prev', 'p': 'dataset-prev'};
    const key = (e.key || '').toLowerCase();
    if (key === 'e') {
      const box = document.querySelector('#dataset-response textarea');
      if (box) { e.preventDefault(); e.stopPropagation(); box.focus(); }
      return;
    }
    if (map[key] && click(map[key])) { e.preventDefault(); e.stopPropagation(); }
  }, true);
}
"""
KEYS_HELP = ("Keys: **A** approve · **R** reject · **J**/**N** next · **K**/**P** previous · **E** edit the "
             "response · **Ctrl+Enter** save · **Esc** leave a text box")


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def example_table(examples: list[Example]) -> pd.DataFrame:
    """One row per example, long texts shortened."""
    rows = [[e.id, e.status.value, e.domain, e.scores.overall, e.origin.value, _short(e.prompt),
             _short(e.response), e.created_at.strftime("%Y-%m-%d")] for e in examples]
    return pd.DataFrame(rows, columns=COLUMNS)


def make_filter(status: str | None, domain: str | None, query: str | None, origin: str | None = None) -> Any:
    """Return the tab's filter controls as a review.Filter ("any" and blanks match everything)."""
    try:
        return review.Filter(status=None if status in ANYS else status, domain=None if domain in ANYS else domain,
                             origin=None if origin in ANYS else origin, search=(query or "").strip() or None)
    except IdiolectError as e:
        raise gr.Error(str(e)) from e


def search_examples(store: Any, status: str, domain: str, query: str, origin: str = "any",
                    limit: int = 300) -> dict[str, Any]:
    """Examples matching the filters, newest first, the ids now on screen, and the review progress."""
    exs = review.matching(store, make_filter(status, domain, query, origin), limit=limit)
    return {"table": example_table(exs), "shown_ids": [e.id for e in exs],
            "counts": f"**{review.progress_line(review.progress(store))}** · showing {len(exs)}"}


def provenance_markdown(store: Any, ex: Example) -> str:
    """Where the example came from, readable: each source message with its conversation, date and text."""
    parts = [f"_{html.escape(review.origin_line(ex))}_", ""]
    srcs = review.sources(store, ex)
    if not srcs:
        parts.append("No source messages (written by hand or by the model without retrieval).")
    for s in srcs:
        if s.get("missing"):
            parts.append(f"- A source message is no longer in the store (`{s['message_id'][:12]}`).")
            continue
        who = "your message" if s["role"] == "person" else f"{s['role']} message"
        summary = (f"“{html.escape(s['conversation_title'])}” · {s['date']} · {who} #{s['position'] + 1}")
        body = ""
        if s.get("answered"):
            body += (f"<p><em>answering the {html.escape(s['answered']['role'])}:</em> "
                     f"{html.escape(_short(s['answered']['text'], 400))}</p>")
        body += f"<blockquote>{html.escape(s['text'])}</blockquote>"
        parts.append(f"<details><summary>{summary}</summary>{body}</details>")
    s = ex.scores
    scored = [f"{k} {v}" for k, v in s.model_dump().items() if isinstance(v, int | float)]
    if scored:
        parts += ["", "Scores: " + " · ".join(scored)]
    log = review.edit_lines(ex)
    if log:
        parts += ["", "Edit log:"] + [f"- {html.escape(line)}" for line in log]
    return "\n".join(parts)


def open_example(store: Any, example_id: str | None) -> dict[str, Any]:
    """Load one example into the editor, with its readable provenance."""
    if not example_id:
        raise gr.Error("Pick an example in the table first.")
    try:
        ex = store.examples.get(example_id)
    except NotFound as e:
        raise gr.Error(str(e)) from e
    return {"current": ex.id, "prompt": ex.prompt, "reasoning": ex.reasoning, "response": ex.response,
            "domain": ex.domain, "status": f"**{ex.status.value}** · `{ex.id[:8]}` · {ex.domain}",
            "provenance": provenance_markdown(store, ex)}


def row_id(table: pd.DataFrame, index: Any) -> str | None:
    """Return the example id in the clicked table row (`index` is Gradio's SelectData.index)."""
    row = index[0] if isinstance(index, list | tuple) else index
    if table is None or row is None or not 0 <= int(row) < len(table):
        return None
    return str(table.iloc[int(row)]["id"])


def step(store: Any, shown_ids: list[str] | None, current: str | None, direction: int = 1,
         *, pending_only: bool = False) -> dict[str, Any]:
    """Open the next (or previous) example in the table's order; with `pending_only`, the next unreviewed one."""
    ids = list(shown_ids or [])
    if not ids:
        raise gr.Error("The table is empty: change the filters and press Search.")
    at = ids.index(current) if current in ids else -1
    order = ids[at + 1:] + ids[:at + 1] if direction > 0 else list(reversed(ids[:at] if at >= 0 else ids))
    for i in order:
        if i == current:
            continue
        try:
            ex = store.examples.get(i)
        except NotFound:
            continue
        if not pending_only or ex.status.value == "pending":
            return {**open_example(store, i), "review_note": ""}
    note = "Nothing left to review in this list." if pending_only else "No other example in this list."
    return {**(open_example(store, current) if current else {}), "review_note": note}


def set_status(store: Any, example_id: str | None, status: str, shown_ids: list[str] | None = None) -> dict[str, Any]:
    """Approve or reject the open example, then move on to the next pending one in the list."""
    if not example_id:
        raise gr.Error("Open an example first (click a row).")
    try:
        review.set_status(store, [example_id], status)
    except (IdiolectError, ValueError) as e:
        raise gr.Error(str(e)) from e
    done = f"{status.capitalize()} `{example_id[:8]}`. {review.progress_line(review.progress(store))}."
    if shown_ids:
        moved = step(store, shown_ids, example_id, 1, pending_only=True)
        return {**moved, "review_note": f"{done} {moved['review_note']}".strip()}
    return {**open_example(store, example_id), "review_note": done}


def save_edits(store: Any, example_id: str | None, prompt: str, reasoning: str, response: str,
               domain: str, editor: str = "owner") -> dict[str, Any]:
    """Save edited texts/domain; the change goes into the example's edit log."""
    if not example_id:
        raise gr.Error("Open an example first (click a row).")
    if not (prompt or "").strip() or not (response or "").strip():
        raise gr.Error("Prompt and response cannot be empty.")
    try:
        store.examples.update(example_id, editor=editor, prompt=prompt, reasoning=reasoning,
                              response=response, domain=(domain or "").strip() or "reasoning")
    except (IdiolectError, ValueError) as e:
        raise gr.Error(str(e)) from e
    return {**open_example(store, example_id), "review_note": f"Saved `{example_id[:8]}`."}
