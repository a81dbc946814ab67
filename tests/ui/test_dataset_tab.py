"""Dataset tab handlers and `idiolect dataset …` commands, on a real store, scrubber and embedder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gradio as gr
import pytest
import typer
from typer.testing import CliRunner

from core.schemas import Example, ExampleStatus, PreferencePair, Scores
from ui.tabs import dataset as tab

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TOPICS = [("architecture", "event buses"), ("reasoning", "sunk costs"), ("electrical", "breakers"),
          ("coding", "retries"), ("philosophy", "free will"), ("architecture", "queues"),
          ("reasoning", "base rates"), ("architecture", "caches"), ("reasoning", "priors"),
          ("philosophy", "identity")]


def seed(store, n: int = 10) -> list[Example]:
    out = []
    for i in range(n):
        domain, topic = TOPICS[i % len(TOPICS)]
        out.append(store.examples.add(Example(
            prompt=f"What's your honest take on {topic}? (#{i})",
            reasoning=f"He'd reach for a shop-floor comparison on {topic}, then the numbers; case {i}.",
            response=(f"{topic.capitalize()} are like a breaker panel: " if i % 2 == 0 else f"On {topic}: ")
            + " ".join(f"v{i}q{j}" for j in range(14)) + ".",
            domain=domain, conversation_id=f"conv-{i // 2}", scores=Scores(overall=6 + i % 4),
            status=ExampleStatus.approved if i < n - 2 else ExampleStatus.pending,
            created_at=T0 + timedelta(days=i), source_message_ids=["msg-missing"], model="claude-x",
        )))
    return out


def test_search_open_edit_approve_reject(services) -> None:
    store = services.store
    exs = seed(store)
    got = tab.search_examples(store, "pending", "any", "")
    assert len(got["table"]) == 2 and set(got["shown_ids"]) == {exs[8].id, exs[9].id}
    assert "8 of 10 reviewed (8 approved, 0 rejected, 2 pending)" in got["counts"]
    found = tab.search_examples(store, "any", "electrical", "breakers")
    assert found["shown_ids"] == [exs[2].id]

    picked = tab.row_id(got["table"], [0, 3])
    opened = tab.open_example(store, picked)
    assert opened["current"] == picked and "model claude-x" in opened["provenance"]
    assert "no longer in the store" in opened["provenance"] and "{" not in opened["provenance"]

    after = tab.save_edits(store, picked, "New prompt?", "New reasoning here, long enough.", "New response text.",
                           "coding")
    assert after["prompt"] == "New prompt?" and after["domain"] == "coding"
    assert store.examples.get(picked).edits[-1]["changes"]["prompt"]["after"] == "New prompt?"
    assert "owner: edited prompt" in after["provenance"]  # the edit log, readable
    assert "approved" in tab.set_status(store, picked, "approved")["status"]
    assert "rejected" in tab.set_status(store, picked, "rejected")["status"]
    with pytest.raises(gr.Error, match="empty"):
        tab.save_edits(store, picked, " ", "r", "a", "coding")
    with pytest.raises(gr.Error, match="Open an example"):
        tab.set_status(store, None, "approved")
    with pytest.raises(gr.Error):
        tab.open_example(store, "nope")


def test_bulk_actions_on_a_filter_need_a_confirmed_count(services) -> None:
    store = services.store
    exs = seed(store)
    preview = tab.bulk_preview(store, "reject", "", "approved", "reasoning", "")
    ids = preview["bulk_pending"]["ids"]
    assert len(ids) == 2 and "**Reject 2 example(s) matching status=approved, domain=reasoning?**" in \
        preview["bulk_result"]
    assert all(store.examples.get(i).status == ExampleStatus.approved for i in ids)  # nothing changed yet
    late = seed(store, 1)[0]  # added after the preview: the confirmation must not touch it
    store.examples.update(late.id, domain="reasoning", status=ExampleStatus.approved)
    done = tab.bulk_confirm(store, preview["bulk_pending"])
    assert done["bulk_result"].startswith("Rejected 2 example(s)") and "reviewed" in done["bulk_result"]
    assert all(store.examples.get(i).status == ExampleStatus.rejected for i in ids)
    assert store.examples.get(late.id).status == ExampleStatus.approved
    assert store.examples.get(ids[0]).edits[-1]["changes"]["status"] == {"before": "approved", "after": "rejected"}
    typed = tab.bulk_preview(store, "approve", f"{exs[8].id[:8]}, {exs[9].id}", "any", "any", "")
    assert typed["bulk_pending"]["ids"] == [exs[8].id, exs[9].id]  # prefixes resolve to full ids
    tab.bulk_confirm(store, typed["bulk_pending"])
    assert store.examples.get(exs[9].id).status == ExampleStatus.approved
    assert "Nothing selected" in tab.bulk_preview(store, "approve", "zzzzzzzz", "any", "any", "")["bulk_result"]
    none = tab.bulk_preview(store, "approve", "", "pending", "any", "no such text anywhere")
    assert none["bulk_pending"] is None and "nothing to approve" in none["bulk_result"]
    assert tab.bulk_cancel()["bulk_pending"] is None
    assert "Nothing to confirm" in tab.bulk_confirm(store, None)["bulk_result"]


def test_keyboard_review_moves_through_the_pending_queue(services) -> None:
    store = services.store
    seed(store, 6)  # 4 approved, 2 pending
    listing = tab.search_examples(store, "any", "any", "")
    assert "4 of 6 reviewed (4 approved, 0 rejected, 2 pending)" in listing["counts"]
    queue = tab.table_ids(listing["table"])
    first_pending = next(i for i in queue if store.examples.get(i).status == ExampleStatus.pending)
    nxt = tab.step(store, queue, None, 1)
    assert nxt["current"] == queue[0]
    prev = tab.step(store, queue, queue[2], -1)
    assert prev["current"] == queue[1]
    moved = tab.set_status(store, first_pending, "approved", queue)
    assert moved["current"] != first_pending and store.examples.get(moved["current"]).status == ExampleStatus.pending
    assert "5 of 6 reviewed" in moved["review_note"]
    last = tab.set_status(store, moved["current"], "rejected", queue)
    assert "Nothing left to review" in last["review_note"]
    assert "6 of 6 reviewed (5 approved, 1 rejected, 0 pending)" in tab.search_examples(store, "any", "any", "")[
        "counts"]
    assert "A</strong>" not in tab.KEYS_JS and "dataset-approve" in tab.KEYS_JS


def test_provenance_names_the_conversation_date_and_text(services) -> None:
    from agent.ingest import import_exports
    from tests.conftest import EXPORTS

    store = services.store
    import_exports([EXPORTS / "claude"], store=store, scrubber=services.scrubber)
    conv = store.conversations.list_conversations()[0]
    msg = next(m for m in store.conversations.messages_of(conv["id"]) if m.role.value == "person" and m.parent_id)
    ex = store.examples.add(Example(prompt="Q?", reasoning="r", response="A.", source_message_ids=[msg.id],
                                    conversation_id=conv["id"]))
    md = tab.open_example(store, ex.id)["provenance"]
    assert f"“{conv['title']}”" in md and msg.created_at.strftime("%Y-%m-%d") in md
    assert msg.own_text.split()[0] in md and "your message #" in md and "answering the assistant" in md
    assert msg.id not in md  # readable, not raw ids


def test_report_card_plots_and_snapshot(services) -> None:
    from matplotlib.figure import Figure

    seed(services.store)
    r = tab.refresh_report(services, semantic=True)
    assert "| examples | 8 | >= 2000 | FAIL |" in r["card"]
    assert "| with reasoning | 100.0% (optional) | not trained by this preset's model family | PASS |" in r["card"]
    assert "QC kept 8 of 8" in r["qc"]
    assert all(isinstance(r[k], Figure) for k in ("domains", "scores", "growth"))
    snap = tab.take_snapshot(services, 0, 0.25, "first", semantic=False)["snapshot_result"]
    assert "New snapshot **v1**" in snap
    again = tab.take_snapshot(services, 0, 0.25, "first", semantic=False)["snapshot_result"]
    assert "Data unchanged" in again and "v1" in again


def test_build_renders_and_wires_every_control(services) -> None:
    with gr.Blocks() as demo, gr.Tab(tab.LABEL):
        tab.build(services)
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    clicked = {target for f in demo.fns.values() for target in f.targets}
    buttons = ("refresh", "search", "prev", "approve", "reject", "save", "next", "bulk-approve", "bulk-reject",
               "bulk-confirm", "bulk-cancel", "snapshot", "export", "suggest-domains", "apply-domains")
    for name in buttons:
        assert (by_id[f"dataset-{name}"]._id, "click") in clicked, name
    # Approving writes back into the review editor; a snapshot reports into its own result.
    outputs = {t: {o.elem_id for o in f.outputs} for f in demo.fns.values() for t in f.targets}
    assert {"dataset-response", "dataset-provenance"} <= outputs[(by_id["dataset-approve"]._id, "click")]
    assert outputs[(by_id["dataset-snapshot"]._id, "click")] == {"dataset-snapshot-result"}
    assert (by_id["dataset-table"]._id, "select") in clicked


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli():
    from ui.cli import _Group
    from ui.commands.dataset import register

    app = typer.Typer(cls=_Group)
    register(app)

    @app.callback()
    def _root() -> None:  # keeps `dataset` a subcommand even with one group registered
        pass

    return app


def test_cli_report_snapshot_export_list(cli, services, tmp_path: Path) -> None:
    seed(services.store)
    services.store.examples.add_pair(PreferencePair(prompt="Own or rent?", chosen="Own, like a truck.",
                                                    rejected="It depends."))
    run = CliRunner().invoke
    r = run(cli, ["dataset", "report", "--json", "--no-semantic", "--plots", str(tmp_path / "plots")],
            obj=services)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["report"]["n_examples"] == 8 and data["report"]["passed"] is False
    assert sorted(Path(p).name for p in data["plots"]) == ["domains.png", "growth.png", "scores.png"]
    assert (tmp_path / "plots" / "scores.png").read_bytes()[:4] == b"\x89PNG"

    r = run(cli, ["dataset", "snapshot", "--seed", "3", "--validation", "0.25", "--json", "--no-semantic"],
            obj=services)
    assert r.exit_code == 0, r.output
    snap = json.loads(r.stdout)
    assert snap["created"] and snap["version"] == 1 and snap["n_preferences"] == 1

    out = tmp_path / "exp"
    r = run(cli, ["dataset", "export", "--format", "messages", "--target-model", "ServiceNow-AI/Apriel-1.5-15b-Thinker",
                  "--out", str(out), "--json"], obj=services)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["family"] == "apriel-1.5" and summary["id"] == snap["id"]
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][-1]["content"].startswith("Here are my reasoning steps:\n")

    r = run(cli, ["dataset", "export", "--format", "hf", "--target-model", "minimax-m2",
                  "--out", str(tmp_path / "hf"), "--json"], obj=services)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["files"] == ["preferences", "sft"]
    assert (tmp_path / "hf" / "sft" / "dataset_dict.json").exists()
    r = run(cli, ["dataset", "export", "--format", "hf", "--out", str(tmp_path / "hf2"),
                  "--push-to-hub", "me/ds", "--hf-token", "x"], obj=services)
    assert r.exit_code != 0 and "offline" in r.output

    r = run(cli, ["dataset", "list", "--json"], obj=services)
    assert [s["version"] for s in json.loads(r.stdout)] == [1]

    r = run(cli, ["dataset", "export", "--target-model", "gpt-2", "--out", str(tmp_path / "x")], obj=services)
    assert r.exit_code != 0 and "known families" in r.output
    r = run(cli, ["dataset", "export", "--format", "messages", "--out", str(tmp_path / "y"),
                  "--push-to-hub", "me/ds"], obj=services)
    assert r.exit_code != 0 and "--format hf" in r.output


def test_cli_export_without_snapshot_is_one_clear_line(cli, services) -> None:
    r = CliRunner().invoke(cli, ["dataset", "export"], obj=services)
    assert r.exit_code != 0 and "no dataset snapshot yet" in r.output and "Traceback" not in r.output
    assert "Hint: make one with `idiolect dataset snapshot`" in r.output


def test_export_button_says_where_and_what_is_missing(services) -> None:
    seed(services.store)
    missing = tab.export_view(services, "", "messages", "qwen3")["export_result"]
    assert missing.startswith("**Nothing exported:** no dataset snapshot yet") and "Make a snapshot" in missing
    assert "idiolect" not in missing and "--" not in missing
    tab.take_snapshot(services, 0, 0.25, "", False)
    done = tab.export_view(services, "", "sharegpt", "qwen3")["export_result"]
    folder = done.split("Folder: `")[1].split("`")[0]
    assert "Exported snapshot **v1** as sharegpt for qwen3" in done
    assert folder.startswith(str(services.settings.home / "exports")) and (Path(folder) / "train.jsonl").exists()
    assert "unknown export format" in tab.export_view(services, "", "csv", "qwen3")["export_result"]
    assert "no snapshot with version 7" in tab.export_view(services, "7", "messages", "qwen3")["export_result"]


def test_domains_from_history_suggest_then_apply(services) -> None:
    import tomllib

    from agent.ingest import import_exports
    from agent.profile import refresh_profile
    from ui.sample import sample_paths

    empty = tab.suggest_domains_view(services)
    assert empty["domains_table"].empty and "Import tab" in empty["domains_status"]
    import_exports([str(p) for p in sample_paths()], store=services.store, scrubber=services.scrubber, index=None)
    refresh_profile(services.store)
    shown = tab.suggest_domains_view(services)
    table = shown["domains_table"]
    assert len(table) >= 4 and "Apply" in shown["domains_status"]
    table.loc[0, "domain"] = "framing"  # the owner edits before applying
    applied = tab.apply_domains_view(services, table)["domains_status"]
    assert applied.startswith(f"Applied {len(table)} domains to `")
    data = tomllib.loads((services.settings.home / "idiolect.toml").read_text())
    assert list(data["domains"])[0] == "framing" and "framing" in services.settings.domains
    assert data["domain_keywords"]["framing"] == [k.strip() for k in table.loc[0, "keywords"].split(",")]
    bad = table.copy()
    bad["share"] = 0
    assert "Not applied" in tab.apply_domains_view(services, bad)["domains_status"]
    assert "Nothing to apply" in tab.apply_domains_view(services, None)["domains_status"]
