"""Issue 19 item 10: the outbox names each message by its recipient's address, made safe for a
file name, so a person finds someone's copy by the address they know."""

from __future__ import annotations

from mailer.delivery.providers.outbox import outbox_file_name
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import CAMPAIGN, SLUG


def test_a_sent_message_is_found_by_its_address(mailer: Mailer, workspace: Workspace) -> None:
    (workspace.campaigns_dir / f"{SLUG}.md").write_text(CAMPAIGN, encoding="utf-8")
    for args in (
        ("subscribers", "add", "Jane.Doe@Example.com"),
        ("subscribers", "add", "o'brien+news@example.org"),
        ("approve", SLUG),
        ("send", SLUG, "--yes"),
    ):
        done = mailer(*args)
        assert done.exit_code == 0, (args, done.stderr)
    names = sorted(path.name for path in (workspace.outbox_dir / SLUG).iterdir())
    assert names[0] == "jane.doe@example.com.eml"
    assert names[1].startswith("o_brien+news@example.org-") and names[1].endswith(".eml")


def test_unsafe_addresses_stay_inside_the_folder_and_apart() -> None:
    assert outbox_file_name("Maria@Example.com") == "maria@example.com.eml"
    odd = outbox_file_name("../../etc/passwd@example.com")
    assert "/" not in odd and not odd.startswith(".")
    assert outbox_file_name("a/b@example.com") != outbox_file_name("a_b@example.com")
