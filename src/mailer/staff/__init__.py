"""Staff accounts for the web app (stand-in: replaced by the staffauth branch at merge)."""
