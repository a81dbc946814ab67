"""The Gradio app: `build_app(services)` assembles one tab module per feature."""

from __future__ import annotations

import signal
import threading
from importlib import import_module
from typing import Any

import gradio as gr

from core.privacy import private_upload_dir
from ui.ops.starter import Starter
from ui.services import Services

# (label, module); each module exposes build(services). Order is the order on screen.
TABS: list[tuple[str, str]] = [
    ("Import", "ui.tabs.importer"),
    ("Search", "ui.tabs.search"),
    ("Chat", "ui.tabs.chat"),
    ("Dataset", "ui.tabs.dataset"),
    ("Training", "ui.tabs.training"),
    ("Arena", "ui.tabs.arena"),
    ("Leaderboard", "ui.tabs.leaderboard"),
    ("Eval", "ui.tabs.eval"),
]

CSS = """
.idiolect-header {padding: 4px 0 0 0}
.draft-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px}
"""


def status_markdown(services: Services) -> str:
    t = services.store.conversations.totals()
    ex = services.store.examples.counts().get("status", {})
    return (f"**idiolect** · {t['conversations']} conversations · {t['person_messages']} of your messages · "
            f"{t['chunks_indexed']} indexed · {sum(t['redactions'].values())} redactions · "
            f"{ex.get('approved', 0)} approved / {ex.get('pending', 0)} pending examples · "
            f"home `{services.settings.home}`")


def build_app(services: Services, starter: Starter | None = None) -> gr.Blocks:
    """Build the whole app for one set of services (tests build it with fakes).

    With a `starter` (the first run on the bundled sample), a Getting started panel above the
    tabs shows the loop it runs in the background.
    """
    with gr.Blocks(title="idiolect", analytics_enabled=False) as demo:
        header = gr.Markdown(status_markdown(services), elem_classes="idiolect-header")
        if starter is not None:
            from ui.tabs import start

            start.build(starter)
        for label, module in TABS:
            try:
                mod = import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:  # a real missing dependency must fail loudly
                    raise
                continue  # that feature is not in this build
            with gr.Tab(label, id=label.lower()):
                mod.build(services)
        demo.load(lambda: status_markdown(services), outputs=header)
        # The counts change under every tab (approvals, imports, the starter): refresh them.
        gr.Timer(5.0).tick(lambda: status_markdown(services), outputs=header, show_progress="hidden")
    return demo


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def launch(demo: gr.Blocks, services: Services, *, host: str = "127.0.0.1", port: int = 7860,
           open_browser: bool = False, block: bool = True, auth: Any = None) -> gr.Blocks:
    """Serve on `host:port`. A non-loopback address needs rater accounts: the data is private."""
    from ui.auth import auth_from_home, check_bind

    if auth is None:
        auth = auth_from_home(services.settings.home)
    if not services.settings.allow_open_bind:
        check_bind(host, auth)
    private_upload_dir(services.settings.home / "uploads")
    if block and threading.current_thread() is threading.main_thread():
        # SIGTERM (a service manager, `docker stop`) ends the app like Ctrl-C does, so the
        # caller's cleanup runs: the local model server this app started is stopped with it.
        signal.signal(signal.SIGTERM, _interrupt)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=host, server_port=port, auth=auth or None, inbrowser=open_browser,
                prevent_thread_lock=not block, quiet=not block, show_error=True, css=CSS)
    return demo
