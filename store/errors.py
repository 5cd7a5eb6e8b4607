"""Exceptions raised by the stores, so callers never catch a driver's own error types."""


class StoreError(Exception):
    """Base of every persistence error."""


class EmailTakenError(StoreError):
    """A user with this email address already exists."""
