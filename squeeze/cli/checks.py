"""The checks every command runs on its flags before anything is written or trained, each a one-line SqueezeError
that names the flag, the value and what it must be: numbers (finite, in range), text (UTF-8, not empty), paths
(exists or not, file or directory, an output directory that can be created and written), and the limits the
commands share. Each command module's `check_*` function calls these; squeeze/cli/__init__.py runs it before the
command's work. Exercised by tests/test_cli_checks.py and tests/test_cli_fuzz.py.
"""
import math
import os
import stat
from pathlib import Path

from squeeze.errors import SqueezeError
from squeeze.io import writable_dir

SEED_MAX = 2**32 - 1  # numpy's seeding takes 32-bit seeds; torch's generator takes up to 2**64 - 1
COUNT_MAX = 2**62  # token counts and character counts: int64 arithmetic with room to add two of them
WHAT = {None: "file or directory", "file": "file", "dir": "directory"}
WORKERS_MAX = 1024  # processes on one machine, or tasks in flight on a Ray cluster, at once


def number(flag: str, value, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False):
    """`value` (an int or a float, or None: not given) if it is finite and inside [lo, hi] (a bound left None is
    open; `lo_open`/`hi_open` exclude the bound itself); else a SqueezeError naming the flag and the range."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise SqueezeError(f"{flag} {value}: must be a finite number")
    below = lo is not None and (value <= lo if lo_open else value < lo)
    above = hi is not None and (value >= hi if hi_open else value > hi)
    if below or above:
        raise SqueezeError(f"{flag} {value}: must be {_range(lo, hi, lo_open, hi_open)}")
    return value


def _range(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {hi}"
    return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def seed(flag: str, value: int | None) -> int | None:
    return number(flag, value, 0, SEED_MAX)


def workers(flag: str, value: int | None) -> int | None:
    return number(flag, value, 1, WORKERS_MAX)


def text(flag: str, value: str | None, *, empty: bool = False) -> str | None:
    """`value` if it is valid UTF-8 (a shell passes other bytes as lone surrogates, which no file, JSON or
    terminal line of squeeze can hold) and, unless `empty`, not empty."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
        raise SqueezeError(f"{flag} '{shown}': not valid UTF-8 text") from None
    if not value and not empty:
        raise SqueezeError(f"{flag}: empty value")
    return value


def choice(flag: str, value: str | None, known, what: str) -> str | None:
    if value is not None and value not in known:
        raise SqueezeError(f"{flag} {value}: unknown {what} (known: {', '.join(known)})")
    return value


def _kind(flag: str, path: str) -> str | None:
    """'file', 'dir', 'other' or None (missing) for the path a flag names; a path that cannot even be looked
    at (a name too long, a folder that refuses to be listed) is a SqueezeError."""
    text(flag, path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise SqueezeError(f"{flag} {path}: cannot be read ({e.strerror or e})") from None
    except ValueError as e:  # a NUL byte (only possible in-process: a shell cannot pass one)
        raise SqueezeError(f"{flag} {path!r}: not a path ({e})") from None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"


def existing(flag: str, path: str | None, need: str | None = None) -> str | None:
    """`path` if it exists and, with `need` ('file' or 'dir'), is one; None passes (the flag was not given)."""
    if path is None:
        return None
    kind = _kind(flag, path)
    if kind is None:
        raise SqueezeError(f"{flag} {path}: no such {WHAT[need]}")
    if need == "dir" and kind != "dir":
        raise SqueezeError(f"{flag} {path}: not a directory")
    if need == "file" and kind != "file":
        raise SqueezeError(f"{flag} {path}: {'a directory, not a file' if kind == 'dir' else 'not a regular file'}")
    return path


def output_dir(flag: str, path: str | None) -> str | None:
    """Read-only checks of a directory the command will create or write into: not a file, and no file among its
    parents. `make_outputs` creates it later, after every other check has passed."""
    if path is None:
        return None
    kind = _kind(flag, path)
    if kind not in (None, "dir"):
        raise SqueezeError(f"{flag} {path}: a file, not a directory")
    parent = Path(path).absolute().parent
    while kind is None and parent != parent.parent and _kind(flag, str(parent)) is None:
        parent = parent.parent
    if kind is None and not parent.is_dir():
        raise SqueezeError(f"{flag} {path}: cannot create the directory ({parent} is a file)")
    return path


def output_file(flag: str, path: str | None) -> str | None:
    """Read-only checks of a file the command will write: not a directory, and its folder can be made."""
    if path is None:
        return None
    if _kind(flag, path) == "dir":
        raise SqueezeError(f"{flag} {path}: a directory, not a file")
    output_dir(flag, str(Path(path).parent))
    return path


def config_paths(cfg) -> None:
    """The paths a config names (its own checks see only text), checked like flags before anything opens them:
    data.path a directory, train.init a directory, each distill teacher a run directory or a weights file, and
    data.keep_mask a name that can be looked at (squeeze/data/mask.py says what is wrong with a missing one)."""
    existing("data.path", cfg.data.path or None, "dir")
    existing("train.init", cfg.train.init or None, "dir")
    for teacher in cfg.distill.teachers.split(","):
        existing("distill.teachers", teacher.strip() or None)
    if cfg.data.keep_mask:
        _kind("data.keep_mask", cfg.data.keep_mask)


def make_outputs(*dirs: str | None) -> None:
    """The last check: create each output directory given (None: not given) and prove it takes files; an OS error
    is one line naming the directory (squeeze.io.writable_dir)."""
    for d in dirs:
        if d is not None:
            writable_dir(d)
