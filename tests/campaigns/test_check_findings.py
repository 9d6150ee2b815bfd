"""Preflight findings, one at a time: each is triggered by a crafted campaign or template."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.check import (
    CheckResult,
    check_campaign,
    contrast_ratio,
    parse_spam_score,
)
from mailer.workspace import Workspace

SITE = "https://www.summitspine.example"
CLEAN_BODY = f"""We hope your spring is off to a good start, %%first_name%%.

[[cta]]

## Why your neck matters

![Dr. Reyes with a patient]({SITE}/images/visit.jpg)

- Raise your screen to eye level
- Email us at [frontdesk](mailto:frontdesk@summitspine.example) or call [us](tel:+13035550142)

[[button "Read the full article" {SITE}/blog/neck]]

[[cta]]
"""


@pytest.fixture(autouse=True)
def public_base_url(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in production: links point at a public address (a loopback one is a warning)."""
    monkeypatch.setenv("MAILER_WEB__BASE_URL", "https://news.summitspine.example")


def campaign(
    body: str = CLEAN_BODY,
    subject: str = "Spring tune-up for your neck",
    preheader: str = "Three habits that help",
) -> Campaign:
    return Campaign(slug="2026-03-10-spring", subject=subject, preheader=preheader, body=body)


def run(workspace: Workspace, item: Campaign | None = None) -> CheckResult:
    return check_campaign(workspace, item or campaign(), spam=False)


def codes(result: CheckResult, level: str = "error") -> list[str]:
    return [f.code for f in result.findings if f.level == level]


def edit_template(workspace: Workspace, name: str, old: str, new: str) -> None:
    path = workspace.templates_dir / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_clean_campaign_has_no_findings(workspace: Workspace) -> None:
    result = run(workspace)
    assert result.findings == []
    assert result.eml is not None and b"Hi Alex," in result.eml.replace(b"=\r\n", b"")


def test_missing_subject(workspace: Workspace) -> None:
    assert codes(run(workspace, campaign(subject="  "))) == ["missing-subject"]


def test_missing_unsubscribe_link(workspace: Workspace) -> None:
    edit_template(workspace, "_footer.mjml.j2", '<a href="{{ unsubscribe_url }}">', "<a>")
    assert codes(run(workspace)) == ["missing-unsubscribe"]


def test_missing_unsubscribe_in_text_part(workspace: Workspace) -> None:
    edit_template(workspace, "newsletter.txt.j2", "Unsubscribe: {{ unsubscribe_url }}", "")
    assert codes(run(workspace)) == ["missing-unsubscribe"]


def test_missing_postal_address(workspace: Workspace) -> None:
    edit_template(workspace, "_footer.mjml.j2", "{{ organization.postal_address }}", "")
    assert codes(run(workspace)) == ["missing-postal-address"]


def test_missing_plain_text_part(workspace: Workspace) -> None:
    (workspace.templates_dir / "newsletter.txt.j2").unlink()
    assert "missing-text-part" in codes(run(workspace))


def test_html_over_100_kb(workspace: Workspace) -> None:
    paragraph = "Posture matters at the desk, in the car and in bed. " * 20
    body = CLEAN_BODY + "\n\n".join([paragraph] * 110)
    result = run(workspace, campaign(body=body))
    assert codes(result) == ["html-too-large"]
    assert "102,400" in result.findings[0].message


def test_image_without_alt_text(workspace: Workspace) -> None:
    body = CLEAN_BODY + f"\n![]({SITE}/images/spine.png)\n"
    result = run(workspace, campaign(body=body))
    assert codes(result) == ["image-missing-alt"]
    assert "spine.png" in result.findings[0].message


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:text/html,hi", "file:///etc"])
def test_link_that_is_not_a_web_address_in_body(workspace: Workspace, target: str) -> None:
    body = CLEAN_BODY + f"\nSee [this]({target}).\n"
    result = run(workspace, campaign(body=body))
    assert codes(result) == ["bad-link"]
    assert "body line" in result.findings[0].message


