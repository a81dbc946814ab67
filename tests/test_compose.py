"""compose.yaml, the real deployment: valid for the Compose CLI, and the rules it must keep.

There is no Docker engine here; `docker-compose config` (Debian's package, which .ci/run
installs without the engine) validates the file against the Compose schema and resolves it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "compose.yaml"


def _cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def _config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cli = _cli()
    if cli is None:
        pytest.skip("no Compose CLI: install Debian's docker-compose (.ci/run does; no engine needed)")
    base = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "COMPOSE_PROFILES")}
    return subprocess.run([*cli, "-f", str(COMPOSE), *args, "config"], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=REPO)


def test_the_compose_cli_accepts_and_resolves_the_file() -> None:
    r = _config("--profile", "gpu", env={"POSTGRES_PASSWORD": "pw-for-the-test"})
    assert r.returncode == 0, r.stderr
    resolved = yaml.safe_load(r.stdout)
    assert set(resolved["services"]) == {"app", "db", "chroma", "vllm"}
    env = resolved["services"]["app"]["environment"]
    assert env["IDIOLECT_DATABASE_URL"] == "postgresql+psycopg://idiolect:pw-for-the-test@db:5432/idiolect"
    assert env["IDIOLECT_CHROMA_URL"] == "http://chroma:8000"
    # Without a database password it refuses, naming what is missing.
    r = _config()
    assert r.returncode != 0 and "POSTGRES_PASSWORD" in r.stderr


def _presets_max_rank() -> int:
    ranks = [yaml.safe_load(p.read_text())["lora_r"] for p in (REPO / "training" / "configs").glob("*.yaml")]
    return max(ranks)


def test_the_deployment_rules() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services, volumes = spec["services"], spec["volumes"]
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for v in svc.get("volumes", []):
            assert v.split(":")[0] in volumes, f"{name} mounts undeclared volume {v}"
    assert {n for n, s in services.items() if s.get("profiles")} == {"vllm"}
    assert services["vllm"]["profiles"] == ["gpu"]

    app = services["app"]
    assert app["ports"] == ["127.0.0.1:7860:7860"]  # published on loopback only
    assert app["environment"]["IDIOLECT_ALLOW_OPEN_BIND"] == "false"  # never serves without accounts
    assert not any("ALLOW_OPEN_BIND" in str(s.get("environment", {})) for n, s in services.items() if n != "app")
    assert app["environment"]["IDIOLECT_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert {k: v["condition"] for k, v in app["depends_on"].items()} == {"db": "service_healthy",
                                                                          "chroma": "service_healthy"}
    assert "ports" not in services["db"] and "ports" not in services["chroma"]  # internal only
    assert services["chroma"]["command"][:2] == ["chroma", "run"]
    assert services["chroma"]["image"] == app["image"]  # the server is the client's own chromadb

    vllm = services["vllm"]
    args = vllm["command"]
    assert vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True" and "--enable-lora" in args
    assert int(args[args.index("--max-lora-rank") + 1]) == _presets_max_rank() == 32
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "app-data:/data:ro" in vllm["volumes"]  # reads the adapters the app trains, by their path


def test_the_image_has_the_postgres_driver() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert '".[train,postgres]"' in dockerfile
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'postgres = ["psycopg[binary]' in pyproject
