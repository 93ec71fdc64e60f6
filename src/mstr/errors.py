"""Errors that are the user's to fix (bad input, missing files, bad options).

The command line prints them as one line (``error: …``) and exits with status 2 instead of a
traceback. Messages name the file or sample and say what to do.
"""


class UserError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""
