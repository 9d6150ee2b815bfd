"""The weekly slot: crontab semantics, one active scheduler, each slot handled once."""
