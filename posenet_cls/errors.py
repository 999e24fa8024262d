"""The one error type the library raises; the CLI turns it into a one-line message and exit 1."""


class PosenetError(Exception):
    """A problem with the user's input or setup, worded to be shown as is."""


class OtherRankDone(PosenetError):
    """Raised in a distributed-training process other than rank 0 once its share is done: rank 0 writes the
    run, so this process has nothing left to do. The CLI ends it quietly with exit status 0."""
