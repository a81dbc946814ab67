"""Test harness for the arena UI: a Gradio app with the Arena and Leaderboard tabs, and a recording proxy.

The proxy sits between a client and the app on 127.0.0.1 and keeps every byte the client
receives, so blindness can be asserted on the wire rather than on what one library parses.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from core.schemas import ModelKind, ModelRecord, utcnow

MODEL_NAMES = ("tiny-base", "voice-v1", "voice-v2")
BASE_PATH = "/srv/models/tiny-llama-7f3a"


def register_models(store: Any, endpoint: str, names: tuple[str, ...] = MODEL_NAMES) -> None:
    """Register a base model and adapters, all served by `endpoint`."""
    t0 = utcnow()
    for k, n in enumerate(names):
        kind = ModelKind.base if k == 0 else ModelKind.adapter
        store.registry.upsert_model(ModelRecord(
            name=n, kind=kind, base_model=BASE_PATH, endpoint=endpoint, served_name=n,
            path=f"/srv/adapters/{n}" if k else None, created_at=t0 + timedelta(seconds=k)))


@contextmanager
def arena_app(services: Any) -> Iterator[Any]:
    """Launch a Blocks app holding the Arena and Leaderboard tabs on 127.0.0.1 (random port)."""
    import gradio as gr

    from ui.tabs import arena as arena_tab
    from ui.tabs import leaderboard as leaderboard_tab

    with gr.Blocks() as demo:
        with gr.Tab(arena_tab.LABEL):
            arena_tab.build(services)
        with gr.Tab(leaderboard_tab.LABEL):
            leaderboard_tab.build(services)
    # The app's own queue settings (ui.app.launch), so per-event limits are what gets tested.
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RecordingProxy:
    """A TCP proxy on 127.0.0.1 that records everything the server sends back.

    Requests are rewritten to ask for identity encoding, so the record is plain text (a
    gzip body would hide a leaked name from a substring search).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.received = bytearray()
        self.sent = bytearray()  # what clients asked for, so a test can wait for a request to be under way
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._stop = False
        self._live: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def text(self) -> str:
        with self._lock:
            return self.received.decode("utf-8", errors="replace")

    def mark(self) -> int:
        with self._lock:
            return len(self.received)

    def text_since(self, mark: int) -> str:
        with self._lock:
            return self.received[mark:].decode("utf-8", errors="replace")

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._live += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self._lock:
                        self.received.extend(data)
                else:
                    data = re.sub(rb"(?i)accept-encoding:[^\r\n]*", b"accept-encoding: identity", data)
                    with self._lock:
                        self.sent.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def sent_mark(self) -> int:
        with self._lock:
            return len(self.sent)

    def wait_sent(self, needle: bytes, since: int, timeout: float = 60.0) -> None:
        """Wait until a client request containing `needle` has passed through since `since`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if needle in self.sent[since:]:
                    return
            assert time.monotonic() < deadline, f"no request with {needle!r} reached the proxy in {timeout:.0f} s"
            time.sleep(0.02)

    def cut(self) -> None:
        """Drop every open connection at once, as a flaky network or an overloaded box does."""
        with self._lock:
            live, self._live = self._live, []
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self._sock.close()
