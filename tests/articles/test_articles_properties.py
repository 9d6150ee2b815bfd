"""Properties over arbitrary input: importers never crash and never let odd or active text in."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.articles.html_blocks import html_to_sections
from mailer.articles.model import Article, Section
from mailer.articles.page_export import parse_page_export

LINE_PIECES = st.sampled_from(
    [
        "top of page", "Updated: Feb 7", "20 views0 comments", "Book Now", "Free Consultation",
        "Notice of Disclaimer", "• item", "1. step", "✅ done", "Heading Here", "Question Here?",
        "A sentence that ends.", "It\u2019s \u201cquoted\u201d\u00a0here", "  spaced   out  ", "",
        "include:", "bottom of page",
    ]
)  # fmt: skip
TEXT = st.lists(st.one_of(LINE_PIECES, st.text(max_size=40)), max_size=30).map("\n".join)

DANGER = st.sampled_from(
    [
        "<script>DANGER()</script>", '<p onclick="DANGER()">x</p>', '<iframe src="DANGER">',
        '<form action="DANGER"><input value="DANGER"></form>', '<a href="javascript:DANGER">a</a>',
        '<img src="https://t.example/DANGER.gif" width="1" height="1">', "<style>DANGER</style>",
        '<img src="x" onerror="DANGER()">',
    ]
)  # fmt: skip
SAFE = st.sampled_from(["<p>", "</p>", "<h2>Head</h2>", "<ul><li>i</li></ul>", "<br>", "text "])
# Random text has no "<": text that opens a tag of its own turns a following <script> into
# plain, inert text (as a browser would), which is not what this property is about.
HTML = st.lists(st.one_of(DANGER, SAFE, st.text(alphabet="abc >/\"'=&;", max_size=10))).map("".join)


def strings_of(value: Article | list[Section]) -> list[str]:
    found: list[str] = []

    def walk(item: object) -> None:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            for v in item.values():
                walk(v)
        elif isinstance(item, list | tuple):
            for v in item:
                walk(v)

    walk(
        dataclasses.asdict(value)
        if isinstance(value, Article)
        else [dataclasses.asdict(s) for s in value]
    )
    return found


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_page_exports_never_crash_and_text_is_normalized(text: str) -> None:
    article = parse_page_export(text, name="x.txt")
    assert article.title
    for value in strings_of(article):
        for odd in ("\u00a0", "\u2019", "\u201c", "\u201d", "  ", "\n"):
            assert odd not in value
    for section in article.sections:
        assert section.heading or section.blocks


@settings(max_examples=150, deadline=None)
@given(HTML)
def test_no_dangerous_html_survives(html: str) -> None:
    for value in strings_of(html_to_sections(html, base_url="https://www.summitspine.example/")):
        assert "DANGER" not in value
        assert "<script" not in value.lower()
