"""Bulk generation: exact mixes, concurrency, kill-and-restart with no duplicates, Message Batches."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from langchain_core.messages import BaseMessage

from agent.bulk import BulkSpec, allocate, parse_mix, run_bulk, run_bulk_batch, slot_key
from agent.context import Context
from core.config import Settings
from core.errors import ConfigError
from core.llm import make_chat_model
from core.llm_anthropic import AnthropicBatches
from core.schemas import ExampleOrigin, ExampleStatus
from core.store import Store
from tests.conftest import REPO
from tests.fakes.chat_models import Invalid, RuleChat
from tests.fakes.llm_servers import FakeAnthropic, FakeOpenAI
from tests.fakes.persona import persona_responder

DOMAINS = {"architecture": 30.0, "philosophy": 20.0, "reasoning": 30.0, "electrical": 10.0, "coding": 10.0}


def test_mix_allocation_is_exact_and_interleaved() -> None:
    mix = parse_mix("architecture=30,philosophy=20,reasoning=30,electrical=10,coding=10", DOMAINS)
    slots = allocate(2000, mix)
    assert Counter(slots) == {"architecture": 600, "philosophy": 400, "reasoning": 600,
                              "electrical": 200, "coding": 200}
    assert Counter(allocate(10, mix))["architecture"] == 3
    assert set(slots[:10]) == set(mix)  # any prefix is already balanced
    assert Counter(allocate(7, {"a": 1, "b": 1})) == {"a": 4, "b": 3}
    with pytest.raises(ConfigError, match="unknown domain 'poetry'"):
        parse_mix("poetry=10", DOMAINS)
    with pytest.raises(ConfigError, match="needs a number"):
        parse_mix("coding=lots", DOMAINS)


def _rules(fail_every: int = 0) -> dict:
    from tests.fakes.llm_servers import Ask

    seen = Counter()

    def draft(msgs: list[BaseMessage]) -> dict:
        seen["draft"] += 1
        if fail_every and seen["draft"] % fail_every == 0:
            return Invalid({"examples": []})  # invalid on purpose: fails validation
        return persona_responder(Ask(str(msgs[0].content), str(msgs[-1].content), "DraftBatch", None, {}))

    def rubric(msgs: list[BaseMessage]) -> dict:
        return persona_responder(Ask("", str(msgs[-1].content), "RubricBatch", None, {}))

    return {"DraftBatch": draft, "RubricBatch": rubric}


def test_bulk_runs_concurrently_counts_failures_and_resumes(store) -> None:  # type: ignore[no-untyped-def]
    llm = RuleChat(rules=_rules(fail_every=3), latency=0.01)
    ctx = Context(llm=llm, store=store, domains=list(DOMAINS), style_card="Blunt.", retries=0)
    spec = BulkSpec(n=9, mix={"architecture": 2, "coding": 1})
    first = asyncio.run(run_bulk(ctx, spec, concurrency=4))
    assert first.failed == 3 and first.done == 6 and first.status == "incomplete"
    llm.rules = _rules()
    second = asyncio.run(run_bulk(ctx, spec, concurrency=4))
    assert second.done == 9 and second.created == 3 and second.status == "done"
    stored = store.examples.list(run_id=spec.run_id())
    assert len(stored) == 9 and len({e.key for e in stored}) == 9
    assert Counter(e.domain for e in stored) == {"architecture": 6, "coding": 3}
    assert all(e.status is ExampleStatus.pending and e.origin is ExampleOrigin.bulk for e in stored)
    assert all(e.scores.overall == 7.0 and e.scores.checks["reasoning_present"] for e in stored)
    assert store.examples.bulk_run(spec.run_id())["status"] == "done"


def test_stored_examples_reach_the_on_saved_hook_and_warm_the_embedding_cache(store) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from core.embedcache import CachedEmbed, example_text, text_key

    def embed(texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32) / 2

    cache = CachedEmbed(embed, store, "m")
    ctx = Context(llm=RuleChat(rules=_rules(), latency=0.01), store=store, domains=list(DOMAINS),
                  style_card="Blunt.", retries=0, on_saved=cache.warm)
    spec = BulkSpec(n=5, mix={"architecture": 1})
    asyncio.run(run_bulk(ctx, spec, concurrency=2))
    stored = store.examples.list(run_id=spec.run_id())
    assert len(stored) == 5
    assert set(store.embeddings.get_many("m", [text_key(example_text(e)) for e in stored])) == {
        text_key(example_text(e)) for e in stored}

    def broken(examples: object) -> None:
        raise RuntimeError("embedder gone")

    # A failing hook is logged, never fatal: the examples are stored all the same.
    ctx2 = Context(llm=RuleChat(rules=_rules(), latency=0.01), store=store, domains=list(DOMAINS),
                   style_card="Blunt.", retries=0, on_saved=broken)
    spec2 = BulkSpec(n=3, mix={"coding": 1})
    assert asyncio.run(run_bulk(ctx2, spec2, concurrency=2)).done == 3
    assert len(store.examples.list(run_id=spec2.run_id())) == 3


def test_bulk_killed_midway_and_restarted_ends_with_exactly_n(settings: Settings) -> None:
    n = 12
    with FakeOpenAI(persona_responder, latency=0.15) as srv:
        env = {**os.environ, "PYTHONPATH": str(REPO), "IDIOLECT_HOME": str(settings.home),
               "IDIOLECT_LLM_PROVIDER": "openai", "IDIOLECT_LLM_BASE_URL": srv.url + "/v1",
               "IDIOLECT_OPENAI_API_KEY": "test-key", "IDIOLECT_LLM_MODEL": "local-8b"}
        cmd = [sys.executable, "-m", "ui.cli", "generate", "--n", str(n), "--mix", "architecture=50,coding=50",
               "--concurrency", "2", "--json"]
        store = Store.open(settings.db_url)
        run_id = BulkSpec(n=n, mix={"architecture": 50.0, "coding": 50.0}).run_id()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        deadline = time.time() + 90
        while len(store.examples.keys_for_run(run_id)) < 4 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = len(store.examples.keys_for_run(run_id))
        assert 4 <= killed_at < n, f"the kill came too late ({killed_at}/{n}); stderr: {proc.stderr.read()[-500:]!r}"
        drafts_before = sum(1 for r in srv.requests if r["response_format"]["json_schema"]["name"] == "DraftBatch")

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout[done.stdout.index("{"):])
        drafts_total = sum(1 for r in srv.requests if r["response_format"]["json_schema"]["name"] == "DraftBatch")
    assert report["run_id"] == run_id and report["done"] == n and report["status"] == "done"
    stored = store.examples.list(run_id=run_id)
    assert len(stored) == n
    assert sorted(e.key for e in stored) == [slot_key(run_id, i) for i in range(n)]
    assert len({e.fingerprint() for e in stored}) == n
    # No lost work: the restart drafted only the missing slots (plus at most the 2 killed in flight).
    assert drafts_total - drafts_before == n - killed_at
    assert drafts_total <= n + 2
    store.close()


def test_batch_mode_survives_restarts_without_resubmitting(settings: Settings, store) -> None:  # type: ignore[no-untyped-def]
    with FakeAnthropic(persona_responder, batch_polls=3) as srv:
        s = Settings(home=settings.home, llm_provider="anthropic", anthropic_api_key="test-key",
                     llm_base_url=srv.url, llm_model="claude-sonnet-4-6")
        llm = make_chat_model(s, max_retries=0)
        ctx = Context(llm=llm, store=store, domains=list(DOMAINS), style_card="Blunt. " * 800)
        spec = BulkSpec(n=5, mix={"electrical": 1}, batch=True)
        batches = AnthropicBatches(llm)
        outs = []
        for _ in range(6):  # each call is a "process" that gives up after one poll
            outs.append(asyncio.run(run_bulk_batch(ctx, spec, batches, poll_seconds=0, max_polls=1)))
            if outs[-1].status == "done":
                break
        creates = [r for r in srv.requests if "requests" in r]
    assert outs[0].status == "waiting" and outs[-1].status == "done"
    assert len(creates) == 2  # one draft batch, one scoring batch: never resubmitted on restart
    stored = store.examples.list(run_id=spec.run_id())
    assert len(stored) == 5 and all(e.scores.overall == 7.0 for e in stored)
    assert outs[-1].usage["cache_read"] > 0  # the shared system prefix was read from the cache
