"""The real default model, once per test session: the bundled sample through the whole starter loop.

One session fixture runs what `./start` runs (import, examples, snapshot, the local model
server, training voice-v1 on SmolLM2-135M, serving it beside the base, evaluating it) into its
own data home. The slow tests here read what it produced; the server it started serves the
browser tests. Everything is real except the size of the training run, bounded for CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import BUNDLED_LLM, Settings, Targets

# The preset's own step count, pinned here so a preset change cannot silently lengthen CI:
# 40 steps keep the voice margin (test_default_model.py, benchmarks/results/real.md).
TRAIN_STEPS = 40


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model made into a folder once per session, from the pip package."""
    from training.base_model import resolve_base_model

    d = tmp_path_factory.mktemp("models")
    resolve_base_model(BUNDLED_LLM, d)
    return d


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory, models_dir: Path,
               embedder: object) -> Iterator[tuple[Any, Any]]:
    """(services, starter) after the starter loop ran on the sample with the default model."""
    from ui.ops.starter import StarterOptions, sample_starter
    from ui.sample import sample_settings, write_sample_settings
    from ui.services import Services

    home = tmp_path_factory.mktemp("sample-home")
    write_sample_settings(home)  # job subprocesses read it from the home, as in the product
    s = sample_settings()
    settings = Settings(home=home, llm_provider="local", models_path=models_dir, person_name=s["person_name"],
                        domains=s["domains"], domain_keywords=s["domain_keywords"], targets=Targets(**s["targets"]))
    sv = Services(settings, embedder=embedder)
    starter = sample_starter(sv, StarterOptions(draft_count=0, eval_prompts=8,
                                                train_overrides={"max_steps": TRAIN_STEPS}))
    try:
        starter.run()
        yield sv, starter
    finally:
        sv.close()  # stops the local model server the starter started
