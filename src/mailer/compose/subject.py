"""Subject line and preheader: short enough for an inbox, still saying something."""

from __future__ import annotations

import re

from mailer.compose.text import ELLIPSIS, cut_at_word, sentences, squash

SUBJECT_LIMIT = 60
PREHEADER_MIN = 90
PREHEADER_MAX = 140

# Where a title splits into a headline and a trailing clause that can go.
# The mark before the split is kept when it ends a phrase ("Is It Your Pillow?").
_CLAUSE_BREAK = re.compile(r"(?<=[?!])\s+|\s*[:|]\s+|\s+[-–—]\s+|\s+\(")
# Words a subject must not end on: "Neck Pain and" reads like a mistake.
# fmt: off
_DANGLING = frozenset({
    "a", "an", "and", "or", "but", "nor", "so", "the", "of", "to", "in", "on", "at", "by", "for",
    "from", "with", "without", "into", "onto", "over", "under", "about", "as", "than", "that",
    "which", "who", "your", "our", "my", "their", "its", "is", "are", "was", "be", "can", "how",
    "why", "what", "when", "vs", "&", "+", "-",
})
# fmt: on
_MIN_HEADLINE = 20  # a shorter head ("FAQ:", "New:") is no subject on its own


def shorten_subject(title: str, limit: int = SUBJECT_LIMIT) -> str:
    """The title, cut with sense past ``limit`` characters.

    First choice: drop a trailing clause ("...: what to know", "... - a guide", "(and why)").
    Otherwise cut at a word boundary, drop dangling words, and mark the cut with an ellipsis.
    """
    title = squash(title)
    if len(title) <= limit:
        return title
    best = ""
    for match in _CLAUSE_BREAK.finditer(title):
        head = _tidy(title[: match.start()])
        if _MIN_HEADLINE <= len(head) <= limit:
            best = head
    if best:
        return best
    return _tidy(cut_at_word(title, limit - len(ELLIPSIS), ellipsis=False)) + ELLIPSIS


def _tidy(text: str) -> str:
    """No trailing punctuation and no dangling last word ("... Neck Pain and")."""
    words = text.strip().rstrip(" ,;:–—-").split(" ")
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(" ,;:–—-")


def make_preheader(paragraphs: list[str], summary: str = "") -> str:
    """The inbox preview line: the opening's first sentences, about 90 to 140 characters."""
    text = " ".join(squash(p) for p in paragraphs[:3] if p.strip()) or squash(summary)
    if not text:
        return ""
    chosen = ""
    for sentence in sentences(text):
        candidate = f"{chosen} {sentence}".strip()
        if len(candidate) > PREHEADER_MAX:
            if len(chosen) < PREHEADER_MIN:
                chosen = cut_at_word(candidate, PREHEADER_MAX)
            break
        chosen = candidate
        if len(chosen) >= PREHEADER_MIN:
            break
    return chosen