def test_link_that_is_not_a_web_address_from_front_matter(workspace: Workspace) -> None:
    item = campaign()
    item.cta = {"text": "Book now", "url": "javascript:alert(1)"}
    assert "bad-link" in codes(run(workspace, item))


def test_link_that_is_not_a_web_address_in_template(workspace: Workspace) -> None:
    edit_template(
        workspace, "_footer.mjml.j2", "View in browser</a>", 'View</a> <a href="data:x">x</a>'
    )
    assert codes(run(workspace)) == ["bad-link"]


@pytest.mark.parametrize(
    "leftover", ["[[signup]]", "{{ first_name }}", "%%last_name%%", "{% if vip %}"]
)
def test_unfilled_placeholder(workspace: Workspace, leftover: str) -> None:
    body = CLEAN_BODY + f"\nA note for you: {leftover}\n"
    result = run(workspace, campaign(body=body))
    assert set(codes(result)) == {"unfilled-placeholder"}
    assert any("body line" in f.message and leftover in f.message for f in result.findings)


def test_unfilled_placeholder_in_subject(workspace: Workspace) -> None:
    result = run(workspace, campaign(subject="Hello {{ name }}"))
    assert codes(result) == ["unfilled-placeholder"]
    assert "subject" in result.findings[0].message


def test_template_error_names_file_and_line(workspace: Workspace) -> None:
    path = workspace.templates_dir / "_cta.mjml.j2"
    lines = [*path.read_text(encoding="utf-8").splitlines(), "{{ button.nope.deeper }}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(workspace)
    assert codes(result) == ["template-error"]
    assert f"_cta.mjml.j2:{len(lines)}" in result.findings[0].message


def test_long_subject_and_no_preheader_are_warnings(workspace: Workspace) -> None:
    result = run(workspace, campaign(subject="A" * 61, preheader=""))
    assert codes(result) == []
    assert codes(result, "warning") == ["subject-too-long", "no-preheader"]
    assert codes(run(workspace, campaign(subject="A" * 60)), "warning") == []


def test_low_contrast_brand_colour(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_ORGANIZATION__BRAND_COLOR", "#8ecae6")
    result = run(workspace)
    assert codes(result, "warning") == ["low-contrast"]
    assert "#8ecae6" in result.findings[0].message


def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#1d6fa5", "#ffffff") >= 4.5  # the shipped brand colour passes


def test_loopback_base_url_warning(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_WEB__BASE_URL", "http://127.0.0.1:8000")
    result = run(workspace)
    assert codes(result) == []
    assert codes(result, "warning") == ["local-base-url"]


def test_development_key_warning(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILER_SECRET_KEY")
    result = run(workspace)
    assert codes(result) == []
    assert codes(result, "warning") == ["development-key"]


SA_OUTPUT = (
    "X-Spam-Checker-Version: SpamAssassin 4.0.0\n"
    "X-Spam-Status: Yes, score=7.4 required=5.0 tests=HTML_MESSAGE,MISSING_DATE\n"
)


def test_spam_score_is_parsed() -> None:
    assert parse_spam_score(SA_OUTPUT) == 7.4
    assert parse_spam_score("X-Spam-Status: No, score=-0.1 required=5.0 tests=NONE") == -0.1
    assert parse_spam_score("nothing here") is None


def test_high_spam_score_is_a_warning(workspace: Workspace, tmp_path: Path) -> None:
    # A stand-in scorer on the same interface: reads the message, prints SpamAssassin's header.
    scorer = tmp_path / "scorer"
    scorer.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\nprint({SA_OUTPUT!r})\n"
    )
    scorer.chmod(scorer.stat().st_mode | stat.S_IEXEC)
    result = check_campaign(workspace, campaign(), spam_command=[str(scorer)])
    assert result.spam_score == 7.4
    assert codes(result, "warning") == ["spam-score"]


@pytest.mark.slow
def test_real_spamassassin_scores_the_clean_campaign_low(workspace: Workspace) -> None:
    import shutil

    if shutil.which("spamassassin") is None:
        pytest.skip("spamassassin not installed")
    result = check_campaign(workspace, campaign())
    assert result.spam_score is not None and result.spam_score <= 3.0
    assert codes(result, "warning") == []
