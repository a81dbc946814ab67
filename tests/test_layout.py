"""The tree stays readable: the README's "Code layout" names every package, and no module grows past 350 lines."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = {"tests", ".venv", "benchmarks", ".git", "node_modules"}
MAX_LINES = 350


def _layout_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Code layout")
    block = re.search(r"```\n(.*?)```", text[start:], re.S)
    assert block, "README's Code layout section has no code block"
    return block.group(1)


def listed_folders() -> set[str]:
    """Folders the layout block names: each line starts with `path/` then its one-line description."""
    return {m.group(1) for m in re.finditer(r"^([\w.-]+(?:/[\w.-]+)*)/\s", _layout_section(), re.M)}


def packages() -> set[str]:
    """Every Python package and sub-package (a folder with __init__.py) outside tests, venvs and benchmarks."""
    found = set()
    for init in REPO.rglob("__init__.py"):
        rel = init.parent.relative_to(REPO)
        if rel.parts and not (set(rel.parts) & SKIP) and not any(p.startswith(".") for p in rel.parts):
            found.add(rel.as_posix())
    return found


def test_every_package_is_in_the_readme_layout() -> None:
    missing = sorted(packages() - listed_folders())
    assert not missing, f"README 'Code layout' does not mention {missing}: add one line each"


def test_the_readme_layout_names_only_folders_that_exist() -> None:
    gone = sorted(f for f in listed_folders() if not (REPO / f).is_dir())
    assert not gone, f"README 'Code layout' lists folders that do not exist: {gone}"
    stale = sorted(f for f in listed_folders() - packages()
                   if f.split("/")[0] not in SKIP and (REPO / f.split("/")[0] / "__init__.py").exists())
    assert not stale, f"README 'Code layout' lists folders that are not Python packages: {stale}"


def test_the_layout_section_parses() -> None:
    # A layout that parsed to nothing would make the two tests above pass vacuously.
    assert {"core", "training", "ui"} <= listed_folders()


def test_no_module_over_350_lines() -> None:
    long = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if set(rel.parts) & {"tests", ".venv", ".git", "node_modules"} or rel.parts[0].startswith("."):
            continue
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            long.append(f"{rel.as_posix()} ({n} lines)")
    assert not long, f"modules over {MAX_LINES} lines (split them into modules named for what they hold): {long}"
