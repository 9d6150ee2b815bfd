"""Subject line and preheader: short enough for an inbox, still saying something.

The inbox shows the subject, then the preheader, then (when there is room) the email's first
words. So the preheader adds to the subject and never repeats the opening sentence: that would
show the same words twice in a row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailer.campaigns.text import ELLIPSIS, cut_at_word, sentences, squash

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


def make_digest_subject(titles: Sequence[str], limit: int = SUBJECT_LIMIT) -> tuple[str, int]:
    """A digest's subject naming what is inside, "A, B and C", else "A, B and 2 more"; and how
    many of the titles (from the first) it names.

    Each title gives its headline (a trailing clause dropped, as in ``shorten_subject``); as
    many are named as fit in ``limit``, in order. When not even the first fits with the count of
    the others, the first title is shortened alone.
    """
    heads = [_headline(title) for title in titles if squash(title)]
    if len(heads) < 2:
        return shorten_subject(heads[0] if heads else "", limit), len(heads)
    for named in range(len(heads), 0, -1):
        others = len(heads) - named
        parts = [*heads[:named], *([f"{others} more"] if others else [])]
        text = ", ".join(parts[:-1]) + " and " + parts[-1]
        if len(text) <= limit:
            return text, named
    return shorten_subject(heads[0], limit), 1


def _headline(title: str) -> str:
    """The shortest sensible form of a title: its head before a trailing clause, if any."""
    title = squash(title)
    for match in _CLAUSE_BREAK.finditer(title):
        head = _tidy(title[: match.start()])
        if len(head) >= _MIN_HEADLINE:
            return head
    return title


def make_outline_preheader(names: Sequence[str], lead: str = "Inside:") -> str:
    """ "Inside: A, B and C." from section headings (or titles), as many as fit in PREHEADER_MAX
    ("Inside: A, B and more."); "" for none, or when not even one fits."""
    names = [squash(name).rstrip(".:;,") for name in names if squash(name)]
    for count in range(len(names), 0, -1):
        shown = names[:count]
        if count < len(names):  # "A, B and more."
            text = f"{lead} " + ", ".join(shown) + " and more."
        else:  # "A, B and C."
            text = f"{lead} " + (", ".join(shown[:-1]) + " and " if count > 1 else "") + shown[-1]
            text += "."
        if len(text) <= PREHEADER_MAX:
            return text
    return ""


def make_article_preheader(
    paragraphs: list[str], summary: str = "", headings: Sequence[str] = ()
) -> str:
    """An article's preheader that adds to its subject rather than repeating its opening.

    What the article covers (its sections) first; else a summary the page gave that is not its
    opening; else the opening from its second sentence on (the first is what the email shows
    first). An article of one sentence has nothing else to say: that sentence.
    """
    outline = make_outline_preheader(headings)
    if outline:
        return outline
    opening = " ".join(squash(p) for p in paragraphs[:3] if p.strip())
    summary = squash(summary)
    if summary and not opening.startswith(summary.removesuffix(ELLIPSIS)):
        return make_preheader([summary])
    rest = sentences(opening)[1:]
    return make_preheader([" ".join(rest)] if rest else paragraphs, summary)
