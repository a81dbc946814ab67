"""How many CPU threads a training run should use, from what the other processes are using.

Torch splits every matrix product across its intra-op threads and waits for the slowest. On
a machine where another process keeps a core busy, one of those threads keeps being
descheduled and every product waits for it: a 40-step SmolLM2 SFT on 2 cores took 1,084 s
beside one busy loop against 199 s on a quiet box. With only as many threads as the busy
processes leave cores free, the products stop waiting (benchmarks/bench_train_threads.py).

So between steps the trainer measures, from /proc/stat, the CPU time the rest of the machine
used since the last step (its own time taken out, time stolen by a hypervisor counted as
used, since a thread cannot run then either) and sets torch's thread count to the cores
left, never fewer than one. On a quiet machine that is every core, as torch's default.
An owner's OMP_NUM_THREADS is left alone; machines without /proc are left at the default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

# /proc/stat's cpu line: user nice system idle iowait irq softirq steal (guest time is inside user);
# idle and iowait are the only ticks nobody could have used.
_IDLE_FIELDS = (3, 4)


def machine_jiffies(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """Return (busy, total) clock ticks of all CPUs since boot; steal counts as busy."""
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - sum(fields[i] for i in _IDLE_FIELDS), total


def own_jiffies(stat: Path = Path("/proc/self/stat")) -> int:
    """Return the clock ticks this process (all its threads) has run, user and system."""
    # The command name in parentheses may hold spaces: count fields after its closing one.
    rest = stat.read_text().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15 of proc(5))


def threads_for(cores: int, others: float, most: int) -> int:
    """Return the cores left when other processes use `others` cores' worth: at least one, at most `most`.

    `most` is torch's own default (often the physical cores), so a quiet machine runs as before.
    """
    return max(1, min(most, round(cores - others)))


class CpuShare:
    """Cores' worth of CPU the rest of the machine used between two readings.

    Args:
        cores: cores this process may run on.
        machine: returns (busy, total) ticks of every CPU; `machine_jiffies` by default.
        own: returns this process's ticks; `own_jiffies` by default.

    """

    def __init__(self, cores: int, machine: Callable[[], tuple[int, int]] = machine_jiffies,
                 own: Callable[[], int] = own_jiffies) -> None:
        self.cores = cores
        self._machine = machine
        self._own = own
        self._last = self._read()

    def _read(self) -> tuple[int, int, int]:
        busy, total = self._machine()
        return busy, total, self._own()

    def others(self) -> float:
        """Return the cores other processes used since the last call (or since creation)."""
        busy, total, own = now = self._read()
        b0, t0, o0 = self._last
        self._last = now
        if total <= t0:
            return 0.0
        # Ticks count every CPU of the machine: the share others kept busy, in cores of ours
        # (inside a cpuset this assumes their load spreads evenly; it errs towards fewer threads).
        return max(0.0, (busy - b0) - (own - o0)) / (total - t0) * self.cores


def adaptive_threads_enabled() -> bool:
    """Tell whether to adapt: /proc is there and the owner did not set OMP_NUM_THREADS."""
    return not os.environ.get("OMP_NUM_THREADS") and Path("/proc/stat").exists()


def allowed_cores() -> int:
    """Return the cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def first_reading(share: CpuShare, window: float = 0.5) -> float:
    """Return the others' use over a short idle window of this process, before the first step."""
    share.others()
    time.sleep(window)
    return share.others()
