"""Counts in words, as every face prints them: "1 subscriber", "2 subscribers", "1,204 people".

The one place a count meets its noun, so no output reads "1 subscribers" or "1 clicks by 1
people". Numbers get thousands separators, as everywhere else in the output.
"""

from __future__ import annotations

_IRREGULAR = {"person": "people", "was": "were", "is": "are", "has": "have"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, the noun in the plural unless the count is exactly 1.

    ``many`` overrides the plural form; without it the known irregular words (person ->
    people) and English's common endings (-s, -sh, -ch, -x, consonant + y) are handled.
    """
    return f"{count:,} {word if count == 1 else (many or plural_of(word))}"


def plural_of(word: str) -> str:
    """The plural of an English noun as this tool uses them (see :func:`plural`)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"
