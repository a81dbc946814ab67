"""A release gate the owner runs with pytest or `deepeval test run`: the last evaluation must pass.

`write_gate(path, model=...)` writes a small pytest file; each test asserts one voice-metrics
target through deepeval's `assert_test` with `VoiceCheckMetric`, a deepeval `BaseMetric` that
reads the stored evaluation instead of calling any model (so the gate runs offline, in
seconds, and deepeval's test-run summary lists every check).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from deepeval.metrics import BaseMetric
from deepeval.test_case import LLMTestCase

from core.errors import ConfigError, NotFound

GATE_CHECKS = ("voice_gap_closed", "no_weak_component", "c2st_auc", "attribution", "memorisation",
               "signature_phrases", "diversity", "style_features", "away_towards")
REQUIRED = ("voice_gap_closed", "no_weak_component", "memorisation")

GATE_TEMPLATE = '''"""Release gate for the {model} adapter: its latest voice evaluation must meet the targets.

Run either of:
    deepeval test run {filename}
    pytest {filename}
Re-run `idiolect eval --models base,{model}` first so the gate reads a fresh evaluation.
Written by `idiolect eval --write-gate`; edit REQUIRED to make soft checks hard.
"""

import pytest
from deepeval import assert_test
from deepeval.test_case import LLMTestCase

import core  # noqa: F401  (telemetry off before anything else loads)
from core.config import Settings
from core.store import Store
from eval.release_gate import VoiceCheckMetric, load_system

MODEL = {model!r}
REQUIRED = {required!r}
MAX_AGE_DAYS = {max_age_days!r}


@pytest.fixture(scope="module")
def system():
    store = Store.open(Settings().db_url)
    try:
        return load_system(store, MODEL, max_age_days=MAX_AGE_DAYS)
    finally:
        store.close()


@pytest.mark.parametrize("check", {checks!r})
def test_voice_release(system, check):
    metric = VoiceCheckMetric(system, check, required=check in REQUIRED)
    assert_test(LLMTestCase(input=f"voice release gate: {{MODEL}}", actual_output=check), [metric])
'''


def load_system(store: Any, model: str, *, max_age_days: float | None = None) -> dict[str, Any]:
    """Return the newest stored evaluation of `model`: its voice result plus a check -> ok map.

    Raises:
        NotFound: no evaluation of `model` is stored.
        ConfigError: the newest one is older than `max_age_days`.

    """
    from datetime import datetime

    run = store.evals.latest_run(model)
    if run is None:
        raise NotFound(f"no evaluation of {model!r} is stored; run `idiolect eval --models base,{model}`")
    system = (run.metrics.get("voice") or {}).get("systems", {}).get(model)
    if system is None:
        raise NotFound(f"evaluation {run.id} has no voice result for {model!r} (it was the ceiling?)")
    if max_age_days is not None:
        created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - created).total_seconds() / 86400
        if age > max_age_days:
            raise ConfigError(f"the newest evaluation of {model!r} ({run.id}) is {age:.0f} days old; re-run it")
    return {**system, "run_id": run.id, "check_ok": {c["check"]: c["ok"] for c in system["checks"]}}


class VoiceCheckMetric(BaseMetric):
    """One voice-metrics target as a deepeval metric: 1.0 when met, 0.0 when not.

    A soft check (not `required`) that fails, or any check that could not be measured,
    still passes the gate but says so in its reason.
    """

    def __init__(self, system: dict[str, Any], check: str, *, required: bool = True) -> None:
        if check not in GATE_CHECKS:
            raise ConfigError(f"unknown gate check {check!r}; choose from {', '.join(GATE_CHECKS)}")
        self.system = system
        self.check = check
        self.required = required
        self.threshold = 1.0
        self.async_mode = False
        self.strict_mode = False
        self.include_reason = True
        self.evaluation_model = "stored offline voice evaluation"

    def measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        row = next((c for c in self.system["checks"] if c["check"] == self.check), None)
        ok = None if row is None else row["ok"]
        detail = "not measured" if row is None else row["detail"]
        passed = bool(ok) or (ok is None) or not self.required
        self.score = 1.0 if passed else 0.0
        self.success = passed
        kind = "required" if self.required else "advisory"
        state = "met" if ok else ("not measurable" if ok is None else "NOT met")
        self.reason = f"{self.check} ({kind}) {state}: {detail} [run {self.system.get('run_id', '?')}]"
        return self.score

    async def a_measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        return self.measure(test_case)

    def is_successful(self) -> bool:
        return bool(self.success)

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return f"Voice {self.check}"


def write_gate(path: str | Path, *, model: str, required: tuple[str, ...] = REQUIRED,
               max_age_days: float | None = 30.0) -> Path:
    """Write the release-gate pytest file for `model` to `path` (a file or a directory)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "test_voice_release.py"
    if p.suffix != ".py" or not p.name.startswith("test_"):
        raise ConfigError(f"{p}: the gate file must be a test_*.py file so pytest and deepeval collect it")
    bad = [c for c in required if c not in GATE_CHECKS]
    if bad:
        raise ConfigError(f"unknown gate checks {bad}; choose from {', '.join(GATE_CHECKS)}")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(GATE_TEMPLATE.format(model=model, filename=p.name, required=tuple(required),
                                      checks=list(GATE_CHECKS), max_age_days=max_age_days), "utf-8")
    return p
