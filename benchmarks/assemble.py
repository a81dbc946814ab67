"""Assemble BENCHMARKS.md from the per-feature sections in benchmarks/results/.

    python benchmarks/assemble.py
"""

from pathlib import Path

ORDER = ["real", "import", "agent", "dataset", "training", "gpu", "arena", "eval"]


def main() -> None:
    here = Path(__file__).parent
    parts = ["# Benchmarks\n",
             "Measured on the project's development machine (2 CPU cores, 24 GB, no GPU), often while other jobs "
             "shared the cores; each section names its command and date. Targets come from the issues; "
             "ratios are taken side by side in one run. Re-run a section with its command, then "
             "`python benchmarks/assemble.py`.\n"]
    files = {p.stem: p for p in (here / "results").glob("*.md")}
    for name in ORDER + sorted(set(files) - set(ORDER)):
        if name in files:
            parts.append(files[name].read_text().strip() + "\n")
    (here.parent / "BENCHMARKS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
