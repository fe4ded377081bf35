"""Exceptions whose message is meant for the user (the CLI prints them without a traceback)."""


class UserError(Exception):
    """Bad input, a bad checkpoint or a bad option: the message names the file, the problem and the fix."""


class CheckpointError(UserError):
    """A checkpoint that cannot be loaded into any supported configuration."""
