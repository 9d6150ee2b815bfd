"""The compile's shortcuts give exactly what the library calls they skip would give (issue 17)."""

from __future__ import annotations

import random
import textwrap
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from mailer.campaigns.links import with_utm
from mailer.campaigns.markdown_body import TEXT_WIDTH, _wrap


def _textwrap_wrap(text: str, quote: str, first: str, rest: str) -> str:
    """_wrap as it was: textwrap.fill on every line."""
    return "\n".join(
        textwrap.fill(
            line,
            TEXT_WIDTH,
            initial_indent=quote + (first if number == 0 else rest),
            subsequent_indent=quote + rest,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for number, line in enumerate(text.split("\n"))
    )


PIECES = ["word", "a", "https://example.com/a-very-long-path", "  ", " ", "\t", "\u00a0", "é"]
PIECES += ["\x0b", "\x0c", "\r", "\x1c", "\u2028", "x" * 80, "-", "\n"]


def test_wrap_is_textwrap_fill_for_any_line() -> None:
    rng = random.Random(17)
    for _ in range(5_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        quote = rng.choice(["", "> ", "> > "])
        first, rest = rng.choice([("", ""), ("- ", "  "), ("   ", "   "), ("12. ", "    ")])
        assert _wrap(text, quote, first, rest) == _textwrap_wrap(text, quote, first, rest), text


def _urlencode_utm(url: str, campaign: str, content: str) -> str:
    """with_utm as it was, for every url."""
    parts = urlsplit(url)
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in {"utm_source", "utm_medium", "utm_campaign", "utm_content"}
    ]
    kept += [
        ("utm_source", "newsletter"),
        ("utm_medium", "email"),
        ("utm_campaign", campaign),
        ("utm_content", content),
    ]
    return urlunsplit(parts._replace(path=parts.path or "/", query=urlencode(kept)))


@pytest.mark.parametrize(
    "url",
    [
        "https://www.summitspine.example/blog/neck",
        "https://www.summitspine.example",
        "https://www.summitspine.example/?",
        "https://www.summitspine.example/a?x=1&utm_source=old#top",
        "https://www.summitspine.example/a#frag ment",
        "http://user@summitspine.example:8080/a%20b",
    ],
)
@pytest.mark.parametrize(
    ("campaign", "content"),
    [("2026-03-10-digest", "cta-top"), ("été & co", "read more/now"), ("", "")],
)
def test_with_utm_is_the_urlencode_of_the_parameters(url: str, campaign: str, content: str) -> None:
    assert with_utm(url, campaign, content) == _urlencode_utm(url, campaign, content)
