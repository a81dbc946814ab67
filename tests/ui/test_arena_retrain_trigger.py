"""The automatic retrain policy: votes -> N new pairs -> exactly one retrain job, through the real job runner."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.schemas import JobStatus, ModelKind, ModelRecord
from eval.arena import Arena, Contestant
from training.runs.jobs import JobRunner
from training.runs.retrain import main as retrain_main
from training.runs.retrain import new_pairs, retrain_running, run_lock, set_policy, start_retrain_job, trigger_state
from ui.ops.retrain_trigger import RetrainTrigger, retrain_status
from ui.tabs.arena import retrain_panel

# The store, arena and load tests run on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_backends

CONTESTANTS = [Contestant(name="tiny-base", kind="base", base_model="m"),
               Contestant(name="voice-v1", kind="adapter", base_model="m")]


def scrub(text: str) -> tuple[str, list[str]]:
    return text, []


def answers(c: Contestant, messages: list[dict[str, str]]):  # noqa: ANN201
    # Different answers per side (never naming the model, which would flag it), so every
    # decisive vote makes exactly one pair.
    opener = "Plainly" if c.kind == "base" else "Honestly"
    yield f"{opener}: {messages[-1]['content'][:20]}"


@pytest.fixture
def stand_in_python(tmp_path: Path) -> str:
    """An 'interpreter' that just sleeps: the runner starts a real, long-lived process for each job.

    The retrain job itself trains for a minute; here only the trigger's decisions are under
    test, so the process stands in for `python -m training.runs.retrain` while it "runs".
    """
    exe = tmp_path / "python-stand-in"
    exe.write_text("#!/bin/sh\nexec sleep 60\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def battles(arena: Arena, n: int, prefix: str) -> list[str]:
    ids = []
    for i in range(n):
        b = arena.new_battle(source="typed", prompt=f"{prefix} {i}: why?")
        for _ in arena.stream_answers(b.id):
            pass
        ids.append(b.id)
    return ids


def make(store, settings, python: str, **kw):  # noqa: ANN001, ANN003, ANN201
    runner = JobRunner(store, settings, python=python)
    seen: list[dict] = []

    def start(cfg: dict):  # noqa: ANN202
        seen.append(cfg)
        return start_retrain_job(store, settings, cfg, runner=runner)

    trigger = RetrainTrigger(store, settings, scrub, start_job=start, **kw)
    arena = Arena(store, answers, contestants=lambda: CONTESTANTS, seed=3, on_vote=trigger)
    return runner, trigger, arena, seen


def test_policy_off_does_nothing_and_the_first_pass_counts_older_votes(store, settings, stand_in_python) -> None:
    runner, trigger, arena, seen = make(store, settings, stand_in_python, background=False)
    for b in battles(arena, 3, "off"):
        arena.vote(b, "left")
    assert seen == [] and store.examples.pairs() == []  # policy off: votes are not even converted
    set_policy(store, 4, {"preset": "tiny-cpu", "dpo": False})
    for b in battles(arena, 3, "on"):
        arena.vote(b, "right")
    # The first pass converts the 3 older votes too, so the first new vote makes 4 pairs and
    # starts the job; the next two find it running.
    assert len(seen) == 1 and trigger_state(store)["pairs"] == 4
    assert store.registry.list_jobs(kind="retrain")[0].status == JobStatus.running
    runner.cancel(trigger.started[0].id, grace=2)


def test_concurrent_votes_start_exactly_one_job_then_wait_for_another_n(store, settings, stand_in_python) -> None:
    set_policy(store, 5, {"preset": "tiny-cpu", "dpo": False, "overrides": {"max_steps": 2}})
    runner, trigger, arena, seen = make(store, settings, stand_in_python)
    for b in battles(arena, 4, "warm"):
        arena.vote(b, "left")
    assert trigger.wait_idle()
    assert seen == [] and new_pairs(store) == 4  # below N: converted, nothing started
    arena.vote(battles(arena, 1, "tie")[0], "tie")  # a tie makes no pair
    assert trigger.wait_idle() and seen == []

    # 12 raters vote at once and cross the threshold together: exactly one job.
    ids = battles(arena, 12, "rush")
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda b: arena.vote(b, "left", rater="r"), ids))
    assert trigger.wait_idle()
    jobs = store.registry.list_jobs(kind="retrain")
    assert len(seen) == 1 and len(jobs) == 1, jobs
    job = jobs[0]
    assert job.status == JobStatus.running and job.pid
    assert job.config["preset"] == "tiny-cpu" and job.config["dpo"] is False
    assert job.config["overrides"] == {"max_steps": 2} and job.config["home"] == str(settings.home)
    started_at = trigger_state(store)["pairs"]  # the pass that started it may have converted several votes
    assert trigger_state(store)["job_id"] == job.id and 5 <= started_at <= 16
    status = retrain_status(store, settings)
    assert (status["every"], status["job_id"], status["job_status"]) == (5, job.id, "running")
    panel = retrain_panel(type("S", (), {"store": store, "settings": settings})())
    assert job.id in panel and "every **5**" in panel and "voice-v1" not in panel  # no names for raters

    # While it runs, another N pairs start nothing.
    for b in battles(arena, 6, "during"):
        arena.vote(b, "left")
    assert trigger.wait_idle() and len(store.registry.list_jobs(kind="retrain")) == 1
    runner.cancel(job.id, grace=2)

    # Over (here: cancelled), the count runs from the last start, and the next pair-making vote
    # past another N starts the second job.
    assert len(store.arena.votes()) == 23 and new_pairs(store) == 22 - started_at >= 5
    arena.vote(battles(arena, 1, "after")[0], "left")
    assert trigger.wait_idle()
    jobs = store.registry.list_jobs(kind="retrain")
    assert len(jobs) == 2 and len(seen) == 2 and trigger_state(store)["pairs"] == 23
    runner.cancel(jobs[0].id, grace=2)


def test_a_retrain_running_anywhere_blocks_the_trigger(store, settings, stand_in_python) -> None:
    set_policy(store, 2)
    _, trigger, arena, seen = make(store, settings, stand_in_python, background=False)
    with run_lock(settings):  # as if `idiolect retrain` were running in another terminal
        assert retrain_running(settings)
        for b in battles(arena, 3, "locked"):
            arena.vote(b, "left")
        assert seen == []
    assert not retrain_running(settings)
    arena.vote(battles(arena, 1, "free")[0], "left")
    assert len(seen) == 1
    JobRunner(store, settings).cancel(trigger.started[0].id, grace=2)


def test_retrain_job_entry_point_rejects_bad_config(tmp_path, capsys) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text('{"preset": "tiny-cpu", "epochs": 3}')
    assert retrain_main(["--config", str(cfg)]) == 2
    assert "unknown key(s) ['epochs']" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown key"):
        set_policy(type("S", (), {"kv": None})(), 3, {"epochs": 3})


@pytest.mark.slow  # a real `python -m training.runs.retrain` job (SFT on the tiny model): 13 s on a quiet box
def test_policy_starts_a_real_retrain_job_that_registers_the_next_voice(store, settings, tiny_model) -> None:
    store.registry.upsert_model(ModelRecord(name="tiny-base", kind=ModelKind.base, base_model=str(tiny_model),
                                            path=str(tiny_model)))
    set_policy(store, 2, {"preset": "tiny-cpu", "dpo": False, "base_model": str(tiny_model),
                          "overrides": {"max_steps": 2, "max_length": 64, "eval_steps": 0, "save_steps": 100}})
    trigger = RetrainTrigger(store, settings, scrub)
    arena = Arena(store, answers, contestants=lambda: CONTESTANTS, seed=4, on_vote=trigger)
    for b in battles(arena, 2, "real"):
        arena.vote(b, "left", written_answer="Measure twice, pull wire once.")
    assert trigger.wait_idle()
    [job] = trigger.started
    env_home = os.environ["IDIOLECT_HOME"]
    assert job.config["home"] == env_home == str(settings.home)
    done = JobRunner(store, settings).wait(job.id, timeout=300)
    assert done.status == JobStatus.succeeded, done.error
    assert done.output == "voice-v1" and store.registry.require_model("voice-v1").method == "sft"
    assert not retrain_running(settings)  # the job's lock went with its process
    # The Training tab lists the retrain job and its SFT stage, and registers nothing twice.
    from ui.tabs.training import jobs_table

    table = jobs_table(type("S", (), {"store": store, "settings": settings})())
    rows = {r["kind"]: r for r in table.to_dict("records")}
    assert rows["retrain"]["status"] == "succeeded" and rows["retrain"]["adapter / output"] == "voice-v1"
    assert rows["sft"]["adapter / output"] == "voice-v1"
    assert [m.name for m in store.registry.list_models(kind=ModelKind.adapter)] == ["voice-v1"]


def test_arena_prefs_on_the_command_line_also_starts_a_due_retrain(store, settings, embedder) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from ui.cli import _Group
    from ui.commands.arena import register
    from ui.services import Services

    arena = Arena(store, answers, contestants=lambda: CONTESTANTS, seed=5)  # no app, so no vote hook
    for b in battles(arena, 3, "cli"):
        arena.vote(b, "left")
    app = typer.Typer(cls=_Group)
    register(app)
    sv = Services(settings, store=store, embedder=embedder)
    first = CliRunner().invoke(app, ["arena", "prefs", "--json"], obj=sv)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["retrain_job"] is None  # no policy: pairs only
    set_policy(store, 2, {"preset": "tiny-cpu", "dpo": False, "base_model": "no-such-model"})
    second = CliRunner().invoke(app, ["arena", "prefs", "--json"], obj=sv)
    assert second.exit_code == 0, second.output
    job_id = json.loads(second.stdout)["retrain_job"]
    assert job_id and store.registry.get_job(job_id).kind == "retrain"
    # The job itself fails on the bogus base model; what matters here is that it was started once.
    JobRunner(store, settings).wait(job_id, timeout=120)
    third = CliRunner().invoke(app, ["arena", "prefs", "--json"], obj=sv)
    assert json.loads(third.stdout)["retrain_job"] is None  # no new pairs since the start
