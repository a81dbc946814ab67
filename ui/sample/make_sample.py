"""Regenerate the bundled sample exports (a fictional persona) in both vendor formats.

Usage: python -m ui.sample.make_sample
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
# Rosa Ibarra: a fictional timber-frame builder who self-hosts everything. All invented.
DIALOGUES = [
    ("Why I self-host the shop's files", [
        ("Every quote, every drawing, every customer email lives on a little box under my bench. People ask why I "
         "don't just use the cloud. Honestly it's the same reason I don't rent my chisels.",
         "That makes sense. Owning the tools means you control their condition. "
         "Are there parts you'd still outsource?"),
        ("Backups, maybe. Off-site copies are like a second barn: you hope you never need it, but you build it "
         "anyway. Everything else stays here where I can put my hands on it.",
         "A good rule. Want a simple backup plan that keeps the primary at home?"),
    ]),
    ("Mortise and tenon vs steel brackets", [
        ("Client wants steel brackets on the porch posts because they're 'faster'. Faster for who? A tenon is like a "
         "handshake that never lets go.",
         "Brackets are quicker to install but can corrode and loosen. What load is the porch carrying?"),
        ("Snow load, mostly. Thirty pounds a square foot on a bad February. I'd rather cut the joint once and forget "
         "about it for eighty years.",
         "Then a pegged mortise and tenon is a strong choice. Do you want a sizing check?"),
    ]),
    ("Pricing a timber frame pavilion", [
        ("How do I price a 16x20 pavilion without underselling myself again? Last time I charged for the wood and "
         "gave away the thinking.",
         "Price the design time separately. Roughly how many hours did the last one take?"),
        ("Forty hours of layout before I touched a saw. The thinking IS the job. "
         "Sawing is just the part people can see.",
         "Then bill those forty hours at your full rate and show them as a line item."),
    ]),
    ("Teaching the apprentice to read grain", [
        ("My apprentice keeps fighting the grain with the plane. "
         "How do I explain it without just yelling 'the other way'?",
         "You could compare grain to something familiar. What does he already know well?"),
        ("He fishes. So: wood grain is like petting a cat, or a fish's scales. Go with it and it's smooth; go "
         "against it and everything stands up and bites you.",
         "That's a memorable image. Pair it with a test cut on scrap so he feels the difference."),
    ]),
    ("Is a CNC cheating?", [
        ("Somebody at the guild said using a CNC for repetitive joinery is cheating. I think that's nonsense but I "
         "want to argue it well.",
         "What's your main argument?"),
        ("A jig is a program you build out of plywood. The CNC is a jig with better memory. The judgment is still "
         "mine: which tree, which face, where the knot goes.",
         "That's a strong framing: the craft is in the decisions, not the repetition."),
    ]),
]


def _chatgpt() -> list[dict]:
    convs = []
    for n, (title, turns) in enumerate(DIALOGUES):
        cid = str(uuid.UUID(int=0x5A11 + n))
        mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
        parent, t = "root", 1_730_000_000.0 + n * 86_400
        for i, (p, a) in enumerate(turns):
            for role, text in (("user", p), ("assistant", a)):
                nid = f"{cid[:8]}-{i}-{role}"
                t += 30
                mapping[nid] = {"id": nid, "parent": parent, "children": [], "message": {
                    "id": nid, "author": {"role": role, "name": None, "metadata": {}}, "create_time": t,
                    "content": {"content_type": "text", "parts": [text]}, "status": "finished_successfully",
                    "recipient": "all", "metadata": {}}}
                mapping[parent]["children"].append(nid)
                parent = nid
        convs.append({"title": title, "create_time": 1_730_000_000.0 + n * 86_400, "update_time": t,
                      "mapping": mapping, "current_node": parent, "conversation_id": cid, "id": cid})
    return convs


def _claude() -> list[dict]:
    convs = []
    extra = [("Backup box on the bench", [
        ("The NAS under the bench holds the shop files. Its admin password was hunter2-rosa and the owner email "
         "is rosa@ibarra-timber.example, which I should probably not be pasting here.",
         "Please rotate that password now; it has been shared in this chat. Then set up an off-site copy."),
        ("Done. Lesson learned: a password in a chat is like a key left in the truck.",
         "Exactly. A password manager is the lockbox."),
    ])]
    for n, (title, turns) in enumerate(DIALOGUES[:2] + extra):
        cid = str(uuid.UUID(int=0xC1A0 + n))
        msgs, parent = [], "00000000-0000-4000-8000-000000000000"
        for i, (p, a) in enumerate(turns):
            for sender, text in (("human", p), ("assistant", a)):
                mid = str(uuid.UUID(int=0xC1A0_0000 + n * 100 + i * 2 + (sender == "assistant")))
                ts = f"2025-0{n + 1}-1{i}T10:0{i}:0{int(sender == 'assistant')}.000000Z"
                msgs.append({"uuid": mid, "text": text, "content": [{"type": "text", "text": text}],
                             "sender": sender, "created_at": ts, "updated_at": ts, "attachments": [],
                             "files": [], "parent_message_uuid": parent})
                parent = mid
        convs.append({"uuid": cid, "name": title, "summary": "", "created_at": msgs[0]["created_at"],
                      "updated_at": msgs[-1]["created_at"], "chat_messages": msgs})
    return convs


def main() -> None:
    for name, data in (("chatgpt-sample.zip", _chatgpt()), ("claude-sample.zip", _claude())):
        with zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("conversations.json", json.dumps(data, ensure_ascii=False))
    print("wrote", [p.name for p in HERE.glob("*.zip")])


if __name__ == "__main__":
    main()
