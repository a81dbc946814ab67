"""Import end to end through the CLI: JSON summaries, re-import, updates, search, profile, no egress."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

from typer.testing import CliRunner

from tests.conftest import EXPORTS, REPO
from ui.cli import app

RUNNER = CliRunner()


def _json(services, *args) -> dict:
    res = RUNNER.invoke(app, [*args, "--json"], obj=services)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_import_and_status_json(services, no_network) -> None:
    s = _json(services, "import", "--follow", str(EXPORTS / "chatgpt-export.zip"), str(EXPORTS / "claude-export.zip"))
    assert (s["conversations"], s["person_messages"], s["assistant_messages"]) == (24, 46, 46)
    assert (s["abandoned_person_messages"], s["abandoned_assistant_messages"]) == (2, 3)
    assert s["chunks_indexed"] > 40 and s["chunks_embedded"] == s["chunks_indexed"]
    st = _json(services, "status")
    assert (st["conversations"], st["person_messages"], st["assistant_messages"]) == (24, 46, 46)
    assert st["redactions"] == s["redactions"]
    assert st["chunks_indexed"] == st["chunks_embedded"] == st["dense_index"]["embedded"] == s["chunks_indexed"]
    assert st["dense_index"]["filling"] is False and st["chunks_pending_embedding"] == 0


def test_reimport_unchanged_is_free_and_a_newer_export_updates_by_id(services, tmp_path) -> None:
    first = _json(services, "import", "--follow", str(EXPORTS / "chatgpt"))
    again = _json(services, "import", "--follow", str(EXPORTS / "chatgpt"))
    assert again["conversations_unchanged"] == 12 and again["chunks_indexed"] == 0
    assert again["seconds"] < first["seconds"]
    # The same account's newer export: one conversation grew a turn, the rest unchanged.
    convs = json.loads((EXPORTS / "chatgpt" / "conversations.json").read_text("utf-8"))
    newer = copy.deepcopy(convs)
    c = next(c for c in newer if c["conversation_id"] == "67c501e7-f337-842b-9ce1-ded3f16a3a50")
    leaf = c["current_node"]
    c["mapping"][leaf]["children"] = ["extra-node"]
    c["mapping"]["extra-node"] = {"id": "extra-node", "parent": leaf, "children": [], "message": {
        "id": "extra-node", "author": {"role": "user"}, "create_time": c["update_time"] + 60,
        "content": {"content_type": "text", "parts": ["One more thing: the bus needs a dead-letter queue."]},
        "recipient": "all", "metadata": {}}}
    c["current_node"] = "extra-node"
    c["update_time"] += 60
    d = tmp_path / "newer"
    d.mkdir()
    (d / "conversations.json").write_text(json.dumps(newer))
    upd = _json(services, "import", "--follow", str(d))
    assert (upd["conversations_updated"], upd["conversations_unchanged"]) == (1, 11)
    st = _json(services, "status")
    assert st["conversations"] == 12 and st["person_messages"] == 23
    # An older copy of that conversation does not overwrite the newer one.
    older = _json(services, "import", "--no-index", str(EXPORTS / "chatgpt-export.zip"))
    assert older["conversations_updated"] == 0
    assert _json(services, "status")["person_messages"] == 23


def test_search_finds_the_persons_words_with_context(services, no_network) -> None:
    _json(services, "import", "--follow", str(EXPORTS / "claude"))
    out = _json(services, "search", "wiring a subpanel for the GPU room", "-k", "3")
    hits = out["hits"]
    assert hits and hits[0]["conversation_title"] == "Subpanel for the GPU room"
    assert len({h["message_id"] for h in hits}) == len(hits)  # diverse: one hit per message
    assert all(h["context"] or h["conversation_title"] for h in hits)


def test_profile_and_editable_style_card(services, tmp_path, no_network) -> None:
    _json(services, "import", "--no-index", str(EXPORTS / "chatgpt"), str(EXPORTS / "claude"))
    prof = _json(services, "profile")
    assert prof["profile"]["messages"] > 30 and prof["profile"]["signature_phrases"]
    assert 0 < prof["profile"]["question_rate"] < 1
    card = tmp_path / "card.md"
    card.write_text("Blunt. Electrician analogies. No bullet points.")
    edited = _json(services, "profile", "--set-card", str(card))
    assert edited["style_card"]["edited"] and edited["style_card"]["text"].startswith("Blunt.")
    refreshed = _json(services, "profile", "--refresh")
    assert refreshed["style_card"]["text"].startswith("Blunt.")  # refresh keeps the owner's edit


def test_generic_jsonl_and_markdown(services, tmp_path) -> None:
    (tmp_path / "chat.jsonl").write_text(
        '{"role": "user", "content": "Why do you self-host?", "conversation_id": "g1"}\n'
        '{"role": "assistant", "content": "Control.", "conversation_id": "g1"}\n')
    (tmp_path / "talk.md").write_text("# Shop talk\n\n## User\nPlane with the grain.\n\n## Assistant\nNoted.\n")
    s = _json(services, "import", "--no-index", str(tmp_path / "chat.jsonl"), str(tmp_path / "talk.md"))
    assert (s["conversations"], s["person_messages"], s["assistant_messages"]) == (2, 2, 2)


def test_app_starts_without_egress(services, no_network) -> None:
    import httpx

    from ui.app import build_app, launch

    demo = launch(build_app(services), services, host="127.0.0.1", port=0 or _free_port(), block=False)
    try:
        r = httpx.get(demo.local_url, timeout=10)
        assert r.status_code == 200 and "idiolect" in r.text
    finally:
        demo.close()


def test_app_refuses_public_bind_without_accounts(services) -> None:
    import pytest

    from core.errors import ConfigError
    from ui.app import build_app, launch

    with pytest.raises(ConfigError, match="rater accounts"):
        launch(build_app(services), services, host="0.0.0.0", port=_free_port(), block=False, auth=[])


def test_import_layers_contract() -> None:
    """Every import-linter contract in pyproject.toml: the layers, torch & co. only under training/, ui.tabs and
    ui.commands apart, ui.ops free of gradio/typer/rich."""
    res = subprocess.run([sys.executable, "-m", "importlinter.cli", "--no-cache"], cwd=REPO,
                         capture_output=True, text=True)
    if "No module named importlinter.cli" in res.stderr:
        res = subprocess.run([str(REPO / ".venv" / "bin" / "lint-imports"), "--no-cache"], cwd=REPO,
                             capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
