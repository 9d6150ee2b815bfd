"""A newsletter's folder: mailer.toml, campaigns/, templates/, subscribers/, outbox/, mailer.db."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from mailer.config import (
    CONFIG_FILE,
    Secrets,
    Settings,
    load_secrets,
    load_settings,
    workspace_from_environment,
)
from mailer.errors import WorkspaceError


@dataclass
class Workspace:
    root: Path
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def campaigns_dir(self) -> Path:
        return self.root / "campaigns"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def subscribers_dir(self) -> Path:
        return self.root / "subscribers"

    @property
    def outbox_dir(self) -> Path:
        return self.root / "outbox"

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @cached_property
    def secrets(self) -> Secrets:
        return load_secrets()

    @property
    def database_url(self) -> str:
        """The configured URL; a relative SQLite path is relative to the workspace."""
        url = self.settings.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////"):
            path = url[len(prefix) :]
            if path and path != ":memory:":
                return prefix + str((self.root / path).resolve())
        return url


def find_workspace(explicit: Path | None = None) -> Workspace:
    """The workspace named by --workspace, else MAILER_WORKSPACE, else the current folder."""
    chosen = explicit or (Path(env) if (env := workspace_from_environment()) else Path.cwd())
    root = chosen.expanduser().resolve()
    if not (root / CONFIG_FILE).is_file():
        raise WorkspaceError(
            f"{root} is not a mailer workspace (no {CONFIG_FILE} there)",
            hint="cd into your newsletter folder, pass --workspace DIR, or create one with "
            "`mailer init DIR`",
        )
    return Workspace(root)


def skeleton_dir() -> Path:
    """The sample workspace shipped inside the package."""
    return Path(str(resources.files("mailer") / "skeleton"))


def init_workspace(target: Path, *, force: bool = False, sample_series: bool = False) -> Workspace:
    """Copy the sample workspace into ``target`` without overwriting anything.

    ``sample_series`` (`mailer init`, `mailer demo`): also the skeleton's campaigns/, a
    three-step welcome series drafted from the sample articles (drafts: nothing is sent until
    staff approve a step; until step 0 is approved, signup sends the built-in welcome email),
    only into an empty campaigns/. Without it campaigns/ starts empty, as the tests'
    workspaces expect."""
    target = target.expanduser().resolve()
    if (target / CONFIG_FILE).exists() and not force:
        raise WorkspaceError(
            f"{target} already has a {CONFIG_FILE}; nothing was changed",
            hint="pick a new folder, or pass --force to add missing files",
        )
    if target.exists() and not target.is_dir():
        raise WorkspaceError(f"{target} exists and is not a folder")
    source = skeleton_dir()
    # --force on a workspace in use: its campaigns are its own (a sample step would join its
    # series and hold its later steps back), so the sample series goes only into an empty one.
    campaigns = target / "campaigns"
    sample_series = sample_series and not (campaigns.is_dir() and any(campaigns.iterdir()))
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(source)
        if relative.parts[0] == "campaigns" and not sample_series:
            continue
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
    for folder in ("campaigns", "templates", "subscribers", "outbox"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    return Workspace(target)
