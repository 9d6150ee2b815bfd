"""Plain-text helpers for drafting: sentences, words, cutting at a word boundary."""

from __future__ import annotations

import re

ELLIPSIS = "…"

# Words after which a period does not end a sentence ("Dr. Lee", "e.g. sleep").
# fmt: off
_ABBREVIATIONS = frozenset({
    "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "approx", "no",
    "fig", "ca", "inc", "ltd", "co", "mt", "ave",
})
# fmt: on
# A sentence ends at . ! ? (or …), perhaps followed by closing quotes or brackets, then space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+|$)")
_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """One line, single spaces: imported text keeps odd whitespace (NBSP, doubled spaces)."""
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip()


def word_count(text: str) -> int:
    return len(text.split())


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences, keeping each one's closing punctuation."""
    text = squash(text)
    result: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if _is_abbreviation(text, match.start()) or _next_starts_lowercase(text, end):
            continue
        piece = text[start:end].strip()
        if piece:
            result.append(piece)
        start = end
    rest = text[start:].strip()
    if rest:
        result.append(rest)
    return result


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    before = text[:dot].rsplit(" ", 1)[-1].lstrip("(\"'“‘").lower()
    # "Dr", "e.g", and single initials such as the "C" of "C. S. Lewis"
    return before in _ABBREVIATIONS or (len(before) == 1 and before.isalpha())


def _next_starts_lowercase(text: str, end: int) -> bool:
    rest = text[end:].lstrip()
    return bool(rest) and rest[0].islower()


def cut_at_word(text: str, limit: int, *, ellipsis: bool = True) -> str:
    """At most ``limit`` characters, cut between words; an ellipsis marks a cut."""
    text = squash(text)
    if len(text) <= limit:
        return text
    room = limit - (len(ELLIPSIS) if ellipsis else 0)
    head = text[: room + 1]
    cut = head.rfind(" ")
    head = head[:cut] if cut > 0 else text[:room]
    head = head.rstrip(" ,;:–—-")
    return head + ELLIPSIS if ellipsis else head
