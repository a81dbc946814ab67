"""How a model is named in settings: `bundled:NAME` (shipped in a pip package) or a HF folder/name.

Kept apart from training.base_model, which builds the folder with torch and transformers:
the app's process names and finds models without importing the GPU stack.
"""

from __future__ import annotations

BUNDLED_PREFIX = "bundled:"


def is_bundled(name: str) -> bool:
    """Return True for a `bundled:NAME` model reference."""
    return name.startswith(BUNDLED_PREFIX)
