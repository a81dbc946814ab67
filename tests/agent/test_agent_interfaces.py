"""`idiolect chat | mine | examples` in the terminal and the Chat tab's handlers, on the real graph."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from tests.agent.dialogue import script
from tests.fakes.chat_models import ScriptedChat


def test_cli_chat_dialogue_then_examples_counts(services) -> None:  # type: ignore[no-untyped-def]
    from ui.cli import app

    services.__dict__["llm"] = ScriptedChat(script=script())
    services.__dict__["judge"] = None
    res = CliRunner().invoke(app, ["chat", "--thread", "t1"], obj=services,
                             input="draft 3 on why I self-host\napprove 1 and 3, make 2 more casual\napprove\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "draft 1 (v1)" in res.output and "draft 2 (v2)" in res.output and "Saved 3 of 3" in res.output
    res = CliRunner().invoke(app, ["examples", "list", "--counts", "--json"], obj=services)
    assert json.loads(res.output)["status"] == {"approved": 3}


def test_cli_mine_json(services) -> None:  # type: ignore[no-untyped-def]
    from agent.ingest import import_exports
    from agent.scrub import Scrubber
    from tests.conftest import EXPORTS
    from ui.cli import app

    import_exports([EXPORTS / "claude", EXPORTS / "chatgpt"], store=services.store, scrubber=Scrubber())
    res = CliRunner().invoke(app, ["mine", "--json"], obj=services)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"asked": 1, "views": 7, "pairs": 3, "created_examples": 8,
                                      "created_pairs": 3, "backtranslation_failures": 0}


def test_generate_without_llm_is_one_clear_line(services) -> None:  # type: ignore[no-untyped-def]
    from ui.cli import app

    res = CliRunner().invoke(app, ["generate", "--n", "3"], obj=services)
    assert res.exit_code != 0 and "no LLM is configured" in res.output
    res = CliRunner().invoke(app, ["generate", "--n", "3", "--mix", "poetry=1"], obj=services)
    assert "unknown domain 'poetry'" in res.output


def test_chat_tab_handlers_drive_the_graph(services) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from ui.tabs.chat import build, cards_markdown, decision_from_form, send_turn

    services.__dict__["llm"] = ScriptedChat(script=script())
    services.__dict__["judge"] = None
    history, review = asyncio.run(send_turn(services, "tab", [], None, text="draft 3 on why I self-host"))
    assert review["numbers"] == [1, 2, 3] and "3 draft(s) ready" in history[-1]["content"]
    md = cards_markdown(review)
    assert "Draft 2 (v1)" in md and "overall 8.0" in md
    decision = decision_from_form(review, ["1", "3"], [], None, None, "", "make it more casual")
    assert decision == {"approve": [1, 3], "reject": [], "revise": {2: "make it more casual"}}
    history, review = asyncio.run(send_turn(services, "tab", history, review, reply=decision))
    assert review["numbers"] == [2] and review["drafts"][0]["version"] == 2
    history, review = asyncio.run(send_turn(services, "tab", history, review,
                                            reply=decision_from_form(review, ["2"], [], None, None, "", "")))
    assert review is None and "Saved 3 of 3" in history[-1]["content"]
    assert len(services.store.examples.list(status="approved")) == 3
    with gr.Blocks() as demo:
        build(services)
    # The built tab wires the same handlers: send and decide update the review controls...
    fns = {f.name: f for f in demo.fns.values()}
    assert {"on_message", "on_decide"} <= set(fns)
    checkboxes = {o.elem_id for o in fns["on_decide"].outputs if o.elem_id}
    assert checkboxes == {"chat-approve", "chat-reject"}
    assert checkboxes == {o.elem_id for o in fns["on_message"].outputs if o.elem_id}
    events = sorted(ev for f in demo.fns.values() if f.name == "on_message" for _id, ev in f.targets)
    assert events == ["click", "submit"]  # the Send button and Enter in the box

    # ...and a decision sent with nothing waiting says so instead of touching the store.
    async def decide_nothing() -> list:
        return [u async for u in fns["on_decide"].fn(history, None, "tab", ["1"], [], None, None, "", "")]

    updates = asyncio.run(decide_nothing())
    assert len(updates) == 1 and any("No drafts are waiting" in str(v) for v in updates[0].values())
    assert len(services.store.examples.list(status="approved")) == 3
