"""The `squeeze` command and `python -m squeeze.cli ...` (the README's torchrun line uses it): squeeze.cli.main
behind the last-resort handler. Bad input never gets here (main prints it in one line and exits 2); an exception
that does is a bug: one line, its type and message and where to report it, exit 1. SQUEEZE_DEBUG=1 prints the
traceback too. Exercised by tests/test_cli_checks.py.
"""
import os
import sys
import traceback

from squeeze.cli import main, say_error

BUG = "this is a bug, please report it with the command line"


def entry(argv: list[str] | None = None) -> int:
    try:
        return main(argv)
    except Exception as e:  # the last resort: SystemExit and KeyboardInterrupt pass through
        if os.environ.get("SQUEEZE_DEBUG") == "1":
            traceback.print_exc()
        say_error(f"{type(e).__name__}: {e} ({BUG}; SQUEEZE_DEBUG=1 shows the traceback)", "internal error")
        return 1


if __name__ == "__main__":
    sys.exit(entry())
