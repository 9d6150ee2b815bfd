"""Typographic normalization shared by every importer: one spelling of quotes, dashes, spaces."""

from __future__ import annotations

import re
import unicodedata

_TRANSLATION = str.maketrans(
    {
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u2032": "'",  # ′
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u2033": '"',  # ″
        "\u00a0": " ",  # no-break space
        "\u2007": " ",  # figure space
        "\u202f": " ",  # narrow no-break space
        "\u2009": " ",  # thin space
        "\u200a": " ",  # hair space
        "\u3000": " ",  # ideographic space
        "\t": " ",
        "\u200b": None,  # zero-width space
        "\u200c": None,  # zero-width non-joiner
        "\u2060": None,  # word joiner
        "\ufeff": None,  # byte order mark
        "\u00ad": None,  # soft hyphen
    }
)
_SPACES = re.compile(r" {2,}")


def normalize_inline(text: str) -> str:
    """One line of article text: straight quotes, plain spaces, runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text).translate(_TRANSLATION)
    return _SPACES.sub(" ", text).strip()


def split_lines(text: str) -> list[str]:
    """A whole text as raw lines (line endings of any platform)."""
    return text.replace("\r\n", "\n").split("\n")


def normalize_lines(text: str) -> list[str]:
    """A whole text as normalized lines, one for each of ``split_lines``."""
    return [normalize_inline(line) for line in split_lines(text)]


def indentation(line: str) -> int:
    """Columns of leading white space (a tab counts 4): how deep a list item was written."""
    columns = 0
    for char in line:
        if char == "\t":
            columns += 4
        elif char.isspace() or char in "\u200b\ufeff":
            columns += 1
        else:
            break
    return columns
