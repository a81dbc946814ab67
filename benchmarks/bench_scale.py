"""Scale benchmarks (issue 15): a heavy user's import, retrieval quality, results in benchmarks/results/scale.md.

    python benchmarks/bench_scale.py import --sizes 50MB,200MB [--pg URL] [--fill-seconds 600]
    python benchmarks/bench_scale.py retrieval [--distractors 1MB] [--pg URL]

`import`: a generated ChatGPT export of each size is imported in a fresh process (parse,
scrub, store, lexical index: the point where `idiolect import` has made it searchable),
then the dense index is filled in another fresh process (the background worker), for at
most --fill-seconds; if it does not finish, the rest is extrapolated from its rate and the
table says so. Peak RSS is each process's own VmHWM.

`retrieval`: the 44 queries of agent/retrieval_set.json against the shared fixtures, alone
and with generated distractor messages, for lexical, dense and fused search side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "scale.md"

SEARCHABLE = r"""
import json, resource, sys, time
import numpy as np
import core
from core.store import Store
from agent.scrub import Scrubber
from agent.ingest import import_exports
from agent.profile import refresh_profile
from agent.retrieval_eval import load_retrieval_set
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
store = Store.open(sys.argv[2])
t = time.perf_counter()
s = import_exports([sys.argv[1]], store=store, scrubber=Scrubber())
searchable = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
cpu = ru.ru_utime + ru.ru_stime
rss_import = hwm()
lat = []
for q in [q.query for q in load_retrieval_set()]:
    t = time.perf_counter()
    hits = store.chunks.lexical(q, 32)
    lat.append((time.perf_counter() - t) * 1000)
t = time.perf_counter()
refresh_profile(store)
profile = time.perf_counter() - t
print(json.dumps({"searchable_s": searchable, "searchable_cpu_s": cpu, "profile_s": profile,
                  "conversations": s.conversations,
                  "person": s.person_messages, "chunks": s.chunks_indexed, "rss_import_mb": rss_import,
                  "rss_mb": hwm(), "lexical_p50_ms": float(np.percentile(lat, 50)),
                  "lexical_p95_ms": float(np.percentile(lat, 95))}))
"""

FILL = r"""
import json, os, resource, sys, time
import core
from core.config import Settings
from ui.services import Services
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
s = Settings(home=sys.argv[1], database_url=sys.argv[2] or None)
sv = Services(s)
sv.embedder.encode(["warm up"])
budget = float(sys.argv[3])
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
c0 = cpu()
t0 = time.perf_counter()
rep = sv.message_index.fill(should_stop=lambda: time.perf_counter() - t0 > budget)
print(json.dumps({"embedded": rep.embedded, "seconds": rep.seconds, "remaining": rep.remaining,
                  "cpu_s": cpu() - c0,
                  "rss_mb": hwm(), "device": sv.embedder.device, "vectors": sv.index.count()}))
