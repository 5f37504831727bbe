"""The study's own speed before and after a change, on the same plan, side by side (issue 33).

Parts (each is a list of runs that the study's own step modules plan, at the preset's nominal hand-over):
- flagship-standard: the flagship's standard step, its first certification round's points at D0 on the main size
  (4 x 128: lr x epochs, one seed);
- flagship-regularized: the flagship's regularized step, likewise (lr x weight decay x epochs at D0 on 4 x 128);
- default-standard: the default study's whole standard step as planned (every budget and size, one seed).

Each part runs once in each tree, in a fresh Python process: this checkout ("after") and `--before REV` checked out
in a git worktree under /tmp ("before", default: b436bb6, the last commit before issue 33's changes), the order
alternating from part to part. Both train the same jobs on the same synthetic token store (the preset's vocabulary)
with `--workers` 1-thread workers, as `squeeze run` does; times are wall clock, start-up and compiles included.
Prints the CPU, one line per part and tree, and each part's ratio (before / after wall: > 1 is faster now). The
inductor cache starts empty, so the first compiled runs of each shape pay a cold compile (at 1 thread, ~25 s, and
another for an epoch's short last batch); `--warm` runs "after" once more with that cache, as later runs find it.
The parts share one inductor cache, as a study's steps do: with several parts, a last line sums them in their order
(`--parts flagship-standard,flagship-regularized` is the flagship's first two rounds at D0 as its study runs them).

    python benchmarks/study_speed.py [--before REV] [--parts flagship-standard,...] [--limit N] [--workers 2]
    python benchmarks/study_speed.py --quick    # the smoke preset's standard step: a check that it all runs
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from make_synthetic_store import make_store  # benchmarks/ is on sys.path when this script runs

from squeeze import presets
from squeeze.device import perf

ROOT = Path(__file__).resolve().parent.parent
PARTS = {"flagship-standard": ("flagship", "standard", True), "flagship-regularized": ("flagship", "regularized", True),
         "default-standard": ("default", "standard", False), "smoke-standard": ("smoke", "standard", False)}

# What each tree runs: only APIs that both trees have (the study steps of issue 34 and the executor).
CHILD = r"""
import json, sys, time
from pathlib import Path
import squeeze
from squeeze import presets
from squeeze.runs.execute import keep_workers, run_jobs
from squeeze.study.steps import STEPS, Study, nominal_state
from squeeze.train.backend import TRAINER
a = json.loads(sys.argv[1])
st = Study(presets.get(a["preset"]), Path(a["store"]), Path(a["out"]), a["workers"])
step = next(s for s in STEPS if s.name == a["step"])
jobs = step.plan(st, nominal_state(st))
if a["slice"]:
    s = st.spec
    jobs = [j for j in jobs
            if j.cfg.data.budget_tokens == s.d0 and (j.cfg.model.n_layer, j.cfg.model.d_model) == s.main]
jobs = jobs[:a["limit"]] if a["limit"] else jobs
t0 = time.perf_counter()
with keep_workers():
    done = run_jobs(jobs, TRAINER, workers=a["workers"], quiet=True)
compiled = sum(1 for j in jobs if json.loads((Path(j.run_dir) / "config.json").read_text())["train"]["compile"]
               in (True, "on"))
print(json.dumps({"runs": len(jobs), "seconds": time.perf_counter() - t0, "compiled": compiled,
                  "code": squeeze.__file__, "flops": sum(d["flops"] for d in done)}))
"""


def worktree(rev: str) -> Path:
    """`rev` checked out under /tmp (made once, reused)."""
    path = Path(tempfile.gettempdir()) / f"squeeze-before-{rev}"
    if not (path / "squeeze").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True,
                       capture_output=True)
    return path


def run_part(tree: Path, part: str, store: Path, out: Path, workers: int, limit: int) -> dict:
    preset, step, sliced = PARTS[part]
    args = {"preset": preset, "step": step, "slice": sliced, "store": str(store), "out": str(out),
            "workers": workers, "limit": limit}
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(out.parent / "inductor"))  # cold for the first part that compiles
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], cwd=tree, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"{part} in {tree}: failed\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["code"]).is_relative_to(tree):  # an installed squeeze must not stand in for the tree's
        raise SystemExit(f"{part}: ran {result['code']}, not the code in {tree}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="b436bb6", help="the commit to compare with (default: before issue 33)")
    ap.add_argument("--parts", default="flagship-standard,flagship-regularized,default-standard",
                    help=f"comma list of {', '.join(PARTS)}")
    ap.add_argument("--limit", type=int, default=0, help="at most this many runs per part (0: all it plans)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="the smoke preset's standard step only")
    ap.add_argument("--warm", action="store_true",
                    help="run each part's 'after' once more, its compiles now in the inductor cache (what every run of "
                         "a shape after the first one finds)")
    a = ap.parse_args()
    parts = ["smoke-standard"] if a.quick else a.parts.split(",")
    if unknown := [p for p in parts if p not in PARTS]:
        ap.error(f"--parts: unknown {', '.join(unknown)} (known: {', '.join(PARTS)})")
    info = perf.cpu_info()
    print(f"CPU: {info['model']}; {perf.flags_text(info)}; {os.cpu_count()} CPUs; {a.workers} worker(s) of 1 thread; "
          f"before = {a.before}, after = this checkout", flush=True)
    trees = {"before": worktree(a.before), "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="squeeze-study-speed-"))
    results = {}
    for i, part in enumerate(parts):
        preset = presets.get(PARTS[part][0])
        store = work / f"store{preset.vocab_size}"
        make_store(store, max(4 * preset.d0, 200_000), preset.vocab_size)
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for name in order:
            t0 = time.perf_counter()
            r = run_part(trees[name], part, store, work / f"{part}-{name}", a.workers, a.limit)
            results[(part, name)] = r
            print(f"  {part} {name}: {r['runs']} runs ({r['compiled']} compiled) in {r['seconds']:.1f} s "
                  f"({time.perf_counter() - t0:.1f} s with the process start)", flush=True)
        if a.warm:
            r = run_part(trees["after"], part, store, work / f"{part}-after-warm", a.workers, a.limit)
            results[(part, "after, warm")] = r
            print(f"  {part} after, warm cache: {r['runs']} runs ({r['compiled']} compiled) in {r['seconds']:.1f} s",
                  flush=True)
        for name in ("after", "after, warm") if a.warm else ("after",):
            ratio = results[(part, "before")]["seconds"] / results[(part, name)]["seconds"]
            print(f"{part}: before / {name} = {ratio:.2f}x", flush=True)
    if len(parts) > 1:  # the parts in this order, as one study runs its steps: one inductor cache for all of them
        before, after = (sum(results[(part, name)]["seconds"] for part in parts) for name in ("before", "after"))
        print(f"{' then '.join(parts)}, in this order with one inductor cache: before {before:.1f} s, after "
              f"{after:.1f} s, before / after = {before / after:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
