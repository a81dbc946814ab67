"""Wall time of the newcomer's everyday commands, before and after, side by side in one run (issue 12).

    python benchmarks/bench_newcomer.py --before /path/to/checkout-of-main [--repeats 5]

Both checkouts run with this interpreter (the same installed libraries) on the same data: the
bundled sample imported into a temporary home (embedded and indexed), the miner's examples
approved. Each command runs as a fresh `python -m ui.cli …` process with the checkout first on
sys.path; runs are interleaved (before, after, before, …) so machine load hits both alike.
Writes the table to benchmarks/results/newcomer.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU: list[float] = []  # CPU seconds (user + system) of each command run, in order
TELEMETRY = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1",
             "GRADIO_ANALYTICS_ENABLED": "False", "DEEPEVAL_TELEMETRY_OPT_OUT": "1", "ANONYMIZED_TELEMETRY": "False"}
# (label, arguments before, arguments after, target seconds on a quiet box)
COMMANDS = [
    ("idiolect --help", ["--help"], ["--help"], None),
    ("idiolect status", ["status"], ["status"], 2.0),
    ("idiolect examples list", ["examples"], ["examples", "list"], None),
    ('idiolect search "why I self-host"', ["search", "why I self-host"], ["search", "why I self-host"], 5.0),
    ("idiolect dataset report", ["dataset", "report"], ["dataset", "report"], None),
]


def cli(checkout: Path, home: Path, args: list[str], *, check: bool = True) -> float:
    """Run one CLI command from `checkout`; its wall time in seconds."""
    return run_cli(checkout, home, args, check=check)[0]


def run_cli(checkout: Path, home: Path, args: list[str], *, check: bool = True) -> tuple[float, str]:
    """Run one CLI command from `checkout`; (wall seconds, stdout)."""
    env = {**os.environ, **TELEMETRY, "IDIOLECT_HOME": str(home), "PYTHONPATH": str(checkout)}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=checkout, env=env, capture_output=True,
                          text=True, check=False)
    took = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    if check and proc.returncode != 0:
        raise SystemExit(f"{checkout}: idiolect {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took, proc.stdout


def prepare(home: Path) -> int:
    """Import the sample (indexed), mine it without an LLM, approve the mined examples (after's code); how many."""
    import json

    from ui.sample import sample_paths

    home.mkdir(parents=True, exist_ok=True)
    (home / "idiolect.toml").write_text('llm_provider = "none"\n', encoding="utf-8")
    cli(REPO, home, ["import", *map(str, sample_paths()), "--json"])
    cli(REPO, home, ["mine", "--no-llm", "--json"])
    return int(json.loads(run_cli(REPO, home, ["examples", "approve", "--status", "pending", "--yes", "--json"])[1])[
        "changed"])


def git_head(path: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="A checkout of the code before the change.")
    ap.add_argument("--after", type=Path, default=REPO)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "newcomer.md")
    args = ap.parse_args()
    before, after = args.before.resolve(), args.after.resolve()
    home = Path(tempfile.mkdtemp(prefix="bench-newcomer-")) / "home"
    t0 = time.perf_counter()
    approved = prepare(home)
    setup_s = time.perf_counter() - t0
    load_start = os.getloadavg()
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for _label, b_args, a_args, _ in COMMANDS:  # one unrecorded run each: the file cache is warm for both
        cli(before, home, b_args)
        cli(after, home, a_args)
    for _ in range(args.repeats):
        for label, b_args, a_args, _ in COMMANDS:
            times.setdefault((label, "before"), []).append(cli(before, home, b_args))
            cpu.setdefault((label, "before"), []).append(CPU[-1])
            times.setdefault((label, "after"), []).append(cli(after, home, a_args))
            cpu.setdefault((label, "after"), []).append(CPU[-1])
            print(f"{label}: before {times[(label, 'before')][-1]:.2f} s, after {times[(label, 'after')][-1]:.2f} s",
                  flush=True)
    load_end = os.getloadavg()
    rows = []
    for label, _, _, target in COMMANDS:
        b, a = statistics.median(times[(label, "before")]), statistics.median(times[(label, "after")])
        goal = f"<= {target:g} s" if target else ""
        cb, ca = statistics.median(cpu[(label, "before")]), statistics.median(cpu[(label, "after")])
        rows.append(f"| `{label}` | {b:.2f} s | **{a:.2f} s** | {b / a:.1f}x | {min(times[(label, 'after')]):.2f} s "
                    f"| {cb:.2f} s / {ca:.2f} s | {goal} |")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    text = "\n".join([
        "## The newcomer's commands: wall time before and after (issue 12)",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), shared with other jobs (load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end); date {date.today().isoformat()}. "
        f"Command: `.venv/bin/python benchmarks/bench_newcomer.py --before CHECKOUT --repeats {args.repeats}` "
        f"(before = `{git_head(before)}`, after = `{git_head(after)}` plus the working tree). Data: the bundled sample "
        f"imported and indexed into a fresh home, its {approved} mined examples approved (setup {setup_s:.0f} s, "
        "not timed). Each cell is the median of fresh processes, before and after interleaved; "
        "`idiolect examples` is `examples list` after the change. CPU is user + system seconds of the process "
        "(median): on a loaded machine it says more than the wall time about a quiet one.",
        "",
        "| command | before (median) | after (median) | speed-up | after (best) | CPU before / after "
        "| target (quiet box) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Where the time went: `search` imported sentence-transformers (torch, transformers) to embed one query; "
        "it now embeds small batches with a numpy copy of the bundled MiniLM (core/minilm.py, same vectors to "
        "1e-5) and loads sentence-transformers only for bulk embedding. Command modules import their "
        "heavy libraries inside the commands that use them (`python -X importtime -m ui.cli status`). What "
        "remains in `status` is opening the store (SQLAlchemy, Alembic's migration check); in `search`, "
        "chromadb; in `dataset report`, datasketch (which imports scipy.integrate) and the QC itself.",
        "",
    ])
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
