"""The one exception tree of mailer.

MailerError                 anything mailer reports to a person; never shown as a traceback
├── UsageError              the command was given something it cannot use      (exit 2)
│   └── ConfigError         mailer.toml or a MAILER_* variable is wrong         (exit 2)
├── WorkspaceError          no workspace here, or it is incomplete              (exit 2)
├── InputError              a file or value given to mailer cannot be read      (exit 1)
│   ├── ArticleError        an article source is empty, binary, too big, ...
│   ├── CampaignError       a campaign file is malformed, missing, or changed under you
│   │   ├── CampaignNotFoundError   no campaign file by that name (or not a slug at all)
│   │   └── StaleCampaignError      the file changed since it was opened: reload, edit again
│   └── TokenError          a link token is tampered with or foreign
├── ApprovalError           the campaign is not approved as it stands now       (exit 1)
├── TemplateError           a template failed to render (file and line named)   (exit 1)
├── StorageError            the database refused or is unreachable              (exit 1)
├── FeedError               the blog's feed could not be fetched or read        (exit 1)
└── DeliveryError           the provider refused or failed                      (exit 1)
    ├── SendConflictError   another process started the same campaign's send at the same time
    └── ProviderError       TransientProviderError (RateLimited), PermanentProviderError:
                            see mailer.delivery.errors

Library errors are re-raised as one of these ``from err`` so the cause stays visible in logs,
while the command line prints only the message and the hint.

An error's ``kind`` is the "type" of the --json error document: its class name, except for a
refinement added later for library callers (CampaignNotFoundError), which keeps the kind of the
branch it refines so scripts written against that keep working.
"""

from __future__ import annotations

from typing import ClassVar


class MailerError(Exception):
    """Base of every error mailer reports. ``hint`` says what to do next."""

    exit_code = 1
    # The --json "type" when it is not the class name (see the module docstring).
    reported_as: ClassVar[str | None] = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def kind(self) -> str:
        return self.reported_as or type(self).__name__

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(MailerError):
    exit_code = 2


class ConfigError(UsageError):
    """The configuration is wrong: names the file or variable, the key and what is expected."""


class WorkspaceError(UsageError):
    pass


class InputError(MailerError):
    pass


class ArticleError(InputError):
    pass


class CampaignError(InputError):
    pass


class CampaignNotFoundError(CampaignError):
    """No campaigns/<slug>.md by that name; also a name that is not a slug (a "/", "..").

    A web face answers it with 404, the command line with exit 1 (as any CampaignError).
    """

    reported_as = "CampaignError"  # what `mailer send --json` said for it before it existed


class StaleCampaignError(CampaignError):
    """A save carried the hash of the file as it was opened, and the file has changed since
    (another person or process saved it): nothing was written. A web face answers 409."""


class TokenError(InputError):
    """A link token was tampered with, truncated, or signed with another key."""


class ApprovalError(MailerError):
    """Not approved, approved by hand-editing the file only, changed since approval, or sent."""


class TemplateError(MailerError):
    pass


class StorageError(MailerError):
    pass


class FeedError(MailerError):
    """Polling feed.url failed: network, HTTP status, or not a feed. The next poll tries again."""


class DeliveryError(MailerError):
    pass


class SendConflictError(DeliveryError):
    """Two sends of one new campaign started at once: the other one sends it."""
