"""Errors the CLI shows to the user as they are: each message says what to do next."""


class ActivationError(Exception):
    """A problem the user can fix (configuration, missing tables, unknown names)."""


class DestinationError(ActivationError):
    """A destination could not take a batch at all; the sync stops and can be rerun."""
