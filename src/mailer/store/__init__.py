"""The ground every package stands on for storage: models, database, leases, migrations.

Importing the package registers every table with the one ``Base`` (store/models.py, and the
staff app's and the bookings' tables beside it), so the metadata is complete wherever it is
used.
"""

from mailer.store import booking_models, staff_models

__all__ = ["booking_models", "staff_models"]
