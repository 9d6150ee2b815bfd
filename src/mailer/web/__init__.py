"""The web side (`mailer serve`): unsubscribe, click-through, SendGrid events, signup, archive."""
