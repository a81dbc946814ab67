"""Write one benchmark's section into a shared results file, leaving the other sections as they are."""

from __future__ import annotations

import re
from pathlib import Path

TITLES = {"hardening": "## Hardening (issue 14)", "libraries": "## Hand-written or library (issue 13)"}


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the block between `<!-- name -->` and `<!-- /name -->` in `path`."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text("utf-8") if path.exists() else TITLES.get(path.stem, f"## {path.stem}") + "\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, "utf-8")
