"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class GankitError(Exception):
    """A mistake in the user's input (config, data, paths) with a message that says what to do."""


class Interrupted(Exception):
    """Training stopped on Ctrl-C/SIGTERM at a step boundary, after saving a checkpoint (CLI exit status 130)."""


class Diverged(GankitError):
    """Training produced non-finite weights or losses; nothing non-finite was written over a good checkpoint."""
