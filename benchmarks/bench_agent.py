"""Agent benchmarks: overhead per draft vs LLM time, bulk throughput vs ideal, prompt-cache share.

Run: .venv/bin/python benchmarks/bench_agent.py   (about 30 s; writes benchmarks/results/agent.md)
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import core  # noqa: E402,F401  (telemetry off)
from agent.bulk import BulkSpec, run_bulk  # noqa: E402
from agent.context import Context  # noqa: E402
from agent.graph import open_graph, send  # noqa: E402
from core.config import Settings  # noqa: E402
from core.llm import make_chat_model  # noqa: E402
from core.store import Store  # noqa: E402
from tests.fakes.chat_models import RuleChat  # noqa: E402
from tests.fakes.llm_servers import Ask, FakeAnthropic  # noqa: E402
from tests.fakes.persona import persona_responder  # noqa: E402

LATENCY = 1.0
DOMAINS = ["architecture", "philosophy", "reasoning", "electrical", "coding"]


def rules() -> dict:
    def via(tool: str):  # type: ignore[no-untyped-def]
        return lambda msgs: persona_responder(Ask(str(msgs[0].content), str(msgs[-1].content), tool, None, {}))

    return {t: via(t) for t in ("Request", "DraftBatch", "RubricBatch")}


async def overhead(store: Store, checkpoints: Path, drafts: int = 3, rounds: int = 3) -> dict:
    """Wall time of request -> drafts -> review -> approve -> saved, minus the fake LLM's time."""
    llm = RuleChat(rules=rules(), latency=LATENCY)
    ctx = Context(llm=llm, store=store, style_card="Blunt, practical.", max_drafts=drafts)
    walls, calls = [], []
    async with open_graph(checkpoints) as graph:
        for r in range(rounds):
            n0 = len(llm.calls)
            t = time.perf_counter()
            res = await send(graph, f"bench-{r}", ctx, message=f"draft {drafts} examples on self-hosting")
            assert res["review"] is not None
            res = await send(graph, f"bench-{r}", ctx, resume="approve all")
            walls.append(time.perf_counter() - t)
            calls.append(len(llm.calls) - n0)
    wall = sum(walls) / rounds
    llm_time = calls[0] * LATENCY
    ohead = wall - llm_time
    drafted = 2  # persona drafts count from the Request reply (2)
    return {"wall_s": wall, "llm_s": llm_time, "overhead_s": ohead, "per_draft_s": ohead / drafted,
            "share": ohead / llm_time}


async def throughput(store: Store, n: int = 40, concurrency: int = 8) -> dict:
    llm = RuleChat(rules=rules(), latency=LATENCY)
    ctx = Context(llm=llm, store=store, style_card="Blunt, practical.")
    t = time.perf_counter()
    report = await run_bulk(ctx, BulkSpec(n=n, mix={d: 1.0 for d in DOMAINS}), concurrency=concurrency)
    wall = time.perf_counter() - t
    ideal = math.ceil(n / concurrency) * 2 * LATENCY  # two LLM calls (draft, score) per slot
    return {"n": n, "concurrency": concurrency, "wall_s": wall, "ideal_s": ideal, "ratio": ideal / wall,
            "done": report.done}


async def cache_share(home: Path, n: int = 30) -> dict:
    """Share of prompt tokens read from Anthropic's prompt cache in a bulk run (fake server that
    applies the API's caching rules: prefix up to the breakpoint, 1024-token minimum)."""
    from agent.ingest import import_exports
    from agent.profile import refresh_profile
    from agent.scrub import Scrubber

    store = Store.open(f"sqlite:///{home / 'cache.db'}")
    exports = REPO.parent / "shared" / "fixtures" / "exports"
    import_exports([exports / "claude", exports / "chatgpt"], store=store, scrubber=Scrubber())
    refresh_profile(store, name="Dale")
    with FakeAnthropic(persona_responder) as srv:
        s = Settings(home=home, llm_provider="anthropic", anthropic_api_key="test-key", llm_base_url=srv.url,
                     llm_model="claude-sonnet-4-6")
        llm = make_chat_model(s, max_retries=0)
        ctx = Context(llm=llm, store=store, person_name="Dale", model_name="claude-sonnet-4-6")
        report = await run_bulk(ctx, BulkSpec(n=n, mix={d: 1.0 for d in DOMAINS}), concurrency=4)
    u = report.usage
    card = (store.kv.get("style_card") or {}).get("text", "")
    store.close()
    return {"n": n, "input_tokens": u["input_tokens"], "cache_read": u["cache_read"],
            "cache_creation": u["cache_creation"], "share": u["cache_read"] / max(u["input_tokens"], 1),
            "cost": u["cost_usd"], "card_chars": len(card)}


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        store = Store.open(f"sqlite:///{home / 'bench.db'}")
        o = asyncio.run(overhead(store, home / "threads.sqlite"))
        t = asyncio.run(throughput(store))
        c = asyncio.run(cache_share(home))
        store.close()
    ok = lambda b: "pass" if b else "FAIL"  # noqa: E731
    lines = [
        "## Drafting agent (issue 3)",
        "",
        "Machine: 2-core CPU, 24 GB, shared with other jobs; date 2026-11-25. Fake LLM with a fixed "
        f"{LATENCY:.0f} s latency per call (in-process LangChain chat model); the cache share uses a local "
        "server that applies Anthropic's prompt-caching rules. Command: `.venv/bin/python benchmarks/bench_agent.py`.",
        "",
        "| measure | result | target | verdict |",
        "|---|---|---|---|",
        f"| agent overhead per request (request → drafts → review → approve → saved, SQLite checkpoints) | "
        f"{o['overhead_s'] * 1000:.0f} ms over {o['llm_s']:.0f} s of LLM time = **{o['share'] * 100:.1f}%** "
        f"({o['per_draft_s'] * 1000:.0f} ms per draft) | ≤ 5% | {ok(o['share'] <= 0.05)} |",
        f"| bulk throughput vs ideal ({t['n']} slots, concurrency {t['concurrency']}, 2 calls/slot) | "
        f"{t['wall_s']:.2f} s vs ideal {t['ideal_s']:.0f} s = **{t['ratio'] * 100:.1f}%** | ≥ 90% | "
        f"{ok(t['ratio'] >= 0.9)} |",
        f"| prompt tokens read from the cache in a bulk run ({c['n']} slots, fixture style card "
        f"{c['card_chars']} chars) | {c['cache_read']:,} of {c['input_tokens']:,} = **{c['share'] * 100:.1f}%** | "
        f"≥ 70% | {ok(c['share'] >= 0.7)} |",
        "",
        f"Cost of the cache-share run at Sonnet prices: ${c['cost']:.4f} for {c['n']} examples "
        f"(cache writes {c['cache_creation']:,} tokens). Token counts in the fake are ~4 characters per token.",
    ]
    text = "\n".join(lines) + "\n"
    out = REPO / "benchmarks" / "results" / "agent.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
