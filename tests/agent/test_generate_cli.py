"""`idiolect generate --batch` end to end through the CLI, against a fake Anthropic Batches API."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from core.config import Settings
from tests.fakes.llm_servers import FakeAnthropic, FakeOpenAI
from tests.fakes.persona import persona_responder
from ui.cli import _Group
from ui.commands.agent import register
from ui.services import Services


def _cli() -> typer.Typer:
    app = typer.Typer(cls=_Group)
    register(app)
    return app


def test_generate_batch_runs_to_done_through_message_batches(settings: Settings, embedder) -> None:
    with FakeAnthropic(persona_responder, batch_polls=2) as srv:
        s = Settings(home=settings.home, llm_provider="anthropic", anthropic_api_key="test-key",
                     llm_base_url=srv.url, llm_model="claude-sonnet-4-6")
        sv = Services(s, embedder=embedder)
        r = CliRunner().invoke(_cli(), ["generate", "--n", "4", "--mix", "coding=1", "--batch",
                                        "--poll-seconds", "0", "--json"], obj=sv)
        creates = [q for q in srv.requests if "requests" in q]
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout[r.stdout.index("{"):])
    assert report["status"] == "done" and report["done"] == 4 and report["created"] == 4
    assert len(creates) == 2  # one batch of drafts, one of scores
    stored = sv.store.examples.list(run_id=report["run_id"])
    assert len(stored) == 4 and {e.domain for e in stored} == {"coding"}
    # Each stored example was embedded on the way in, so QC will not embed it again.
    assert sv.store.embeddings.count(s.embedding_model) == 4
    sv.close()


def test_generate_batch_refuses_a_provider_without_batches(settings: Settings, embedder) -> None:
    with FakeOpenAI(persona_responder) as srv:
        s = Settings(home=settings.home, llm_provider="openai", llm_base_url=srv.url + "/v1",
                     openai_api_key="test-key", llm_model="local-8b")
        sv = Services(s, embedder=embedder)
        r = CliRunner().invoke(_cli(), ["generate", "--n", "2", "--batch", "--poll-seconds", "0"], obj=sv)
    assert r.exit_code != 0 and "--batch needs the Anthropic provider" in r.output
    assert sv.store.examples.list() == []  # nothing half-stored
    sv.close()
