"""The one user-facing error type.

A `SqueezeError` carries a single line that names the file (or field) and the problem; the CLI prints it as
`squeeze: error: <message>` and exits with status 2. Everything else that escapes is a bug.
"""


class SqueezeError(Exception):
    """Bad input from the user: a clear one-line message, exit code 2, nothing half-written."""
