"""Bookings: the consultations each issue brings, as the booking tool itself reports them.

The loop this package closes: a subscriber clicks a booking button (``/c/``), the redirect adds a
signed click reference to the booking page's address (``refs``), the booking tool passes it back
in its signed webhook, and the booking is stored once, attributed to the campaign, the button's
place and the article that brought it (``attribution``, ``store``); ``report`` counts them.

Three ways in, one way through (``store.record_booking``), each verified before it is parsed:

    calendly.py   POST /webhooks/calendly   invitee.created / invitee.canceled
    calcom.py     POST /webhooks/calcom     BOOKING_CREATED / _RESCHEDULED / _CANCELLED
    generic.py    POST /webhooks/booking    mailer's own small body, for any other tool

Invariants: nothing unverified is parsed or stored; a retry, a replay or a reordered delivery
(cancellation before creation) never counts a booking twice; a reschedule moves the count to
the new booking; no answer to the booking form's questions is ever kept.
"""
