"""Real `idiolect app` processes on one store, and raters that drive them through the Gradio API.

Used by the two-process arena test and by benchmarks/bench_arena.py: each app process has
a data home of its own (as on separate machines) and shares only the database.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

CHOICES = ("/vote_left", "/vote_right", "/vote_tie")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def app_processes(n: int, *, database_url: str, root: Path, timeout: float = 240.0) -> Iterator[list[str]]:
    """Start `n` `idiolect app` processes on `database_url` (homes under `root`); yield their URLs."""
    procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for i in range(n):
            home = root / f"app{i}"
            home.mkdir(parents=True, exist_ok=True)
            port = _free_port()
            env = {**os.environ, "IDIOLECT_HOME": str(home), "IDIOLECT_DATABASE_URL": database_url}
            log = home / "app.log"
            with log.open("wb") as fh:
                cmd = [sys.executable, "-m", "ui.cli", "app", "--host", "127.0.0.1", "--port", str(port)]
                p = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            procs.append((p, f"http://127.0.0.1:{port}/", log))
        deadline = time.monotonic() + timeout
        for p, url, log in procs:
            while True:
                try:
                    if httpx.get(url, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"idiolect app at {url} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield [url for _, url, _ in procs]
    finally:
        for p, _, _ in procs:
            p.terminate()
        for p, _, _ in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def play(url: str, rater: int, battles: int, *, think_s: float = 0.0, choices: Sequence[str] = CHOICES,
         latencies: list[float] | None = None) -> int:
    """One rater: `battles` times create a battle, (read), vote; returns votes cast. Vote latencies (ms) appended."""
    import core  # noqa: F401, I001  (telemetry off before gradio_client loads)
    from gradio_client import Client

    # Plain HTTP on 127.0.0.1: skip loading the CA bundle twice per call (~37 ms CPU).
    client = Client(url, verbose=False, ssl_verify=False)
    rng = random.Random(rater)
    cast = 0
    try:
        for k in range(battles):
            client.predict("Type my own", f"rater {rater} prompt {k}", f"rater{rater}", api_name="/new_battle")
            if think_s:
                time.sleep(rng.uniform(0, 2 * think_s))
            t = time.perf_counter()
            client.predict("", f"rater{rater}", api_name=choices[k % len(choices)])
            if latencies is not None:
                latencies.append((time.perf_counter() - t) * 1000)
            cast += 1
    finally:
        client.close()
    return cast
