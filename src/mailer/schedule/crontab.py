"""The import path that stored slot jobs name: APScheduler's job store pickles the slot job's
trigger by its class's module and name, and jobs stored before the calendar moved to
mailer.crontab (so that app/ can say when a campaign goes out) name this module. Unpickling
them finds the class here; new code imports mailer.crontab."""

from mailer.crontab import CrontabTrigger

__all__ = ["CrontabTrigger"]
