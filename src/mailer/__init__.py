"""mailer: a clinic's blog articles turned into a lawful weekly newsletter."""

__version__ = "0.1.0"
