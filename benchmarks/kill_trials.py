"""Kill trials: `squeeze train` and `squeeze run --preset smoke` are SIGKILLed at seeded points drawn over every
phase of their work, resumed, and compared bit for bit with a run of the same command that never stopped.

Phases are read from outside the process (benchmarks/fsevents.py: inotify events of the output directory). An
uninterrupted reference run of each command records its events; the interval between two events belongs to the
phase its next event names (a metrics line with a train loss: training steps; with a validation loss: an
evaluation; a weights or state file: a checkpoint write; `snapshotNNN.safetensors`: a snapshot write; `ensemble.json`:
ensemble evaluation; anything under runs/distill: distillation; `snapshot_ensemble.json`: the snapshot ensemble's
evaluation; runs/selection/masks: selection masks; the study's report files: report writing). A trial draws a phase
(each phase in turn, in a seeded order), one of its intervals and a fraction u; it starts the command afresh, waits
for the interval's first event, sleeps u x the interval's length in the reference, and SIGKILLs the process group.
The kill has landed when no later event came before it. A miss (the process had moved on) is counted as a redraw:
the same attempt aims at the phase's next interval with a new u, or, once the process has passed them all, a fresh
attempt starts. After a landed kill every final-named file must be whole; the command then resumes (`--resume`, or
the same `squeeze run` again) and the whole output tree must equal the reference: each run's metrics rows, summary,
config and every weights file byte for byte, the study's JSON, CSV and report, wall-clock fields and the output
path itself aside. Every process is pinned to one core (one torch thread, as in the reference).

    python benchmarks/kill_trials.py [--trials 50] [--seed 0] [--work DIR] [--data STORE] [--phases a,b]
tests/test_kill.py runs a seeded sample of these trials on a tiny store.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fsevents import Event, Watcher, record  # noqa: E402  (a script folder, not a package)
from same_tree import differences, half_written  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PHASES = ("training steps", "epoch-end evaluation", "final evaluation", "checkpoint write", "snapshot write",
                "summary write")
STUDY_PHASES = ("training in the study", "ensemble evaluation", "distillation", "snapshot ensemble evaluation",
                "selection masks", "report writing")
PHASES = TRAIN_PHASES + STUDY_PHASES
REPORT_FILES = ("report.md", "report.html", "summary.json", "data_scaling.png", "param_scaling.png",
                "ensemble_k.png", "training_curves.png", ".lock")


@dataclass(frozen=True)
class Command:
    """One squeeze command: `argv(out)` starts it into `out`; `again(out)` continues it after a kill (None: the
    killed run had already finished)."""
    name: str  # "train" or "study"
    args: tuple[str, ...]

    def argv(self, out: Path) -> list[str]:
        return [sys.executable, "-m", "squeeze.cli", *self.args, "--out", str(out)]

    def again(self, out: Path) -> list[str] | None:
        if self.name == "study":
            return self.argv(out)
        if (out / "summary.json").exists():
            return None
        flag = ["--resume"] if (out / "state.pt").exists() else ["--force"] if (out / "config.json").exists() else []
        return [*self.argv(out), *flag]


def train_command(store: Path, work: Path) -> Command:
    """A run with everything a run can write: dropout (its RNG state must survive), an EMA, two lr cycles (two
    snapshots), an evaluation at every epoch end, a checkpoint every 7 steps and a metrics line every step."""
    from squeeze import config as config_mod
    from squeeze.config import Config
    c = Config()
    c.data.path, c.data.budget_tokens = str(store), 3000
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len, c.model.dropout = 2, 32, 2, 32, 0.1
    t = c.train
    t.batch_size, t.epochs, t.lr, t.dtype, t.threads = 8, 4, 3e-3, "fp32", 1
    t.ckpt_every, t.log_every, t.lr_cycles, t.ema_decay = 7, 1, 2, 0.9
    t.eval_tokens, t.final_eval_tokens = 2048, 4096
    work.mkdir(parents=True, exist_ok=True)
    config_mod.save(c, str(work / "train.json"))
    return Command("train", ("train", "--config", str(work / "train.json"), "--quiet"))


def study_command(store: Path) -> Command:
    return Command("study", ("run", "--data", str(store), "--preset", "smoke", "--workers", "1"))


def _spawn(argv: list[str], log) -> subprocess.Popen:
    """The command in its own process group, on one core (one torch thread, as every run of a trial) and at a
    lower priority than this watcher, so that the kill follows its event closely."""
    core = min(os.sched_getaffinity(0))

    def setup() -> None:
        os.sched_setaffinity(0, {core})
        os.nice(5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=setup,
                            start_new_session=True)


@dataclass
class Reference:
    """An uninterrupted run: its events, the end time, and the phase of the interval after each event."""
    command: Command
    out: Path
    events: list[Event]
    end: float
    phases: list[str] = field(default_factory=list)

    def gap(self, i: int) -> float:
        return (self.events[i + 1].t if i + 1 < len(self.events) else self.end) - self.events[i].t


def reference(command: Command, out: Path, log) -> Reference:
    shutil.rmtree(out, ignore_errors=True)
    core = min(os.sched_getaffinity(0))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["taskset", "-c", str(core), "nice", "-n", "5", *command.argv(out)]
    events, _, end, code = record(argv, out, env=env, log=log)
    if code != 0:
        raise RuntimeError(f"the reference {command.name} run failed (exit {code})")
    ref = Reference(command, out, events, end)
    ref.phases = [phase_of(ref, i) for i in range(len(events))]
    return ref


def _metrics_rows(out: Path, rel: str) -> list[dict]:
    return [json.loads(x) for x in (out / rel).read_text().splitlines()]


def category(ref: Reference, e: Event) -> str:
    """What a process is doing just before event `e` happens (in a run directory's terms)."""
    d, _, name = e.path.rpartition("/")
    name = name[1:-4] if name.startswith(".") and name.endswith(".tmp") else name  # a write's temporary file
    if e.kind == "line":
        rows = _metrics_rows(ref.out, e.path)
        row = rows[e.n - 1]
        if "train_loss" in row:
            return "training steps"
        last = max(r["step"] for r in rows)
        return "final evaluation" if row["step"] == last and row.get("epoch") == rows[-1].get("epoch") \
            else "epoch-end evaluation"
    if name in ("model.safetensors", "state.pt", "model_ema.safetensors", "model_avg.safetensors"):
        return "checkpoint write"
    if name == "token_losses.safetensors":
        return "final evaluation"
    if name.startswith("snapshot") and name.endswith(".safetensors"):
        return "snapshot write"
    if name in ("ensemble.json", "snapshot_ensemble.json"):
        return "ensemble evaluation" if name == "ensemble.json" else "snapshot ensemble evaluation"
    if name == "summary.json" and (ref.out / d / "config.json").exists():
        return "summary write"
    if e.kind == "unlock" and (ref.out / d / "summary.json").exists() and (ref.out / d / "config.json").exists():
        return "summary write"  # the run's last moment: summary.json written, the lock not yet released
    return "start-up or bookkeeping"


def phase_of(ref: Reference, i: int) -> str:
    """The phase of the interval after event i: named by the next event that is not safetensors' own staging file
    (`.tmp*`, whose name says nothing), placed in the study where the command is a study."""
    nxt = next((e for e in ref.events[i + 1:] if not e.path.endswith(".tmp*")), None)
    if nxt is None:
        return "exit"
    what = category(ref, nxt)
    if ref.command.name == "train":
        return what
    d, _, name = nxt.path.rpartition("/")
    if nxt.path.startswith("runs/selection/masks/"):
        return "selection masks"
    if nxt.path.startswith("runs/distill/"):
        return "distillation" if what != "start-up or bookkeeping" else what
    if not d and name.lstrip(".").removesuffix(".tmp") in REPORT_FILES and nxt.kind != "create" or \
            not d and name.startswith(".") and name.endswith(".tmp") and name[1:-4] in REPORT_FILES:
        return "report writing" if name != "study.json" else what
    if what in ("ensemble evaluation", "snapshot ensemble evaluation"):
        return what
    return "training in the study" if what in TRAIN_PHASES else what


@dataclass
class Outcome:
    landed: int | None  # the reference interval the kill landed in; None: the command ended first
    misses: int  # intervals of the phase the process passed before the kill could land


def _occurrence(events: list[Event], i: int) -> int:
    return sum(e.key == events[i].key for e in events[:i + 1])


def strike(ref: Reference, targets: list[int], out: Path, rng: np.random.Generator, log,
           fresh: bool = True, within: tuple[float, float] = (0.0, 1.0)) -> Outcome:
    """Start the command into `out` (afresh, or continuing what a kill left there) and SIGKILL it inside the
    first interval of `targets` (reference indices, ascending) it can hit: after the interval's first event, u x its
    reference length later. Afresh, an event is known by its key and how often it has happened (its run is the
    reference's from the start); continuing, targets must open with an event that happens once in the reference."""
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    w = Watcher(out)
    proc = _spawn(ref.command.argv(out) if fresh else ref.command.again(out), log)
    seen: Counter = Counter()
    anchors = [(ref.events[i].key, _occurrence(ref.events, i) if fresh else 1) for i in targets]
    j, deadline, misses = 0, None, 0
    try:
        while True:
            wait = 0.05 if deadline is None else max(0.0, deadline - time.monotonic())
            evs = w.poll(wait)
            for e in evs:
                seen[e.key] += 1
                if deadline is not None:  # an event after the anchor: the process has left the interval
                    deadline, misses, j = None, misses + 1, j + 1
                while deadline is None and j < len(anchors) and seen[anchors[j][0]] >= anchors[j][1]:
                    if e.key == anchors[j][0] and seen[e.key] == anchors[j][1]:  # this event opens interval j
                        deadline = e.t + rng.uniform(*within) * ref.gap(targets[j])
                    else:  # passed before it could be aimed at
                        j, misses = j + 1, misses + 1
            if deadline is not None and time.monotonic() >= deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                late = w.poll(0.0)
                while more := w.poll(0.0):
                    late += more
                return Outcome(None if late else targets[j], misses + bool(late))
            if proc.poll() is not None and not evs:
                return Outcome(None, misses + len(anchors) - j)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        w.close()


@dataclass
class Trial:
    index: int
    phases: list[str]  # the phase of each planned kill, in order
    command: str
    kills: list[str] = field(default_factory=list)  # each landed kill: its phase and event ("after create x/.y.tmp")
    redraws: int = 0  # intervals passed before a kill landed, and fresh starts
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def identical(self) -> bool:
        return len(self.kills) == len(self.phases) and not self.differences


def _kill(trial: Trial, ref: Reference, phase: str, after: int, before: int, out: Path, rng: np.random.Generator,
          log, attempts: int) -> int | None:
    """Land one kill of `trial` in `phase`, between reference events `after` (-1: from a fresh start, which may be
    redrawn `attempts` times) and `before`; records it; returns the reference index it landed at."""
    pool = [i for i, p in enumerate(ref.phases) if p == phase and after < i < before]
    if after >= 0:  # continuing a killed run: aim at events that happen once, from the phase's longest interval
        once = Counter(e.key for e in ref.events)  # on (no redraw can start over here, so the surest one first)
        pool = [i for i in pool if once[ref.events[i].key] == 1]
        pool = pool[pool.index(max(pool, key=ref.gap)):] if pool else pool
    for attempt in range(attempts if after < 0 else 1):
        if not pool:
            break
        # the first attempt aims from a random interval of the phase on, a redrawn one at all of them: on a busy
        # machine a kill can come too late for a write of a few milliseconds, but not for every interval
        start = int(rng.integers(len(pool))) if attempt == 0 and after < 0 else 0
        got = strike(ref, pool[start:], out, rng, log, fresh=after < 0,
                     within=(0.0, 1.0) if after < 0 else (0.1, 0.5))
        trial.redraws += got.misses
        if got.landed is not None:
            e = ref.events[got.landed]
            trial.kills.append(f"{phase}: after {e.kind} {e.path}{f' {e.n}' if e.kind == 'line' else ''}")
            trial.differences += [f"half-written after the kill: {x}" for x in half_written(out)]
            return got.landed
        trial.redraws += 1  # a fresh start
    trial.differences.append(f"no kill landed in {phase}")
    return None


def run_trial(index: int, phases: list[str], ref: Reference, out: Path, rng: np.random.Generator, log,
              attempts: int = 10) -> Trial:
    """One trial: a kill in each of `phases` in turn (the first from a fresh start, redrawn until it lands, at most
    `attempts` starts; each later one while the command continues, at a later point), then the command run to its
    end and compared with the reference."""
    t0 = time.monotonic()
    trial = Trial(index, list(phases), ref.command.name)
    last = {p: max((i for i, q in enumerate(ref.phases) if q == p), default=-1) for p in phases}
    at = -1
    for k, phase in enumerate(phases):  # each kill leaves the next phase's last interval ahead
        at = _kill(trial, ref, phase, at, last[phases[k + 1]] if k + 1 < len(phases) else len(ref.events), out,
                   rng, log, attempts)
        if at is None:
            trial.seconds = time.monotonic() - t0
            return trial
    argv = ref.command.again(out)
    if argv is not None:
        proc = _spawn(argv, log)
        if proc.wait(timeout=1800) != 0:
            trial.differences.append(f"the resumed command failed (exit {proc.returncode})")
    trial.differences += differences(ref.out, out)
    trial.seconds = time.monotonic() - t0
    return trial


def plan(n: int, phases: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    """Each phase in turn, in a new seeded order every round: n trials hit every phase once n >= len(phases)."""
    out: list[str] = []
    while len(out) < n:
        out += [phases[i] for i in rng.permutation(len(phases))]
    return out[:n]


def run_trials(n: int, seed: int, work: Path, store: Path, phases: tuple[str, ...] = PHASES,
               say=print) -> list[Trial]:
    """`n` trials over `phases` (seeded), in `work`, on the token store `store`; `say` gets a line per trial."""
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    log = (work / "commands.log").open("ab")
    commands = {"train": train_command(store, work), "study": study_command(store)}
    refs: dict[str, Reference] = {}
    trials = []
    for k, phase in enumerate(plan(n, phases, rng)):
        name = "train" if phase in TRAIN_PHASES else "study"
        if name not in refs:
            refs[name] = reference(commands[name], work / f"reference_{name}", log)
        trial = run_trial(k, [phase], refs[name], work / f"trial_{name}", rng, log)
        trials.append(trial)
        if not trial.identical:  # kept for a look; the next trial starts in a fresh directory
            shutil.rmtree(work / f"failed_{k + 1}", ignore_errors=True)
            (work / f"trial_{name}").rename(work / f"failed_{k + 1}")
        verdict = "identical" if trial.identical else "DIFFERENT"
        say(f"trial {k + 1:3d} {name:5s} {verdict}  {', '.join(trial.kills) or phase}  ({trial.redraws} redraws, "
            f"{trial.seconds:.0f} s){''.join('; ' + d for d in trial.differences[:3])}")
    return trials


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="kill_trials_work")
    ap.add_argument("--data", help="a token store (default: the built-in corpus prepared at the smoke vocabulary)")
    ap.add_argument("--phases", help=f"comma-separated subset of: {', '.join(PHASES)}")
    a = ap.parse_args(argv)
    work = Path(a.work)
    store = Path(a.data) if a.data else _builtin_store(work / "store")
    phases = tuple(a.phases.split(",")) if a.phases else PHASES
    unknown = set(phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")
    t0 = time.monotonic()
    trials = run_trials(a.trials, a.seed, work, store, phases, say=lambda s: print(s, flush=True))
    same = sum(t.identical for t in trials)
    print(f"\n{same} of {len(trials)} identical; {sum(t.redraws for t in trials)} redraws; "
          f"{(time.monotonic() - t0) / 60:.1f} min")
    hits = Counter(k.split(":")[0] for t in trials for k in t.kills)
    for phase in phases:
        print(f"  {phase:30s} {hits[phase]:3d} kills landed")
    return 0 if same == len(trials) and all(hits[p] for p in phases) else 1


def _builtin_store(out: Path) -> Path:
    if not (out / "meta.json").exists():
        subprocess.run([sys.executable, "-m", "squeeze.cli", "prepare", "--out", str(out), "--vocab-size", "512"],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    return out


if __name__ == "__main__":
    sys.exit(main())
