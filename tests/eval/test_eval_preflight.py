"""An evaluation checks its preconditions before generating anything, and says what to do next."""

from __future__ import annotations

import socket

import pytest

from core.schemas import ModelKind, ModelRecord
from tests.conftest import EXPORTS
from tests.fakes.openai_chat import fake_openai


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def _register(store, url: str) -> None:  # type: ignore[no-untyped-def]
    store.registry.add_model(ModelRecord(name="base", kind=ModelKind.base, base_model="tiny", endpoint=url,
                                         served_name="base-model"))


def test_too_little_text_is_refused_before_any_generation(services) -> None:  # type: ignore[no-untyped-def]
    from agent.ingest import import_exports
    from eval.runner import EvalNotReady, EvalOptions, run_eval
    from ui.tabs import eval as tab

    with fake_openai({"base-model": "An answer."}) as srv:
        _register(services.store, srv.url)
        with pytest.raises(EvalNotReady, match="no person messages") as no_data:
            run_eval(services.store, services.settings, ["base"], client_for=lambda u: None, opts=EvalOptions())
        assert no_data.value.need == "data" and "idiolect import" in no_data.value.hint
        import_exports([EXPORTS / "chatgpt"], store=services.store, scrubber=services.scrubber)
        person = [m for m in services.store.conversations.messages(role="person") if m.own_text.strip()]
        assert len({m.conversation_id for m in person}) >= 2
        with pytest.raises(EvalNotReady, match="too little of your text") as small:
            run_eval(services.store, services.settings, ["base"], client_for=lambda u: None,
                     opts=EvalOptions(max_heldout=1))
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
