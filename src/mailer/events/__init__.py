"""Provider events (SendGrid's Event Webhook): verify, map to EventKind, store, suppress."""
