"""Campaign -> HTML + text, compiled once with per-recipient placeholders left in.

Templates live in the workspace's templates/: ``newsletter.mjml.j2`` (MJML with Jinja2, partials
``_header``, ``_cta``, ``_footer``) and ``newsletter.txt.j2``. They run in Jinja2's immutable
sandbox (no Python internals, no .append or .update) with StrictUndefined; MJML/HTML templates
are autoescaped, the text template is not. The body Markdown is never run as a template: it is
data (see markdown_body.py).

Pipeline: body -> blocks (links registered, UTM added) -> Jinja2 -> MJML (mjml-python, once)
-> css-inline -> HTML; the same context -> text. Per-recipient values are filled afterwards
(personalize.py), never by compiling again.
"""

from __future__ import annotations

import html as html_lib
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
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
_ENVIRONMENTS: dict[Path, SandboxedEnvironment] = {}


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
    """The sandboxed environment for a workspace's templates (cached; reloads edited files)."""
    key = templates_dir.resolve()
    environment = _ENVIRONMENTS.get(key)
    if environment is None:
        environment = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(key)),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("mjml.j2", "html.j2", "mjml", "html"),
                default_for_string=True,
                default=False,  # newsletter.txt.j2: plain text, no HTML escaping
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        _ENVIRONMENTS[key] = environment
    return environment


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


def _render_template(
    environment: SandboxedEnvironment, templates_dir: Path, name: str, context: dict[str, Any]
) -> str:
    try:
        return environment.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as err:
        where = _where(templates_dir, err.filename or err.name or name, err.lineno)
        raise TemplateError(
            f"{where}: template syntax error: {err.message}",
            hint="fix the {{ }} / {% %} tag on that line (every {% if %} needs {% endif %})",
        ) from err
    except jinja2.TemplateNotFound as err:
        raise TemplateError(
            f"{templates_dir / str(err.name)}: template not found (needed by {name})",
            hint="restore it from a fresh `mailer init` folder, or fix the include's name",
        ) from err
    except jinja2.exceptions.SecurityError as err:
        raise TemplateError(
            f"{_where_from_traceback(templates_dir, err, name)}: not allowed in a template: {err}",
            hint="templates may use the values mailer passes in, not Python internals",
        ) from err
    except jinja2.UndefinedError as err:
        raise TemplateError(
            f"{_where_from_traceback(templates_dir, err, name)}: {err.message}",
            hint="use only the names mailer provides: organization, sender, booking, campaign, "
            "blocks, first_name, unsubscribe_url, view_url, link()",
        ) from err
    except (TypeError, ValueError, AttributeError, ArithmeticError, LookupError) as err:
        raise TemplateError(
            f"{_where_from_traceback(templates_dir, err, name)}: template failed: {err}",
            hint="check the expression on that line",
        ) from err


def _where(templates_dir: Path, filename: str, lineno: int | None) -> str:
    path = Path(filename)
    if not path.is_absolute():
        path = templates_dir / path
    return f"{path}:{lineno}" if lineno else str(path)


def _where_from_traceback(templates_dir: Path, err: BaseException, name: str) -> str:
    """Jinja rewrites tracebacks to point at template lines: take the innermost template one."""
    root = str(templates_dir.resolve())
    found = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.startswith(root) or frame.filename.endswith(".j2"):
            found = frame
    if found is None:
        return str(templates_dir / name)
    return _where(templates_dir, found.filename, found.lineno)


def _compile_mjml(source: str, template_path: Path) -> str:
    try:
        compiled = mjml2html(source, disable_comments=True, fonts={})
    except Exception as err:  # mjml-python raises plain exceptions with the parser's message
        raise TemplateError(
            f"{template_path}: the MJML it produced is not valid: {err}",
            hint="check that every <mj-...> tag is closed and nested as MJML expects",
        ) from err
    return _INLINER.inline(compiled)
