"""The local provider's server: started on demand, reused by other processes, stopped only by its starter."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.config import Settings
from core.llm import ainvoke_structured
from core.llm_openai import OpenAICompatChat
from training.serving.local_server import LocalServer, healthy, names_for
from ui.services import Services


class Mood(BaseModel):
    # No extra keys, as the agent's schemas (agent/state.py): a JSON schema that allows additional
    # properties lets a guided model append keys forever (seen: 977 tokens of invented keys).
    model_config = ConfigDict(extra="forbid")

    mood: str = Field(pattern="^(calm|blunt)$")
    words: int = Field(ge=1, le=9)


def test_names_for_bundled_and_other_models() -> None:
    assert names_for("bundled:SmolLM2-135M-Instruct") == ("smollm2-135m-instruct", "SmolLM2-135M-Instruct")
    assert names_for("/models/Qwen3-8B") == ("qwen3-8b", "/models/Qwen3-8B")


def test_local_provider_starts_one_server_reuses_it_and_stops_only_its_own(settings, tiny_model: Path,
                                                                          no_network) -> None:
    local = Settings(home=settings.home, llm_provider="local", base_model=str(tiny_model))
    first = Services(local)
    try:
        llm = first.llm
        assert isinstance(llm, OpenAICompatChat) and llm.model == str(tiny_model)
        assert first.judge is llm  # the same provider and model: one client
        rec = first.store.registry.require_model(names_for(str(tiny_model))[0])
        assert rec.endpoint and healthy(rec.endpoint) and llm.base_url == rec.endpoint
        # The agent's structured calls come back schema-valid through the server's grammar,
        # even from a random-weight model.
        from langchain_core.messages import HumanMessage

        out = asyncio.run(ainvoke_structured(llm, [HumanMessage("How do you feel?")], Mood))
        assert out.value is not None and out.value.mood in ("calm", "blunt"), out.error

        # A second process (here: a second Services) finds the live server instead of starting one.
        second = Services(Settings(home=settings.home, llm_provider="local", base_model=str(tiny_model)))
        assert second.llm.base_url == rec.endpoint
        assert second.local_server.started is None
        second.close()  # not its server: it keeps running
        assert healthy(rec.endpoint)
        serve_jobs = [j for j in first.store.registry.list_jobs() if j.kind == "serve"]
        assert len(serve_jobs) == 1
    finally:
        first.close()
    assert not healthy(rec.endpoint)
    after = Services(settings)
    assert after.store.registry.require_model(rec.name).endpoint is None  # no stale endpoint left behind
    assert LocalServer(after.store, local).find() is None
    after.close()
