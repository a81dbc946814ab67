"""Training's CPU threads follow what the rest of the machine uses (training/cpu_share.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from training.cpu_share import CpuShare, machine_jiffies, own_jiffies, threads_for
from training.lora import AdaptiveThreads
from training.rundata import ProgressWriter, read_progress


def test_threads_are_the_cores_left_at_least_one_and_never_above_torchs_default() -> None:
    assert threads_for(2, 0.05, most=2) == 2  # a quiet box: as torch's default
    assert threads_for(2, 0.7, most=2) == 1  # one busy loop sharing the cores with two threads
    assert threads_for(2, 1.0, most=2) == 1
    assert threads_for(2, 2.0, most=2) == 1  # never zero
    assert threads_for(16, 1.0, most=8) == 8  # torch's default (physical cores) stays the ceiling
    assert threads_for(16, 10.2, most=8) == 6


def test_the_share_takes_this_process_out_of_the_machine_busy_time() -> None:
    ticks = iter([(0, 0), 0, (300, 400), 100, (300, 800), 100])  # (busy, total) of 2 CPUs, then own

    share = CpuShare(2, machine=lambda: next(ticks), own=lambda: next(ticks))  # type: ignore[arg-type,return-value]
    # 400 ticks of 2 CPUs: 300 busy, 100 of them ours, so others used 200 / 400 of the machine = 1 core.
    assert share.others() == pytest.approx(1.0)
    assert share.others() == 0.0  # nothing busy since


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc")
def test_proc_readings_count_a_busy_child_as_others_and_our_own_work_as_ours() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    busy0, total0 = machine_jiffies()
    own0 = own_jiffies()
    # CPU time, not wall time: on a loaded box the child takes longer but burns the same second.
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    busy1, total1 = machine_jiffies()
    own1 = own_jiffies()
    assert total1 > total0 and busy1 >= busy0
    assert (busy1 - busy0) - (own1 - own0) >= 0.8 * hz  # the child's second counts as someone else's
    t = os.times()
    start = t.user + t.system
    while (lambda t: t.user + t.system)(os.times()) - start < 0.5:
        pass
    assert own_jiffies() - own1 >= 0.4 * hz  # and our own spin as ours


def test_the_callback_drops_to_the_free_cores_and_comes_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    readings = iter([1.0, 1.0, 0.0])  # first_reading takes two; then one per step

    class Share:
        cores = 2

        def others(self) -> float:
            return next(readings)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        writer = ProgressWriter(tmp_path / "progress.jsonl", echo=None)
        cb = AdaptiveThreads(writer, share=Share())  # type: ignore[arg-type]
        state = SimpleNamespace(global_step=0)
        cb.on_train_begin(SimpleNamespace(), state, None)
        assert torch.get_num_threads() == 1  # another process holds a core
        state.global_step = 1
        cb.on_step_end(SimpleNamespace(), state, None)
        assert torch.get_num_threads() == 2  # it stopped: back to every core
        cb._apply(1.0, 2)
        cb.on_train_end(SimpleNamespace(), state, None)
        assert torch.get_num_threads() == 2  # an in-process run leaves torch's threads as it found them
    finally:
        torch.set_num_threads(before)
    events = [e for e in read_progress(tmp_path / "progress.jsonl") if e["event"] == "threads"]
    assert [(e["step"], e["threads"], e["others"]) for e in events] == [(0, 1, 1.0), (1, 2, 0.0), (2, 1, 1.0)]


def test_the_owners_omp_setting_and_other_devices_are_left_alone(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    writer = ProgressWriter(tmp_path / "progress.jsonl", echo=None)
    cpu, gpu = SimpleNamespace(device=torch.device("cpu")), SimpleNamespace(device=torch.device("meta"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    cb = AdaptiveThreads(writer)
    cb.on_train_begin(cpu, SimpleNamespace(global_step=0), None)
    assert cb.share is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    cb = AdaptiveThreads(writer)
    cb.on_train_begin(gpu, SimpleNamespace(global_step=0), None)
    assert cb.share is None
    cb.on_step_end(gpu, SimpleNamespace(global_step=1), None)  # nothing to measure, nothing changed
    assert read_progress(tmp_path / "progress.jsonl") == []
