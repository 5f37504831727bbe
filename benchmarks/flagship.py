"""The flagship study (issue 18): `squeeze run`'s whole study where the methods have room to work, on a 2-core CPU.

    python benchmarks/flagship.py --estimate          # ~2 min: time the main size, print the planned hours
    python benchmarks/flagship.py --out flagship      # run it; kill it any time and run it again to resume
    python benchmarks/flagship.py --out /work/flagship-out --carry benchmarks/flagship_state.tar.xz
                                                      # the same, its state carried between machines in one file

It is `squeeze run --preset flagship` (squeeze/presets.py PRESETS["flagship"]): the built-in corpus at vocabulary
2048, D0 = 100,000 unique training tokens (the standard law at D0/2 .. 8 x D0), sizes 2 x 64, 4 x 128 and 4 x 192
(up to ~2M parameters), 3 seeds on every point a row or a law rests on (6 for the best recipe and the two standard
points around it), every step of the default study. Finished runs are read back and killed ones resume, so it
spreads over as many invocations as it needs (Ctrl-C or `kill` ends one and counts its time). Its budget is 12
hours; certification walks stop at their step's share of 720 minutes, counted over all invocations. On a GPU the
`gpu` preset's sizes apply instead: `squeeze run --preset gpu`. The table goes at the top of benchmarks/RESULTS.md
with this command and the measured wall time: OUT/flagship_time.json holds the sum and each invocation's start and
seconds, rewritten every 30 s while it runs.

`--carry FILE` is for machines that keep nothing but the repository between sessions (this project's: each
session is a fresh checkout and lasts ~3 hours, so OUT dies with it). The study's state then lives in FILE, a
.tar.xz of OUT's small files (configs, metrics, summaries, ensemble evaluations, selection masks, the clock): a new
OUT starts from it, and it is rewritten every CARRY_EVERY seconds and when the invocation ends; commit it. Weights
and resume states stay out (~10 MB per run): a finished run is read back from its summary, an unfinished one
starts over, and a finished run whose weights a later step reads trains again (squeeze.runs.jobs.Job.needs_weights).
The corpus store stays out too: it is rebuilt byte for byte from the built-in corpus (checked: two builds, equal
files). Work done after the last rewrite is lost with OUT, and so is its time.
"""
import argparse
import io
import json
import signal
import sys
import tarfile
import threading
import time
from pathlib import Path

from squeeze import presets
from squeeze.data.prepare import ensure_store
from squeeze.errors import SqueezeError
from squeeze.io import read_json, stamp_now, write_json
from squeeze.runs.execute import estimated_cost
from squeeze.study.run import run_study
from squeeze.study.steps import Study, planned_costs
from squeeze.train.trainer import train

PRESET = "flagship"
TIME = "flagship_time.json"  # under OUT: the Clock's file
CARRY_EVERY = 600.0  # seconds between rewrites of the --carry file
CARRY_SKIPS = (".safetensors", "state.pt", ".lock")  # name endings the carry leaves out: weights, resume states
CARRY_DIRS = ("runs", TIME, "study.json", "study_time.json")  # what under OUT it holds (data/ is rebuilt)
CARRY_ORIGIN = "carry.json"  # in the carry, beside OUT's files: the absolute OUT it was packed from


def carried(out: Path, dirs: tuple[str, ...] = CARRY_DIRS) -> list[Path]:
    """The files of OUT that the carry holds (those under `dirs`), sorted."""
    files = [p for top in dirs for p in ([out / top] if (out / top).is_file() else (out / top).rglob("*"))]
    return sorted(p for p in files if p.is_file() and not p.name.endswith(CARRY_SKIPS))


def pack(out: Path, carry: Path, dirs: tuple[str, ...] = CARRY_DIRS) -> int:
    """Write `carried(out, dirs)` to the .tar.xz `carry` (a temporary file renamed over it: a kill mid-write keeps
    the last good one), with CARRY_ORIGIN naming OUT; returns how many of OUT's files it holds."""
    files = carried(out, dirs)
    tmp = carry.with_name(carry.name + ".tmp")
    origin = json.dumps({"out": str(out.resolve())}).encode()
    with tarfile.open(tmp, "w:xz") as tar:
        info = tarfile.TarInfo(CARRY_ORIGIN)
        info.size = len(origin)
        tar.addfile(info, io.BytesIO(origin))
        for f in files:
            tar.add(f, arcname=str(f.relative_to(out)))
    tmp.replace(carry)
    return len(files)


