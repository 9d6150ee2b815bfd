"""A step of a series is a campaign file with ``sequence:`` and ``after:`` (issue 16 item 1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailer.campaigns.campaign import campaign_text, parse_campaign
from mailer.errors import CampaignError


def _file(front: str) -> str:
    return f'---\nsubject: "Welcome"\nstatus: draft\n{front}---\nHello.\n'


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("0s", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_a_step_reads_its_series_and_delay(after: str, expected: timedelta) -> None:
    campaign = parse_campaign(_file(f"sequence: welcome\nafter: {after}\n"), Path("step.md"))
    assert campaign.sequence == "welcome"
    assert campaign.after == expected


def test_a_step_is_written_back_as_typed() -> None:
    text = _file('sequence: "welcome"\nafter: "3d"\n')
    campaign = parse_campaign(text, Path("step.md"))
    again = parse_campaign(campaign_text(campaign), Path("step.md"))
    assert (again.sequence, again.after) == ("welcome", timedelta(days=3))


def test_a_weekly_issue_is_no_step() -> None:
    campaign = parse_campaign(_file(""), Path("issue.md"))
    assert campaign.sequence == ""


@pytest.mark.parametrize(
    ("front", "says"),
    [
        ("sequence: welcome\nafter: 3 days\n", "step.md:5: after: '3 days' is not a duration"),
        ("sequence: welcome\n", "step.md:4: a step of the 'welcome' series needs after:"),
        ("after: 2d\n", "step.md:4: after: is only for a step of a series"),
        ("sequence: Welcome Series\nafter: 1d\n", "step.md:4: sequence: 'Welcome Series'"),
    ],
)
def test_a_wrong_step_names_the_line_and_what_to_write(front: str, says: str) -> None:
    with pytest.raises(CampaignError) as caught:
        parse_campaign(_file(front), Path("step.md"))
    assert says in caught.value.message
    assert caught.value.hint
