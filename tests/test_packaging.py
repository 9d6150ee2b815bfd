"""How mailer is installed and run next to other services: dependencies, lock files, the image,
the compose file and the systemd units (issue 18)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(lock: str) -> dict[str, str]:
    """name -> version of the pins in a lock file that apply to this interpreter."""
    pins = {}
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(default_environment()):
            (specifier,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_every_declared_dependency_is_locked_within_its_bounds() -> None:
    """Issue 18 item 1: requirements.lock pins every runtime dependency (and the dev lock every
    dev one) at a version pyproject.toml admits: a pin outside the bounds means the lock is
    stale (`make lock`)."""
    runtime = PYPROJECT["project"]["dependencies"]
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    for lock, declared in [
        ("requirements.lock", runtime),
        ("requirements-dev.lock", runtime + dev),
    ]:
        pins = _pins(lock)
        for text in declared:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{lock} does not pin {requirement.name}: run `make lock`"
            assert requirement.specifier.contains(pins[name]), (
                f"{lock} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
            )
            for extra in requirement.extras:  # e.g. lxml[html_clean] brings lxml_html_clean
                for needed in metadata.requires(requirement.name) or []:
                    extra_req = Requirement(needed)
                    if extra_req.marker and extra_req.marker.evaluate({"extra": extra}):
                        assert canonicalize_name(extra_req.name) in pins, (lock, needed)


def test_the_environment_has_the_locked_versions() -> None:
    """Issue 18 item 1: `make` installs .venv from requirements-dev.lock (as CI does), so the
    versions the tests run with are the pinned ones."""
    pins = _pins("requirements-dev.lock")
    assert set(_pins("requirements.lock").items()) <= set(pins.items())
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}"
