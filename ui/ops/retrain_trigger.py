"""The automatic retrain policy in action: a vote hook that starts a retrain job after every N new pairs.

The arena (eval) may not import training, so the app hands `Arena` this object as its
`on_vote` callback. The hook itself only notes the battle and wakes one worker thread,
so a vote's latency does not include converting votes or counting pairs. The worker, one
pass at a time:

1. does nothing unless `idiolect retrain --every N` set a policy;
2. converts the newly voted battles into pairs (with the app's scrubber);
3. starts nothing while a retrain job is queued or running, or any process is retraining;
4. when N pairs have arrived since the last retrain or the last automatic start, starts
   `python -m training.runs.retrain` as a job and records the start, so the next one needs
   another N pairs.

Exactly once: passes are serialised by a lock in this process and by the store's named
lock across processes (an advisory lock on PostgreSQL, so app processes on different
machines sharing one database count too; an flock beside a SQLite file), and step 3 sees
the job the moment it is recorded, so concurrent votes that cross the threshold together
start one job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import IdiolectError
from core.schemas import Job, Vote

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

log = logging.getLogger(__name__)

TRIGGER_LOCK = "retrain-trigger"  # the store lock (core/store/locks.py) serialising passes
StartJob = Callable[[dict[str, Any]], Job]
Scrub = Callable[[str], tuple[str, list[Any]]]


class RetrainTrigger:
    """Watches votes and starts a retrain job when the policy's threshold is reached.

    Args:
        store: the open Store.
        settings: the data home (lock files, jobs).
        scrub: `scrub(text) -> (clean, redactions)`, the app's scrubber.
        start_job: starts the retrain job from a RetrainConfig mapping and returns it;
            default `training.runs.retrain.start_retrain_job` (a subprocess through JobRunner).
        background: run passes on a worker thread (the app); False runs each pass inside
            the hook, for tests that want the result at once.

    """

    def __init__(self, store: Store, settings: Settings, scrub: Scrub, *, start_job: StartJob | None = None,
                 background: bool = True) -> None:
        self.store = store
        self.settings = settings
        self.scrub = scrub
        self._start_job = start_job or self._start_subprocess
        self._background = background
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._converted_all = False
        self._busy = 0  # passes asked for and not yet finished (wait_idle watches it)
        self._idle = threading.Condition()
        self.started: list[Job] = []  # jobs this trigger started, oldest first
        self.last_report: Any = None  # the ConversionReport of the latest pass that converted votes

    def _start_subprocess(self, cfg: dict[str, Any]) -> Job:
        from training.runs.retrain import start_retrain_job

        return start_retrain_job(self.store, self.settings, cfg)

    # ------------------------------------------------------------------ the hook
    def __call__(self, vote: Vote) -> None:
        """Arena's on_vote: note the battle and wake the worker (no I/O here)."""
        with self._pending_lock:
            self._pending.add(vote.battle_id)
        if not self._background:
            self.check()
            return
        with self._pending_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="retrain-trigger", daemon=True)
                self._worker.start()
        with self._idle:
            self._busy += 1
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._idle:
                asked = self._busy
            try:
                self.check()
            except Exception:  # keep watching: one bad pass must not end the policy
                log.exception("retrain trigger pass failed")
            with self._idle:  # every vote noted before this pass began has been handled
                self._busy -= asked
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every vote seen so far has been handled (tests, benchmarks); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # ------------------------------------------------------------------ one pass
    def check(self) -> Job | None:
        """Convert new votes, and start a retrain job if the policy says one is due; returns it."""
        from training.dataset.preferences import arena_pairs, convert_votes
        from training.runs.retrain import (
            new_pairs,
            policy,
            policy_config,
            record_trigger,
            retrain_running,
        )

        with self._lock, self.store.lock(TRIGGER_LOCK):
            with self._pending_lock:
                battles, self._pending = self._pending, set()
            every = policy(self.store)
            if not every:
                return None
            first = not self._converted_all
            if first:  # votes cast before this process started
                report = convert_votes(self.store, self.scrub)
                self._converted_all = True
            else:
                votes = [v for b in sorted(battles) for v in self.store.arena.votes_for(b)]
                report = convert_votes(self.store, self.scrub, votes=votes)
            self.last_report = report
            # Only new pairs can cross the threshold (ties and identical answers make none);
            # the first pass also catches a threshold crossed while no app was running.
            if not (first or report.pairs_created):
                return None
            if new_pairs(self.store) < every:
                return None
            if self.retrain_active() or retrain_running(self.settings):
                return None
            pairs = len(arena_pairs(self.store))
            try:
                job = self._start_job(policy_config(self.store))
            except IdiolectError as e:  # e.g. the training slot is busy: retried on the next vote
                record_trigger(self.store, pairs=pairs, job_id=None, error=str(e))
                log.warning("automatic retrain not started: %s", e)
                return None
            record_trigger(self.store, pairs=pairs, job_id=job.id)
            self.started.append(job)
            return job

    def retrain_active(self) -> bool:
        """Tell whether a retrain job is queued or running (refreshed from its process)."""
        from training.runs.jobs import JobRunner

        return any(j.kind == "retrain" for j in JobRunner(self.store, self.settings).list(active_only=True))


def retrain_status(store: Store, settings: Settings) -> dict[str, Any]:
    """Summarise for the Arena tab: the policy, pairs since the last retrain, the last started job.

    No model names: the Arena tab is where raters sit, and a name here would unblind them.
    """
    from training.runs.retrain import new_pairs, policy, trigger_state

    every = policy(store)
    trig = trigger_state(store)
    job = None
    if trig.get("job_id"):
        from training.runs.jobs import JobRunner

        try:
            job = JobRunner(store, settings).poll(trig["job_id"])
        except IdiolectError:
            job = None
    return {"every": every, "new_pairs": new_pairs(store), "job_id": trig.get("job_id"),
            "job_status": job.status.value if job else None, "triggered_at": trig.get("at"),
            "error": trig.get("error")}
