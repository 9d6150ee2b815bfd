"""Article(s) to campaign file; campaign file to HTML, text and the message a subscriber gets."""
