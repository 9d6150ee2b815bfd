"""Every Jinja2 environment is the one sandbox: no template reaches Python internals or mutates
what it is given, in each of the three uses (campaign email, signup emails, web pages)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jinja2.exceptions import SecurityError

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.message import signup_message
from mailer.campaigns.render import render_campaign
from mailer.errors import TemplateError
from mailer.subscribers.signup import Person
from mailer.templating import autoescape
from mailer.web.context import PAGES
from mailer.workspace import Workspace
from tests.web_server import LiveServer, serve

UNSAFE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ organization.__class__.__init__.__globals__ }}",
    "{{ booking.__class__.__subclasses__() }}",
    "{{ [1, 2].append(3) }}",  # the immutable sandbox: no mutating what a template is given
    "{{ {'a': 1}.update({'b': 2}) }}",
]
CARLA = Person(
    subscriber_id=7, email="carla@example.com", email_key="carla@example.com", first_name="Carla"
)


def add_line(workspace: Workspace, name: str, line: str) -> int:
    """Append ``line`` to a workspace template; return its line number."""
    path = workspace.templates_dir / name
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


@pytest.mark.parametrize("expression", UNSAFE)
def test_a_campaign_template_cannot_reach_python_internals(
    workspace: Workspace, expression: str
) -> None:
    line = add_line(workspace, "_footer.mjml.j2", expression)
    spring = Campaign(slug="2026-03-10-spring", subject="Spring", preheader="Hi", body="Hello.")
    with pytest.raises(TemplateError) as caught:
        render_campaign(workspace, spring)
    assert f"_footer.mjml.j2:{line}: not allowed in a template" in caught.value.message


@pytest.mark.parametrize("expression", UNSAFE)
@pytest.mark.parametrize("name", ["confirm.html.j2", "welcome.txt.j2"])
def test_a_signup_template_cannot_reach_python_internals(
    workspace: Workspace, name: str, expression: str
) -> None:
    line = add_line(workspace, name, expression)
    kind = name.split(".")[0]
    with pytest.raises(TemplateError) as caught:
        signup_message(
            workspace.settings,
            workspace.templates_dir,
            kind,
            CARLA,
            subject="Hello",
            unsubscribe_url="https://news.example/u/x",
            confirm_url="https://news.example/confirm/x",
            booking_url="https://clinic.example/book",
        )
    assert f"{name}:{line}: not allowed in a template" in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize("expression", UNSAFE)
def test_a_web_page_template_cannot_reach_python_internals(
    workspace: Workspace, expression: str
) -> None:
    with pytest.raises(SecurityError):
        PAGES.from_string(expression).render(organization=workspace.settings.organization)


def test_a_web_page_shows_an_unsafe_attribute_as_nothing() -> None:
    assert PAGES.from_string("[{{ ''.__class__ }}]").render() == "[]"


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("newsletter.txt.j2", False),
        ("confirm.txt.j2", False),
        ("newsletter.mjml.j2", True),
        ("confirm.html.j2", True),
        ("signup.html", True),
        ("_promo.j2", True),  # an unknown kind: the safe side
        (None, True),  # a template from a string
    ],
)
def test_only_text_templates_are_left_unescaped(name: str | None, escaped: bool) -> None:
    assert autoescape(name) is escaped


@pytest.fixture
def server(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    monkeypatch.setenv("MAILER_DATABASE__URL", f"sqlite:///{tmp_path / 'signup.db'}")
    yield from serve(workspace)


def test_an_unsafe_signup_template_never_breaks_the_signup_page(
    workspace: Workspace, server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The email is built after the page is answered: a template staff broke is logged with
    its file and line (no address), the person sees "check your inbox", nothing is sent."""
    line = add_line(workspace, "confirm.html.j2", UNSAFE[0])
    caplog.set_level(logging.WARNING)
    page = httpx.post(
        f"{server.url}/subscribe",
        data={"email": "carla@example.com", "consent": "yes"},
        timeout=10,
    )
    assert page.status_code == 200 and "Check your inbox" in page.text
    deadline = time.monotonic() + 10
    while not any("not sent" in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, "the unsent email was not logged"
        time.sleep(0.05)
    assert f"confirm.html.j2:{line}: not allowed in a template" in caplog.text
    assert "carla" not in caplog.text
    assert not (workspace.outbox_dir / "signup-confirm").exists()
