"""Real by default, measured: `./start` to the app and to the first real battle, generation speed,
voice-v1's training time, memory and voice, and drafting latency, all on the default model.

    .venv/bin/python benchmarks/bench_real.py [--fresh-model] [--skip-start] [--drafts 5] [--only-battle]
    .venv/bin/python benchmarks/bench_real.py --threads-busy   (only part 4)

1. Starts `idiolect app --sample` on a fresh data home exactly as `./start` does (the model is
   made into a folder in that home too with --fresh-model; otherwise a prepared one is shared),
   and times: the app answering HTTP, the starter reaching each step, and the first battle's
   two answers complete. Peak RSS of the training job is sampled from /proc while it runs.
2. Tokens per second of the local server at 1, 2 (an arena battle) and 8 concurrent requests.
3. Drafting latency: chat requests through the agent on the local model.
4. With --threads-busy: tokens/s with 2 intra-op threads against 1, on an idle machine and beside
   one busy process, side by side in one run.
Prints a Markdown section for benchmarks/results/real.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1",
       "GRADIO_ANALYTICS_ENABLED": "False", "DEEPEVAL_TELEMETRY_OPT_OUT": "1", "ANONYMIZED_TELEMETRY": "False"}
os.environ.update(ENV)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def kill_home_processes(home: Path) -> None:
    """Stop whatever still runs for `home` (jobs outlive the app by design: this is a benchmark)."""
    import signal

    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"IDIOLECT_HOME={home}".encode() in env.read_bytes().split(b"\0"):
                os.kill(int(env.parent.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue


def run_start(home: Path, models: Path | None, *, wait_eval: bool = True) -> dict:
    """`idiolect app --sample` on a fresh home: the times a newcomer waits for."""
    import httpx

    from core.config import Settings
    from core.store import Store

    env = {**os.environ, "IDIOLECT_HOME": str(home)}
    if models is not None:
        env["IDIOLECT_MODELS_PATH"] = str(models)
    port = free_port()
    t0 = time.monotonic()
    app = subprocess.Popen([str(REPO / ".venv/bin/idiolect"), "app", "--sample", "--port", str(port)], env=env,
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    out: dict = {"steps": {}}
    peak = 0.0
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    out["app_on_screen_s"] = time.monotonic() - t0
                    break
            except httpx.HTTPError:
                pass
            if app.poll() is not None:
                raise SystemExit(f"the app exited with {app.returncode}")
            time.sleep(0.5)
        store = Store.open(Settings(home=home).db_url)
        while True:
            state = store.kv.get("starter") or {}
            for key, st in state.items():
                if st.get("status") == "done" and key not in out["steps"]:
                    out["steps"][key] = time.monotonic() - t0
                if st.get("status") == "failed":
                    raise SystemExit(f"starter step {key} failed: {st.get('error')}")
            job = (state.get("train") or {}).get("job")
            if job and state["train"].get("status") == "running":
                pid = (store.registry.get_job(job) or None)
                if pid is not None and pid.pid:
                    peak = max(peak, peak_rss_mb(pid.pid))
            if "arena" in out["steps"]:
                break
            time.sleep(1.0)
        out["train_peak_rss_mb"] = peak
        out["train_seconds"] = state["train"].get("seconds")
        out["train_detail"] = state["train"].get("detail")
        # The first battle a person sees, generated as the Arena tab does.
        from eval.arena import Arena, OpenAIStreams

        streams = OpenAIStreams()
        arena = Arena(store, streams, seed=1)
        battle = arena.new_battle(source="golden")
        for _ in arena.stream_answers(battle.id):
            pass
        out["first_battle_s"] = time.monotonic() - t0
        out["battle"] = f"{battle.left_model} vs {battle.right_model}"
        while wait_eval and "eval" not in out["steps"]:
            state = store.kv.get("starter") or {}
            if (state.get("eval") or {}).get("status") == "done":
                out["steps"]["eval"] = time.monotonic() - t0
                out["eval_detail"] = state["eval"].get("detail")
            if any(st.get("status") == "failed" for st in state.values()):
                break
            time.sleep(2.0)
        from eval.runner import latest_report

        report = latest_report(store)
        if report is not None:
            systems = report[0]["voice"]["systems"]
            out["vgc"] = {n: s.get("vgc") for n, s in systems.items()}
        streams.close()
        store.close()
    finally:
        app.terminate()
        app.wait(timeout=60)
        kill_home_processes(home)
    return out


def tokens_per_second(url: str, model: str, concurrent: int, max_tokens: int = 96) -> float:
    import httpx

    done: list[int] = []

    def one(i: int) -> None:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=600, json={
            "model": model, "max_tokens": max_tokens, "seed": i,
            "messages": [{"role": "user", "content": f"Tell me about timber framing, part {i}."}]})
        done.append(r.json()["usage"]["completion_tokens"])

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - t0)


@contextmanager
def local_server(models: Path, *extra: str) -> Iterator[str]:
    """The CPU server on the default model (served as "smol") for the block; yields its URL, warmed up."""
    from core.config import BUNDLED_LLM
    from training.serving.serve import wait_healthy

    port = free_port()
    srv = subprocess.Popen([sys.executable, "-m", "training.serving.cpu_server", "--base-model", BUNDLED_LLM,
                            "--served-name", "smol", "--port", str(port), *extra], cwd=REPO,
                           stdout=subprocess.DEVNULL, env={**os.environ, "IDIOLECT_MODELS_PATH": str(models)})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=600, proc=srv)
        tokens_per_second(url, "smol", 1, 8)  # warm-up
        yield url
    finally:
        srv.terminate()
        srv.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fresh-model", action="store_true", help="make the model folder inside the fresh home too")
    ap.add_argument("--skip-start", action="store_true")
    ap.add_argument("--drafts", type=int, default=5)
    ap.add_argument("--only-battle", action="store_true",
                    help="stop at the first battle: no eval wait, no tokens/s, no drafting (the quiet-box timing)")
    ap.add_argument("--threads-busy", action="store_true", help="only the threads side by side (part 4)")
    args = ap.parse_args()
    if args.threads_busy:
        print(threads_busy())
        return
    from core.config import BUNDLED_LLM
    from training.base_model import resolve_base_model

    shared = Path(tempfile.mkdtemp(prefix="idiolect-models-"))
    print(f"Machine: {os.cpu_count()} cores; load at start {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d')}.\n")
    if not args.skip_start:
        home = Path(tempfile.mkdtemp(prefix="idiolect-start-"))
        if not args.fresh_model:
            resolve_base_model(BUNDLED_LLM, shared)
        res = run_start(home, None if args.fresh_model else shared, wait_eval=not args.only_battle)
        print("| from `idiolect app --sample` on a fresh home | seconds |\n|---|---|")
        print(f"| app answering on its port | **{res['app_on_screen_s']:.0f}** |")
        for k, v in res["steps"].items():
            print(f"| starter step `{k}` done | {v:.0f} |")
        print(f"| first real battle, both answers complete ({res['battle']}) | **{res['first_battle_s']:.0f}** |")
        print(f"\nvoice-v1 training: {res['train_detail']}, {res['train_seconds']} s, peak RSS "
              f"{res['train_peak_rss_mb']:.0f} MB. Eval: {res.get('eval_detail')}. VGC: {json.dumps(res.get('vgc'))}\n")
        shutil.rmtree(home, ignore_errors=True)
    if args.only_battle:
        shutil.rmtree(shared, ignore_errors=True)
        return
    resolve_base_model(BUNDLED_LLM, shared)
    try:
        with local_server(shared) as url:
            print("| requests at once | tokens/s (all requests together) |\n|---|---|")
            for n in (1, 2, 8):
                print(f"| {n} | {tokens_per_second(url, 'smol', n):.1f} |")
            if args.drafts:
                print(drafting(url, args.drafts))
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def threads_busy() -> str:
    """tokens/s at 1 and 2 requests for 2 vs 1 intra-op threads, idle and beside one busy loop."""
    from core.config import BUNDLED_LLM
    from training.base_model import resolve_base_model

    shared = Path(tempfile.mkdtemp(prefix="idiolect-models-"))
    resolve_base_model(BUNDLED_LLM, shared)
    rows = []
    try:
        for busy in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                for threads in (2, 1):
                    with local_server(shared, "--threads", str(threads)) as url:
                        tps = [tokens_per_second(url, "smol", n, 64) for n in (1, 2)]
                    where = "one busy loop" if busy else "idle"
                    rows.append(f"| {threads} | {where} | {tps[0]:.1f} | {tps[1]:.1f} |")
            finally:
                if hog is not None:
                    hog.kill()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    return ("| intra-op threads | machine | tokens/s, 1 request | 2 requests |\n|---|---|---|---|\n"
            + "\n".join(rows))


def drafting(url: str, n: int) -> str:
    """Seconds per drafted example through the agent (understand, retrieve, draft, score)."""
    from agent.context import Context
    from agent.nodes import draft_examples, score_drafts
    from core.llm_openai import OpenAICompatChat
    from core.store import Store

    llm = OpenAICompatChat(model="smol", base_url=f"{url}/v1", max_tokens=None)
    store = Store.open("sqlite://")
    ctx = Context(llm=llm, store=store, domains=["joinery", "business", "clients"], person_name="Rosa Ibarra")
    hits = [{"message_id": "m1", "conversation_id": "c1", "conversation_title": "Porch posts",
             "text": "A tenon is like a handshake that never lets go. Brackets rust; I cut the joint once."}]
    times, valid = [], 0
    for i in range(n):
        t0 = time.monotonic()
        drafts, _, err = asyncio.run(draft_examples(ctx, {"topic": "joinery vs brackets", "domain": "joinery"},
                                                    hits, 1, first_number=i + 1))
        if drafts:
            asyncio.run(score_drafts(ctx, drafts))
            valid += 1
        times.append(time.monotonic() - t0)
    return (f"\nDrafting one example (draft + score, the default model, sequential): median "
            f"{sorted(times)[len(times) // 2]:.1f} s over {n}; {valid} of {n} produced a schema-valid draft.\n")


if __name__ == "__main__":
    main()
