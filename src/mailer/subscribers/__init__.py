"""The subscriber list: normalization, the service, CSV import/export, audience segments.

Kept import-light on purpose: import worker processes load only ``mailer.subscribers.normalize``.
"""
