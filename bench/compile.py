"""Compile a five-article digest (Markdown + Jinja2 + MJML + css-inline) and fill it per recipient.

Run: .venv/bin/python -m bench compile
Targets: compile median <= 2 ms; per-recipient fill of HTML and text <= 20 µs.
The Markdown parse is cached per body (LRU) so a re-render in one process skips it; the
"not cached" line is the first compile of a campaign in a process.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mailer.campaigns.campaign import ArticleRef, Campaign
from mailer.campaigns.links import LinkRegistry
from mailer.campaigns.markdown_body import _parse, render_body
from mailer.campaigns.render import (
    _context,
    compile_templates,
    render_campaign,
    template_environment,
)
from mailer.delivery.types import fill
from mailer.tokens import SecretKey
from mailer.workspace import init_workspace

TOPICS = [
    ("Why your neck affects your whole spine", "neck-and-spine"),
    ("Three desk habits that ease headaches", "desk-habits"),
    ("What happens at a first upper cervical visit", "first-visit"),
    ("Sleeping positions, ranked by your atlas", "sleep-positions"),
    ("A patient story: back on the trail after vertigo", "vertigo-story"),
]


def digest_body() -> str:
    parts = ["This week: five short reads from our team.\n", "[[cta]]\n"]
    for title, slug in TOPICS:
        url = f"https://www.summitspine.example/blog/{slug}"
        parts.append(
            f"## {title}\n\n"
            f"![{title}](https://www.summitspine.example/images/{slug}.jpg)\n\n"
            "Many people live with **neck tension** for years without knowing where it "
            "starts. Our doctors look at the top of the spine first, because small shifts "
            f"there change how the rest of the body carries weight. See [our approach]({url}).\n\n"
            "- Notice when the pain starts\n- Keep a simple diary\n- Move every hour\n\n"
            f'[[button "Read the full article" {url}]]\n'
        )
    parts.append("Questions? Reply to this email: a real person reads it.\n\n[[cta]]\n")
    return "\n".join(parts)


def _timed(run: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return samples


def _report(label: str, samples: list[float], unit: str, scale: float) -> None:
    ordered = sorted(samples)
    median = statistics.median(ordered) * scale
    p95 = ordered[int(len(ordered) * 0.95) - 1] * scale
    print(f"{label}: median {median:.3f} {unit}, p95 {p95:.3f} {unit} ({len(samples)} runs)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("MAILER_SECRET_KEY", "bench-secret-key-0123456789")
        workspace = init_workspace(Path(folder) / "ws")
        settings = workspace.settings
        campaign = Campaign(
            slug="2026-03-10-digest",
            subject="Five short reads for a healthier neck",
            preheader="Desk habits, sleep, and a patient story",
            body=digest_body(),
            articles=[
                ArticleRef(title, f"https://www.summitspine.example/blog/{slug}")
                for title, slug in TOPICS
            ],
        )
        for _ in range(30):  # warm up: templates loaded and compiled by Jinja2
            rendered = render_campaign(workspace, campaign)

        def registry() -> LinkRegistry:
            return LinkRegistry.for_site(
                campaign.slug,
                [settings.organization.website, settings.booking.url],
                settings.web.base_url,
                settings.tracking.clicks,
            )

        environment = template_environment(workspace.templates_dir)
        links = registry()
        blocks = render_body(campaign.body, links, "Book", settings.booking.url)
        context = _context(settings, campaign, blocks, links)
        _report(
            "compile, templates only (Jinja2 + MJML + css-inline)",
            _timed(lambda: compile_templates(environment, workspace.templates_dir, context), 500),
            "ms",
            1e3,
        )
        _report(
            "body Markdown -> blocks, parse cached (nh3 + links + text)",
            _timed(
                lambda: render_body(campaign.body, registry(), "Book", "https://x.example"), 500
            ),
            "ms",
            1e3,
        )
        _report(
            "compile, whole campaign (body + templates; Markdown parse cached)",
            _timed(lambda: render_campaign(workspace, campaign), 500),
            "ms",
            1e3,
        )

        def cold() -> None:
            _parse.cache_clear()  # as the first compile of this body in a process
            render_campaign(workspace, campaign)

        _report("compile, whole campaign, Markdown not cached", _timed(cold, 300), "ms", 1e3)
        key = SecretKey.for_workspace(workspace)
        values = rendered.substitutions(key, 12345, "Maria")
        html, text = rendered.html, rendered.text
        rendered.fill(values)  # split once
        _report(
            "fill html + text + subject, RenderedCampaign.fill (pre-split)",
            _timed(lambda: rendered.fill(values), 20000),
            "µs",
            1e6,
        )
        _report(
            "fill html + text, delivery.types.fill (str.replace)",
            _timed(lambda: (fill(html, values), fill(text, values)), 20000),
            "µs",
            1e6,
        )
        _report(
            "substitutions for one recipient (2 HMAC tokens)",
            _timed(lambda: rendered.substitutions(key, 12345, "Maria"), 20000),
            "µs",
            1e6,
        )
        print(
            f"compiled HTML {len(html.encode()):,} bytes, text {len(text.encode()):,} bytes, "
            f"{len(rendered.links)} links"
        )
