"""What a squeeze command does to its output directory, seen from outside the process: a recursive inotify watch
(Linux; ctypes over libc, no package) that turns the kernel's file events into a list of `Event`s, each with the
time.monotonic() at which this process read it. benchmarks/kill_trials.py times its kills by these events, so no
hook inside squeeze is needed.

An event is what happened to a path relative to the watched root, in names that do not change between runs of the
same command: a writer's temporary file `.NAME.tmp<pid>` reads `.NAME.tmp`, safetensors' own `.tmpXXXXXX` reads
`.tmp*`. Kinds: `mkdir`, `create` (a file opened new: the start of a write), `moved_to` (a rename that lands: an
atomic write's end), `line` (metrics.jsonl has grown to `n` lines: one event per line), `unlock` (a `.lock` removed:
the command holding that directory is done with it). Files written into a directory in the moment before its
watch was added are picked up by a scan of it (as `create`, or `moved_to` for a final name), so each file is seen.

    python benchmarks/fsevents.py DIR -- squeeze train ...   (prints the events of one command)
"""
import ctypes
import os
import re
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x80, 0x100, 0x200
IN_Q_OVERFLOW, IN_ISDIR, IN_NONBLOCK, IN_CLOEXEC = 0x4000, 0x40000000, os.O_NONBLOCK, os.O_CLOEXEC
MASK = IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE
HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name, NUL-padded)
LOGS = ("metrics.jsonl",)  # appended in place: their growth is counted in lines


@dataclass(frozen=True)
class Event:
    t: float  # time.monotonic() when read
    kind: str
    path: str  # relative to the watched root, temporary names normalized
    n: int = 0  # `line` events: the line count reached

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the event across runs of the same command (everything but the time)."""
        return self.kind, self.path, self.n


def normalize(rel: str) -> str:
    """`a/.state.pt.tmp1234` -> `a/.state.pt.tmp`; `a/.tmpAbC123` -> `a/.tmp*` (the pid and random parts)."""
    head, _, name = rel.rpartition("/")
    name = re.sub(r"^(\..+\.tmp)\d+$", r"\1", name)
    name = re.sub(r"^\.tmp[A-Za-z0-9]{6}$", ".tmp*", name)
    return f"{head}/{name}" if head else name


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


class Watcher:
    """A recursive inotify watch of `root`; `poll(timeout)` returns the new events (blocking up to `timeout` s)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.dirs: dict[int, Path] = {}
        self.lines: dict[Path, int] = {}  # the line count of each log seen so far
        self.known: set[Path] = set()  # files reported by a scan, whose own create event may still come
        self.overflowed = False
        self._watch(self.root, [], scan=False)
        for d in sorted(p for p in self.root.rglob("*") if p.is_dir()):  # an existing tree: watch, report nothing
            self._watch(d, [], scan=False)
        for p in self.root.rglob("metrics.jsonl"):
            self.lines[p] = _lines(p)

    def close(self) -> None:
        os.close(self.fd)

    def _rel(self, p: Path) -> str:
        return normalize(p.relative_to(self.root).as_posix())

    def _watch(self, d: Path, out: list[Event], scan: bool = True) -> None:
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(d), MASK)
        if wd < 0:
            return  # gone already (a temporary folder): nothing left to see
        self.dirs[wd] = d
        if not scan:
            return
        now = time.monotonic()
        for p in sorted(d.iterdir()):  # what was written before the watch existed
            self.known.add(p)
            if p.is_dir():
                out.append(Event(now, "mkdir", self._rel(p)))
                self._watch(p, out)
            else:
                final = not p.name.startswith(".")
                out.append(Event(now, "moved_to" if final else "create", self._rel(p)))
                if p.name in LOGS:
                    out.extend(self._grew(p, now))

    def _grew(self, p: Path, now: float) -> list[Event]:
        before, after = self.lines.get(p, 0), _lines(p)
        self.lines[p] = after
        return [Event(now, "line", self._rel(p), k) for k in range(before + 1, after + 1)]

    def poll(self, timeout: float) -> list[Event]:
        out: list[Event] = []
        if not select.select([self.fd], [], [], timeout)[0]:
            return out
        try:
            buf = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return out
        now, i = time.monotonic(), 0
        while i < len(buf):
            wd, mask, _, size = HEADER.unpack_from(buf, i)
            name = buf[i + HEADER.size:i + HEADER.size + size].rstrip(b"\0").decode()
            i += HEADER.size + size
            if mask & IN_Q_OVERFLOW:
                self.overflowed = True
            if wd not in self.dirs or not name:
                continue
            p = self.dirs[wd] / name
            out.extend(self._event(p, mask, now, out))
        return out

    def _event(self, p: Path, mask: int, now: float, out: list[Event]) -> list[Event]:
        if mask & IN_ISDIR:
            if mask & IN_CREATE and p in self.known:  # the scan reported it
                self.known.discard(p)
            elif mask & IN_CREATE:
                out.append(Event(now, "mkdir", self._rel(p)))
                self._watch(p, out)
            return []
        if mask & IN_CREATE:
            if p in self.known:  # the scan reported it
                self.known.discard(p)
                return []
            return [Event(now, "create", self._rel(p))]
        if mask & IN_MOVED_TO:
            self.known.discard(p)
            if p.name in LOGS:  # a log rewritten (a resume rewinds it): count from its new length
                self.lines[p] = _lines(p)
            return [Event(now, "moved_to", self._rel(p))]
        if mask & IN_MODIFY and p.name in LOGS:
            return self._grew(p, now)
        if mask & IN_DELETE and p.name == ".lock":
            return [Event(now, "unlock", self._rel(p))]
        return []


def record(argv: list[str], root: Path, env: dict | None = None, log=None) -> tuple[list[Event], float, float, int]:
    """Run `argv` to its end while watching `root` (created if missing): (events, start and end time, exit code)."""
    root.mkdir(parents=True, exist_ok=True)
    w = Watcher(root)
    events: list[Event] = []
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            events += w.poll(0.01)
        t1 = time.monotonic()
        events += w.poll(0.0)
    finally:
        w.close()
    return events, t0, t1, proc.returncode


if __name__ == "__main__":
    cut = sys.argv.index("--")
    evs, start, _, code = record(sys.argv[cut + 1:], Path(sys.argv[1]))
    for e in evs:
        print(f"{e.t - start:9.4f}  {e.kind:9s} {e.path}{f' {e.n}' if e.kind == 'line' else ''}")
    print(f"exit {code}, {len(evs)} events")
