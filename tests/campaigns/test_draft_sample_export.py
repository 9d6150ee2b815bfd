"""`mailer draft` on the real page export in ../shared/samples/ (never copied into the project).

Issue 12, done-when: furniture removed completely, every heading kept, sub-headings below their
section, the caption gone, no promise in the closing. The sample is read where it lies; without
it (a checkout with no shared/ beside it) the test is skipped.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from mailer.articles import load_article
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.draft import compose_body, contents
from mailer.campaigns.render import render_campaign
from mailer.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [ROOT.parent / "shared" / "samples", ROOT.parent.parent / "shared" / "samples"]
SAMPLES = next((path for path in CANDIDATES if path.is_dir()), None)
# Lines that are page furniture on a blog export, whatever the article.
FURNITURE = [
    r"^top of page$",
    r"^bottom of page$",
    r"^updated:",
    r"\bviews?\s*\d*\s*comments?\b",
    r"^free consultation$",
    r"^notice of disclaimer$",
    r"not necessarily your doctors",
]


def samples() -> list[Path]:
    if SAMPLES is None:
        return []
    return sorted(SAMPLES.glob("*.txt"))


@pytest.mark.skipif(not samples(), reason="no ../shared/samples beside the checkout")
@pytest.mark.parametrize("sample", samples(), ids=lambda path: path.name)
def test_sample_export_drafts_without_furniture_and_with_every_heading(
    workspace: Workspace, sample: Path
) -> None:
    article = load_article(sample)
    body = compose_body([article])
    for pattern in FURNITURE:
        assert not re.search(pattern, body, re.IGNORECASE | re.MULTILINE), pattern

    source_lines = {line.strip() for line in sample.read_text(encoding="utf-8").splitlines()}
    headings = re.findall(r"^(#{2,6}) (.+)$", body, re.MULTILINE)
    assert [text for _, text in headings] == article.headings  # every heading, in order
    assert all(text in source_lines for _, text in headings)  # each as the page wrote it
    # sub-sections sit one level below a section, never at the top
    levels = [len(marks) for marks, _ in headings]
    assert levels[0] == 2 and all(b - a <= 1 for a, b in itertools.pairwise(levels))
    assert 3 in levels  # the sample nests sub-headings under one of its sections
    assert "real person" not in body
    assert not [s for s in contents(article) if s.casefold() == article.title.casefold()]

    # no caption-like fragment left between the paragraphs
    paragraphs = [b for b in body.split("\n\n") if b and not b.startswith(("#", "[[", "- "))]
    for paragraph in paragraphs[:-1]:  # the last is the closing line
        assert paragraph.rstrip()[-1] in '.!?:")', paragraph

    campaign = Campaign(slug="sample", subject=article.title, body=body)
    rendered = render_campaign(workspace, campaign)
    assert rendered.html.count("<h3") == levels.count(3)
