"""Article(s) -> a draft campaign file staff can edit: subject, preheader, body with CTAs.

Three shapes of body (see campaigns/markdown.py for the shortcodes):

- one article with a known address: a teaser, [[cta]], its sections, a read-more button,
  the closing lines and [[cta]];
- one article with no address: the whole article, [[cta]] after the opening and at the close;
- several articles: a digest, the first featured, the rest as short entries.

The closing lines come from the configuration (draft.closing_lines). Headings keep their
levels relative to each other (a sub-section one level below its section), lists keep their
numbers and nesting (campaigns/markdown.py writes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path

from mailer.articles.model import Article, Image, ListBlock, Paragraph
from mailer.campaigns import markdown as md
from mailer.campaigns.campaign import ArticleRef, Campaign
from mailer.campaigns.files import CampaignFiles
from mailer.campaigns.subject import (
    make_article_preheader,
    make_digest_subject,
    make_outline_preheader,
    shorten_subject,
)
from mailer.campaigns.teaser import make_summary, make_teaser
from mailer.config import DEFAULT_CLOSING_LINES
from mailer.states import CampaignStatus

READ_FULL = "Read the full article"
MORE_HEADING = "More from the blog"
CONTENTS_HEADING = "In this article"


class DraftKind(Enum):
    TEASER = "a teaser with a link to the full article"
    WHOLE = "the whole article (no web address known; pass --url to send a teaser instead)"
    DIGEST = "a digest: the first article featured, the others as short entries"


@dataclass(frozen=True)
class CallToAction:
    text: str
    url: str


def draft_kind(articles: Sequence[Article]) -> DraftKind:
    if len(articles) > 1:
        return DraftKind.DIGEST
    return DraftKind.TEASER if articles[0].url else DraftKind.WHOLE


def compose_body(
    articles: Sequence[Article], *, closing: Sequence[str] = DEFAULT_CLOSING_LINES
) -> str:
    """The Markdown body for one article or a digest of several; ``closing``: its last lines."""
    if not articles:
        raise ValueError("compose_body needs at least one article")
    kind = draft_kind(articles)
    if kind is DraftKind.DIGEST:
        parts = _digest(articles)
    elif kind is DraftKind.TEASER:
        parts = _teaser(articles[0], articles[0].url or "")
    else:
        parts = _whole(articles[0])
    return md.join_blocks([*parts, *(md.escape_inline(line) for line in closing), md.CTA])


def _top(article: Article) -> list[str]:
    parts = [md.heading(article.title, 1)]
    hero = article.image
    if hero and not any(
        isinstance(b, Image) and b.src == hero.src for s in article.sections for b in s.blocks
    ):
        parts.append(md.image(hero))
    return parts


def _teaser_parts(article: Article) -> list[str]:
    opening: list[str | ListBlock] = [
        block.text if isinstance(block, Paragraph) else block
        for section in article.sections
        for block in section.blocks
        if not isinstance(block, Image)
    ]
    teaser = make_teaser(opening) or [article.summary]
    return [md.escape_inline(p) if isinstance(p, str) else md.block(p) for p in teaser]


def contents(article: Article) -> list[str]:
    """The article's sections for "In this article": top level only, never its own title."""
    title = article.title.casefold()
    return [
        section.heading
        for section in article.sections
        if section.heading and section.level == 1 and section.heading.casefold() != title
    ]


def _teaser(article: Article, url: str) -> list[str]:
    parts = [*_top(article), *_teaser_parts(article), md.CTA]
    sections = contents(article)
    if sections:
        parts.append(md.heading(CONTENTS_HEADING, 3))
        parts.append("\n".join(f"- {md.escape_inline(h)}" for h in sections))
    parts.append(md.button(READ_FULL, url))
    return parts


def _whole(article: Article, *, cta_after_opening: bool = True) -> list[str]:
    """Every section; [[cta]] after the opening: two paragraphs, or the intro if shorter."""
    parts = _top(article)
    opening_end: int | None = None
    seen = 0
    for section in article.sections:
        if section.heading:
            if seen and opening_end is None:
                opening_end = len(parts)
            parts.append(md.heading(section.heading, min(6, 1 + section.level)))
        for item in section.blocks:
            parts.append(md.block(item))
            if isinstance(item, Paragraph):
                seen += 1
                if seen == 2 and opening_end is None:
                    opening_end = len(parts)
    if not cta_after_opening:
        return parts
    if opening_end is None:  # at most one paragraph, no heading after it
        opening_end = len(parts)
    parts.insert(opening_end, md.CTA)
    return parts


def _digest(articles: Sequence[Article]) -> list[str]:
    featured, *others = articles
    if featured.url:
        parts = [
            *_top(featured),
            *_teaser_parts(featured),
            md.button(READ_FULL, featured.url),
        ]
    else:  # nowhere to read more: the featured article goes in whole
        parts = _whole(featured, cta_after_opening=False)
    parts += [md.CTA, md.heading(MORE_HEADING, 2)]
    for article in others:
        parts.append(md.heading(article.title, 3))
        summary = make_summary(article.summary or " ".join(article.paragraphs[:2]))
        if summary:
            parts.append(md.escape_inline(summary))
        if article.url:
            parts.append(md.button(md.READ_MORE, article.url))
    return parts


def draft_campaign(
    articles: Sequence[Article],
    cta: CallToAction,
    *,
    slug: str = "",
    closing: Sequence[str] = DEFAULT_CLOSING_LINES,
) -> Campaign:
    """The campaign in memory, status draft.

    One article: its title as the subject, a preheader saying what else it covers. A digest:
    a subject naming its articles (as many as fit), a preheader naming the ones it could not,
    else saying what the featured one covers.
    """
    if not articles:
        raise ValueError("draft_campaign needs at least one article")
    lead = articles[0]
    preheader = make_article_preheader(lead.paragraphs, lead.summary, contents(lead))
    if len(articles) > 1:
        subject, named = make_digest_subject([a.title for a in articles])
        unnamed = [shorten_subject(a.title) for a in articles[named:]]
        preheader = make_outline_preheader(unnamed, "Also inside:") or preheader
    else:
        subject = shorten_subject(lead.title)
    return Campaign(
        slug=slug,
        subject=subject,
        preheader=preheader,
        status=CampaignStatus.DRAFT,
        articles=[ArticleRef(title=a.title, url=a.url or "") for a in articles],
        cta={"text": cta.text, "url": cta.url},
        body=compose_body(articles, closing=closing),
    )


def write_draft(
    articles: Sequence[Article],
    campaigns_dir: Path,
    cta: CallToAction,
    *,
    day: date | None = None,
    closing: Sequence[str] = DEFAULT_CLOSING_LINES,
    over: str | None = None,
) -> Campaign:
    """Write ``campaigns/<date>-<slug>.md`` (never over an existing one) and return it;
    ``over``: the slug of an earlier draft to write over instead (the caller has made sure it
    is a draft nobody approved or sent: see mailer.app.drafting)."""
    if not articles:
        raise ValueError("write_draft needs at least one article")
    files = CampaignFiles(campaigns_dir)
    if over is not None:
        campaign = draft_campaign(articles, cta, slug=over, closing=closing)
        files.save(campaign)  # atomic: the earlier draft or this one, never half of either
        return campaign
    path = files.reserve(articles[0].title, day or date.today())
    try:
        campaign = draft_campaign(articles, cta, slug=path.stem, closing=closing)
        files.save(campaign)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return campaign
