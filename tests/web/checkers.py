"""The page checkers the web tests share: the W3C Nu Html Checker (vnu.jar, run with Java) and
axe-core (injected into a page in Chromium). Both come from the npm registry: axe-core is
vendored in tests/vendor/axe-core/; vnu.jar (30 MB, too big to commit) is fetched into .tools/
by `make .tools/vnu.jar`, which `make test` runs first, or by ``vnu_jar()`` itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VNU_JAR = ROOT / ".tools" / "vnu.jar"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}


def vnu_jar() -> Path:
    """The checker's jar, fetched with make (npm pack) when it is not there yet."""
    if not VNU_JAR.exists():
        subprocess.run(["make", "-C", str(ROOT), ".tools/vnu.jar"], check=True, timeout=600)
    if shutil.which("java") is None:
        raise AssertionError("java is needed for the HTML checker: apt-get install default-jre")
    return VNU_JAR


def html_errors(pages: dict[str, str], folder: Path) -> list[str]:
    """The checker's errors for each page's HTML, as "name: line: message"; empty when valid."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
    result = subprocess.run(
        [
            "java",
            "-jar",
            str(vnu_jar()),
            "--errors-only",
            "--format",
            "json",
            *map(str, folder.glob("*.html")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stderr or result.stdout or '{"messages": []}')["messages"]
    return [
        f"{Path(str(m.get('url', ''))).stem}: line {m.get('lastLine')}: {m.get('message')}"
        for m in messages
        if m.get("type") == "error"
    ]


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on a Playwright page, as readable lines."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v.get("impact") in SERIOUS
    ]
