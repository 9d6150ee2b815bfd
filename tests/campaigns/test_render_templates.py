"""Staff-edited templates: mistakes and unsafe expressions become a TemplateError at file:line."""

from __future__ import annotations

import pytest

from mailer.campaigns.campaign import Campaign
from mailer.campaigns.render import render_campaign
from mailer.errors import TemplateError
from mailer.workspace import Workspace


def sample() -> Campaign:
    return Campaign(slug="2026-03-10-spring", subject="Spring", preheader="Hi", body="Hello.")


def add_line(workspace: Workspace, name: str, line: str) -> int:
    """Append ``line`` to a template; return its line number."""
    path = workspace.templates_dir / name
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ link.__globals__ }}",
        "{{ organization.__class__.__subclasses__() }}",
        "{{ organization.update({'postal_address': ''}) }}",
        "{{ blocks.clear() }}",
    ],
)
def test_sandbox_refuses_python_internals(workspace: Workspace, expression: str) -> None:
    line = add_line(workspace, "_footer.mjml.j2", expression)
    with pytest.raises(TemplateError) as caught:
        render_campaign(workspace, sample())
    message = caught.value.message
    assert f"_footer.mjml.j2:{line}" in message
    assert "not allowed" in message or "undefined" in message
    assert caught.value.hint


def test_syntax_error_names_file_and_line(workspace: Workspace) -> None:
    line = add_line(workspace, "_header.mjml.j2", "{% if organization.phone %}unclosed")
    with pytest.raises(TemplateError) as caught:
        render_campaign(workspace, sample())
    assert "_header.mjml.j2" in caught.value.message
    assert "syntax error" in caught.value.message
    assert f":{line}" in caught.value.message or f":{line + 1}" in caught.value.message


def test_unknown_name_names_file_and_line(workspace: Workspace) -> None:
    line = add_line(workspace, "newsletter.txt.j2", "Call {{ clinic_phone }}")
    with pytest.raises(TemplateError) as caught:
        render_campaign(workspace, sample())
    assert f"newsletter.txt.j2:{line}" in caught.value.message
    assert "clinic_phone" in caught.value.message


def test_missing_partial_is_named(workspace: Workspace) -> None:
    (workspace.templates_dir / "_cta.mjml.j2").unlink()
    with pytest.raises(TemplateError) as caught:
        render_campaign(workspace, sample())
    assert "_cta.mjml.j2" in caught.value.message


def test_text_template_is_not_html_escaped_but_html_is(workspace: Workspace) -> None:
    item = sample()
    item.preheader = "Tips & tricks <for> you"
    rendered = render_campaign(workspace, item)
    assert "Tips & tricks <for> you" in rendered.text
    assert "Tips &amp; tricks &lt;for&gt; you" in rendered.html
