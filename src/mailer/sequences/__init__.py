"""Automated series (issue 16): people enrolled on their own clock, steps due after joining.

``enrolment`` says who is in which series since when; ``due`` turns due (person, step) pairs
into ledger rows of the step's campaign run, once each and in order. Sending those rows is the
delivery engine's, exactly as for a weekly issue (``mailer.app.sequences`` wires it).
"""
