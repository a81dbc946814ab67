"""Write a synthetic ChatGPT export (conversations.json, streamed) of about TARGET bytes.

    python benchmarks/gen_chatgpt_export.py OUT_DIR --size 10MB [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

WORDS = ("the panel breaker load circuit busbar wire ground fault amp volt rack gpu node model train "
         "cost budget customer plant shift night crew quote price server cluster queue retry latency "
         "honestly frankly look think measure twice cut once like a river downstream upstream motor "
         "transformer copper aluminum conduit torque spec code inspector permit").split()
SECRETS = ["my email is crew{n}@example.com", "call 937-555-01{n:02d}", "box at 10.0.{n}.7",
           "key sk-proj-{n:04d}AbCdEfGhIjKlMnOpQrStUvWxYz012345"]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 18))
    return " ".join(words).capitalize() + rng.choice([".", ".", "?", "!"])


def _text(rng: random.Random, n: int) -> str:
    return " ".join(_sentence(rng) for _ in range(n))


def conversation(i: int, rng: random.Random, turns: int) -> dict:
    cid = f"bench-{i:08d}"
    mapping: dict = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent, t = "root", 1_700_000_000.0 + i * 600
    for k in range(turns):
        for role in ("user", "assistant"):
            nid = f"{cid}-{k}-{role[0]}"
            body = _text(rng, rng.randint(1, 6) if role == "user" else rng.randint(3, 10))
            if role == "user" and rng.random() < 0.05:
                body += " " + rng.choice(SECRETS).format(n=i % 100)
            t += 20
            mapping[nid] = {"id": nid, "parent": parent, "children": [], "message": {
                "id": nid, "author": {"role": role}, "create_time": t, "recipient": "all",
                "content": {"content_type": "text", "parts": [body]}, "metadata": {}}}
            mapping[parent]["children"].append(nid)
            parent = nid
    return {"title": f"Bench {i}", "create_time": 1_700_000_000.0 + i * 600, "update_time": t,
            "mapping": mapping, "current_node": parent, "conversation_id": cid, "id": cid}


def parse_size(s: str) -> int:
    s = s.upper().strip()
    for unit, mult in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * mult)
    return int(s)


def write_export(out_dir: Path, size: int, seed: int = 0, turns: int = 4) -> tuple[Path, int]:
    """Stream conversations into OUT_DIR/conversations.json until it reaches `size` bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    path = out_dir / "conversations.json"
    n = 0
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        while written < size:
            chunk = ("," if n else "") + json.dumps(conversation(n, rng, turns), separators=(",", ":"))
            f.write(chunk)
            written += len(chunk)
            n += 1
        f.write("]")
    return path, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", default="10MB")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    path, n = write_export(a.out_dir, parse_size(a.size), a.seed)
    print(f"{path}: {n} conversations, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
