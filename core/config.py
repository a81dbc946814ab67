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

    llm_provider: Literal["none", "anthropic", "openai"] = "none"
    llm_model: str = "claude-sonnet-4-6"
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL (vLLM, Ollama…).")
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    judge_provider: Literal["none", "anthropic", "openai"] = "none"
    judge_model: str | None = None
    local_only: bool = Field(False, description="Refuse any LLM endpoint not on this machine/LAN.")
    llm_concurrency: int = 8

    scrub_allow: list[str] = Field(default_factory=list, description="Strings never redacted.")
    scrub_deny: list[str] = Field(default_factory=list, description="Strings always redacted.")
    person_name: str | None = Field(None, description="The owner's name, for prompts and cards.")

    domains: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DOMAINS))
    targets: Targets = Field(default_factory=Targets)

    vllm_url: str | None = Field(None, description="Running vLLM (or other OpenAI-compatible) server.")
    max_gpu_jobs: int = 1
    allow_open_bind: bool = Field(
        False, description="Serve beyond loopback without rater accounts (containers that publish on 127.0.0.1)."
    )

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
