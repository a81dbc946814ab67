"""Import fuzzing at scale (issue 14): 10,000 generated ChatGPT/Claude exports through the whole import.

    python benchmarks/bench_fuzz.py [--cases 10000] [--out benchmarks/results/hardening.md]

Every case is imported (parse, scrub, store) into one store by one long-lived import process;
hypothesis generates the cases in this process and hands them over as files, so the import's
peak memory is measured apart from the generator's (hypothesis keeps every choice it made,
which grows with the number of cases). Recorded: unhandled exceptions (target 0), refused
inputs that changed the store (target 0), the import process's peak memory (target < 1 GB),
and the hostile files of finding 2, each in a fresh process.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import core  # noqa: E402,F401
from benchmarks.results_file import write_section  # noqa: E402


def peak_mb() -> float:
    """This process's own peak resident memory (VmHWM), in MB."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def importer(conn: Any, db: str) -> None:
    """The import process: one store, one case at a time; answers (outcome, detail, peak MB)."""
    from agent.scrub import Scrubber
    from core.store import Store
    from tests.fakes.export_fuzz import Case, run_case

    store, scrubber = Store.open(db), Scrubber()
    while (msg := conn.recv()) is not None:
        folder, variant = msg
        case = Case(variant, (Path(folder) / "conversations.json").read_bytes())
        try:
            conn.send((run_case(case, Path(folder), store, scrubber), "", peak_mb()))
        except AssertionError as e:  # a refused input changed the store
            conn.send(("changed", str(e), peak_mb()))
        except Exception as e:  # noqa: BLE001 (counted: the number this benchmark exists to show)
            where = [ln for ln in traceback.format_exc().splitlines() if ln.strip().startswith("File")][-1]
            conn.send(("unhandled", f"{type(e).__name__}: {str(e)[:120]} ({where.strip()})", peak_mb()))
    store.close()


def fuzz(cases: int, seed: int, huge: int) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    from tests.fakes.export_fuzz import export_cases

    tmp = Path(tempfile.mkdtemp(prefix="idiolect-fuzz-"))
    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing of the generator's memory
    here, there = ctx.Pipe()
    worker = ctx.Process(target=importer, args=(there, f"sqlite:///{tmp / 'fuzz.db'}"))
    worker.start()
    outcomes: Counter[tuple[str, str]] = Counter()
    unhandled: Counter[str] = Counter()
    state = {"changed": 0, "biggest": 0, "import_peak": 0.0}

    @hseed(seed)
    @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=export_cases(huge=huge, deep=200_000))
    def one(case) -> None:  # type: ignore[no-untyped-def]
        state["biggest"] = max(state["biggest"], len(case.data))
        case.write(tmp)
        here.send((str(tmp), case.variant))
        outcome, detail, peak = here.recv()
        state["import_peak"] = max(state["import_peak"], peak)
        if outcome in ("accepted", "refused"):
            outcomes[(case.variant, outcome)] += 1
        else:
            state["changed"] += outcome == "changed"
            unhandled[f"{outcome}: {detail}"] += 1

    started = time.perf_counter()
    try:
        one()
    finally:
        here.send(None)
        worker.join()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"outcomes": outcomes, "unhandled": unhandled, "changed": state["changed"],
            "seconds": time.perf_counter() - started, "peak_mb": state["import_peak"], "generator_mb": peak_mb(),
            "biggest": state["biggest"], "n": sum(outcomes.values()) + sum(unhandled.values())}


HOSTILE_CHILD = r"""
import sys
from pathlib import Path
from agent.importers import Tally, discover, read_source
from core.errors import ImportFailed
from tests.importing.test_hostile_input import HOSTILE
make, _ = HOSTILE[sys.argv[1]]
p = Path(sys.argv[2]) / "conversations.json"
make(p)
size = p.stat().st_size
try:
    for s in discover(p):
        for _ in read_source(s, Tally()):
            pass
    out = "accepted"
except ImportFailed as e:
    out = e.reason
hwm = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"{size}\t{hwm:.0f}\t{out}")
"""


def hostile() -> list[tuple[str, int, float, str]]:
    from tests.importing.test_hostile_input import HOSTILE

    rows = []
    for name in HOSTILE:
        with tempfile.TemporaryDirectory() as d:
            res = subprocess.run([sys.executable, "-c", HOSTILE_CHILD, name, d], capture_output=True, text=True,
                                 cwd=ROOT, timeout=900)
            size, hwm, out = res.stdout.strip().split("\t", 2)
            rows.append((name, int(size), float(hwm), out))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--huge", type=int, default=1 << 20, help="longest generated string, in characters")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/hardening.md"))
    args = ap.parse_args()
    r = fuzz(args.cases, args.seed, args.huge)
    hrows = hostile()
    by_variant: dict[str, Counter[str]] = {}
    for (variant, outcome), n in r["outcomes"].items():
        by_variant.setdefault(variant, Counter())[outcome] += n
    lines = [
        "### Import fuzzing (finding 2 and the fuzzing requirement)",
        f"Machine: {platform.machine()}, 2 cores shared with other jobs, Python {platform.python_version()}; "
        f"{date.today()}. Command: `python benchmarks/bench_fuzz.py --cases {args.cases} --seed {args.seed} "
        f"--huge {args.huge}`.",
        "",
        "| measure | result | target | |",
        "|---|---|---|---|",
        f"| generated exports imported (parse, scrub, store) | **{r['n']:,}** in {r['seconds']:.0f} s "
        f"(largest file {r['biggest'] / 2**20:.1f} MB) | 10,000 | {'pass' if r['n'] >= 10_000 else 'short'} |",
        f"| unhandled exceptions | **{sum(r['unhandled'].values()) - r['changed']}** | 0 | "
        f"{'pass' if sum(r['unhandled'].values()) == r['changed'] else 'FAIL'} |",
        f"| refused inputs that changed the store | **{r['changed']}** | 0 | "
        f"{'pass' if not r['changed'] else 'FAIL'} |",
        f"| peak memory of the import process, all cases in one store (VmHWM) | **{r['peak_mb']:.0f} MB** | < 1 GB | "
        f"{'pass' if r['peak_mb'] < 1024 else 'FAIL'} |",
        f"| (peak memory of the hypothesis generator process, for scale) | {r['generator_mb']:.0f} MB | | |",
        "",
        "| variant | accepted | refused (ImportFailed naming the file) |",
        "|---|---|---|",
        *[f"| {v} | {c['accepted']} | {c['refused']} |" for v, c in sorted(by_variant.items())],
        "",
        "Hostile files of finding 2, each read in a fresh process (peak VmHWM of that process). Before the fix "
        "the 200 KB deep array reached the 8 GB address-space cap and died with MemoryError after 29 s "
        "(measured with the same files, `ulimit -v 8000000`).",
        "",
        "| file | size | peak memory | outcome |",
        "|---|---|---|---|",
        *[f"| {n} | {size / 1024:.0f} KB | {hwm:.0f} MB | {out} |" for n, size, hwm, out in hrows],
    ]
    if r["unhandled"]:
        lines += ["", "Unhandled:", *[f"- {k} × {v}" for k, v in r["unhandled"].most_common(10)]]
    write_section(Path(args.out), "fuzz", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
