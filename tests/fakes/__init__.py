"""Fakes of outside services (SendGrid, an SMTP server) on loopback, for tests and bench."""
