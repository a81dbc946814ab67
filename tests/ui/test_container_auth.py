"""The Docker image never serves without a login (issue 14, finding 6).

No Docker engine runs here, so the image's start is replayed step by step: its environment
(from the Dockerfile), its command (`rater init`, then the app on 0.0.0.0), and what the
app then asks of a visitor.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from core.config import Settings
from core.errors import ConfigError
from tests.conftest import REPO
from ui.auth import auth_from_home, check_bind, load_raters
from ui.cli import app as cli_app
from ui.services import Services

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _image_env() -> dict[str, str]:
    block = re.search(r"^ENV (.*?)(?=^\S)", DOCKERFILE, re.S | re.M).group(1)
    return dict(p.split("=", 1) for p in shlex.split(block.replace("\\\n", " ")))


def _image_cmd() -> list[str]:
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    assert cmd[:2] == ["sh", "-c"], cmd
    return [shlex.split(step) for step in cmd[2].split("&&")]


class _Captured(Exception):
    pass


def _launch_args(monkeypatch: pytest.MonkeyPatch, services: Services, host: str) -> dict[str, Any]:
    """Run ui.app.launch up to Gradio's own launch, and return what it was asked to serve with."""
    import gradio as gr

    from ui.app import launch

    seen: dict[str, Any] = {}

    def fake_launch(self: Any, **kw: Any) -> None:
        seen.update(kw)
        raise _Captured

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    with gr.Blocks() as demo:
        gr.Markdown("private")
    with pytest.raises(_Captured):
        launch(demo, services, host=host, port=7860, block=False)
    return seen


def test_the_image_no_longer_opens_the_app_and_creates_an_owner_login_on_first_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _image_env()
    assert not any(k == "IDIOLECT_ALLOW_OPEN_BIND" for k in env), env
    init, serve = _image_cmd()
    assert init == ["idiolect", "arena", "rater", "init"]
    assert serve[:4] == ["exec", "idiolect", "app", "--host"] and serve[4] == "0.0.0.0"

    home = tmp_path / "data"  # the volume, empty on first start
    monkeypatch.setenv("IDIOLECT_HOME", str(home))
    # Even an operator who still passes the old switch gets a login.
    monkeypatch.setenv("IDIOLECT_ALLOW_OPEN_BIND", "true")
    services = Services(Settings())
    first = CliRunner().invoke(cli_app, init[1:], obj=services)
    assert first.exit_code == 0, first.output
    password = re.search(r"as 'owner' with the password (\S+) ", first.output).group(1)
    assert password not in (home / "raters.json").read_text()  # only a hash is kept
    again = CliRunner().invoke(cli_app, init[1:], obj=services)
    assert "none created" in again.output and password not in again.output  # shown once
    assert list(load_raters(home)) == ["owner"]

    seen = _launch_args(monkeypatch, services, serve[4])
    assert seen["server_name"] == "0.0.0.0" and callable(seen["auth"])
    assert seen["auth"]("owner", password) and not seen["auth"]("owner", "guess")


def test_allow_open_bind_no_longer_skips_authentication(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDIOLECT_ALLOW_OPEN_BIND", "true")
    services = Services(Settings(home=settings.home, allow_open_bind=True))
    with pytest.raises(ConfigError, match="refusing to serve"):
        _launch_args(monkeypatch, services, "0.0.0.0")
    from ui.auth import require_auth

    with pytest.raises(ConfigError, match="refusing to serve"):
        require_auth(settings.home, "0.0.0.0")
    assert require_auth(settings.home, "127.0.0.1") is None  # this machine only: no login needed
    check_bind("127.0.0.1", None)


def test_a_served_app_with_an_owner_login_shows_nothing_before_login(settings: Settings) -> None:
    """Real HTTP against Gradio: the page and its config stay closed until the owner logs in."""
    import gradio as gr

    from ui.auth import ensure_owner_account

    lines: list[str] = []
    password = ensure_owner_account(settings.home, say=lines.append)
    assert password and password in lines[0]
    with gr.Blocks() as demo:
        gr.Markdown("SECRET-CHAT-CONTENT")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, auth=auth_from_home(settings.home),
                prevent_thread_lock=True, quiet=True)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=30) as anon:
            page = anon.get(f"{base}/")
            assert page.status_code == 200 and "SECRET-CHAT-CONTENT" not in page.text  # the login page
            assert anon.get(f"{base}/config").status_code in (401, 403)
            assert anon.post(f"{base}/login", data={"username": "owner", "password": "nope"}).status_code >= 400
        with httpx.Client(timeout=30) as owner:
            assert owner.post(f"{base}/login", data={"username": "owner", "password": password}).status_code == 200
            assert "SECRET-CHAT-CONTENT" in owner.get(f"{base}/config").text
    finally:
        demo.close()
