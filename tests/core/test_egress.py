"""`local_only` (issue 14, finding 3): loopback plus the owner's allowlist, decided before any DNS look-up or connect.

A guard on socket.getaddrinfo / gethostbyname / create_connection / socket.connect records
every attempt; the tests assert none goes anywhere but loopback and the allowlist, across
drafting, judging and app start.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

import pytest

from core.config import Settings
from core.errors import ConfigError, EgressRefused
from core.llm import make_chat_model
from core.privacy import check_endpoint

ALLOW = ["10.20.0.0/16", "llm.home.arpa", "192.168.7.9"]


class Attempts(list):
    """(what, address) for every DNS look-up and connect seen while the guard is on."""

    def outside(self, allow: list[str]) -> list[tuple[str, object]]:
        nets = [ipaddress.ip_network(a, strict=False) for a in allow if _is_ip(a)]
        names = {a.lower() for a in allow if not _is_ip(a)}

        def ok(host: object) -> bool:
            if not isinstance(host, str):
                return True  # AF_UNIX paths
            h = host.split("%")[0].strip("[]").lower()
            if h in ("localhost", *names):
                return True
            try:
                ip = ipaddress.ip_address(h)
            except ValueError:
                return False
            return ip.is_loopback or any(ip in n for n in nets)

        return [(what, addr) for what, addr in self if not ok(addr)]


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
        return True
    except ValueError:
        return False


@pytest.fixture
def egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[Attempts]:
    """Record (and for non-loopback destinations, block) every DNS query and connect."""
    seen = Attempts()
    real = {"getaddrinfo": socket.getaddrinfo, "gethostbyname": socket.gethostbyname,
            "gethostbyname_ex": socket.gethostbyname_ex, "create_connection": socket.create_connection,
            "connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex}

    def loop_only(host: object) -> bool:
        return not Attempts([("x", host)]).outside([])

    def guard_dns(name: str):  # type: ignore[no-untyped-def]
        def f(host: object, *a: object, **kw: object) -> object:
            host = host.decode() if isinstance(host, bytes) else host
            seen.append((f"dns:{name}", host))
            if not loop_only(host):
                raise OSError(f"egress guard: DNS look-up of {host!r} blocked")
            return real[name](host, *a, **kw)
        return f

    def create_connection(address: tuple, *a: object, **kw: object) -> object:
        seen.append(("create_connection", address[0]))
        if not loop_only(address[0]):
            raise OSError(f"egress guard: connection to {address!r} blocked")
        return real["create_connection"](address, *a, **kw)

    def guard_connect(name: str):  # type: ignore[no-untyped-def]
        def f(self: socket.socket, address: object) -> object:
            host = address[0] if isinstance(address, tuple) else address
            seen.append((name, host))
            if not loop_only(host):
                raise OSError(f"egress guard: connection to {address!r} blocked")
            return real[name](self, address)
        return f

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, guard_dns(name))
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", guard_connect("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guard_connect("connect_ex"))
    yield seen


REFUSED = [
    "https://api.anthropic.com",
    "http://203.0.113.5/v1",  # documentation range
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/v1",  # link-local
    "http://10.0.0.7:8000/v1",  # private, but not in the allowlist
    "http://192.168.7.10/v1",  # next door to an allowlisted address
    "http://0.0.0.0:8000/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://evil.example:8000/v1",
    "http://printer.local/v1",  # mDNS names are not trusted by suffix
    "http://2130706433/v1",  # 127.0.0.1 as one decimal number: resolved by the OS, so not taken on trust
    "http://127.0.0.1@evil.example/v1",
    "http://llm.home.arpa.evil.example/v1",
]
ALLOWED = ["http://127.0.0.1:9/v1", "http://127.8.9.10:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1",
           "http://10.20.3.4:8000/v1", "http://LLM.home.arpa:8000/v1", "http://192.168.7.9/v1"]


@pytest.mark.parametrize("url", REFUSED)
def test_local_only_refuses_everything_else_without_a_dns_query(url: str, settings: Settings, egress: Attempts) -> None:
    s = Settings(home=settings.home, llm_provider="openai", llm_base_url=url, local_only=True, local_allow=ALLOW)
    with pytest.raises(EgressRefused):
        make_chat_model(s)
    assert list(egress) == []  # decided on the text of the URL: not a single look-up or connect
    with pytest.raises(EgressRefused, match="local_only"):
        check_endpoint(url, local_only=True, allow=ALLOW)


@pytest.mark.parametrize("url", ALLOWED)
def test_local_only_allows_loopback_and_the_allowlist(url: str, settings: Settings, egress: Attempts) -> None:
    s = Settings(home=settings.home, llm_provider="openai", llm_base_url=url, local_only=True, local_allow=ALLOW)
    assert make_chat_model(s) is not None
    assert list(egress) == []
    check_endpoint(url, local_only=True, allow=ALLOW)


def test_allowlist_entries_are_checked(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="local_allow"):
        check_endpoint("http://127.0.0.1/v1", local_only=True, allow=["not a host!"])
    check_endpoint("http://203.0.113.5/v1", local_only=False)  # off: the owner's choice


def test_drafting_judging_and_app_start_stay_inside_the_allowlist(services, egress: Attempts) -> None:  # type: ignore[no-untyped-def]
    """A whole drafting turn, its judging, and the app starting and serving a page: loopback only."""
    import httpx
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.context import Context
    from agent.graph import build_graph, send
    from tests.fakes.llm_servers import FakeOpenAI
    from tests.fakes.persona import persona_responder
    from ui.app import build_app, launch

    with FakeOpenAI(persona_responder, api_key=None) as drafter, FakeOpenAI(persona_responder, api_key=None) as judge:
        s = services.settings.model_copy(update={
            "llm_provider": "openai", "llm_base_url": f"{drafter.url}/v1", "llm_model": "qwen3-8b",
            "judge_provider": "openai", "judge_model": "judge", "local_only": True, "local_allow": ALLOW})
        s_judge = s.model_copy(update={"llm_base_url": f"{judge.url}/v1"})
        llm, judge_llm = make_chat_model(s, "draft"), make_chat_model(s_judge, "judge")
        ctx = Context(llm=llm, judge=judge_llm, store=services.store, index=None, domains=list(s.domains))
        graph = build_graph().compile(checkpointer=InMemorySaver())
        out = asyncio.run(send(graph, "egress", ctx, message="two examples about my event bus"))
        assert out["review"] and all(d["scores"]["overall"] is not None for d in out["review"]["drafts"])
        assert drafter.requests and judge.requests  # drafting and judging really went over the wire

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        demo = launch(build_app(services), services, host="127.0.0.1", port=port, block=False)
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        finally:
            demo.close()
    assert len(egress) > 3  # the guard saw the traffic it judges
    assert egress.outside(ALLOW) == []
