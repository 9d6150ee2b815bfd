"""Readiness of one mailer process's database, for `GET /readyz` and container health checks.

Ready means: the database answers and its schema is the one this code was written for (a
newer mailer may have upgraded it on another machine, or `mailer db upgrade` is still due).
The scheduler lease is reported beside it and does not gate readiness: unsubscribe links and
click-throughs must keep working while no scheduler runs.

The document is public (it is served to whoever asks): it names no host, address, URL or
error text, only states and revision numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import StorageError
from mailer.store.db import SchemaState, schema_state
from mailer.store.leases import Lease
from mailer.store.models import utcnow


@dataclass(frozen=True)
class Readiness:
    reason: str  # "" when ready
    schema: SchemaState | None
    scheduler: dict[str, Any] | None

    @property
    def ready(self) -> bool:
        return not self.reason

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"status": "ready" if self.ready else "not ready"}
        if self.reason:
            document["reason"] = self.reason
        document["database"] = "unreachable" if self.schema is None else "ok"
        if self.schema is not None:
            document["schema"] = {
                "current": list(self.schema.current),
                "head": list(self.schema.head),
                "up_to_date": self.schema.is_current,
            }
        if self.scheduler is not None:
            document["scheduler"] = self.scheduler
        return document


def check_readiness(
    engine: Engine, sessions: sessionmaker[Session], now: datetime | None = None
) -> Readiness:
    try:
        schema = schema_state(engine)
    except (StorageError, SQLAlchemyError):
        return Readiness("the database cannot be reached", None, None)
    if schema.is_newer:
        reason = "the database schema is newer than this version of mailer: upgrade mailer"
        return Readiness(reason, schema, None)
    if not schema.is_current:
        return Readiness("the database schema is behind: run `mailer db upgrade`", schema, None)
    return Readiness("", schema, _scheduler(sessions, now or utcnow()))


def _scheduler(sessions: sessionmaker[Session], now: datetime) -> dict[str, Any]:
    """Whether a scheduler holds the lease and renews it; no host or process is named."""
    try:
        holder = Lease(sessions).holder()
    except SQLAlchemyError:
        return {"state": "unknown"}
    if holder is None:
        return {"state": "none"}
    return {
        "state": "active" if holder.is_live(now) else "lapsed",
        "renewed_seconds_ago": max(0, round((now - holder.renewed_at).total_seconds())),
    }
