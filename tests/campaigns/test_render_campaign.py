"""Rendering a campaign as subscribers see it: blocks, buttons, UTM links, footer, one compile."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from mailer.campaigns import render as render_module
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.delivery.mime import build_message
from mailer.delivery.types import Recipient, fill
from mailer.tokens import SecretKey, read_click_token, read_token
from mailer.workspace import Workspace

SITE = "https://www.summitspine.example"
BODY = f"""We hope your spring is off to a good start.

[[cta]]

## Why your neck matters

Small shifts at the top of the spine change how you carry your head.

- Raise your screen to eye level
- [Our pillow guide]({SITE}/blog/pillows?ref=nl#sizes)
- Read about it on [WebMD](https://www.webmd.com/pain/neck)

1. Sit tall
2. Breathe out slowly

![Dr. Reyes adjusting a patient]({SITE}/images/visit.jpg)

[[button "Read the full article" {SITE}/blog/neck]]

[[button "Meet our team" {SITE}/team]]

Call us at [(303) 555-0142](tel:+13035550142).

[[cta]]
"""


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")


def hrefs(html: str) -> list[str]:
    parser = Hrefs()
    parser.feed(html)
    return parser.hrefs


def campaign(
    body: str = BODY,
    subject: str = "Spring tune-up for your neck",
    preheader: str = "Three habits that help",
) -> Campaign:
    return Campaign(slug="2026-03-10-spring", subject=subject, preheader=preheader, body=body)


def test_places_utm_and_tracked_links(workspace: Workspace) -> None:
    rendered = render_campaign(workspace, campaign())
    by_place = {link.place: link for link in rendered.links}

    assert {"cta-top", "cta-bottom", "read-more", "meet-our-team"} <= set(by_place)
    for place in ("cta-top", "cta-bottom", "read-more", "meet-our-team"):
        query = parse_qs(urlsplit(by_place[place].url).query)
        assert query["utm_source"] == ["newsletter"]
        assert query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == ["2026-03-10-spring"]
        assert query["utm_content"] == [place]
    assert by_place["cta-top"].url.startswith(f"{SITE}/book?")
    assert by_place["read-more"].url.startswith(f"{SITE}/blog/neck?")

    guide = by_place["our-pillow-guide"].url
    assert urlsplit(guide).fragment == "sizes"
    assert parse_qs(urlsplit(guide).query)["ref"] == ["nl"]  # existing parameters kept
    assert by_place["webmd"].url == "https://www.webmd.com/pain/neck"  # other sites untouched

    links = hrefs(rendered.html)
    base = workspace.settings.web.base_url
    for link in rendered.links:
        if link.place != "footer":
            assert f"{base}/c/%%click%%.{link.index}" in links, link
    assert "tel:+13035550142" in links  # not tracked, not rewritten


def test_body_blocks_buttons_and_footer(workspace: Workspace) -> None:
    rendered = render_campaign(workspace, campaign())
    html, text = rendered.html, rendered.text
    organization = workspace.settings.organization

    assert "<h2" in html and "<ul" in html and "<ol" in html
    assert html.count("Book your free consultation") == 2
    assert "Read the full article" in html and "Meet our team" in html
    assert 'alt="Dr. Reyes adjusting a patient"' in html
    assert "Three habits that help" in html  # preheader
    assert organization.postal_address in html
    assert organization.phone in html
    links = hrefs(html)
    assert f"{workspace.settings.web.base_url}/archive/2026-03-10-spring" in links
    assert "%%unsubscribe_url%%" in links
    assert ">View in browser<" in html and ">Unsubscribe<" in html
    assert "@media" in html  # columns stack on phones
    assert 'style="' in html and "<mj-" not in html

    assert "WHY YOUR NECK" not in text and "Why your neck matters\n=====" in text
    assert "- Raise your screen to eye level" in text
    assert "1. Sit tall" in text
    assert "Read the full article: http" in text
    assert organization.postal_address in text
    assert "Unsubscribe: %%unsubscribe_url%%" in text
    assert "Hi %%first_name%%," in text


def test_without_click_tracking_links_are_direct_with_utm(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_TRACKING__CLICKS", "false")
    rendered = render_campaign(workspace, campaign())
    links = hrefs(rendered.html)
    assert not any("/c/" in href for href in links)
    cta = next(link for link in rendered.links if link.place == "cta-top")
    assert cta.url in links
    assert "https://www.webmd.com/pain/neck" in links


def test_body_without_cta_still_ends_with_one(workspace: Workspace) -> None:
    rendered = render_campaign(workspace, campaign(body="Just a short note this week."))
    assert [link.place for link in rendered.links if link.place.startswith("cta")] == ["cta-bottom"]


def test_cta_from_front_matter(workspace: Workspace) -> None:
    item = campaign(body="Hello.\n\n[[cta]]\n")
    item.cta = {"text": "Claim your spring check-up", "url": f"{SITE}/spring"}
    rendered = render_campaign(workspace, item)
    assert "Claim your spring check-up" in rendered.html
    assert rendered.links[0].url.startswith(f"{SITE}/spring?utm_source=newsletter")


def test_raw_html_in_markdown_is_not_injected(workspace: Workspace) -> None:
    body = (
        "Hello <script>alert(1)</script> and <img src=x onerror=alert(2)>.\n\n"
        '<div style="position:fixed">overlay</div>\n'
    )
    html = render_campaign(workspace, campaign(body=body)).html
    assert "<script>alert" not in html
    assert re.search(r"<[^>]*onerror", html) is None
    assert re.search(r"<div[^>]*position:fixed", html) is None
    assert "&lt;script&gt;" in html  # shown as text, as typed


def _count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = render_module.mjml2html

    def counting(source: str, **kwargs: object) -> str:
        calls[0] += 1
        return real(source, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render_module, "mjml2html", counting)
    return calls


def test_each_recipient_gets_own_links_without_recompiling(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_compiles(monkeypatch)
    rendered = render_campaign(workspace, campaign())
    key = SecretKey.for_workspace(workspace)
    template = rendered.message_template()
    people = [(101, "maria@example.com", "Maria"), (102, "sam@example.com", "")]
    filled: dict[int, tuple[str, str]] = {}
    for subscriber_id, email, first_name in people:
        values = rendered.substitutions(key, subscriber_id, first_name)
        message = build_message(template, Recipient(email, values, subscriber_id=subscriber_id))
        body = message.get_body(("html",))
        assert body is not None
        html = body.get_content()
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        filled[subscriber_id] = (html, text)
        assert rendered.fill(values)[1] == fill(rendered.html, values)  # fast path agrees
        assert "%%" not in html and "%%" not in text

        unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
        token = read_token(key.value, unsubscribe.rsplit("/u/", 1)[1], "u")
        assert token.subscriber_id == subscriber_id
        assert f'href="{unsubscribe}"' in html and f"Unsubscribe: {unsubscribe}" in text
        clicks = [href for href in hrefs(html) if "/c/" in href]
        assert clicks
        for href in clicks:
            click = read_click_token(key, href.rsplit("/c/", 1)[1])
            assert click.subscriber_id == subscriber_id
            assert click.campaign == "2026-03-10-spring"
            assert click.link_index is not None and click.link_index < len(rendered.links)

    assert calls[0] == 1
    assert "Hi Maria," in filled[101][0] and "Hi there," in filled[102][0]
    assert set(hrefs(filled[101][0])).isdisjoint(
        {h for h in hrefs(filled[102][0]) if "/c/" in h or "/u/" in h}
    )


def test_first_name_is_escaped_in_html_only(workspace: Workspace) -> None:
    rendered: RenderedCampaign = render_campaign(workspace, campaign(subject="For %%first_name%%"))
    values = rendered.substitutions("k" * 32, 5, "Jo <b>&</b>")
    subject, html, text = rendered.fill(values)
    assert subject == "For Jo <b>&</b>"
    assert "Hi Jo &lt;b&gt;&amp;&lt;/b&gt;," in html
    assert "Hi Jo <b>&</b>," in text


def test_public_copy_for_the_archive_has_no_personal_links(workspace: Workspace) -> None:
    body = BODY + "".join(f"\n[Link {n}]({SITE}/page-{n})\n" for n in range(12))
    rendered = render_campaign(workspace, campaign(body=body))
    html, text = rendered.public_copy()
    assert "%%" not in html and "%%" not in text
    assert "/c/" not in html and "/c/" not in text and "/u/" not in html
    assert "Hi there," in html and "Hi there," in text
    links = hrefs(html)
    for link in rendered.links:
        assert link.url in links  # index 1 and 11 are not confused
    assert f"{workspace.settings.web.base_url}/subscribe" in links


def test_plain_text_is_wrapped_without_breaking_links(workspace: Workspace) -> None:
    long_paragraph = "Small shifts at the top of the spine change how you carry your head. " * 4
    rendered = render_campaign(workspace, campaign(body=BODY + "\n" + long_paragraph + "\n"))
    lines = rendered.text.splitlines()
    assert all(len(line) <= 76 for line in lines if "http" not in line), rendered.text
    assert any(line.startswith("Read the full article: http") for line in lines)
    assert any(line.startswith("Unsubscribe: %%unsubscribe_url%%") for line in lines)


def test_rerender_is_identical_and_follows_settings(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_campaign(workspace, campaign())
    second = render_campaign(workspace, campaign())
    assert (first.html, first.text, first.links) == (second.html, second.text, second.links)
    monkeypatch.setenv("MAILER_TRACKING__CLICKS", "false")
    direct = render_campaign(Workspace(workspace.root), campaign())  # same body, new settings
    assert "/c/%%click%%" not in direct.html and "/c/%%click%%" not in direct.text
    assert "/c/%%click%%" in render_campaign(workspace, campaign()).html
