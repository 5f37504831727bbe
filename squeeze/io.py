"""Small file helpers every writer uses: atomic writes (temporary file, fsync, rename, fsync of the directory),
checksums, output directories (created by `make_dir`, probed by `writable_dir`: every OS error one line naming the
path and the reason), the output-directory lock, and the path check that keeps outputs inside their directory.

A reader never sees a half-written file: either the old one or the new one. A temporary file left by a killed
writer (`.NAME.tmp...`) is deleted by the next command that takes the directory's lock. Exercised by every test
that writes a token store or a run directory, and by tests/test_io.py, tests/test_kill.py, tests/test_faults.py.
"""
import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from squeeze.errors import SqueezeError


def _temporary(path: Path) -> Path:
    """The temporary name a write of `path` goes through: hidden, beside it, and this process's own."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call `write(file_object)` on a temporary file beside `path`, fsync it, then rename it over `path` (through
    atomic_save: an OSError is the one-line "cannot write" error, and the temporary file never stays)."""
    def to_file(tmp: str) -> None:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
    atomic_save(path, to_file, errors=(OSError,))


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename inside `directory` durable: without it a power cut can forget the new name (ext4, xfs)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_save(path: str | os.PathLike, write: Callable[[str], None], errors: tuple[type, ...] = ()) -> None:
    """Atomically write `path` with a writer that takes a file name (safetensors, numpy): `write(tmp_name)`, then
    commit_file. The temporary file is removed if anything fails; exceptions of the `errors` types become the
    one-line "cannot write" SqueezeError, others propagate."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        write(str(tmp))
    except errors as e:
        tmp.unlink(missing_ok=True)
        raise SqueezeError(f"{path}: cannot write ({getattr(e, 'strerror', None) or e})") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit_file(tmp, path)


def commit_file(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """The end of an atomic write whose temporary file something else wrote (safetensors, numpy): fsync it,
    rename it over `path`, fsync the directory. The temporary file is removed if any step fails."""
    try:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(Path(path).parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise SqueezeError(f"{path}: cannot write ({e.strerror or e})") from e


STAMP = "%Y-%m-%dT%H:%M:%S%z"  # the wall-clock time files record (run.json, study_time.json): 2026-12-07T04:51:32+0000


def stamp_now() -> str:
    """The wall-clock time now, as STAMP writes it."""
    return time.strftime(STAMP)


# errnos that mean "the disk cannot take this write": the CLI turns them into one line instead of a traceback
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def disk_error(e: OSError, path: str | os.PathLike | None = None) -> SqueezeError:
    """A one-line SqueezeError for a failed write (no space left, quota, file too large, read-only)."""
    where = path or e.filename or "write"
    return SqueezeError(f"{where}: cannot write ({e.strerror or e}); what was written before is kept")


def make_dir(path: str | os.PathLike) -> Path:
    """Create the directory `path` and its parents unless it exists; any OS error (a file in the way, no
    permission, a file system that takes no new entries such as /proc) is one SqueezeError naming the path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # exist_ok covers directories only: a file (or a link to one) stands there
        raise SqueezeError(f"{path}: cannot create the directory (a file of that name exists)") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        raise SqueezeError(f"{path}: cannot create the directory ({getattr(e, 'strerror', None) or e})") from None
    return path


def writable_dir(path: str | os.PathLike) -> Path:
    """`make_dir(path)`, then proof that files can be written in it: a probe file is created and removed (the
    permission bits cannot tell: root ignores them, and a read-only or special file system refuses anyway)."""
    path = make_dir(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".squeeze-probe", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SqueezeError(f"{path}: cannot write in this directory ({e.strerror or e})") from None
    return path


def inside(root: str | os.PathLike, name: str | os.PathLike) -> Path:
    """`root / name`, refusing a name that would land outside `root` (absolute, `..`, or through a symlink):
    names built from config values (sweep points, run names) must never write elsewhere."""
    root_real = Path(root).resolve()
    target = (Path(root) / name).resolve()
    if Path(name).is_absolute() or not target.is_relative_to(root_real):
        raise SqueezeError(f"{name}: output path escapes {root}")
    return Path(root) / name


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=False) + "\n"), mode="w")


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a missing or malformed file is a SqueezeError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SqueezeError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SqueezeError(f"{path}: not valid JSON ({e})") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def dir_lock(directory: str | os.PathLike) -> Iterator[None]:
    """Hold `directory/.lock` for the duration, so two commands never write one output directory at once.

    A lock left by a process that no longer exists (killed with SIGKILL) is taken over.
    """
    path = Path(directory) / ".lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            pid = _lock_owner(path)
            if pid and _alive(pid) and pid != os.getpid():
                raise SqueezeError(f"{directory}: in use by another squeeze process (pid {pid}); "
                                   f"remove {path} if that is wrong") from None
            path.unlink(missing_ok=True)
    else:
        raise SqueezeError(f"{path}: cannot take the lock")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    remove_stale_temporaries(directory)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete `.NAME.tmp*` files in `directory` (not below), and `.tmpXXXXXX` ones (safetensors' own writer stages
    through Rust's `tempfile` in the target's folder): under its lock no live writer owns one, so each is the
    leftover of a killed write. Returns their names."""
    gone = []
    for p in Path(directory).glob(".*tmp*"):
        if p.is_file() and (".tmp" in p.name[1:] or re.fullmatch(r"\.tmp[A-Za-z0-9]{6}", p.name)):
            p.unlink(missing_ok=True)
            gone.append(p.name)
    return gone


def _lock_owner(path: Path) -> int:
    """The pid in a lock file; an empty file may be a lock whose owner is between creating and writing it, so
    give it a moment before calling it stale."""
    for _ in range(20):
        try:
            text = path.read_text().strip()
        except OSError:
            return 0
        if text:
            try:
                return int(text)
            except ValueError:
                return 0
        time.sleep(0.05)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