def unpack(carry: Path, out: Path) -> int:
    """Extract `carry` into a new OUT (tarfile's "data" filter: no paths outside OUT, no links or devices);
    returns how many of OUT's files it held. OUT must be the directory it was packed from: the runs' configs name
    their store and teachers by absolute path."""
    with tarfile.open(carry, "r:xz") as tar:
        try:
            origin = json.loads(tar.extractfile(CARRY_ORIGIN).read())["out"]
        except (KeyError, ValueError, AttributeError):
            raise SqueezeError(f"{carry}: not a carry (no readable {CARRY_ORIGIN})") from None
        if origin != str(out.resolve()):
            raise SqueezeError(f"{carry}: packed from --out {origin}; resume it there (its runs name that path)")
        members = [m for m in tar.getmembers() if m.name != CARRY_ORIGIN]
        tar.extractall(out, members=members, filter="data")
        return sum(m.isfile() for m in members)


def estimate(out: Path, workers: int) -> None:
    """Seconds per unit of planned compute, measured on a short run of the main size (1 thread, as each worker),
    times the plan's units: a first estimate (certification walks and evaluation are in the plan's allowances)."""
    preset = presets.get(PRESET)
    store, spec = ensure_store(None, out, preset.vocab_size), preset.study
    cfg = presets.preset_config(PRESET, "regularized")
    cfg.data.path, cfg.data.budget_tokens = str(store), 40 * cfg.train.batch_size * (cfg.model.seq_len + 1)
    cfg.train.epochs, cfg.train.threads, cfg.train.final_eval_tokens = 1, 1, 8192
    t0 = time.perf_counter()
    train(cfg, out / "estimate_run", force=True, quiet=True)
    seconds = time.perf_counter() - t0
    units = sum(planned_costs(Study(preset, store, out, workers)))
    hours = units * seconds / estimated_cost(cfg) / workers / 3600
    print(f"main size {spec.main[0]} x {spec.main[1]}: 40 steps in {seconds:.1f} s (1 thread, evaluation included); "
          f"the plan is {units / estimated_cost(cfg):,.0f} such runs, ~{hours:.1f} h on {workers} workers")


class Clock:
    """The flagship's wall time over all invocations, in OUT/flagship_time.json: the sum and each invocation's start
    and seconds so far, rewritten every HEARTBEAT seconds while the process lives and once more when it ends."""
    HEARTBEAT = 30.0

    def __init__(self, path: Path):
        self.path = path
        past = read_json(path) if path.exists() else {"invocations": []}
        self.past = past["invocations"]
        self.before = sum(i["seconds"] for i in self.past)  # earlier invocations' seconds
        self.began, self.t0 = stamp_now(), time.perf_counter()
        self.lock = threading.Lock()

    def write(self) -> tuple[float, int]:
        with self.lock:
            now = {"began": self.began, "seconds": round(time.perf_counter() - self.t0, 1)}
            invocations = [*self.past, now]
            spent = self.before + now["seconds"]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, {"seconds": round(spent, 1), "invocations": invocations})
            return spent, len(invocations)

    def beat(self) -> None:
        while True:
            time.sleep(self.HEARTBEAT)
            self.write()

    def carry_every(self, out: Path, carry: Path, dirs: tuple[str, ...] = CARRY_DIRS) -> None:
        """`pack` every CARRY_EVERY seconds, never while the clock's file is being rewritten."""
        while True:
            time.sleep(CARRY_EVERY)
            with self.lock:
                pack(out, carry, dirs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="flagship", help="the study directory (default flagship); rerun to resume")
    p.add_argument("--workers", type=int, default=2, help="1-thread training processes (default 2)")
    p.add_argument("--estimate", action="store_true", help="only time the main size and print the planned hours")
    p.add_argument("--carry", type=Path, help="a .tar.xz holding the study's state between machines: read when OUT "
                                              "is new, rewritten every 10 min and at the end (see above)")
    a = p.parse_args()
    out = Path(a.out)
    if a.estimate:
        estimate(out, a.workers)
        return 0
    if a.carry and a.carry.exists() and not (out / TIME).exists():
        try:
            print(f"flagship: {unpack(a.carry, out)} files carried over from {a.carry} into {out}", file=sys.stderr)
        except SqueezeError as e:
            print(f"flagship: {e}", file=sys.stderr)
            return 2
    clock = Clock(out / TIME)
    if a.carry:
        threading.Thread(target=clock.carry_every, args=(out, a.carry), daemon=True).start()
    # `kill` (SIGTERM) ends the study like Ctrl-C does, through the `finally` below (the runs in flight stop and
    # resume next time; measured: 2 s to exit); a harder kill loses at most one heartbeat of the time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    threading.Thread(target=clock.beat, daemon=True).start()
    try:
        result = run_study(None, PRESET, out, workers=a.workers, minutes=720,
                           spent_seconds=clock.before)
    finally:
        spent, n = clock.write()
        print(f"flagship: {spent / 3600:.2f} h of wall time over {n} invocation(s) so far", file=sys.stderr)
        if a.carry:
            with clock.lock:  # not while the periodic pack writes the same file
                print(f"flagship: {pack(out, a.carry)} files carried in {a.carry}", file=sys.stderr)
    best = result.summary["best_model"]
    print(f"best single model: {best['method']}, val loss {best['val_loss']:.4f}; report: {result.written[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
