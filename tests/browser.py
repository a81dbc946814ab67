"""What every browser test shares: Debian's chromium (never a Playwright download), its flags, where screenshots go."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# No sandbox (containers), no GPU, and no background traffic of the browser's own.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="Debian chromium is not at /usr/bin/chromium (apt-get install chromium)")


def free_port() -> int:
    """Return a free TCP port on loopback for an app under test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(p):  # type: ignore[no-untyped-def]
    """Start Debian's chromium headless from a sync_playwright() handle."""
    return p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
