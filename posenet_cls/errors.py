"""The one error type the library raises; the CLI turns it into a one-line message and exit 1."""


class PosenetError(Exception):
    """A problem with the user's input or setup, worded to be shown as is."""
