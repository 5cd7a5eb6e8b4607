"""Recorded media: where a session's files are kept and the time-limited URLs that reach them."""
