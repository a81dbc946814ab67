"""Dataset tab, curation: the report card, snapshots, the export button and domains from your history.

Handlers are module-level functions over explicit inputs returning dicts keyed by component
name. Errors become one line naming the cause and the next step inside the app.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.errors import IdiolectError, NotFound
from core.schemas import ExampleStatus

EXPORT_FORMATS = ["messages", "sharegpt", "axolotl", "llamafactory", "hf"]
FAMILIES = ["qwen3", "deepseek-r1", "apriel-1.5", "minimax-m2", "none"]
DOMAIN_COLUMNS = ["domain", "share", "keywords", "for example"]


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
    from training.dataset.report_card import assess, plots
    from ui.ops.dataset import qc_callables

    exs = services.store.examples.list(status=ExampleStatus.approved)
    _kept, qc, card = assess(exs, services.settings, **qc_callables(services, semantic))
    figs = plots(card)
    return {"card": card.to_markdown(), "qc": qc_markdown(qc), "domains": figs["domains"],
            "scores": figs["scores"], "growth": figs["growth"]}


def take_snapshot(services: Any, seed: float, validation: float, note: str, semantic: bool) -> dict[str, Any]:
    """Freeze the approved examples into a versioned snapshot (checked for approved examples first)."""
    from training.dataset.snapshots import create_snapshot
    from ui.ops.dataset import qc_callables

    if not services.store.examples.counts().get("status", {}).get("approved"):
        return {"snapshot_result": "**No snapshot made:** no example is approved yet. Review the examples above "
                                   "(press A to approve), then make the snapshot."}
    try:
        snap, created = create_snapshot(services.store, services.settings, seed=int(seed),
                                        validation_fraction=float(validation), note=note or "",
                                        **qc_callables(services, semantic))
    except IdiolectError as e:
        return {"snapshot_result": f"**No snapshot made:** {e}"}
    head = "New snapshot" if created else "Data unchanged since snapshot"
    return {"snapshot_result": f"{head} **v{snap.version}** (`{snap.id[:12]}`): {snap.n_train} train · "
                               f"{snap.n_validation} validation · {snap.n_preferences} pairs  \n`{snap.path}`\n\n"
                               "Train on it in the Training tab, or export it for another trainer below."}


def export_view(services: Any, snapshot_ref: str, fmt: str, family: str) -> dict[str, Any]:
    """Export a snapshot (latest when blank) as `fmt` for `family`; says where the folder is."""
    from ui.ops.dataset import export_dataset

    try:
        snap, summary = export_dataset(services, fmt=fmt or "messages", target_model=family or "qwen3",
                                       snapshot_ref=(snapshot_ref or "").strip() or None)
    except NotFound as e:
        why = str(e)
        step = ("Press **Make a snapshot** in the Snapshot section above first." if "yet" in why
                else "Leave the snapshot blank for the latest, or give its version number.")
        return {"export_result": f"**Nothing exported:** {why}. {step}"}
    except IdiolectError as e:
        return {"export_result": f"**Nothing exported:** {e}"}
    files = ", ".join(f"`{f}`" for f in summary["files"])
    return {"export_result": f"Exported snapshot **v{snap.version}** as {fmt} for {summary.get('family', family)}: "
                             f"{summary['n_train']} train, {summary['n_validation']} validation, "
                             f"{summary['n_preferences']} pairs.\n\nFolder: `{summary['path']}`  \nFiles: {files}"}


def snapshot_choices(store: Any) -> list[str]:
    return [""] + [str(s.version) for s in store.snapshots.list()]


def suggest_domains_view(services: Any) -> dict[str, Any]:
    """Domains suggested from the person's own conversations, as an editable table."""
    from ui.ops.profile import domain_suggestions

    try:
        rows = domain_suggestions(services, refresh=True)
    except IdiolectError as e:
        return {"domains_table": pd.DataFrame(columns=DOMAIN_COLUMNS),
                "domains_status": f"**No suggestion:** {e}. Import your exports in the Import tab first."}
    now = ", ".join(f"{k} {v:g}%" for k, v in services.settings.domains.items())
    table = pd.DataFrame([[r["name"], r["share"], ", ".join(r["keywords"]), "; ".join(r["conversations"][:2])]
                          for r in rows], columns=DOMAIN_COLUMNS)
    return {"domains_table": table,
            "domains_status": f"Suggested from {len(rows)} topics in your conversations (now: {now}). Edit names, "
                              "shares (percent) and keywords (word prefixes, comma-separated), then **Apply**."}


def apply_domains_view(services: Any, table: pd.DataFrame | None) -> dict[str, Any]:
    """Write the (edited) table to idiolect.toml's [domains] and [domain_keywords]; the app uses them at once."""
    from ui.ops.settings_file import apply_domains, env_overrides

    if table is None or len(table) == 0:
        return {"domains_status": "Nothing to apply: press **Suggest domains** first."}
    rows = [{"name": str(r["domain"]), "share": r["share"], "keywords": str(r["keywords"] or "")}
            for r in table.to_dict("records") if str(r.get("domain") or "").strip()]
    try:
        path = apply_domains(services.settings, rows)
    except IdiolectError as e:
        return {"domains_status": f"**Not applied:** {e}"}
    warn = "".join(f" Note: {n} is set in the environment and outranks the file after a restart."
                   for n in env_overrides())
    return {"domains_status": f"Applied {len(rows)} domains to `{path}` (the rest of the file is unchanged). "
                              f"The report card and new examples use them now.{warn}"}
