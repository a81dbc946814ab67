"""Guided decoding libraries side by side on the default model's tokenizer, and what guidance buys.

    .venv/bin/python benchmarks/bench_guided.py [--requests 50] [--skip-drafts] [--modes guided,unguided]

1. Library choice: schema compile time and per-token mask time of llguidance (what the CPU
   server uses) and xgrammar (what vLLM defaults to; measured only if importable: install it
   with `pip install --no-deps xgrammar apache-tvm-ffi`, since its own requirements pull triton),
   walking the tokens of one valid DraftBatch.
2. Schema-valid drafts from the default model: N drafting requests through the CPU server with
   `response_format` (guided) and the same prompts asking for JSON in words (not guided).
Prints a Markdown section for benchmarks/results/real.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for k, v in {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(k, v)

from agent.state import DraftBatch  # noqa: E402
from core.config import BUNDLED_LLM  # noqa: E402

SAMPLE = {"examples": [{"prompt": "Why not steel brackets on the porch posts?",
                        "reasoning": "Snow load first. Then who fixes it in twenty years.",
                        "response": "A tenon is a handshake that never lets go. Brackets rust; wood joints don't.",
                        "domain": "joinery", "tags": ["joinery", "porch"], "source_ids": ["m1"]}]}


def walk(tokens: list[int], step) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for t in tokens:
        t0 = time.perf_counter()
        step(t)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def bench_llguidance(tok, vocab: int, schema: dict, tokens: list[int]) -> dict:  # type: ignore[no-untyped-def]
    from training.serving.guided import GrammarFactory, Guide

    t0 = time.perf_counter()
    factory = GrammarFactory(tok, vocab)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = factory.matcher(Guide(schema))
    compile_ms = (time.perf_counter() - t0) * 1000

    def step(t: int) -> None:
        m.allowed()
        m.consume(t)

    return {"setup_s": setup, "compile_ms": compile_ms, "mask_ms": walk(tokens, step)}


def bench_xgrammar(tok, vocab: int, schema: dict, tokens: list[int]) -> dict | None:  # type: ignore[no-untyped-def]
    try:
        import xgrammar as xgr
    except ImportError:
        return None
    t0 = time.perf_counter()
    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab)
    compiler = xgr.GrammarCompiler(info)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    compile_ms = (time.perf_counter() - t0) * 1000
    matcher = xgr.GrammarMatcher(compiled)
    mask = xgr.allocate_token_bitmask(1, vocab)

    def step(t: int) -> None:
        matcher.fill_next_token_bitmask(mask)
        matcher.accept_token(t)

    return {"setup_s": setup, "compile_ms": compile_ms, "mask_ms": walk(tokens, step)}


def drafts(n: int, guided: bool, url: str, model: str) -> tuple[int, int, float]:
    """(valid replies, replies, seconds) for n drafting requests as the agent sends them (compact mode), 8 in flight."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from agent.compact import MAX_TOKENS, CompactItem, system_prompt, user_prompt

    schema = CompactItem.model_json_schema()
    topics = ["why I self-host the shop files", "pricing a pavilion", "teaching the apprentice to read grain",
              "steel brackets versus joinery", "dealing with a client who wants it faster"]
    seed_answer = {"context": "Is oak worth the extra cost for a small pavilion?", "message_id": "m1",
                   "text": "Green oak, every time. It moves, sure, but a peg draws it tight and it outlives "
                           "the client's grandchildren. Pine's a false economy on anything left in the weather."}

    def one(i: int) -> bool | None:
        ask = user_prompt(topics[i % len(topics)], "Rosa Ibarra", seed_answer)
        if not guided:
            ask += "\n\nReply with only a JSON object with the keys prompt, reasoning and response."
        # As the agent sends them: no max_tokens when guided (the server gives a guided reply the
        # context left); the same budget in words-only mode, enough for any reply within the bounds.
        body = {"model": model, "temperature": 0.7, "seed": i, "messages": [
            {"role": "system", "content": system_prompt("Blunt, short sentences, joinery analogies.", "Rosa Ibarra")},
            {"role": "user", "content": ask}]}
        if not guided:
            body["max_tokens"] = MAX_TOKENS
        if guided:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "CompactItem", "schema": schema}}
        try:
            r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1800)
        except httpx.HTTPError as e:  # no reply is not an invalid reply: say so, and do not count it
            print(f"request {i}: no reply ({type(e).__name__})", file=sys.stderr, flush=True)
            return None
        try:  # parsed as the agent parses a reply (core.llm.tool_args: raw newlines in strings allowed)
            CompactItem.model_validate(json.loads(r.json()["choices"][0]["message"]["content"] or "", strict=False))
            ok = True
        except Exception:  # noqa: BLE001  (an invalid reply is what is being counted)
            ok = False
        # One line per reply, so a run stopped early still leaves its count behind.
        print(f"request {i}: {'valid' if ok else 'invalid'}", file=sys.stderr, flush=True)
        return ok

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(n)))
    answered = [r for r in results if r is not None]
    return sum(answered), len(answered), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--skip-drafts", action="store_true")
    ap.add_argument("--modes", default="guided,unguided",
                    help="which drafting runs: guided, unguided or both (the unguided run is the long one)")
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from training.base_model import resolve_base_model

    path = resolve_base_model(BUNDLED_LLM)
    tok = AutoTokenizer.from_pretrained(path)
    vocab = 49152
    schema = DraftBatch.model_json_schema()
    tokens = tok(json.dumps(SAMPLE, separators=(",", ":")))["input_ids"] + [tok.eos_token_id]
    rows = []
    for name, fn in (("llguidance", bench_llguidance), ("xgrammar", bench_xgrammar)):
        res = fn(tok, vocab, schema, tokens[:-1])
        if res is None:
            rows.append(f"| {name} | not installed | | |")
            continue
        ms = sorted(res["mask_ms"])
        rows.append(f"| {name} | {res['setup_s']:.2f} s | {res['compile_ms']:.1f} ms | "
                    f"{statistics.median(ms):.3f} ms (p95 {ms[int(0.95 * len(ms))]:.3f}) |")
    print(f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}; SmolLM2 tokenizer (49,152), DraftBatch "
          f"schema, {len(tokens) - 1} tokens walked.\n")
    print("| library | tokenizer setup (once) | schema compile | mask per token (median) |\n|---|---|---|---|")
    print("\n".join(rows))
    if args.skip_drafts:
        return
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "training.serving.cpu_server", "--base-model", BUNDLED_LLM,
                             "--served-name", "smol", "--port", str(port)], cwd=Path(__file__).resolve().parents[1])
    try:
        from training.serving.serve import wait_healthy

        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=600, proc=proc)
        print("\n| drafting requests as the agent sends them (compact, default model, 8 in flight) | schema-valid "
              "| wall time |\n|---|---|---|")
        for guided in [m == "guided" for m in args.modes.split(",")]:
            ok, answered, secs = drafts(args.requests, guided, url, "smol")
            label = "guided (`response_format` json_schema)" if guided else "not guided (JSON asked for in words)"
            missing = f" ({args.requests - answered} got no reply)" if answered < args.requests else ""
            share = f"{ok / answered:.0%}" if answered else "n/a"
            print(f"| {label} | {ok} of {answered} = **{share}**{missing} | {secs:.0f} s |", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
