"""Shared fixtures: an isolated data home per test, a network guard, the embedder, a tiny model."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import core  # noqa: F401  (switches telemetry off before anything else loads)
from core.config import Settings
from core.privacy import TELEMETRY_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXPORTS = SHARED / "fixtures" / "exports"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own IDIOLECT_HOME, so no test ever touches real data."""
    home = tmp_path / "home"
    monkeypatch.setenv("IDIOLECT_HOME", str(home))
    # The product drafts with the local model by default; tests opt in to it (it starts a
    # server process), and use scripted fakes otherwise.
    monkeypatch.setenv("IDIOLECT_LLM_PROVIDER", "none")
    for k, v in TELEMETRY_ENV.items():
        monkeypatch.setenv(k, v)
    return home


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_backends` run once on SQLite and once on PostgreSQL."""
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """The store's backend: SQLite unless the test is parametrized over both (`both_backends`).

    IDIOLECT_TEST_BACKEND=postgresql makes PostgreSQL the default for every other test too
    (a whole-suite check of the SQL paths; CI runs the marked tests on both).
    """
    return getattr(request, "param", os.environ.get("IDIOLECT_TEST_BACKEND", "sqlite"))


@pytest.fixture
def database_url(db_backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """None for SQLite (the file in the test's home); a fresh, empty PostgreSQL database otherwise."""
    if db_backend == "sqlite":
        yield None
        return
    from tests.pg import fresh_database, pg_server_url

    server = pg_server_url()
    if server is None:
        pytest.skip("PostgreSQL case: no server given (set IDIOLECT_TEST_PG_URL; .ci/run starts one)")
    with fresh_database(server) as url:
        monkeypatch.setenv("IDIOLECT_DATABASE_URL", url)  # subprocesses the test starts use it too
        yield url


@pytest.fixture
def settings(_isolated_home: Path, database_url: str | None) -> Settings:
    s = Settings(home=_isolated_home, database_url=database_url)
    s.ensure_dirs()
    return s


@pytest.fixture
def store(settings: Settings) -> Iterator[object]:
    from core.store import Store

    st = Store.open(settings.db_url)
    yield st
    st.close()


@pytest.fixture(scope="session")
def embedder() -> object:
    """The real bundled embedder, loaded once per session (about 6 s of imports)."""
    from core.config import BUNDLED_EMBEDDER
    from core.embed import Embedder

    return Embedder.load(BUNDLED_EMBEDDER)


@pytest.fixture
def services(settings: Settings, embedder: object) -> Iterator[object]:
    from ui.services import Services

    sv = Services(settings, embedder=embedder)
    yield sv
    sv.close()


def _local(host: str) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


class NetworkAttempts(list):
    """Non-loopback connection attempts seen while the guard was on."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkAttempts]:
    """Fail on any non-loopback connection attempt (and DNS look-up of a remote name)."""
    attempts = NetworkAttempts()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(addr: object) -> None:
        if isinstance(addr, tuple) and addr and isinstance(addr[0], str) and not _local(addr[0]):
            attempts.append(addr)
            raise OSError(f"network guard: outbound connection to {addr!r} refused in tests")

    def connect(self: socket.socket, addr: object) -> object:
        _check(addr)
        return real_connect(self, addr)

    def connect_ex(self: socket.socket, addr: object) -> object:
        _check(addr)
        return real_connect_ex(self, addr)

    def getaddrinfo(host: object, *a: object, **kw: object) -> object:
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and not _local(host) and host not in ("localhost",):
            attempts.append((host, "dns"))
            raise OSError(f"network guard: DNS look-up of {host!r} refused in tests")
        return real_getaddrinfo(host, *a, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"outbound network attempts: {attempts}"


def fixture_texts() -> list[str]:
    """Every message text of the shared fixtures (for training the tiny tokenizer)."""
    out: list[str] = []
    for conv in json.loads((EXPORTS / "claude" / "conversations.json").read_text("utf-8")):
        for m in conv.get("chat_messages", []):
            out.extend(b.get("text", "") for b in m.get("content") or [] if b.get("type") == "text")
    for conv in json.loads((EXPORTS / "chatgpt" / "conversations.json").read_text("utf-8")):
        for node in (conv.get("mapping") or {}).values():
            msg = node.get("message") or {}
            parts = (msg.get("content") or {}).get("parts") or []
            out.extend(p for p in parts if isinstance(p, str))
    return [t for t in out if t.strip()]


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3 with Qwen3's own chat template (the Qwen3 presets' code path)."""
    from training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen3", fixture_texts(), arch="qwen3",
                            hidden_size=128)


@pytest.fixture(scope="session")
def tiny_apriel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Apriel-1.5 (Llava: Pixtral vision + Mistral text) with the shipped Apriel template."""
    from training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-apriel", fixture_texts(), arch="apriel")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests, saying why, on machines without CUDA (CI has none)."""
    gpu_items = [i for i in items if i.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible here")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama + BPE tokenizer trained on the fixture texts, built once."""
    from training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", fixture_texts())
