"""Provider events: each webhook source (sources/) verified and parsed into the EventKind
vocabulary; ingest.py stores them once and suppresses whom they name."""
