"""The layering of src/mailer, read from the code's own imports (an ast import graph).

Faces (cli, web) -> use cases (app, schedule) -> the domain (articles, subscribers, campaigns,
delivery, events, feed, bookings) -> the ground (store, tokens, workspace, config, logs, readiness,
errors). An import may point down or stay on its floor, never up; no two packages import each
other, even through others. Imports under ``if TYPE_CHECKING:`` are annotations only and do not
count.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import mailer.store.models as models

SRC = Path(__file__).resolve().parents[1] / "src"

FLOORS: dict[str, int] = {
    # faces
    "cli": 4,
    "web": 4,
    "__main__": 4,
    # use cases
    "app": 3,
    "schedule": 3,
    # the domain
    "articles": 2,
    "subscribers": 2,
    "campaigns": 2,
    "delivery": 2,
    "events": 2,
    "feed": 2,
    "staff": 2,
    "bookings": 2,
    "sequences": 2,
    # the ground
    "store": 1,
    "tokens": 1,
    "workspace": 1,
    "crontab": 1,
    "readiness": 1,
    "logs": 1,
    "templating": 1,
    "config": 0,
    "errors": 0,
    "__init__": 0,
}


def package_of(module: str) -> str:
    """mailer.campaigns.render -> campaigns; mailer.errors -> errors; mailer -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for child in ast.walk(node))
    return inside


def imports_of(source: str) -> set[str]:
    """The mailer modules a module's source imports (at run time)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mailer" or node.module.startswith("mailer."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name == "mailer" or a.name.startswith("mailer.")
            )
    return found


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """{module: the mailer modules it imports} for {module: source}."""
    return {module: imports_of(source) for module, source in sources.items()}


def tree_sources(src: Path = SRC) -> dict[str, str]:
    sources = {}
    for path in sorted((src / "mailer").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        module = ".".join(parts).removesuffix(".__init__")
        sources[module] = path.read_text(encoding="utf-8")
    return sources


def upward_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """'a -> b' for every import from a lower floor to a higher one (or to an unplaced package)."""
    found = []
    for module, targets in sorted(graph.items()):
        here = FLOORS.get(package_of(module))
        for target in sorted(targets):
            there = FLOORS.get(package_of(target))
            if here is None or there is None:
                found.append(f"{module} -> {target} (a package with no floor: add it to FLOORS)")
            elif there > here:
                found.append(f"{module} -> {target} (floor {here} imports floor {there})")
    return found


def package_cycles(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Packages that reach themselves through the imports of their modules."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            if package_of(module) != package_of(target):
                edges[package_of(module)].add(package_of(target))

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in edges[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    return sorted(
        f"{package} <-> {', '.join(sorted(p for p in edges[package] if package in reach(p)))}"
        for package in list(edges)
        if package in reach(package)
    )


# Faces that query nothing themselves. web/ still does (archive, clicks, unsubscribe pages).
FACES_WITHOUT_DATABASE_WORK = ("cli",)
SESSION_HELPERS = {"mailer.store.db": {"transaction", "session_factory"}}


def database_work_in(sources: Mapping[str, str], faces: Iterable[str]) -> list[str]:
    """'module: what' for each face module that works on the database itself: it imports
    SQLAlchemy or a table class of mailer.store.models, opens a transaction, or calls the
    session factory it got (``state.database()()``). A face hands the factory down instead."""
    tables = {name for name, value in vars(models).items() if hasattr(value, "__table__")}
    found = []
    for module, source in sorted(sources.items()):
        if package_of(module) not in faces:
            continue
        tree = ast.parse(source)
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [(a.name, "") for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [(node.module, a.name) for a in node.names]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Call)
                and isinstance(node.func.func, ast.Attribute)
                and node.func.func.attr == "database"
            ):
                found.append(f"{module}: opens a session ({ast.unparse(node)})")
                continue
            else:
                continue
            for where, name in names:
                if where == "sqlalchemy" or where.startswith("sqlalchemy."):
                    found.append(f"{module}: imports {where}")
                elif where == "mailer.store.models" and name in tables:
                    found.append(f"{module}: imports the table {name}")
                elif name in SESSION_HELPERS.get(where, ()):
                    found.append(f"{module}: imports {where}.{name}")
    return found


def test_imports_point_down_only() -> None:
    assert upward_imports(import_graph(tree_sources())) == []


def test_no_package_imports_itself_through_others() -> None:
    assert package_cycles(import_graph(tree_sources())) == []


def test_the_check_fails_on_a_forbidden_import() -> None:
    """The checks above can fail: the domain importing a face, and two packages importing each
    other, are both reported (shown on a copy of the tree with one line added)."""
    sources = tree_sources()
    sources["mailer.campaigns.render"] += "\nfrom mailer.cli.common import console\n"
    assert upward_imports(import_graph(sources)) == [
        "mailer.campaigns.render -> mailer.cli.common (floor 2 imports floor 4)"
    ]
    sources = tree_sources()
    sources["mailer.subscribers.segments"] += "\nfrom mailer.campaigns.campaign import Campaign\n"
    cycles = package_cycles(import_graph(sources))
    assert any(line.startswith("subscribers <-> campaigns") for line in cycles), cycles
    under_type_checking = "\nif TYPE_CHECKING:\n    from mailer.cli.common import console\n"
    sources = tree_sources()
    sources["mailer.campaigns.render"] += under_type_checking
    assert upward_imports(import_graph(sources)) == []


def test_the_command_line_does_no_database_work_itself() -> None:
    assert database_work_in(tree_sources(), FACES_WITHOUT_DATABASE_WORK) == []


def test_the_database_check_fails_on_a_query_in_the_command_line() -> None:
    """Shown on a copy of the tree: a query, a transaction and a session in cli/ are reported;
    the same under TYPE_CHECKING (annotations) is not."""
    sources = tree_sources()
    sources["mailer.cli.campaigns"] += (
        "\nfrom sqlalchemy import select\nfrom mailer.store.models import Subscriber\n"
        "from mailer.store.db import transaction\n"
        "def first():\n    with state.database()() as session:\n        return session\n"
    )
    assert database_work_in(sources, ["cli"]) == [
        "mailer.cli.campaigns: imports sqlalchemy",
        "mailer.cli.campaigns: imports the table Subscriber",
        "mailer.cli.campaigns: imports mailer.store.db.transaction",
        "mailer.cli.campaigns: opens a session (state.database()())",
    ]
    sources = tree_sources()
    sources["mailer.cli.campaigns"] += (
        "\nif TYPE_CHECKING:\n    from sqlalchemy.orm import Session\n"
    )
    assert database_work_in(sources, ["cli"]) == []
