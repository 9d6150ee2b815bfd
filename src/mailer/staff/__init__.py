"""Staff accounts of the web app (`mailer serve`, /staff) and their sign-in, without the web.

accounts (add, list, remove, reset, roles), passwords (strength rule, Argon2id), invites (the
one-time set-password links), sessions (server-side session rows), throttle (failed sign-ins
per address), signin (the three of them in order). The pages are in mailer.web.staff, the
commands in mailer.cli.staff.
"""