"""


def _child(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"child failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _fresh_db(home: Path, label: str, pg: str | None) -> str:
    """An empty database: PostgreSQL's `bench_<label>` on the server, else the SQLite file in `home`."""
    if not pg:
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'idiolect.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_{label.lower()}_{os.getpid()}"
    eng = create_engine(pg, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return make_url(pg).set(database=name).render_as_string(hide_password=False)


def bench_import(sizes: list[str], pg: str | None, fill_seconds: float) -> list[dict]:
    from benchmarks.gen_chatgpt_export import parse_size, write_export

    tmp = Path(tempfile.mkdtemp(prefix="idiolect-scale-"))
    rows = []
    for label in sizes:
        d = tmp / label
        path, n = write_export(d / "export", parse_size(label), seed=7)
        url = _fresh_db(d / "home", label, pg)
        load = os.getloadavg()[0]
        a = _child(SEARCHABLE, str(path), url)
        print(label, "searchable", a, flush=True)
        b = _child(FILL, str(d / "home"), "" if url.startswith("sqlite") else url, str(fill_seconds))
        print(label, "fill", b, flush=True)
        rate = b["embedded"] / max(b["seconds"], 1e-9)
        full = b["seconds"] if b["remaining"] == 0 else b["seconds"] + b["remaining"] / rate
        rows.append({"size": label, "bytes": path.stat().st_size, "conversations": n, **a,
                     "fill": b, "rate": rate, "full_s": full, "extrapolated": b["remaining"] > 0, "load": load})
        path.unlink()
    return rows


def bench_retrieval(distractors: str, pg: str | None) -> list[dict]:
    from agent.index import MessageIndex
    from agent.ingest import import_exports
    from agent.retrieval_eval import evaluate, load_retrieval_set
    from agent.scrub import Scrubber
    from benchmarks.gen_chatgpt_export import parse_size, write_export
    from core.config import Settings
    from ui.services import Services

    exports = ROOT.parent / "shared" / "fixtures" / "exports"
    queries = load_retrieval_set()
    tmp = Path(tempfile.mkdtemp(prefix="idiolect-retrieval-"))
    out = []
    for label, extra in (("fixtures", None), (f"fixtures + {distractors} distractors", distractors)):
        home = tmp / f"home-{len(out)}"
        url = _fresh_db(home, f"retrieval{len(out)}", pg)
        s = Settings(home=home, database_url=None if url.startswith("sqlite") else url)
        sv = Services(s)
        paths = [exports / "claude", exports / "chatgpt"]
        if extra:
            paths.append(write_export(tmp / "distractors", parse_size(extra), seed=11)[0])
        index = MessageIndex(sv.store, sv.index, sv.embedder)
        import_exports(paths, store=sv.store, scrubber=Scrubber(), index=index)
        row = {"corpus": label, "chunks": sv.store.chunks.counts()["chunks"], "backend": sv.store.dialect}
        for mode in ("lexical", "dense", "fused"):
            row[mode] = evaluate(
                lambda q, m=mode, ix=index: [h.message_id for h in ix.search(q, 8, mode=m, diverse=False)], queries)
        print(row, flush=True)
        out.append(row)
        sv.close()
    return out


def write_section(title: str, lines: list[str]) -> None:
    """Replace (or append) the `## title` section of scale.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Scale (issue 15)\n"
    parts = text.split("\n## ")
    head, sections = parts[0], {p.split("\n", 1)[0]: p.strip() for p in parts[1:]}
    sections[title] = "\n".join([title, *lines]).strip()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(head.rstrip() + "\n\n" + "\n\n".join(f"## {v}" for v in sections.values()) + "\n")


def _machine() -> str:
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, no GPU (embedding on CPU); Python "
            f"{platform.python_version()}; {date.today().isoformat()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("import")
    a.add_argument("--sizes", default="50MB,200MB")
    a.add_argument("--pg", help="PostgreSQL server URL (postgresql+psycopg://...); default SQLite")
    a.add_argument("--fill-seconds", type=float, default=600)
    r = sub.add_parser("retrieval")
    r.add_argument("--distractors", default="1MB")
    r.add_argument("--pg")
    args = ap.parse_args()
    os.environ.setdefault("IDIOLECT_HOME", tempfile.mkdtemp(prefix="idiolect-scale-home-"))
    import core  # noqa: F401  (telemetry off)

    if args.cmd == "import":
        rows = bench_import(args.sizes.split(","), args.pg, args.fill_seconds)
        backend = "PostgreSQL 15" if args.pg else "SQLite"
        lines = [_machine() + f"; store: {backend}. Command: `python benchmarks/bench_scale.py import "
                 f"--sizes {args.sizes}{' --pg URL' if args.pg else ''} --fill-seconds {args.fill_seconds:.0f}`.", "",
                 "| export | conversations / person messages / chunks | searchable (parse+scrub+store+lexical): "
                 "wall (CPU) | then profile | peak RSS import | lexical search p50 / p95 | dense fill rate: wall "
                 "(per CPU-s) | fully indexed | peak RSS fill worker | load |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for x in rows:
            full = f"{x['full_s'] / 60:.0f} min" + (" (extrapolated)" if x["extrapolated"] else "")
            lines.append(
                f"| {x['size']} ({x['bytes'] / 2**20:.0f} MB) | {x['conversations']:,} / {x['person']:,} / "
                f"{x['chunks']:,} | **{x['searchable_s']:.0f} s** ({x['searchable_cpu_s']:.0f} s) | "
                f"+{x['profile_s']:.0f} s | "
                f"{x['rss_import_mb']:.0f} MB ({x['rss_mb']:.0f} MB with the profile) | "
                f"{x['lexical_p50_ms']:.1f} / {x['lexical_p95_ms']:.1f} ms | {x['rate']:.1f} chunks/s "
                f"({x['fill']['embedded'] / max(x['fill']['cpu_s'], 1e-9):.1f}) "
                f"({x['fill']['embedded']:,} in {x['fill']['seconds']:.0f} s) | {full} | "
                f"{x['fill']['rss_mb']:.0f} MB | {x['load']:.1f} |")
        lines += ["", "Searchable = `import_exports` returned: every chunk is in the full-text index "
                  "(and the CLI returns after the voice profile). The fill ran in its own process, "
                  "as the background worker does; an extrapolated figure assumes the measured rate holds "
                  "(HNSW inserts slow down slightly as the index grows)."]
        write_section(f"Import at scale ({backend})", lines)
    else:
        rows = bench_retrieval(args.distractors, args.pg)
        lines = [_machine() + f". Command: `python benchmarks/bench_scale.py retrieval --distractors "
                 f"{args.distractors}{' --pg URL' if args.pg else ''}`.", "",
                 "44 queries with graded relevant messages (agent/retrieval_set.json: 31 paraphrases that avoid "
                 "the message's words, 13 keyword queries), one hit per message, no MMR.", "",
                 "| corpus (backend) | chunks | lexical recall@8 / nDCG@8 | dense | fused (RRF) | "
                 "paraphrase recall: lexical / dense / fused | keyword recall: lexical / dense / fused |",
                 "|---|---|---|---|---|---|---|"]
        for x in rows:
            m = {k: x[k] for k in ("lexical", "dense", "fused")}
            lines.append(
                f"| {x['corpus']} ({x['backend']}) | {x['chunks']:,} | "
                + " | ".join(f"{m[k]['recall']:.3f} / {m[k]['ndcg']:.3f}" for k in m)
                + " | " + " / ".join(f"{m[k]['paraphrase']['recall']:.3f}" for k in m)
                + " | " + " / ".join(f"{m[k]['keyword']['recall']:.3f}" for k in m) + " |")
        write_section(f"Retrieval quality ({rows[0]['backend']})", lines)
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
