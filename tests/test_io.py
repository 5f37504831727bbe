import os
import re
import subprocess
import sys

import pytest

from squeeze.errors import SqueezeError
from squeeze.io import atomic_write, dir_lock, read_json, write_json


def test_a_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "f.json"
    write_json(p, {"a": 1})
    def boom(f):
        f.write("{half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(p, boom, mode="w")
    assert read_json(p) == {"a": 1} and [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_text_is_written_as_utf8(tmp_path):
    atomic_write(tmp_path / "u.txt", lambda f: f.write("naïve ☃"), mode="w")  # whatever the locale says
    assert (tmp_path / "u.txt").read_bytes() == "naïve ☃".encode("utf-8")


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".lock").write_text(str(sleeper.pid))
        with pytest.raises(SqueezeError, match=f"in use by another squeeze process \\(pid {sleeper.pid}\\)"):
            with dir_lock(tmp_path):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with dir_lock(tmp_path):  # the holder is gone: its lock is stale
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


def test_the_lock_sweeps_killed_writers_temporaries_and_nothing_else(tmp_path):
    leftovers = [".state.pt.tmp123", ".model.safetensors.tmp9", ".tmpOm8pzg"]  # ours, and safetensors' own
    kept = ["model.safetensors", ".lockfile", "tmp.txt", ".tmp", ".tmptoolongname"]
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    with dir_lock(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".lock"])


def test_make_dir_turns_every_os_error_into_one_line_naming_the_path(tmp_path):
    from squeeze.io import make_dir, writable_dir
    (tmp_path / "f").write_text("x")
    assert make_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    assert make_dir(tmp_path / "a") == tmp_path / "a"  # an existing directory is fine
    cases = [(tmp_path / "f", "f: cannot create the directory (a file of that name exists)"),
             (tmp_path / "f" / "sub", "sub: cannot create the directory (Not a directory)"),
             ("/proc/squeeze-test", "/proc/squeeze-test: cannot create the directory (No such file or directory)")]
    for path, message in cases:
        with pytest.raises(SqueezeError, match=re.escape(message)):
            make_dir(path)
    assert writable_dir(tmp_path / "w") == tmp_path / "w" and list((tmp_path / "w").iterdir()) == []  # probe gone
    with pytest.raises(SqueezeError, match=r"^/proc: cannot write in this directory \("):  # even for root
        writable_dir("/proc")
