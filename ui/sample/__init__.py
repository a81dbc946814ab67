"""The bundled sample exports (a fictional persona) that `idiolect app --sample` imports."""

from __future__ import annotations

from pathlib import Path


def sample_paths() -> list[Path]:
    here = Path(__file__).parent
    return sorted(here.glob("*-sample.zip"))
