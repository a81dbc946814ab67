"""The automatic retrain policy and its bookkeeping: every N new arena pairs, never two runs at once.

Torch-free and Gradio-free: the app's vote hook (ui/ops/retrain_trigger.py) and the CLI read
and write it. `run_lock` is the one guard against overlapping retrains: an flock on a file
in the data home, held by whichever process is inside `training.runs.retrain.retrain`.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, JobError
from core.schemas import utcnow
from training.dataset.preferences import ScrubFn, arena_pairs, convert_votes

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

STATE_KEY = "retrain_state"  # {"pairs_seen": N, "last_run": iso, "adapter": name, "challenger": name}
POLICY_KEY = "retrain_policy"  # {"every": N, "config": {RetrainConfig fields}} or {"every": None}
TRIGGER_KEY = "retrain_trigger"  # {"pairs": N at the last automatic start, "job_id": id, "at": iso, "error": str}
RUN_LOCK = "retrain.lock"  # under settings.home; held by whichever process runs `retrain`


def retrain_state(store: Store) -> dict[str, Any]:
    """Bookkeeping of the last retrain (pairs seen then, adapter made, scheduled challenger)."""
    return store.kv.get(STATE_KEY) or {"pairs_seen": 0}


def set_policy(store: Store, every: int | None, config: dict[str, Any] | None = None) -> None:
    """Retrain automatically after `every` new arena pairs (None switches it off).

    Args:
        store: the open Store.
        every: pairs between automatic retrains; None turns the policy off.
        config: RetrainConfig fields the automatic runs use (preset, dpo, overrides…).

    Raises:
        ConfigError: `every` below 1, or a config key RetrainConfig does not have.

    """
    if every is not None and every < 1:
        raise ConfigError(f"retrain policy: every must be >= 1 new pairs, got {every}")
    from training.runs.retrain import retrain_config

    cfg = dict(config or {})
    retrain_config(cfg)  # validate now, not when the threshold is reached
    store.kv.put(POLICY_KEY, {"every": every, "config": cfg} if every else {"every": None})


def policy(store: Store) -> int | None:
    """Return the policy's N (new pairs between automatic retrains), or None when it is off."""
    return (store.kv.get(POLICY_KEY) or {}).get("every")


def policy_config(store: Store) -> dict[str, Any]:
    """RetrainConfig fields the automatic runs use ({} = the defaults)."""
    return dict((store.kv.get(POLICY_KEY) or {}).get("config") or {})


def trigger_state(store: Store) -> dict[str, Any]:
    """Return the last automatic start: pairs counted then, its job id, time, any error starting it."""
    return store.kv.get(TRIGGER_KEY) or {}


def record_trigger(store: Store, *, pairs: int, job_id: str | None, error: str | None = None) -> None:
    """Note an automatic start (or a failed attempt: `error` set and the baseline kept)."""
    prev = trigger_state(store)
    store.kv.put(TRIGGER_KEY, {"pairs": prev.get("pairs", 0) if error else pairs,
                               "job_id": prev.get("job_id") if error else job_id,
                               "at": utcnow().isoformat(), "error": error})


def new_pairs(store: Store) -> int:
    """Arena pairs stored since the last retrain, or since the last automatic start if later.

    Counting from the automatic start means a run that fails does not re-trigger on the
    very next vote: the next attempt waits for another `every` pairs.
    """
    seen = max(int(retrain_state(store).get("pairs_seen", 0)), int(trigger_state(store).get("pairs", 0)))
    return max(0, len(arena_pairs(store)) - seen)


def due(store: Store, scrub: ScrubFn) -> bool:
    """Convert new votes, then say whether the policy's threshold of new pairs is reached."""
    every = policy(store)
    if not every:
        return False
    convert_votes(store, scrub)
    return new_pairs(store) >= every


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    # flock, not a marker file: the kernel drops it when the process dies, so a crashed
    # retrain never blocks the next one.
    settings.home.mkdir(parents=True, exist_ok=True)
    with (settings.home / RUN_LOCK).open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise JobError("a retrain is already running (another process holds "
                           f"{settings.home / RUN_LOCK}); wait for it to finish") from e
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def retrain_running(settings: Settings) -> bool:
    """Tell whether some process is inside `retrain` right now."""
    try:
        with run_lock(settings):
            return False
    except JobError:
        return True
