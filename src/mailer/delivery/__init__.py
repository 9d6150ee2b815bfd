"""Delivery: providers behind one small interface, and (later) the ledger and send loop."""
