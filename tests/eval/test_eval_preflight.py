"""An evaluation checks its preconditions before generating anything, and says what to do next."""

from __future__ import annotations

import json
import socket

import pytest

from core.schemas import ModelKind, ModelRecord
from tests.fakes.openai_chat import fake_openai


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def _register(store, url: str) -> None:  # type: ignore[no-untyped-def]
    store.registry.add_model(ModelRecord(name="base", kind=ModelKind.base, base_model="tiny", endpoint=url,
                                         served_name="base-model"))


def test_too_little_text_is_refused_before_any_generation(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.ingest import import_exports
    from eval.runner import EvalNotReady, EvalOptions, run_eval
    from ui.tabs import eval as tab

    with fake_openai({"base-model": "An answer."}) as srv:
        _register(services.store, srv.url)
        with pytest.raises(EvalNotReady, match="no person messages") as no_data:
            run_eval(services.store, services.settings, ["base"], client_for=lambda u: None, opts=EvalOptions())
        assert no_data.value.need == "data" and "idiolect import" in no_data.value.hint
        lines = []  # two short conversations: four of her messages in all
        for c, day in (("older", "2026-01-01"), ("newer", "2026-02-01")):
            for i in range(2):
                lines.append({"conversation_id": c, "title": c, "role": "assistant", "created_at": f"{day}T10:0{i}:00Z",
                              "content": f"What would you do about the {c} barn, part {i}?"})
                lines.append({"conversation_id": c, "title": c, "role": "user", "created_at": f"{day}T10:0{i}:30Z",
                              "content": f"Brace it first, then talk money; the {c} one, step {i}."})
        export = tmp_path / "tiny.jsonl"
        export.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
        import_exports([export], store=services.store, scrubber=services.scrubber)
        person = [m for m in services.store.conversations.messages(role="person") if m.own_text.strip()]
        assert len(person) == 4 and len({m.conversation_id for m in person}) == 2
        with pytest.raises(EvalNotReady, match="too little of your text") as small:
            run_eval(services.store, services.settings, ["base"], client_for=lambda u: None, opts=EvalOptions())
        assert small.value.need == "data" and "held-out person texts" in str(small.value)
        status = tab.run_view(services, "base", False)["status"]
        assert status.startswith("**Not run:** too little of your text") and "Import tab" in status
        assert srv.requests == []  # nothing was generated first


def test_a_base_model_nobody_serves_is_named_with_the_next_step(services) -> None:  # type: ignore[no-untyped-def]
    from eval.runner import EvalNotReady, EvalOptions, run_eval
    from ui.tabs import eval as tab

    status = tab.run_view(services, "base", False)["status"]
    assert "no base model is served yet" in status and "Start the local model" in status and "--" not in status
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    _register(services.store, url)
    with pytest.raises(EvalNotReady, match=r"registered at .* but nothing answers") as down:
        run_eval(services.store, services.settings, ["base"], client_for=lambda u: None, opts=EvalOptions())
    assert down.value.need == "base"
    assert "Start the local model" in tab.run_view(services, "base", False)["status"]
    judged = tab.run_view(services, "base", True)["status"]  # judges without a judge model: said first
    assert "LLM judges need a judge model" in judged
