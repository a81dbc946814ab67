"""Serving: the vLLM command line, serve jobs against the stand-in `vllm`, runtime adapter loading,
the ranks and slots vLLM enforces, and the engine-loading window."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes.vllm import FakeVLLM

from core.errors import ConfigError, JobError
from core.generate import GenerationClient
from core.schemas import Job, JobStatus, utcnow
from training.runs.jobs import JobRunner
from training.runs.registry import register_adapter
from training.serving.serve import (
    ServeSpec,
    command_for,
    cpu_command,
    hot_load,
    load_adapter,
    lora_rank_for,
    lora_slots,
    served_models,
    unload_adapter,
    vllm_command,
)

FAKE_VLLM = Path(__file__).resolve().parents[1] / "fakes" / "vllm.py"


def adapter_dir(root: Path, rank: int = 16, **extra: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA", **extra}))
    (root / "training_result.json").write_text(json.dumps({"base_model": "Qwen/Qwen3-8B", "method": "sft"}))
    return root


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stand_in(tmp_path: Path, load_seconds: float = 0.0) -> Path:
    """A `vllm` executable: the stand-in, with vLLM's flags, defaults and refusals."""
    vllm_bin = tmp_path / "vllm"
    vllm_bin.write_text(f"#!/bin/sh\nFAKE_VLLM_LOAD_SECONDS={load_seconds} exec {sys.executable} {FAKE_VLLM} \"$@\"\n")
    vllm_bin.chmod(0o755)
    return vllm_bin


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_vllm_command_line(tmp_path):
    a, b = adapter_dir(tmp_path / "v1", rank=16), adapter_dir(tmp_path / "v2", rank=24)
    spec = ServeSpec(base_model="Qwen/Qwen3-8B", adapters={"voice-v1": str(a), "voice-v2": str(b)},
                     family="qwen3", port=8011, backend="vllm")
    cmd = vllm_command(spec)
    assert cmd[:5] == ["env", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True", "vllm", "serve", "Qwen/Qwen3-8B"]
    assert flag(cmd, "--max-lora-rank") == "32"  # 24 rounded up to a size vLLM accepts
    # one batch slot per adapter plus one for the next challenger; a host cache with room to grow
    assert (flag(cmd, "--max-loras"), flag(cmd, "--max-cpu-loras")) == ("3", "6") and "--enable-lora" in cmd
    i = cmd.index("--lora-modules")
    assert cmd[i + 1:i + 3] == [f"voice-v1={a.resolve()}", f"voice-v2={b.resolve()}"]
    assert flag(cmd, "--reasoning-parser") == "qwen3"
    apriel = vllm_command(ServeSpec(base_model="ServiceNow-AI/Apriel-1.5-15b-Thinker", family="apriel"))
    assert "--reasoning-parser" not in apriel and "--lora-modules" not in apriel
    minimax = vllm_command(ServeSpec(base_model="MiniMaxAI/MiniMax-M2", family="minimax-m2"))
    assert flag(minimax, "--reasoning-parser") == "minimax_m2"
    assert command_for(ServeSpec(base_model="m", backend="cpu"))[1:3] == ["-m", "training.serving.cpu_server"]
    assert cpu_command(ServeSpec(base_model="m", adapters={"voice-v1": str(a)}))[-1] == f"voice-v1={a.resolve()}"
    with pytest.raises(ConfigError, match="unknown keys \\['gpus'\\]"):
        ServeSpec.from_dict({"base_model": "m", "gpus": 2})
    with pytest.raises(ConfigError, match="not an adapter directory"):
        vllm_command(ServeSpec(base_model="m", adapters={"x": str(tmp_path)}))


def test_max_lora_rank_covers_the_presets_of_the_base_before_any_adapter_exists(tmp_path):
    # The bug this guards: vLLM started for Qwen3-8B with no adapters took the default rank 16,
    # and the first qwen3-8b adapter (preset rank 32) could then never be hot-loaded.
    assert lora_rank_for(ServeSpec(base_model="Qwen/Qwen3-8B")) == 32
    assert lora_rank_for(ServeSpec(base_model="Qwen/Qwen3-14B")) == 32
    assert lora_rank_for(ServeSpec(base_model="ServiceNow-AI/Apriel-1.5-15b-Thinker")) == 16
    assert lora_rank_for(ServeSpec(base_model="some/other-model")) == 16  # TrainConfig's default lora_r
    patterned = adapter_dir(tmp_path / "p", rank=8, rank_pattern={"q_proj": 48})
    assert lora_rank_for(ServeSpec(base_model="m", adapters={"p": str(patterned)})) == 64  # vLLM checks the max
    with pytest.raises(ConfigError, match="above vLLM's largest"):
        lora_rank_for(ServeSpec(base_model="m", adapters={"big": str(adapter_dir(tmp_path / "b", rank=1024))}))
    with pytest.raises(ConfigError, match="vLLM accepts"):
        lora_rank_for(ServeSpec(base_model="m", max_lora_rank=48))


def test_adapter_slots_and_what_vllm_would_refuse(tmp_path):
    assert lora_slots(ServeSpec(base_model="m")) == (2, 4)
    many = {f"v{i}": str(adapter_dir(tmp_path / f"v{i}")) for i in range(12)}
    assert lora_slots(ServeSpec(base_model="m", adapters=many)) == (8, 16)
    with pytest.raises(ConfigError, match=r"max_cpu_loras \(2\) must be >= max_loras \(4\)"):
        lora_slots(ServeSpec(base_model="m", max_loras=4, max_cpu_loras=2))
    tiny = adapter_dir(tmp_path / "tiny", rank=8, modules_to_save=["lm_head"])  # what the tiny-cpu preset makes
    with pytest.raises(ConfigError, match="modules_to_save.*--backend cpu"):
        vllm_command(ServeSpec(base_model="m", adapters={"tiny": str(tiny)}))


def test_serve_job_starts_vllm_registers_and_hot_loads(store, settings, tmp_path, no_network):
    # The stand-in keeps vLLM's default rank 16, so this only works because idiolect passes
    # --max-lora-rank 32 for Qwen3-8B (its presets train rank 32).
    vllm_bin = stand_in(tmp_path)
    v1 = register_adapter(store, path=adapter_dir(tmp_path / "voice-v1", rank=32))
    port = free_port()
    runner = JobRunner(store, settings)
    job = runner.start("serve", {"base_model": "Qwen/Qwen3-8B", "base_name": "qwen3-8b", "family": "qwen3",
                                 "adapters": {v1.name: v1.path}, "backend": "vllm", "port": port,
                                 "vllm_bin": str(vllm_bin), "health_timeout": 60})
    try:
        ready = runner.wait(job.id, timeout=90)
        assert ready.status == JobStatus.running and ready.output == f"http://127.0.0.1:{port}/v1", ready.error
        log = Path(ready.log_path).read_text()
        assert '"runtime_lora": true' in log and "--reasoning-parser" in log
        base = store.registry.require_model("qwen3-8b")
        assert (base.endpoint, base.served_name) == (ready.output, "Qwen/Qwen3-8B")
        assert store.registry.require_model(v1.name).endpoint == ready.output
        assert served_models(ready.output) == ["Qwen/Qwen3-8B", v1.name]

        v2 = register_adapter(store, path=adapter_dir(tmp_path / "voice-v2", rank=32), parent=v1.name)
        hot_load(store, v2.name, ready.output)
        assert v2.name in served_models(ready.output)
        assert store.registry.require_model(v2.name).served_name == v2.name
        answer = GenerationClient(ready.output).chat(v2.name, [{"role": "user", "content": "hi"}])
        assert answer.text.startswith(f"Answer from {v2.name}") and answer.reasoning
        with pytest.raises(JobError, match="already been loaded"):
            load_adapter(ready.output, v2.name, v2.path)
        with pytest.raises(JobError, match=r"\(400\).*LoRA rank 128 is greater than max_lora_rank 32"):
            load_adapter(ready.output, "too-big", adapter_dir(tmp_path / "r128", rank=128))
        unload_adapter(ready.output, v2.name)
        assert v2.name not in served_models(ready.output)
        with pytest.raises(JobError, match="cannot be found"):
            unload_adapter(ready.output, v2.name)
    finally:
        stopped = runner.cancel(job.id, grace=10)
    assert stopped.status == JobStatus.cancelled


def test_the_stand_in_refuses_a_rank_above_its_max_at_start_up(tmp_path):
    # What happened before idiolect passed the presets' rank: vLLM's default 16 against rank 32.
    a = adapter_dir(tmp_path / "a", rank=32)
    out = subprocess.run([sys.executable, str(FAKE_VLLM), "serve", "Qwen/Qwen3-8B", "--port", str(free_port()),
                          "--enable-lora", "--lora-modules", f"a={a}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "LoRA rank 32 is greater than max_lora_rank 16." in out.stderr


def test_a_server_still_loading_its_engine_is_waited_for(store, settings, tmp_path):
    # vLLM binds its port before loading the model and listens only when the engine is up:
    # until then every connection is refused. The job is "ready" only once /health answers.
    vllm_bin = stand_in(tmp_path, load_seconds=1.5)
    port = free_port()
    runner = JobRunner(store, settings)
    job = runner.start("serve", {"base_model": "Qwen/Qwen3-8B", "backend": "vllm", "port": port,
                                 "vllm_bin": str(vllm_bin), "health_timeout": 60, "register": False})
    try:
        url = f"http://127.0.0.1:{port}/v1"
        # Hot-loading right after the start does not lose the adapter: it waits on /health.
        load_adapter(url, "voice-v1", adapter_dir(tmp_path / "v1", rank=32), ready_timeout=60)
        assert served_models(url) == ["Qwen/Qwen3-8B", "voice-v1"]
        assert runner.wait(job.id, timeout=60).output == url
    finally:
        runner.cancel(job.id, grace=10)


def test_load_adapter_gives_up_when_the_server_never_comes_up(tmp_path):
    with FakeVLLM("base", loading=True) as srv:  # bound, never listening
        with pytest.raises(JobError, match="not healthy"):
            load_adapter(srv.url, "voice-v1", adapter_dir(tmp_path / "a"), ready_timeout=0.5)


def test_runtime_loading_refused_without_the_env_flag(tmp_path):
    with FakeVLLM("base", runtime_lora=False) as srv:
        with pytest.raises(JobError, match="404"):
            load_adapter(srv.url, "voice-v1", adapter_dir(tmp_path / "a"))


# ---------------------------------------------------------------------- GPU accounting


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def running_job(store, kind: str, pid: int, tmp_path: Path, **config: object) -> Job:
    """A job row for a live process (a sleeper): the runner sees a job holding the GPU."""
    config = {"progress_file": str(tmp_path / f"{kind}-progress.jsonl"), **config}
    job = Job(id=f"{kind}-job", kind=kind, status=JobStatus.running, pid=pid, config=config,
              started_at=utcnow())
    store.registry.add_job(job)
    return job


def test_a_vllm_server_counts_against_max_gpu_jobs(store, settings, live_pid, tmp_path):
    running_job(store, "serve", live_pid, tmp_path, backend="vllm", gpu_memory_utilization=0.9)
    runner = JobRunner(store, settings)
    with pytest.raises(JobError, match=r"serve-job \(vLLM server holding 90% of the GPU memory\) "
                                       r"\(max_gpu_jobs=1\)") as refused:
        runner.start("sft", {"preset": "tiny-cpu", "base_model": "x", "snapshot": str(tmp_path)})
    assert refused.value.hint.startswith("Stop the server (`idiolect jobs --cancel ID`)")
    settings.max_gpu_jobs = 2  # a card with room for both (the server started with less memory)
    job = runner.start("sft", {"preset": "tiny-cpu", "base_model": "x", "snapshot": str(tmp_path)})
    assert runner.wait(job.id, timeout=120).status == JobStatus.failed  # no snapshot there: it ran, then failed


def test_training_refuses_a_vllm_server_and_a_cpu_server_does_not_count(store, settings, live_pid, tmp_path):
    running_job(store, "sft", live_pid, tmp_path)
    runner = JobRunner(store, settings)
    with pytest.raises(JobError, match=r"sft-job \(sft training\) \(max_gpu_jobs=1\)") as refused:
        runner.start("serve", {"base_model": "m", "backend": "vllm", "vllm_bin": str(stand_in(tmp_path))})
    assert refused.value.hint.startswith("Wait for it") and "--backend cpu" in refused.value.hint
    job = runner.start("serve", {"base_model": str(tmp_path / "missing"), "backend": "cpu", "register": False,
                                 "port": free_port(), "health_timeout": 5})
    assert job.config["backend"] == "cpu"
    runner.cancel(job.id, grace=5)


def test_auto_backend_is_resolved_when_the_job_starts(store, settings, tmp_path, monkeypatch):
    import training.serving.serve as serve

    monkeypatch.setattr(serve, "has_gpu", lambda: True)
    runner = JobRunner(store, settings)
    job = runner.start("serve", {"base_model": "Qwen/Qwen3-8B", "vllm_bin": str(stand_in(tmp_path)),
                                 "port": free_port(), "register": False, "health_timeout": 60})
    try:
        assert job.config["backend"] == "vllm"  # recorded, so the GPU count sees it
        with pytest.raises(JobError, match="vLLM server holding"):
            runner.start("sft", {"preset": "tiny-cpu", "base_model": "x", "snapshot": str(tmp_path)})
    finally:
        runner.cancel(job.id, grace=10)


def test_more_adapters_than_max_loras_take_turns_instead_of_failing(tmp_path):
    # vLLM does not refuse a third adapter with --max-loras 2: it schedules at most two adapters
    # per batch and keeps the rest waiting; its host cache reloads evicted ones from disk.
    paths = {f"v{i}": str(adapter_dir(tmp_path / f"v{i}")) for i in range(3)}
    with FakeVLLM("base", loras=paths, max_loras=2, max_cpu_loras=2, chunk_delay=0.02) as srv:
        client = GenerationClient(f"{srv.url}/v1")
        answers: dict[str, str] = {}

        def ask(name: str) -> None:
            answers[name] = client.chat(name, [{"role": "user", "content": "hi"}]).text

        threads = [threading.Thread(target=ask, args=(n,)) for n in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(answers) == sorted(paths) and all(a.startswith("Answer from") for a in answers.values())
        assert srv.peak_active_loras == 2  # never three adapters in one batch
        assert sum(srv.disk_loads.values()) > len(paths)  # the host cache of 2 evicted and reloaded
