"""Issue 19 item 5 (import): `mailer subscribers import` imports an address with a likely domain
typo as it is, and lists its line with the address suggested; --json has them too."""

from __future__ import annotations

from mailer.workspace import Workspace
from tests.cli_runner import Mailer

CSV = """Email,First Name
maria@gmail.con,Maria
james@clinic.example,James
priya@hotmial.com,Priya
not-an-address,Nobody
tom@yahoo.co,Tom
"""


def test_import_warns_on_likely_typos_and_imports_them(
    mailer: Mailer, workspace: Workspace
) -> None:
    path = workspace.root / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    result = mailer("subscribers", "import", str(path))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "3 addresses may be mistyped; imported as they are:" in lines
    assert "  line 2: maria@gmail.con: did you mean maria@gmail.com?" in lines
    assert "  line 4: priya@hotmial.com: did you mean priya@hotmail.com?" in lines
    assert "  line 6: tom@yahoo.co: did you mean tom@yahoo.com?" in lines
    assert not any("james@clinic.example" in line for line in lines)
    listed = mailer("subscribers", "list", "--json").json()
    emails = {person["email"] for person in listed} if isinstance(listed, list) else str(listed)
    assert "maria@gmail.con" in emails  # warned, never rejected

    again = mailer("subscribers", "import", str(path), "--dry-run", "--json").json()
    assert again["typo_warnings"] == [
        {"line": 2, "address": "maria@gmail.con", "suggestion": "maria@gmail.com"},
        {"line": 4, "address": "priya@hotmial.com", "suggestion": "priya@hotmail.com"},
        {"line": 6, "address": "tom@yahoo.co", "suggestion": "tom@yahoo.com"},
    ]
