"""The one user-facing error type.

A `SqueezeError` carries a single line that names the file (or field) and the problem; the CLI prints it as
`squeeze: error: <message>` and exits with status 2. Everything else that escapes is a bug.
"""


class SqueezeError(Exception):
    """Bad input from the user: a clear one-line message, exit code 2, nothing half-written."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none: what a one-line error quotes
    of a library's exception."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__
