"""Start-up (issue 17): `mailer --help` loads no database, settings or template libraries, and a
command on a database whose schema is current does not load Alembic (with Mako and Pygments
behind it, a fifth of `mailer send`'s start-up before)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailer.store.db import known_heads

HEAVY = ("sqlalchemy", "pydantic", "pydantic_settings", "jinja2", "alembic")
LOADED = (
    "import atexit, sys\n"
    "atexit.register(lambda: print(' '.join(sorted({m.split('.')[0] for m in sys.modules})),"
    " file=sys.stderr))\n"
)


def _loaded_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return set(done.stderr.strip().splitlines()[-1].split())


@pytest.mark.slow
def test_mailer_help_loads_only_the_command_line() -> None:
    loaded = _loaded_by("sys.argv = ['mailer', '--help']\nfrom mailer.cli import main\nmain()")
    assert "typer" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.slow
def test_a_current_schema_is_opened_without_alembic(database_url: str, tmp_path: Path) -> None:
    loaded = _loaded_by(
        f"from mailer.store.db import open_database\nopen_database({database_url!r})"
    )
    assert "sqlalchemy" in loaded and "alembic" not in loaded
    # A database behind (here: empty) is still upgraded, through Alembic.
    empty = f"sqlite:///{tmp_path / 'new.db'}"
    loaded = _loaded_by(
        f"from mailer.store.db import open_database, schema_state\n"
        f"engine, _ = open_database({empty!r})\n"
        "assert schema_state(engine).is_current"
    )
    assert "alembic" in loaded


def test_the_heads_read_from_the_files_are_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option(
        "script_location",
        str(Path(__file__).parents[1] / "src" / "mailer" / "store" / "migrations"),
    )
    assert known_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())
