"""The layering of src/mailer, read from the code's own imports (an ast import graph).

Faces (cli, web) -> use cases (app, schedule) -> the domain (articles, subscribers, campaigns,
delivery, events, feed, bookings) -> the ground (store, tokens, workspace, config, logs, readiness,
errors, states). An import may point down or stay on its floor, never up; no two packages import
each other, even through others. Imports under ``if TYPE_CHECKING:`` are annotations only and do
not count.
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
    "states": 0,
    "words": 0,
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


# imports_of(source), once per source: the checks here read the same ~110 modules eight times
# (3.5 s of make quick on this machine when each parsed them again).
_IMPORTS: dict[str, frozenset[str]] = {}


def imports_of(source: str) -> set[str]:
    """The mailer modules a module's source imports (at run time)."""
    if source not in _IMPORTS:
        _IMPORTS[source] = frozenset(_imports_in(source))
    return set(_IMPORTS[source])


def _imports_in(source: str) -> set[str]:
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


# -- imports at the top, modules of a readable size ------------------------------------------

# Library code is everything but the command line (where lazy imports keep `mailer --help`
# fast, each with a comment) and Alembic's migration scripts (run by Alembic, not imported).
LAZY_IMPORTS_ALLOWED = ("mailer.cli", "mailer.store.migrations")
# The only lazy imports of library code: the article loader picks the importer a source needs,
# and `mailer draft` on a page export must not load trafilatura, feedparser and httpx
# (tests/articles/test_articles_loader.py::test_a_page_export_does_not_load_the_heavy_libraries).
# Alembic (Mako, Pygments behind it) only when the schema is not current: a fifth of `mailer
# send`'s start-up (tests/test_start_up.py::test_a_current_schema_is_opened_without_alembic).
LAZY_IMPORT_EXCEPTIONS = {
    "mailer.articles.loader": {
        "mailer.articles.fetch",
        "mailer.articles.feed",
        "mailer.articles.html_page",
    },
    "mailer.store.db": {"alembic", "alembic.config", "alembic.runtime.migration", "alembic.script"},
}
MAX_LINES = 450
# Modules over MAX_LINES for now, each with where it is being split.
KNOWN_LONG: dict[str, str] = {}  # none now (delivery/ledger.py was split into a package)


def _is_library(module: str) -> bool:
    return not any(
        module == prefix or module.startswith(prefix + ".") for prefix in LAZY_IMPORTS_ALLOWED
    )


def nested_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of the imports inside a function or class body (at run time: imports
    under ``if TYPE_CHECKING:`` are annotations only)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            is_import = isinstance(child, ast.Import | ast.ImportFrom)
            if is_import and nested and id(child) not in skip:
                if isinstance(child, ast.ImportFrom):
                    found.append((child.lineno, "." * child.level + (child.module or "")))
                else:
                    found.extend((child.lineno, alias.name) for alias in child.names)
            scope = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            visit(child, nested or scope)

    visit(tree, False)
    return sorted(found)


def function_level_imports(sources: Mapping[str, str]) -> list[str]:
    """'module:line' for every import of library code that is not at the top of its module
    (and not one of LAZY_IMPORT_EXCEPTIONS)."""
    return [
        f"{module}:{line}"
        for module, source in sorted(sources.items())
        if _is_library(module)
        for line, imported in nested_imports(source)
        if imported not in LAZY_IMPORT_EXCEPTIONS.get(module, set())
    ]


def long_modules(sources: Mapping[str, str]) -> list[str]:
    """'module (N lines)' for every module over MAX_LINES that is not a known exception."""
    return [
        f"{module} ({len(source.splitlines())} lines)"
        for module, source in sorted(sources.items())
        if len(source.splitlines()) > MAX_LINES and module not in KNOWN_LONG
    ]


def test_library_modules_import_at_the_top() -> None:
    """The dependencies of a library module are all in its first lines: no import hides in a
    function (a lazy import belongs in cli/, to keep `mailer --help` fast)."""
    assert function_level_imports(tree_sources()) == []


def test_the_check_fails_on_a_function_level_import() -> None:
    """Shown on a copy of the tree: an import inside a library function is reported (in the
    article loader too, beyond its listed exceptions), one under TYPE_CHECKING or in the command
    line is not."""
    lazy = "\n\ndef _later() -> None:\n    from mailer.errors import UsageError\n"
    sources = tree_sources()
    line = len(sources["mailer.campaigns.render"].splitlines()) + 4
    sources["mailer.campaigns.render"] += lazy
    assert function_level_imports(sources) == [f"mailer.campaigns.render:{line}"]
    sources = tree_sources()
    sources["mailer.campaigns.render"] += (
        "\n\nclass _Later:\n    def run(self) -> None:\n        if TYPE_CHECKING:\n"
        "            from mailer.errors import UsageError\n"
    )
    sources["mailer.cli.send"] += lazy
    assert function_level_imports(sources) == []
    sources = tree_sources()
    line = len(sources["mailer.articles.loader"].splitlines()) + 4
    sources["mailer.articles.loader"] += lazy
    assert function_level_imports(sources) == [f"mailer.articles.loader:{line}"]


def test_no_module_is_over_450_lines() -> None:
    assert long_modules(tree_sources()) == []


def test_known_long_modules_are_still_long() -> None:
    """An exception is dropped once its module is split (else it would hide a new one)."""
    sources = tree_sources()
    assert {
        module: len(sources[module].splitlines())
        for module in KNOWN_LONG
        if module not in sources or len(sources[module].splitlines()) <= MAX_LINES
    } == {}


def test_the_check_fails_on_a_long_module() -> None:
    sources = tree_sources()
    sources["mailer.campaigns.render"] += "\n" * (MAX_LINES + 1)
    found = long_modules(sources)
    assert len(found) == 1 and found[0].startswith("mailer.campaigns.render ("), found
