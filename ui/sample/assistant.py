"""The other side of the sample's conversations: a generic, hedged, bullet-happy assistant.

Deliberately the opposite of her voice (voice-metrics §1.4 uses the assistant turns of a
person's own chats as the classifier's negatives), and topic-matched through each
conversation's talking points so the contrast is style, not subject.
"""

from __future__ import annotations

import random
import re

OPENERS = (
    "Absolutely!", "Certainly!", "Thanks for sharing that context.",
    "That's a really thoughtful approach.", "I understand your concern.", "That's a great idea!",
    "Happy to help with this!", "That's a common challenge, and you're not alone in facing it.",
    "Thank you for the additional details!", "That's an excellent point.",
)
INTROS = (
    "Here are some considerations:", "Here are a few things to keep in mind:", "There are several factors to weigh:",
    "Here's a breakdown of the key points:", "Let me outline a few options:", "Here are some key factors to consider:",
    "Here's a structured way to think about it:", "Below are some points that may be helpful:",
)
BULLETS = (
    "**{P}:** It's important to consider {p}, as it can significantly affect the outcome.",
    "**{P}:** Depending on your specific situation, {p} may vary considerably.",
    "**{P}:** You may want to consult a qualified professional about {p}.",
    "**{P}:** Ensuring {p} is properly addressed can help you avoid issues down the line.",
    "**{P}:** This is often overlooked, but {p} can make a meaningful difference.",
    "**{P}:** Consider documenting your approach to {p} so expectations are clear for everyone involved.",
    "**{P}:** Balancing {p} against cost and schedule is key to a successful result.",
    "**{P}:** There are trade-offs here, so it's worth weighing {p} carefully.",
    "**{P}:** Many professionals recommend reviewing {p} early in the process.",
    "**{P}:** Clear communication around {p} can help build trust and prevent misunderstandings.",
)
CLOSERS = (
    "Ultimately, the best approach depends on your specific goals and constraints.", "I hope this helps!",
    "Let me know if you'd like me to go into more detail on any of these points.",
    "Feel free to reach out if you have any other questions.",
    "It's important to note that local codes and conditions may vary.",
    "By keeping these factors in mind, you'll be well positioned for success.",
    "Each situation is unique, so it may be worth consulting with an expert before making a final decision.",
)
HEDGED = (
    "{P} can be a complex topic, and there isn't a one-size-fits-all answer. In many cases it depends on factors "
    "such as {q} and your specific circumstances. It may be helpful to weigh the pros and cons carefully.",
    "There are valid perspectives on both sides when it comes to {p}. Some professionals prefer one approach, "
    "while others find that {q} plays a larger role. It's worth considering what matters most to you.",
    "It's completely understandable to feel that way about {p}. That said, it's also important to consider how "
    "{q} might influence the final result, as well as any long-term implications.",
    "While {p} is certainly important, it's generally a good idea to look at the bigger picture. Factors like {q} "
    "can have a significant impact, so a balanced approach is often the most effective.",
)
ACKS = (
    "You're absolutely right, and I apologize for the confusion.", "Got it! I'll keep that in mind going forward.",
    "Thank you for the clarification! That makes a lot of sense.", "Understood! I'll keep it concise.",
    "That's a fair point, and I appreciate you pushing back on it.", "Of course! Here's a revised approach.",
)
DRAFTS = (
    "Thank you so much for reaching out! I truly appreciate your interest and your patience. After careful "
    "consideration, I wanted to share an update regarding {p}. Please don't hesitate to let me know if you have "
    "any questions or concerns.",
    "I hope this message finds you well! I wanted to take a moment to provide some clarity around {p}. Your "
    "satisfaction is my top priority, and I'm committed to making sure everything meets your expectations.",
    "Thank you for your understanding! I'm excited to move forward and confident that we can find a solution that "
    "works for everyone. Please feel free to reach out at any time with questions about {p}.",
)
QUESTION_OPENERS = (
    "Great question!", "That's a great question!", "Good question!", "That's a really interesting question.",
)
_ASKS_FOR_TEXT = re.compile(r"\b(write|draft|wording|paragraph|email)\b", re.I)
_SHORT = 8  # words: a reply this short is a nudge, answered with an apology and a retry


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _fill(template: str, p: str, q: str) -> str:
    return template.format(p=p, P=_cap(p), q=q)


def reply(her_text: str, points: list[str], rng: random.Random, ask: str | None = None) -> str:
    """One assistant turn answering `her_text` about a conversation with these talking points.

    It ends on `ask` when given: questions come only from the material, so that an answer the
    miner pairs with the question before it really answers that question.
    """
    p, q = rng.sample(points, 2) if len(points) > 1 else (points[0], points[0])
    words = len(her_text.split())
    parts: list[str] = []
    if words <= _SHORT:
        parts.append(rng.choice(ACKS))
    elif rng.random() < 0.8:
        parts.append(rng.choice(QUESTION_OPENERS if her_text.rstrip().endswith("?") else OPENERS))
    if _ASKS_FOR_TEXT.search(her_text) and rng.random() < 0.7:
        parts.append("Here's a draft you could use:\n\n> " + _fill(rng.choice(DRAFTS), p, q))
    elif rng.random() < 0.62:
        chosen = rng.sample(points, min(len(points), rng.randint(3, 4)))
        numbered = rng.random() < 0.3
        bullets = [f"{n}. " if numbered else "- " for n in range(1, len(chosen) + 1)]
        templates = rng.sample(BULLETS, len(chosen))
        items = [b + _fill(t, c, q) for b, t, c in zip(bullets, templates, chosen, strict=True)]
        parts.append(rng.choice(INTROS) + "\n\n" + "\n".join(items))
    else:
        parts.append(_fill(rng.choice(HEDGED), p, q))
    if ask:
        parts.append(ask)
    elif rng.random() < 0.6:
        parts.append(rng.choice(CLOSERS))
    return "\n\n".join(parts)


def thinking(points: list[str], rng: random.Random) -> str:
    """Write a short reasoning trace (Claude `thinking` block): model text, never anybody's voice."""
    p = rng.choice(points)
    return (f"The user is asking about {p}. I should give a balanced, helpful answer that covers the main "
            f"factors and acknowledges that it depends on their situation.")
