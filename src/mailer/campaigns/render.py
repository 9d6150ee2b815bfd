"""Campaign -> HTML + text, compiled once with per-recipient placeholders left in.

Templates live in the workspace's templates/: ``newsletter.mjml.j2`` (MJML with Jinja2, partials
``_header``, ``_cta``, ``_footer``) and ``newsletter.txt.j2``. They run in Jinja2's immutable
sandbox (no Python internals, no .append or .update) with StrictUndefined; MJML/HTML templates
are autoescaped, the text template is not (mailer.templating, the one environment factory). The
body Markdown is never run as a template: it is data (see markdown_body.py).

Pipeline: body -> blocks (links registered, UTM added) -> Jinja2 -> MJML (mjml-python, once)
-> css-inline -> HTML; the same context -> text. Per-recipient values are filled afterwards
(personalize.py), never by compiling again.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import css_inline
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml2html

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.links import Link, LinkRegistry
from mailer.campaigns.markdown import with_entry_buttons
from mailer.campaigns.markdown_body import Block, render_body
from mailer.campaigns.message import message_template
from mailer.campaigns.personalize import (
    CLICK,
    FALLBACK_FIRST_NAME,
    FIRST_NAME,
    FIRST_NAME_HTML,
    UNSUBSCRIBE_URL,
    fill_parts,
    recipient_substitutions,
    split_placeholders,
)
from mailer.config import Settings
from mailer.delivery.types import MessageTemplate, fill
from mailer.errors import TemplateError
from mailer.templating import render_template, sandboxed_environment
from mailer.tokens import SecretKey
from mailer.workspace import Workspace

HTML_TEMPLATE = "newsletter.mjml.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"

_INLINER = css_inline.CSSInliner(
    keep_style_tags=True,  # MJML's media queries make columns stack on phones
    keep_at_rules=True,
    remove_inlined_selectors=True,  # what was inlined leaves the <head>
    load_remote_stylesheets=False,
)


@dataclass(frozen=True)
class RenderedCampaign:
    """A compiled campaign: html/text/subject still hold the per-recipient placeholders."""

    slug: str
    subject: str
    preheader: str
    html: str
    text: str
    links: tuple[Link, ...]
    base_url: str
    settings: Settings = field(repr=False)

    @property
    def view_url(self) -> str:
        return f"{self.base_url}/archive/{self.slug}"

    @cached_property
    def _parts(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        return (
            split_placeholders(self.subject),
            split_placeholders(self.html),
            split_placeholders(self.text),
        )

    def fill(self, values: Mapping[str, str]) -> tuple[str, str, str]:
        """(subject, html, text) for one recipient: equal to delivery.types.fill, faster."""
        subject, html, text = self._parts
        return fill_parts(subject, values), fill_parts(html, values), fill_parts(text, values)

    def message_template(self, campaign_id: int | None = None) -> MessageTemplate:
        return message_template(self, campaign_id=campaign_id)

    def public_copy(self, unsubscribe_url: str | None = None) -> tuple[str, str]:
        """(html, text) for the public archive ("View in browser"): no personal data.

        Links go straight to their destinations (UTM kept, no click token); the greeting says
        "there"; the unsubscribe link points at ``unsubscribe_url`` (default: /subscribe).
        """
        by_index = {str(link.index): link.url for link in self.links}
        click = re.compile(re.escape(f"{self.base_url}/c/{CLICK}.") + r"(\d+)")
        values = {
            FIRST_NAME: FALLBACK_FIRST_NAME,
            FIRST_NAME_HTML: FALLBACK_FIRST_NAME,
            UNSUBSCRIBE_URL: unsubscribe_url or f"{self.base_url}/subscribe",
        }

        def direct(escape: bool) -> Callable[[re.Match[str]], str]:
            def replace(match: re.Match[str]) -> str:
                url = by_index.get(match[1], self.base_url)
                return html_lib.escape(url) if escape else url

            return replace

        html = fill(click.sub(direct(True), self.html), values)
        text = fill(click.sub(direct(False), self.text), values)
        return html, text

    def substitutions(
        self, key: SecretKey | str | bytes, subscriber_id: int | None, first_name: str = ""
    ) -> dict[str, str]:
        """Recipient.substitutions for one subscriber (signed click and unsubscribe tokens);
        ``subscriber_id`` None for a preview."""
        return recipient_substitutions(
            key,
            campaign_slug=self.slug,
            base_url=self.base_url,
            subscriber_id=subscriber_id,
            first_name=first_name,
        )


def template_environment(templates_dir: Path) -> SandboxedEnvironment:
    """The sandboxed environment for a workspace's templates (cached; reloads edited files).

    Strict: a misspelt name fails `mailer check` instead of sending a blank. Trimmed blocks:
    the newsletter templates are written for them (a ``{% if %}`` line leaves no blank line).
    """
    return sandboxed_environment([templates_dir.resolve()], strict=True, trim_blocks=True)


def render_campaign(workspace: Workspace, campaign: Campaign) -> RenderedCampaign:
    """Compile ``campaign`` with the workspace's templates. Raises TemplateError."""
    settings = workspace.settings
    templates_dir = workspace.templates_dir
    environment = template_environment(templates_dir)
    registry = LinkRegistry.for_site(
        campaign.slug,
        [settings.organization.website, settings.booking.url],
        settings.web.base_url,
        settings.tracking.clicks,
    )
    cta_text = campaign.cta.get("text") or settings.booking.cta_text
    cta_url = campaign.cta.get("url") or settings.booking.url
    # A digest entry's address filled in the front matter after drafting gets its button.
    entries = [(a.title, a.url) for a in campaign.articles[1:]]
    body = with_entry_buttons(campaign.body, entries) if entries else campaign.body
    blocks = render_body(body, registry, cta_text, cta_url)
    if not any(block.place.startswith("cta") for block in blocks):
        # Every issue carries the consultation call to action, at the end if nowhere else.
        href = registry.href(cta_url, place="cta-bottom", text=cta_text)
        blocks.append(
            Block(
                kind="button",
                text=f"{cta_text}: {href}",
                label=cta_text,
                href=href,
                place="cta-bottom",
            )
        )
    context = _context(settings, campaign, blocks, registry)
    html, text = compile_templates(environment, templates_dir, context)
    return RenderedCampaign(
        slug=campaign.slug,
        subject=campaign.subject,
        preheader=campaign.preheader,
        html=html,
        text=text,
        links=tuple(registry.links),
        base_url=settings.web.base_url,
        settings=settings,
    )


