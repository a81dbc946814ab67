"""Dataset tab, bulk actions: approve or reject every example matching the filter, or typed ids, after a count.

Two steps, so nothing changes by accident: `bulk_preview` counts what would change and holds
those exact ids; `bulk_confirm` applies the action to them (examples added since the preview
are not touched). Handlers return dicts keyed by component name.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from core.errors import IdiolectError
from ui.ops import review
from ui.tabs.dataset_review import make_filter


def bulk_preview(store: Any, action: str, ids_text: str, status: str, domain: str, query: str,
                 origin: str = "any") -> dict[str, Any]:
    """Count the examples an approve/reject would touch: the typed ids, else everything matching the filter."""
    if action not in ("approve", "reject"):
        raise gr.Error(f"unknown action {action!r}")
    typed = (ids_text or "").replace(",", " ").split()
    try:
        if typed:
            ids = review.resolve_ids(store, typed)
            scope = f"{len(ids)} example(s) by id"
        else:
            f = make_filter(status, domain, query, origin)
            ids = [e.id for e in review.matching(store, f)]
            scope = f"{len(ids)} example(s) matching {f.describe()}"
    except IdiolectError as e:
        return {"bulk_result": f"**Nothing selected:** {e}", "bulk_pending": None, "bulk_confirm": gr.update(
            visible=False), "bulk_cancel": gr.update(visible=False)}
    if not ids:
        return {"bulk_result": f"No example matches ({scope}); nothing to {action}.", "bulk_pending": None,
                "bulk_confirm": gr.update(visible=False), "bulk_cancel": gr.update(visible=False)}
    verb = action.capitalize()
    return {"bulk_result": f"**{verb} {scope}?** Press *Confirm* to {action} them, or *Cancel*.",
            "bulk_pending": {"action": action, "ids": ids, "scope": scope},
            "bulk_confirm": gr.update(visible=True, value=f"Confirm: {action} {len(ids)}"),
            "bulk_cancel": gr.update(visible=True)}


def bulk_confirm(store: Any, pending: dict[str, Any] | None) -> dict[str, Any]:
    """Apply the previewed action to exactly the previewed ids."""
    hide = {"bulk_pending": None, "bulk_confirm": gr.update(visible=False), "bulk_cancel": gr.update(visible=False)}
    if not pending:
        return {**hide, "bulk_result": "Nothing to confirm: press Approve or Reject all matching first."}
    status = "approved" if pending["action"] == "approve" else "rejected"
    try:
        changed = review.set_status(store, pending["ids"], status)
    except IdiolectError as e:
        return {**hide, "bulk_result": f"**Stopped:** {e}"}
    return {**hide, "bulk_ids": "",
            "bulk_result": f"{status.capitalize()} {pending['scope']} ({changed} changed). "
                           f"{review.progress_line(review.progress(store))}."}


def bulk_cancel() -> dict[str, Any]:
    return {"bulk_result": "Cancelled; nothing changed.", "bulk_pending": None,
            "bulk_confirm": gr.update(visible=False), "bulk_cancel": gr.update(visible=False)}
