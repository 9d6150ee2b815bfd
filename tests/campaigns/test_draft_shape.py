"""Issue 12: drafts read as the article does, in the Markdown, the HTML and the text part.

Fixtures are page exports written for these tests in the clinic's voice
(tests/fixtures/articles/*.txt), each with a shape the issue names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from mailer.articles import load_article
from mailer.articles.model import Article, ListBlock
from mailer.campaigns.campaign import Campaign
from mailer.campaigns.draft import CallToAction, compose_body, draft_campaign, write_draft
from mailer.campaigns.render import RenderedCampaign, render_campaign
from mailer.campaigns.subject import make_article_preheader
from mailer.campaigns.teaser import make_teaser
from mailer.config import DEFAULT_CLOSING_LINES
from mailer.workspace import Workspace
from tests.cli_runner import Mailer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
SITE = "https://www.summitspine.example/blog"
CTA = CallToAction("Book your free consultation", "https://www.summitspine.example/book")

# The steps of each fixture as the reader sees them: (step, [its bullets]).
STEPS = {
    "balance-upper-neck.txt": [
        (
            "How Posture Shifts Your Balance",
            [
                "When the neck is out of line, the head drifts forward and the body leans to "
                "follow it",
                "Over months this can change the way you walk",
            ],
        ),
        (
            "Why Nerves Matter for the Joint",
            [
                "The brainstem passes right through the top of the neck",
                "Pressure there can blur the signals that come up from your feet",
            ],
        ),
        (
            "What a Quick Check Looks Like",
            [
                "Stand with your feet together and your eyes closed for twenty seconds",
                "Notice whether you sway to one side",
            ],
        ),
    ],
    "sleep-stiff-neck.txt": [
        ("Set the Scene", ["Dim the lights an hour before bed", "Keep the bedroom cool and quiet"]),
        (
            "Check Your Pillow",
            [
                "Lie on your side and ask someone to look at your neck",
                "A level line from nose to breastbone means the height is right",
            ],
        ),
        (
            "Settle Into Position",
            [
                "On your back or your side, never face down",
                "Keep your arms below the level of your shoulders",
            ],
        ),
    ],
    "desk-posture-steps.txt": [
        (
            "Raise the screen",
            ["The top line of text should sit at eye level", "A stack of books works as well "
             "as a stand"],
        ),
        ("Bring the keyboard close", ["Elbows bent at about a right angle", "Shoulders down "
                                      "and relaxed"]),
        ("Support your lower back", ["A rolled towel behind the waist is enough"]),
        ("Plant your feet", ["Flat on the floor, or on a low footrest"]),
    ],
}  # fmt: skip


def article(name: str, url: str | None = None) -> Article:
    loaded = load_article(FIXTURES / name)
    loaded.url = url
    return loaded


def draft(workspace: Workspace, *articles: Article) -> Campaign:
    return write_draft(list(articles), workspace.campaigns_dir, CTA)


def body_html(rendered: RenderedCampaign) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(rendered.html)


def text_of(element: lxml_html.HtmlElement) -> str:
    """An <li>'s own text, without the nested list's."""
    return " ".join((element.text or "").split())


@pytest.mark.parametrize("name", sorted(STEPS))
def test_steps_stay_one_numbered_list_with_nested_bullets(workspace: Workspace, name: str) -> None:
    """Issue 12 item 1: Markdown, HTML and text part all keep "1.", "2.", "3." and the bullets."""
    campaign = draft(workspace, article(name))  # no address: the whole article
    steps = STEPS[name]

    expected_markdown = []
    for number, (step, bullets) in enumerate(steps, start=1):
        expected_markdown.append(f"{number}. {step}")
        expected_markdown += [f"   - {bullet}" for bullet in bullets]
    assert "\n".join(expected_markdown) in campaign.body

    rendered = render_campaign(workspace, campaign)
    root = body_html(rendered)
    ordered = [ol for ol in root.iter("ol") if ol.getparent().tag != "li"]
    assert len(ordered) == 1  # one list, not one list a step
    items = ordered[0].findall("li")
    assert [text_of(li) for li in items] == [step for step, _ in steps]
    for li, (_, bullets) in zip(items, steps, strict=True):
        nested = li.findall("ul")
        assert len(nested) == 1
        assert [" ".join(b.text_content().split()) for b in nested[0].findall("li")] == bullets

    text = rendered.text
    for number, (step, bullets) in enumerate(steps, start=1):
        assert re.search(rf"^{number}\. {re.escape(step)}$", text, re.MULTILINE)
        first_words = " ".join(bullets[0].split()[:5])
        assert re.search(
            rf"^{number}\. {re.escape(step)}\n   - {re.escape(first_words)}", text, re.MULTILINE
        ), f"the bullets of step {number} are not indented under it"


def test_steps_interrupted_by_text_keep_their_numbers(workspace: Workspace) -> None:
    """Issue 12 item 1: a numbered step after a paragraph is still "2." in every part."""
    text = (
        "Two Checks Before Bed\n\nA short routine helps your neck rest through the night.\n\n"
        "1. Check Your Pillow\nYour nose should line up with the middle of your chest.\n"
        "2. Check Your Mattress\nYour hips should not sink below your shoulders.\n"
    )
    source = workspace.root / "two-checks.txt"
    source.write_text(text, encoding="utf-8")
    campaign = draft(workspace, load_article(source))
    assert "\n\n2. Check Your Mattress\n\n" in f"\n\n{campaign.body}"
    rendered = render_campaign(workspace, campaign)
    assert [ol.get("start") for ol in body_html(rendered).iter("ol")] == [None, "2"]
    assert re.search(r"^2\. Check Your Mattress$", rendered.text, re.MULTILINE)


def test_sub_headings_one_level_below_their_section(workspace: Workspace) -> None:
    """Issue 12 item 5: "Position sensors" is an h3 under the h2 it belongs to."""
    campaign = draft(workspace, article("balance-upper-neck.txt"))
    headings = re.findall(r"^(#+) (.+)$", campaign.body, re.MULTILINE)
    assert headings == [
        ("#", "How Your Upper Neck Affects Your Balance"),
        ("##", "Why Balance Starts in the Neck"),
        ("###", "Position sensors"),
        ("###", "Nerve pathways"),
        ("##", "How Your Upper Neck Affects Your Balance"),
        ("##", "Three Things to Watch For at Home"),
    ]
    root = body_html(render_campaign(workspace, campaign))
    assert [" ".join(h.text_content().split()) for h in root.iter("h3")] == [
        "Position sensors",
        "Nerve pathways",
    ]


def test_the_caption_is_not_in_the_draft(workspace: Workspace) -> None:
    """Issue 12 item 5."""
    campaign = draft(workspace, article("balance-upper-neck.txt"))
    assert "A side view of the atlas" not in campaign.body


def test_contents_list_only_the_sections(workspace: Workspace) -> None:
    """Issue 12 item 5: "In this article" has the sections, not the title or sub-sections."""
    campaign = draft(workspace, article("balance-upper-neck.txt", f"{SITE}/balance"))
    contents = campaign.body.split("### In this article\n\n", 1)[1].split("\n\n", 1)[0]
    assert contents.splitlines() == [
        "- Why Balance Starts in the Neck",
        "- Three Things to Watch For at Home",
    ]


def test_teaser_takes_the_list_its_lead_in_introduces(workspace: Workspace) -> None:
    """Issue 12 item 2: "Here is the reason:" is followed by the reasons, not by a paragraph
    that came after them in the article."""
    campaign = draft(workspace, article("balance-upper-neck.txt", f"{SITE}/balance"))
    teaser = campaign.body.split("[[cta]]", 1)[0]
    assert "in the upper neck. Here is the reason:\n\n- The joints of the upper neck" in teaser
    assert "- When the two reports disagree, the brain answers with dizziness" in teaser
    assert_no_dangling_lead_in(teaser)


def test_teaser_ends_before_a_lead_in_whose_list_does_not_fit(workspace: Workspace) -> None:
    """Issue 12 item 2: the four long tips do not fit a teaser, so neither does their lead-in."""
    campaign = draft(workspace, article("sleep-stiff-neck.txt", f"{SITE}/sleep"))
    teaser = campaign.body.split("[[cta]]", 1)[0]
    assert "these are the ones we suggest most often" not in teaser
    assert teaser.rstrip().endswith("the night may be undoing the good work of the day.")
    assert_no_dangling_lead_in(teaser)


def assert_no_dangling_lead_in(markdown: str) -> None:
    blocks = [block for block in markdown.split("\n\n") if block.strip()]
    for block, following in zip(blocks, [*blocks[1:], ""], strict=True):
        if block.rstrip().endswith(":"):
            assert following.startswith(("- ", "1. ")), f"{block!r} leads into {following!r}"


def test_a_lead_in_before_a_paragraph_brings_that_paragraph() -> None:
    """Issue 12 item 2: past the teaser's length, the paragraph a lead-in introduces comes too;
    a list no lead-in introduces is left to the article."""
    opening = "Your neck holds up your head all day, and it rarely complains until it does. " * 6
    lead_in = "Here is what that feels like:"
    follows = "A dull ache at the base of the skull that gets worse through the afternoon."
    unrelated = "We see this most in people who work at a desk."
    tips = ListBlock(["Raise the screen", "Take breaks"])
    # 90 words, then the lead-in takes the teaser past its 95 words
    assert make_teaser([opening, tips, lead_in, follows, unrelated], min_words=95) == [
        " ".join(opening.split()),
        lead_in,
        follows,
    ]


def test_preheader_adds_to_the_subject_instead_of_repeating_the_opening() -> None:
    """Issue 12 item 6: the inbox must not show the first sentence twice."""
    for name in ("balance-upper-neck.txt", "desk-posture-steps.txt", "sleep-stiff-neck.txt"):
        lead = article(name)
        campaign = draft_campaign([lead], CTA)
        first_sentence = lead.paragraphs[0].split(". ")[0]
        assert first_sentence[:40] not in campaign.preheader, name
        assert campaign.preheader and len(campaign.preheader) <= 140
    balance = draft_campaign([article("balance-upper-neck.txt")], CTA)
    assert balance.preheader == (
        "Inside: Why Balance Starts in the Neck and Three Things to Watch For at Home."
    )


def test_preheader_of_an_article_without_sections() -> None:
    """Issue 12 item 6: no sections to name: the page's own summary, else the opening from its
    second sentence on; never the first sentence the email opens with."""
    opening = [
        "Most of us sit longer than we sleep. The way you sit decides how hard the top of your "
        "neck works all day. Small changes to the desk add up over a week, and cost little."
    ]
    assert make_article_preheader(opening, opening[0]) == (
        "The way you sit decides how hard the top of your neck works all day. Small changes to "
        "the desk add up over a week, and cost little."
    )
    summary = "Four changes to your desk that take load off the upper neck."
    assert make_article_preheader(opening, summary) == summary


def test_digest_subject_names_what_is_inside() -> None:
    """Issue 12 item 6: the titles that fit, by name; the preheader names the others."""
    short = [
        Article(title="Pillow Height", sections=article("sleep-stiff-neck.txt").sections),
        Article(title="Desk Posture", sections=article("desk-posture-steps.txt").sections),
        Article(title="Balance and the Neck", sections=article("balance-upper-neck.txt").sections),
    ]
    campaign = draft_campaign(short, CTA)
    assert campaign.subject == "Pillow Height, Desk Posture and Balance and the Neck"

    long = [
        article("balance-upper-neck.txt", f"{SITE}/balance"),
        article("sleep-stiff-neck.txt", f"{SITE}/sleep"),
        article("desk-posture-steps.txt", f"{SITE}/desk"),
    ]
    campaign = draft_campaign(long, CTA)
    assert campaign.subject == "How Your Upper Neck Affects Your Balance and 2 more"
    assert campaign.preheader == (
        "Also inside: Sleep Better and Wake Without a Stiff Neck and Desk Posture for a "
        "Happier Neck: Four Steps That Help."
    )


def test_closing_lines_promise_nothing_by_default() -> None:
    """Issue 12 item 7."""
    body = compose_body([article("desk-posture-steps.txt")])
    assert "real person" not in body
    assert body.rstrip().endswith(f"{DEFAULT_CLOSING_LINES[0]}\n\n[[cta]]")


def test_closing_lines_from_the_configuration(mailer: Mailer, workspace: Workspace) -> None:
    """Issue 12 item 7: [draft] closing_lines, each line a paragraph before the last button."""
    config = workspace.root / "mailer.toml"
    text = config.read_text()
    assert "closing_lines" in text  # the sample documents the key
    text = re.sub(
        r"^closing_lines = .*$",
        'closing_lines = ["Questions? Call us at (303) 555-0142.", "See you soon, Dr. Ellison"]',
        text,
        flags=re.MULTILINE,
    )
    config.write_text(text)
    source = FIXTURES / "desk-posture-steps.txt"
    result = mailer("draft", str(source))
    assert result.exit_code == 0, result.stdout + result.stderr
    body = Path(result.stdout.rstrip("\n").splitlines()[-1]).read_text()
    assert body.rstrip().endswith(
        "Questions? Call us at (303) 555-0142.\n\nSee you soon, Dr. Ellison\n\n[[cta]]"
    )
    assert DEFAULT_CLOSING_LINES[0] not in body