def compile_templates(
    environment: SandboxedEnvironment, templates_dir: Path, context: dict[str, Any]
) -> tuple[str, str]:
    """Jinja2 -> MJML -> HTML -> inlined CSS, and the text part: the once-per-campaign work."""
    mjml_source = _render_template(environment, templates_dir, HTML_TEMPLATE, context)
    html = _compile_mjml(mjml_source, templates_dir / HTML_TEMPLATE)
    html = html.replace(FIRST_NAME, FIRST_NAME_HTML)
    if (templates_dir / TEXT_TEMPLATE).is_file():
        text = _render_template(environment, templates_dir, TEXT_TEMPLATE, context)
    else:
        text = ""  # `mailer check` reports the missing plain-text part
    return html, text


def _context(
    settings: Settings, campaign: Campaign, blocks: list[Block], registry: LinkRegistry
) -> dict[str, Any]:
    def link(url: str, place: str = "", text: str = "") -> str:
        """For templates: the href of an extra link (tracked, UTM for the clinic's site)."""
        return registry.href(str(url), place=str(place), text=str(text))

    return {
        "organization": settings.organization.model_dump(),
        "sender": settings.sender.model_dump(),
        "booking": settings.booking.model_dump(),
        "campaign": {
            "slug": campaign.slug,
            "subject": campaign.subject,
            "preheader": campaign.preheader,
            "articles": [{"title": a.title, "url": a.url} for a in campaign.articles],
        },
        "blocks": blocks,
        "first_name": FIRST_NAME,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "view_url": f"{settings.web.base_url}/archive/{campaign.slug}",
        "link": link,
    }


# What a template may use, for the hint of an undefined name.
_NAMES = (
    "organization, sender, booking, campaign, blocks, first_name, unsubscribe_url, view_url, link()"
)


def _render_template(
    environment: SandboxedEnvironment, templates_dir: Path, name: str, context: dict[str, Any]
) -> str:
    return render_template(environment, templates_dir, name, context, names=_NAMES)


def _compile_mjml(source: str, template_path: Path) -> str:
    try:
        compiled = mjml2html(source, disable_comments=True, fonts={})
    except Exception as err:  # mjml-python raises plain exceptions with the parser's message
        raise TemplateError(
            f"{template_path}: the MJML it produced is not valid: {err}",
            hint="check that every <mj-...> tag is closed and nested as MJML expects",
        ) from err
    return _INLINER.inline(compiled)
