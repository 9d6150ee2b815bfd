"""How mailer is installed and run next to other services: dependencies, lock files, the image,
the compose file and the systemd units (issue 18)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mailer.config import SECRET_ENV, Settings
from tests.cli_runner import MAILER, Mailer
from tests.conftest import _require, fresh_postgres_database
from tests.web_server import _free_port

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


# --- the container image and compose.yaml ------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
MAILER_SERVICES = ("migrate", "serve", "scheduler", "worker")


def _instructions(name: str) -> list[str]:
    """The arguments of every Dockerfile instruction called ``name`` (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def _help_exits_0(mailer: Mailer, *command: str) -> None:
    """`mailer COMMAND -h` answers: the command exists as written."""
    result = mailer(*command, "-h", workspace=None, process=True)
    assert result.exit_code == 0, (command, result.stderr)


def _names_a_setting(variable: str) -> bool:
    name = variable.removesuffix("_FILE")
    if name in SECRET_ENV:
        return True
    section, _, key = name.removeprefix("MAILER_").lower().partition("__")
    field = Settings.model_fields.get(section)
    return field is not None and key in getattr(field.annotation, "model_fields", {})


@pytest.mark.slow
def test_dockerfile_builds_a_slim_non_root_image_from_the_lock(mailer: Mailer) -> None:
    """Issue 18 item 2: slim Python base of the locked Python version, the lock installed
    before the package (which adds nothing), a non-root user, HEALTHCHECK on /readyz.
    (hadolint checks the rest in `make lint`.)"""
    bases = _instructions("FROM")
    assert bases and all(re.match(r"python:3\.11-slim", base) for base in bases)
    runs = " ".join(_instructions("RUN"))
    assert "-r requirements.lock" in runs and "--no-deps ." in runs
    assert runs.index("-r requirements.lock") < runs.index("--no-deps .")
    (user,) = _instructions("USER")
    assert user.split(":")[0] not in {"0", "root"}
    (healthcheck,) = _instructions("HEALTHCHECK")
    assert "/readyz" in healthcheck and "CMD" in healthcheck
    assert _instructions("ENTRYPOINT") == ['["mailer"]']
    (cmd,) = _instructions("CMD")
    _help_exits_0(mailer, *json.loads(cmd)[:1])
    assert "--port 8000" in " ".join(json.loads(cmd)) and _instructions("EXPOSE") == ["8000"]


@pytest.mark.slow
def test_compose_runs_serve_scheduler_and_two_workers_on_postgresql(mailer: Mailer) -> None:
    """Issue 18 item 2: compose.yaml is valid YAML with serve, scheduler and two workers on
    PostgreSQL, sharing a workspace volume, started after a one-off `mailer db upgrade` (with
    database.auto_upgrade off); every command and MAILER_* variable in it exists."""
    services = COMPOSE["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in MAILER_SERVICES:
        service = services[name]
        assert "workspace:/srv/newsletter" in service["volumes"], name
        environment = service["environment"]
        assert environment["MAILER_DATABASE__AUTO_UPGRADE"] == "false"
        assert environment["MAILER_DATABASE__URL_FILE"].startswith("/run/secrets/")
        for variable in environment:
            if variable.startswith("MAILER_"):
                assert _names_a_setting(variable), (name, variable)
        for secret in service["secrets"]:
            assert "file" in COMPOSE["secrets"][secret]
    assert "workspace" in COMPOSE["volumes"]

    migrate = " ".join(services["migrate"]["command"])
    assert "mailer db upgrade" in migrate and services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("serve", "scheduler", "worker"):
        done = {"migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["depends_on"] == done
        _help_exits_0(mailer, *services[name]["command"])
    _help_exits_0(mailer, "db", "upgrade")
    _help_exits_0(mailer, "init")
    for name in ("scheduler", "worker"):  # the image's /readyz check does not apply to them
        test = services[name]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "mailer"]
        _help_exits_0(mailer, *test[2:])
    assert services["serve"]["ports"] == ["127.0.0.1:8000:8000"]


@pytest.mark.postgres
@pytest.mark.slow
def test_compose_settings_run_against_postgresql(tmp_path: Path) -> None:
    """Issue 18 items 2, 4, 5: what compose runs, without Docker: the services' environment
    (secrets as files under /run/secrets, auto_upgrade off) against a new PostgreSQL database.
    The migrate job makes the workspace and upgrades the schema; the scheduler's health check
    passes; `mailer serve` answers the image's HEALTHCHECK command."""
    secrets = tmp_path / "run" / "secrets"
    secrets.mkdir(parents=True)
    workspace = tmp_path / "srv" / "newsletter"
    with fresh_postgres_database() as (url, _admin):
        (secrets / "database_url").write_text(url + "\n", encoding="utf-8")
        (secrets / "mailer_secret_key").write_text("compose-test-key-0123456789\n")
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID"))}
        for variable, value in COMPOSE["services"]["serve"]["environment"].items():
            value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)  # compose's ${VAR:-default}
            env[variable] = value.replace("/run/secrets", str(secrets))
        env.update(MAILER_WORKSPACE=str(workspace), MAILER_LOG_FORMAT="json")

        def run(*command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                list(command), env=env, capture_output=True, text=True, timeout=120
            )

        refused = run(MAILER, "scheduler", "status")
        assert refused.returncode == 2  # no workspace yet
        migrate = COMPOSE["services"]["migrate"]
        script = migrate["command"][0].replace("/srv/newsletter", str(workspace))
        migrated = run(*migrate["entrypoint"], script.replace("mailer ", f"{MAILER} "))
        assert migrated.returncode == 0, migrated.stderr
        assert "Upgraded the database schema" in migrated.stdout
        assert (workspace / "mailer.toml").is_file()
        healthcheck = COMPOSE["services"]["scheduler"]["healthcheck"]["test"][1:]
        assert run(MAILER, *healthcheck[1:]).returncode == 0
        assert run(MAILER, "scheduler", "status").returncode == 0

        (command,) = _instructions("CMD")
        arguments = json.loads(command)
        arguments[arguments.index("--port") + 1] = str(port)
        server = subprocess.Popen(
            [MAILER, *arguments], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            (check,) = _instructions("HEALTHCHECK")
            probe = json.loads(check[check.index("CMD") + 3 :].strip())
            probe = [part.replace(":8000/", f":{port}/") for part in probe]
            probe[0] = sys.executable
            for _ in range(300):
                if run(*probe).returncode == 0:
                    break
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
            else:
                raise AssertionError("the image's HEALTHCHECK never passed")
        finally:
            server.terminate()
            server.wait(timeout=30)


# --- systemd units ---------------------------------------------------------------------------

UNITS = ROOT / "deploy" / "systemd"
UNIT_FILES = ("mailer-serve.service", "mailer-scheduler.service", "mailer-worker@.service")


def _unit(name: str) -> dict[str, list[str]]:
    """key -> values of a unit file (keys repeat in systemd; comments dropped)."""
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    _require(tool is not None, "systemd-analyze not installed (apt-get install systemd)")
    assert tool is not None
    return tool


@pytest.mark.slow
def test_unit_files_are_hardened_and_run_real_commands(mailer: Mailer) -> None:
    """Issue 18 item 3: the three units ship as files, run as a dedicated user with the
    hardening the issue names, and their commands exist."""
    assert sorted(path.name for path in UNITS.glob("*.service")) == sorted(UNIT_FILES)
    for name in UNIT_FILES:
        unit = _unit(name)
        assert unit["User"] == ["mailer"] and unit["ProtectSystem"] == ["strict"]
        assert unit["NoNewPrivileges"] == ["yes"] and unit["CapabilityBoundingSet"] == [""]
        assert unit["ReadWritePaths"] == ["/srv/newsletter"]
        assert "MAILER_SECRET_KEY_FILE=%d/mailer_secret_key" in unit["Environment"]
        (exec_start,) = unit["ExecStart"]
        program, *arguments = exec_start.split()
        assert program == "/opt/mailer/venv/bin/mailer"
        _help_exits_0(mailer, *[a for a in arguments if not a.startswith("--")][:2])


@pytest.mark.slow
def test_unit_files_pass_systemd_analyze(systemd_analyze: str, tmp_path: Path) -> None:
    """Issue 18 item 3: `systemd-analyze verify` finds nothing to say (not even an unknown
    key), and `systemd-analyze security` rates each unit's exposure at 2.0 or less ("OK")."""
    for name in UNIT_FILES:  # ExecStart must exist for verify: point it at this mailer
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/mailer/venv/bin/mailer", MAILER))
    (tmp_path / "mailer-worker@1.service").symlink_to("mailer-worker@.service")
    units = [str(tmp_path / n) for n in ("mailer-serve.service", "mailer-scheduler.service")]
    units.append(str(tmp_path / "mailer-worker@1.service"))
    verify = subprocess.run(
        [systemd_analyze, "verify", *units], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    for unit in units:
        security = subprocess.run(
            # --threshold counts tenths: 20 is an overall exposure of 2.0 (ours: 1.3).
            [systemd_analyze, "security", "--offline=yes", "--threshold=20", unit],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert security.returncode == 0, security.stdout[-2000:] + security.stderr
