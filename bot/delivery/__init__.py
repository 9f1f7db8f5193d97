"""Sending the outbox: the dispatcher claims due messages, finds each recipient, sends through
the platform seam at most once, and paces sends under the platforms' limits."""
