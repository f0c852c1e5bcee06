"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class GankitError(Exception):
    """A mistake in the user's input (config, data, paths) with a message that says what to do."""
