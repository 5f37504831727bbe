"""Are two output trees of the same squeeze command the same result? benchmarks/kill_trials.py compares a killed and
resumed run with one that never stopped; tests/test_kill.py uses both functions.

`differences(a, b)` compares every file but hidden ones: weights, snapshots, plots and token files byte for byte;
JSON, metrics.jsonl and CSV as data with the wall-clock fields left out (`volatile`: times, throughput, the measured
peak FLOP/s and MFU) and `b`'s own path read as `a`'s; text (the report) with the path replaced. state.pt only has
to exist in both: it holds the elapsed time, and the weights it resumes are compared in model.safetensors; so does
study_time.json (wall time only), and the report's compute line is left out of its text. Hidden
temporary files (`.NAME.tmp*`, `.tmpXXXXXX`) left in `b` are differences too. `half_written(d)` lists the files
of a killed command that a reader could not use: a final-named JSON that does not parse, a metrics line cut short,
a weights file or checkpoint that fails its checksum.
"""
import csv
import io
import json
import re
from pathlib import Path

TEMPORARY = re.compile(r"^\..+\.tmp\d*$|^\.tmp[A-Za-z0-9]{6}$")
WALL_FILES = ("study_time.json",)  # nothing but wall-clock records (a killed study has one invocation more)
COMPUTE_LINE = re.compile(r"[Cc]ompute: [^\n<]*")  # the report's line of FLOPs over wall time


def volatile(key: str) -> bool:
    """A field that depends on the wall clock or the machine's speed, not on what was computed."""
    return key in ("time", "started", "peak_flops", "mfu", "elapsed") or key.endswith(("seconds", "per_second"))


def _scrub(x, here: str, there: str):
    if isinstance(x, dict):
        return {k: _scrub(v, here, there) for k, v in x.items() if not volatile(k)}
    if isinstance(x, list):
        return [_scrub(v, here, there) for v in x]
    if isinstance(x, str):
        return x.replace(there, here)
    return x


def _csv_rows(text: str, here: str, there: str) -> list[dict]:
    return [_scrub(row, here, there) for row in csv.DictReader(io.StringIO(text))]


def _same(a: Path, b: Path, here: str, there: str) -> bool:
    try:
        return _same_content(a, b, here, there)
    except (ValueError, UnicodeDecodeError):  # unreadable in b (the reference's files all read)
        return False


def _same_content(a: Path, b: Path, here: str, there: str) -> bool:
    if a.name == "state.pt" or a.name in WALL_FILES:
        return True
    suffix = a.suffix
    if suffix == ".json":
        return _scrub(json.loads(a.read_text()), here, here) == _scrub(json.loads(b.read_text()), here, there)
    if suffix == ".jsonl":
        rows = [[_scrub(json.loads(x), here, t) for x in p.read_text().splitlines()]
                for p, t in ((a, here), (b, there))]
        return rows[0] == rows[1]
    if suffix == ".csv":
        return _csv_rows(a.read_text(), here, here) == _csv_rows(b.read_text(), here, there)
    if suffix in (".md", ".html", ".txt"):
        return COMPUTE_LINE.sub("", a.read_text()) == COMPUTE_LINE.sub("", b.read_text().replace(there, here))
    return a.read_bytes() == b.read_bytes()


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def differences(a: Path, b: Path) -> list[str]:
    """What differs between the output trees `a` (the reference) and `b`, one line each; [] when they agree."""
    fa, fb = _files(a), _files(b)
    out = [f"only in the reference: {x}" for x in sorted(fa - fb)] + [f"only in {b.name}: {x}" for x in sorted(fb - fa)]
    out += [f"differs: {x}" for x in sorted(fa & fb) if not _same(a / x, b / x, str(a), str(b))]
    out += [f"left behind: {p.relative_to(b)}" for p in sorted(b.rglob(".*")) if TEMPORARY.match(p.name)]
    return out


def half_written(root: Path) -> list[str]:
    """Final-named files under `root` that a reader could not use (see the module docstring)."""
    from squeeze.errors import SqueezeError
    from squeeze.train import checkpoint as ckpt
    bad = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".jsonl":
                [json.loads(x) for x in p.read_text().splitlines()]
                if p.read_bytes()[-1:] not in (b"", b"\n"):
                    raise ValueError("a line cut short")
            elif p.suffix == ".safetensors":
                ckpt.verify_weights(p)
            elif p.name == ckpt.STATE:
                ckpt.load_state(p.parent)
        except (ValueError, SqueezeError) as e:
            bad.append(f"{p.relative_to(root)} ({str(e)[:80]})")
    return bad
