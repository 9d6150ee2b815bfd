"""Issue 19 item 8: drafting an article again says so (instead of a silent `-2` file), and
`--replace` writes over the earlier draft when nobody approved or sent it, never otherwise."""

from __future__ import annotations

from pathlib import Path

from mailer.workspace import Workspace
from tests.cli_runner import Mailer

ARTICLE = Path(__file__).resolve().parents[1] / "fixtures" / "articles" / "desk-posture.md"


def _draft(mailer: Mailer, *args: str) -> tuple[str, str]:
    result = mailer("draft", str(ARTICLE), *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout, Path(result.stdout.splitlines()[-1]).stem


def test_drafting_again_says_so_and_replace_writes_over_the_draft(
    mailer: Mailer, workspace: Workspace
) -> None:
    first_out, first = _draft(mailer)
    assert "drafted before" not in first_out
    again, second = _draft(mailer)
    assert second == f"{first}-2"
    assert f"This article was drafted before: {first}. This draft is a new file, {second}." in again
    assert "To write over the earlier draft instead, draft again with --replace." in again

    (workspace.campaigns_dir / f"{second}.md").unlink()
    replaced_out, replaced = _draft(mailer, "--replace")
    assert replaced == first
    assert f"Replaced the earlier draft {first} (never approved nor sent)." in replaced_out
    assert sorted(p.stem for p in workspace.campaigns_dir.glob("*.md")) == [first]


def test_an_approved_draft_is_never_replaced(mailer: Mailer, workspace: Workspace) -> None:
    _, first = _draft(mailer)
    assert mailer("approve", first).exit_code == 0
    refused = mailer("draft", str(ARTICLE), "--replace")
    assert refused.exit_code == 2
    assert f"({first}: approved); they are never replaced" in refused.stderr
    again, second = _draft(mailer)
    assert second == f"{first}-2"
    assert f"  {first} is approved: it is never replaced." in again
    document = mailer("draft", str(ARTICLE), "--json").json()
    assert document["replaced"] is None
    assert document["earlier_drafts"] == [
        {"slug": first, "kept_because": "approved"},
        {"slug": second, "kept_because": ""},
    ]
