"""Stand-in for the files branch's CampaignFiles (replaced at merge): campaigns/<slug>.md.

The interface is the real one; the save of a text is refused (StaleCampaignError, nothing
written) when the file's bytes no longer hash to what the caller read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mailer.campaigns.campaign import Campaign, load_campaign, resolve_campaign_path, save_campaign
from mailer.errors import StaleCampaignError
from mailer.workspace import Workspace


@dataclass(frozen=True)
class CampaignText:
    slug: str
    path: Path
    text: str
    content_hash: str  # sha256 hex of the file's bytes


class CampaignFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, workspace: Workspace) -> CampaignFiles:
        return cls(workspace.campaigns_dir)

    def path(self, slug: str) -> Path:
        return self.directory / f"{slug}.md"

    def resolve(self, name: str) -> Path:
        return resolve_campaign_path(self.directory, name)

    def load(self, name: str) -> Campaign:
        return load_campaign(self.resolve(name))

    def read(self, slug: str) -> CampaignText:
        path = self.resolve(slug)
        data = path.read_bytes()
        return CampaignText(slug, path, data.decode("utf-8"), hashlib.sha256(data).hexdigest())

    def save_text(self, slug: str, text: str, *, expected_hash: str | None) -> CampaignText:
        path = self.path(slug)
        if expected_hash is not None:
            now = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
            if now != expected_hash:
                raise StaleCampaignError(
                    f"{path} changed since it was opened; nothing was saved",
                    hint="open it again to see the change, then make yours again",
                )
        data = text.encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return CampaignText(slug, path, text, hashlib.sha256(data).hexdigest())

    def save(self, campaign: Campaign) -> None:
        save_campaign(campaign, self.path(campaign.slug))

    def slugs(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.md"))

    def all(self) -> list[Campaign]:
        return [self.load(slug) for slug in self.slugs()]
