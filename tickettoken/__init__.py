"""tickettoken."""
