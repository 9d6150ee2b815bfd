"""Preflight: what would go wrong if this campaign were sent now.

The campaign is rendered and filled for a sample subscriber exactly as delivery does, then the
message is inspected. Errors block `mailer approve`; warnings are advice.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.message import ALEX_SAMPLE, SampleRecipient, message_bytes
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.errors import TemplateError
from mailer.tokens import signing_key
from mailer.workspace import Workspace

MAX_HTML_BYTES = 102_400  # Gmail clips messages at about 102 KB
MAX_SUBJECT = 60
MAX_SPAM_SCORE = 3.0
MIN_CONTRAST = 4.5  # WCAG AA for normal text
SPAM_COMMAND = ("spamassassin", "-L", "-t")
SPAM_TIMEOUT = 60.0
_ALLOWED_SCHEMES = ("http://", "https://", "mailto:", "tel:")
_LEFTOVERS = re.compile(r"%%[A-Za-z0-9_]+%%|\{\{.*?\}\}|\{%.*?%\}|\[\[[^\]\n]{0,100}\]\]", re.S)
_BAD_MARKDOWN_LINK = re.compile(r"\]\(\s*<?\s*((?:javascript|data|file|vbscript):[^)\s]*)", re.I)
_SPAM_SCORE = re.compile(r"X-Spam-Status:\s*\w+,\s*score=(-?\d+(?:\.\d+)?)")

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str
    message: str
    hint: str = ""


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    rendered: RenderedCampaign | None = None
    eml: bytes | None = None
    # The message as a mail program shows it (Subject header, HTML and text parts), parsed once
    # here: a preview shows these rather than parsing the .eml again.
    subject: str = ""
    html: str = ""
    text: str = ""
    spam_score: float | None = None
    spam_note: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "spam_score": self.spam_score,
            "findings": [asdict(f) for f in self.findings],
        }


def check_campaign(
    workspace: Workspace,
    campaign: Campaign,
    *,
    person: SampleRecipient = ALEX_SAMPLE,
    spam: bool = True,
    spam_command: Sequence[str] = SPAM_COMMAND,
) -> CheckResult:
    """Render, fill for ``person`` and inspect; never raises for a problem in the campaign."""
    result = CheckResult()
    add = result.findings.append
    where = str(campaign.path or f"{campaign.slug}.md")
    key = signing_key(workspace, "preview")
    if key.development:
        add(
            Finding(
                "warning",
                "development-key",
                "MAILER_SECRET_KEY is not set: links are signed with the public development key",
                "set MAILER_SECRET_KEY to a long random value before sending "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")',
            )
        )
    if not campaign.subject.strip():
        add(
            Finding(
                "error",
                "missing-subject",
                f"{where}: the subject is empty",
                "add a `subject:` line to the front matter",
            )
        )
    elif len(campaign.subject) > MAX_SUBJECT:
        add(
            Finding(
                "warning",
                "subject-too-long",
                f"the subject has {len(campaign.subject)} characters; phones show about "
                f"{MAX_SUBJECT}",
                "shorten the subject so its point fits",
            )
        )
    if not campaign.preheader.strip():
        add(
            Finding(
                "warning",
                "no-preheader",
                "no preheader: inboxes will show the first words of the email instead",
                "add a `preheader:` line (one sentence) to the front matter",
            )
        )
    for ref in campaign.articles[1:]:  # a digest's entries; the first is featured in full
        url = ref.url.strip()
        if not url.lower().startswith(("http://", "https://")):
            problem = f"has url {url[:60]!r}, not a web address" if url else "has no link"
            add(
                Finding(
                    "warning",
                    "digest-entry-without-link",
                    f"{where}: the digest entry {ref.title[:80]!r} {problem}: readers "
                    "cannot go on to the whole article",
                    "fill in its url: under articles: in the front matter (the email then "
                    "gets a Read more button), or draft again with --url once per source",
                )
            )
    for number, line in enumerate(campaign.body.splitlines(), start=1):
        for match in _BAD_MARKDOWN_LINK.finditer(line):
            add(
                Finding(
                    "error",
                    "bad-link",
                    f"{where}: body line {number}: link to {match[1][:60]!r} is not allowed",
                    "links must start with https:// (or mailto:/tel:)",
                )
            )
    base_url = workspace.settings.web.base_url
    if _is_local(base_url):
        add(
            Finding(
                "warning",
                "local-base-url",
                f"web.base_url is {base_url}: subscribers cannot reach unsubscribe and click "
                "links there",
                "set web.base_url in mailer.toml to the public https:// address of `mailer serve`",
            )
        )
    for finding in _contrast(workspace.settings.organization.brand_color):
        add(finding)

    try:
        rendered = render_campaign(workspace, campaign)
    except TemplateError as err:
        add(Finding("error", "template-error", err.message, err.hint or ""))
        return result
    result.rendered = rendered
    eml = message_bytes(rendered, key, person)
    result.eml = eml
    message = message_from_bytes(eml, policy=default_policy)
    subject = str(message.get("Subject", ""))
    html, text = _parts(message)
    result.subject, result.html, result.text = subject, html, text
    for finding in _inspect(workspace, campaign, where, subject, html, text, message):
        add(finding)
    if spam:
        _spam(result, eml, spam_command)
    return result


def _parts(message: Message) -> tuple[str, str]:
    html = text = ""
    for part in message.walk():
        if part.get_content_type() == "text/html":
            html = str(part.get_content())  # type: ignore[attr-defined]
        elif part.get_content_type() == "text/plain":
            text = str(part.get_content())  # type: ignore[attr-defined]
    return html, text


def _inspect(
    workspace: Workspace,
    campaign: Campaign,
    where: str,
    subject: str,
    html: str,
    text: str,
    message: Message,
) -> list[Finding]:
    found: list[Finding] = []
    organization = workspace.settings.organization
    page = _Page()
    page.feed(html)
    unsubscribe = str(message.get("List-Unsubscribe", "")).strip().strip("<>")
    base_url = workspace.settings.web.base_url

    if not text.strip():
        found.append(
            Finding(
                "error",
                "missing-text-part",
                "the message has no plain-text part (or it is empty)",
                "restore templates/newsletter.txt.j2 from a fresh `mailer init`",
            )
        )
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        found.append(
            Finding(
                "error",
                "html-too-large",
                f"the HTML part is {size:,} bytes; Gmail clips messages over "
                f"{MAX_HTML_BYTES:,} bytes (and hides the unsubscribe link)",
                "shorten the body or split it into two issues",
            )
        )
    if not unsubscribe.startswith(f"{base_url}/u/") or unsubscribe not in page.hrefs:
        found.append(
            Finding(
                "error",
                "missing-unsubscribe",
                "the HTML has no unsubscribe link (or no List-Unsubscribe header)",
                'keep <a href="{{ unsubscribe_url }}"> in templates/_footer.mjml.j2',
            )
        )
    elif text.strip() and unsubscribe not in text:
        found.append(
            Finding(
                "error",
                "missing-unsubscribe",
                "the plain-text part has no unsubscribe link",
                "keep {{ unsubscribe_url }} in templates/newsletter.txt.j2",
            )
        )
    address = _normalize(organization.postal_address)
    if address not in _normalize(page.text()):
        found.append(
            Finding(
                "error",
                "missing-postal-address",
                "the HTML does not show the postal address (required by CAN-SPAM)",
                "keep {{ organization.postal_address }} in templates/_footer.mjml.j2",
            )
        )
    elif text.strip() and address not in _normalize(text):
        found.append(
            Finding(
                "error",
                "missing-postal-address",
                "the plain-text part does not show the postal address",
                "keep {{ organization.postal_address }} in newsletter.txt.j2",
            )
        )
    for src, alt in page.images:
        if not (alt or "").strip():
            found.append(
                Finding(
                    "error",
                    "image-missing-alt",
                    f"image {src[:80]!r} has no alt text (screen readers, and "
                    "inboxes that block images, show nothing)",
                    "describe it: ![A patient at the front desk](image.jpg)",
                )
            )
    for href in page.hrefs:
        if href and not href.lower().startswith(_ALLOWED_SCHEMES) and not href.startswith("#"):
            found.append(
                Finding(
                    "error",
                    "bad-link",
                    f"link {href[:80]!r} is not a web address",
                    "links must start with https:// (or mailto:/tel:)",
                )
            )
    first_seen: dict[str, str] = {}
    for part_name, content in (("subject", subject), ("HTML", html), ("plain text", text)):
        for leftover in _LEFTOVERS.findall(content):
            first_seen.setdefault(leftover, part_name)
    for leftover, part_name in sorted(first_seen.items()):
        line = _line_in(campaign.body, leftover)
        place = f"{where}: body line {line}" if line else f"the {part_name}"
        found.append(
            Finding(
                "error",
                "unfilled-placeholder",
                f"{place}: {leftover[:60]!r} would reach subscribers as is",
                "remove it, or use a known one: %%first_name%%, or a shortcode alone on "
                'its own line: [[cta]], [[button "Text" https://...]]',
            )
        )
    return _dedupe(found)


def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return (
        host in {"localhost", "0.0.0.0", "::1"}
        or host.startswith("127.")
        or host.endswith((".local", ".localhost", ".internal"))
    )


def _contrast(brand: str) -> list[Finding]:
    ratio = contrast_ratio(brand, "#ffffff")
    if ratio >= MIN_CONTRAST:
        return []
    return [
        Finding(
            "warning",
            "low-contrast",
            f"brand colour {brand} on white has contrast {ratio:.1f}:1 (buttons, "
            f"headings and links need at least {MIN_CONTRAST}:1 to be readable)",
            "choose a darker organization.brand_color in mailer.toml",
        )
    ]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def parse_spam_score(output: str) -> float | None:
    match = _SPAM_SCORE.search(output)
    return float(match[1]) if match else None


def _spam(result: CheckResult, eml: bytes, command: Sequence[str]) -> None:
    if shutil.which(command[0]) is None:
        result.spam_note = f"spam score not checked ({command[0]} is not installed)"
        return
    try:
        completed = subprocess.run(
            list(command), input=eml, capture_output=True, timeout=SPAM_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        result.spam_note = f"spam score not checked ({command[0]} failed: {err})"
        return
    score = parse_spam_score(completed.stdout.decode("utf-8", "replace"))
    if score is None:
        result.spam_note = f"spam score not checked ({command[0]} gave no score)"
        return
    result.spam_score = score
    if score > MAX_SPAM_SCORE:
        result.findings.append(
            Finding(
                "warning",
                "spam-score",
                f"SpamAssassin scores this message {score:.1f} (over {MAX_SPAM_SCORE:.0f})",
                f"see the rules it matched: {' '.join(command)} < preview/<slug>.eml",
            )
        )


class _Page(HTMLParser):
    """Links, images and visible text of the HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[tuple[str, str | None]] = []
        self._text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href") is not None:
            self.hrefs.append((values["href"] or "").strip())
        elif tag == "img":
            self.images.append((values.get("src") or "", values.get("alt")))
        elif tag in {"style", "script", "title"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script", "title"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)

    def text(self) -> str:
        return " ".join(self._text)


def _normalize(text: str) -> str:
    return " ".join(html_lib.unescape(text).split()).lower()


def _line_in(body: str, needle: str) -> int | None:
    for number, line in enumerate(body.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for finding in findings:
        if (finding.code, finding.message) not in seen:
            seen.add((finding.code, finding.message))
            unique.append(finding)
    return unique
