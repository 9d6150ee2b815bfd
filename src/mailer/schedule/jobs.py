"""The scheduler's jobs by name, APScheduler's job table, and the weekly slot's trigger.

Shared by the service that runs the jobs (:mod:`mailer.schedule.service`) and the status that
reads what the job store holds (:mod:`mailer.schedule.status`): `mailer scheduler status` then
loads neither APScheduler's executors nor the send and feed code the service runs.
"""

from __future__ import annotations

from datetime import timedelta

from mailer.crontab import CrontabTrigger
from mailer.workspace import Workspace

SLOT_JOB_ID = "weekly-slot"
FEED_JOB_ID = "feed-poll"
RESUME_JOB_ID = "resume"
SEQUENCES_JOB_ID = "sequences"
# A step is due at joined + after, to the second; the issue asks for a pass at least every
# minute (a step 0 "at once" after a web signup is sent by the server itself, not by this).
SEQUENCES_EVERY = timedelta(minutes=1)
JOB_TABLE = "apscheduler_jobs"


def slot_trigger(workspace: Workspace) -> CrontabTrigger:
    schedule = workspace.settings.schedule
    return CrontabTrigger(schedule.cron, schedule.timezone)
