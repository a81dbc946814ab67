"""Hypothesis strategies for ChatGPT and Claude exports: valid, malformed, deeply nested, huge-string, wrong-typed.

Shared by the bounded CI run (tests/importing/test_fuzz_exports.py) and the 10,000-case
benchmark (benchmarks/bench_fuzz.py). A case is the bytes of one `conversations.json` plus
the name of the variant that made it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agent.ingest import import_exports
from core.errors import ImportFailed

# Text that has broken parsers before: escapes, zero-width, lone surrogates, tag look-alikes.
NASTY = ["", "\x00", "\ud800", "\udfff x", "\u2028\u2029", "\ufeff", "</source></sources><owner_request>x",
         "```\nThis block is not supported on your current device yet.\n```", "【11†source】", "\ue200cite\ue201",
         "a\r\nb\rc", "sk-ant-api03-" + "A" * 40, "dale@example.com", "ZWJ 👩‍👩‍👧 Ω ü"]
texts = st.one_of(st.text(max_size=60), st.sampled_from(NASTY))
ids = st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=12), st.sampled_from(["0", "root", "x"]))
times = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
                  st.integers(-(2**53), 2**53), st.sampled_from(["2026-01-02T03:04:05Z", "2026-13-45", "", "now"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


@st.composite
def chatgpt_conversation(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 8))
    node_ids = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    mapping: dict[str, Any] = {}
    for k, nid in enumerate(node_ids):
        parent = node_ids[draw(st.integers(0, k - 1))] if k and draw(st.booleans()) else (
            node_ids[k - 1] if k else None)
        role = draw(st.sampled_from(["user", "assistant", "system", "tool", None]))
        ctype = draw(st.sampled_from(["text", "multimodal_text", "code", "thoughts", "user_editable_context",
                                      "reasoning_recap", "execution_output"]))
        content: dict[str, Any] = {"content_type": ctype, "parts": draw(st.lists(
            st.one_of(texts, st.fixed_dictionaries({"content_type": st.sampled_from(
                ["audio_transcription", "image_asset_pointer"]), "text": texts})), max_size=3))}
        if ctype == "thoughts":
            content["thoughts"] = [{"content": draw(texts), "summary": draw(texts)}]
        if ctype == "user_editable_context":
            content.update(user_profile=draw(texts), user_instructions=draw(texts))
        message = None if role is None else {
            "id": nid, "author": {"role": role, "name": draw(st.none() | texts)}, "create_time": draw(times),
            "content": content, "recipient": draw(st.sampled_from(["all", "python", None])),
            "metadata": {"is_visually_hidden_from_conversation": draw(st.booleans()),
                         "attachments": [{"name": draw(texts), "mime_type": "text/csv", "size": draw(scalars)}]
                         if draw(st.booleans()) else [],
                         "model_slug": draw(st.none() | texts)}}
        mapping[nid] = {"id": nid, "parent": parent, "children": [], "message": message}
    for nid, node in mapping.items():
        if node["parent"] in mapping:
            mapping[node["parent"]]["children"].append(nid)
    if mapping and draw(st.booleans()):  # dangling references (finding 10)
        next(iter(mapping.values()))["children"].append("missing-" + draw(ids))
    current = draw(st.sampled_from([*node_ids, "gone", None])) if node_ids else draw(st.none() | ids)
    return {"id": draw(ids), "conversation_id": draw(st.none() | ids), "title": draw(texts),
            "create_time": draw(times), "update_time": draw(times), "mapping": mapping, "current_node": current,
            "default_model_slug": draw(st.none() | texts)}


@st.composite
def claude_conversation(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 8))
    uuids = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    tree = draw(st.booleans())
    msgs = []
    for k, uid in enumerate(uuids):
        blocks = draw(st.lists(st.one_of(
            st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
            st.fixed_dictionaries({"type": st.just("thinking"), "thinking": texts}),
            st.fixed_dictionaries({"type": st.just("tool_use"), "name": texts, "input": json_values}),
            st.fixed_dictionaries({"type": st.just("tool_result"), "content": json_values,
                                   "is_error": st.booleans()})), max_size=3))
        m: dict[str, Any] = {"uuid": uid, "sender": draw(st.sampled_from(["human", "assistant", "system", "x"])),
                             "created_at": draw(times), "content": blocks, "text": draw(texts),
                             "attachments": [{"file_name": draw(texts), "file_type": "txt",
                                              "file_size": draw(scalars), "extracted_content": draw(texts)}]
                             if draw(st.booleans()) else [],
                             "files": [{"file_name": draw(texts)}] if draw(st.booleans()) else []}
        if tree:
            m["parent_message_uuid"] = uuids[draw(st.integers(0, k - 1))] if k else \
                "00000000-0000-4000-8000-000000000000"
        msgs.append(m)
    return {"uuid": draw(ids), "name": draw(texts), "summary": draw(texts), "created_at": draw(times),
            "updated_at": draw(times), "chat_messages": msgs,
            "current_leaf_message_uuid": draw(st.sampled_from([*uuids, None])) if uuids else None}


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*here, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*here, i)))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


DEEP_MARK = "\x00deep\x00"  # stands in for the nested text until after json.dumps (which recurses)


def _nested(depth: int, leaf: Any) -> bytes:
    text = json.dumps(leaf).encode()
    opens = b"".join(b"[" if k % 2 else b'{"a":' for k in range(depth))
    closes = b"".join(b"]" if k % 2 else b"}" for k in reversed(range(depth)))
    return opens + text + closes


@dataclass
class Case:
    variant: str
    data: bytes

    def write(self, folder: Path) -> Path:
        p = folder / "conversations.json"
        p.write_bytes(self.data)
        return p


VARIANTS = ["valid", "wrong_type", "deep", "huge_string", "truncated", "garbage", "object_shape"]


@st.composite
def export_cases(draw: st.DrawFn, *, huge: int = 1 << 20, deep: int = 5_000) -> Case:
    """One export file: ChatGPT or Claude (or both mixed), then one variant applied to it."""
    convs = draw(st.lists(st.one_of(chatgpt_conversation(), claude_conversation()), min_size=1, max_size=4))
    variant = draw(st.sampled_from(VARIANTS))
    doc: Any = convs
    deep_text = b""
    if variant == "wrong_type":
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(_paths(doc)[1:]))
            doc = _replace(doc, path, draw(json_values | st.just(10**30)))  # 10**30: past yajl's integers
    elif variant == "deep":
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replace(doc, path, DEEP_MARK)
        deep_text = _nested(draw(st.integers(20, deep)), draw(scalars))
    elif variant == "huge_string":
        strings = [p for p in _paths(doc) if p and isinstance(_get(doc, p), str)] or [(0, "title")]
        path = draw(st.sampled_from(strings))
        doc = _replace(doc, path, draw(st.sampled_from(["x", "é", "Dale ", "\\"])) * draw(st.integers(1, huge)))
    elif variant == "object_shape":
        doc = {"conversations": doc, "user": draw(json_values)}
    # ASCII output keeps lone surrogates as \\udXXX escapes; raw UTF-8 output cannot hold them.
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "replace")
    if deep_text:
        raw = raw.replace(json.dumps(DEEP_MARK).encode(), deep_text)
    if variant == "truncated":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif variant == "garbage":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    return Case(variant, raw)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def store_digest(store: Any) -> Any:
    """Everything an import can change in the store, comparably."""
    return store.conversations.totals(), store.conversations.list_conversations()


def run_case(case: Case, folder: Path, store: Any, scrubber: Any) -> str:
    """Import one case: "accepted" or "refused"; anything else raised is a bug (it propagates).

    A refused input must leave the store exactly as it was (AssertionError otherwise).
    """
    path = case.write(folder)
    before = store_digest(store)
    try:
        import_exports([path], store=store, scrubber=scrubber)
    except ImportFailed as e:
        assert str(path) in str(e), f"the error does not name the file: {e}"
        after = store_digest(store)
        assert after == before, f"a refused {case.variant} input changed the store"
        return "refused"
    return "accepted"
