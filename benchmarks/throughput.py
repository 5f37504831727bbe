"""Training throughput of the squeeze trainer against a plain reference GPT, side by side in one process.

For each pinned shape (default: the README's 4 layers x d 128, ctx 256, vocab 4096, and the default study's
2 x 64, ctx 128, vocab 1024; batch 16, head dim 32) every round measures, in a rotating order:
- plain reference: a nanoGPT-style GPT written here (learned positions, LayerNorm, GELU MLP, SDPA attention,
  AdamW), eager fp32: the code a user would write;
- compiled reference: the same code under torch.compile (model and loss in one graph, as squeeze compiles them), in
  the dtype `auto` gives a compiled run (bf16 on a CPU with native bf16 or a GPU, else fp32): like for like with
  squeeze's best;
- squeeze default: the real `train()` (loader, schedule, clipping, logging, checkpoint, final eval) with the default
  preset's settings at that shape: dtype and compile `auto` (a 60-step run: eager, fp32 on a CPU);
- squeeze default, long run (4 x 128 only): the same settings on a run long enough that `auto` compiles it (the
  epochs at which squeeze/device/precision.py's rule says compile, +10%); its tokens/s are over the whole wall time,
  the compile included (cold where no column of the shape compiled before it, warm otherwise);
- squeeze compiled fp32 and, where bf16 is native, squeeze compiled bf16: the candidates for squeeze's best. The one
  with the higher ratio in round 1 is kept for the later rounds and reported as best.
Tokens/s is the median rate over 5-step chunks after the first `--skip` steps, so a burst of other work on shared
cores moves a few chunks, not the number; the first steps' excess over that rate is reported apart as start-up
seconds (compile and warm-up: round 1 compiles from an empty inductor cache, later rounds from a warm one). Machines
are noisy, so the result is the median over rounds of each round's ratio to the plain reference, not the absolute
numbers. Other processes' share of the CPUs is measured during every column (/proc: machine busy time less this
process tree's); a round where it passed 25% is busy, and the table's medians use the quiet rounds when there is
one (every round otherwise; all rounds are printed). FLOP/s = tokens/s x the model's FLOPs per token (6 x matmul
parameters + 12·L·d·T attention, the same count for both models); MFU = that / the peak of a 2048 x 2048 matmul
(8192 on a GPU) in the column's dtype, best of 10, measured every round (the highest is kept). Synthetic token
stores (benchmarks/make_synthetic_store.py) keep it independent of the corpus packages. `eager: X` lines give the
short default run (eager) over the plain reference at each shape (goal >= 1.0); the last line, `ratio: X`, the long
default run, compile included, over the plain reference at 4 x 128 (goal >= 1.5).

    python benchmarks/throughput.py [--rounds 3] [--steps N] [--skip 10] [--shapes 4x128:256:4096,2x64:128:1024]
                                    [--store DIR] [--json OUT] [--quick]
(from a checkout that is not pip-installed: PYTHONPATH=. in front)
"""
import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from make_synthetic_store import make_store  # benchmarks/ is on sys.path when this script runs
from torch import nn

from squeeze import presets
from squeeze.device import perf
from squeeze.device.precision import autocast, choose_dtype, resolve_dtype
from squeeze.model import GPT
from squeeze.train import compiling
from squeeze.train.setup import make_setup
from squeeze.train.trainer import train

BATCH = 16
HEAD_DIM = 32  # the presets' head size (4 x 128: 4 heads; 2 x 64: 2 heads)
# Rates are taken over chunks of this many steps and the median chunk wins: a burst of another process's work on
# the shared cores slows a few chunks, not the estimate. squeeze logs every CHUNK steps for it (default 10: one
# JSON line more per 5 steps, microseconds against steps of 50-400 ms).
CHUNK = 5


@dataclass(frozen=True)
class Shape:
    n_layer: int
    d_model: int
    seq_len: int
    vocab: int
    steps: int  # measured steps + skipped ones; smaller shapes take more so each measurement lasts a few seconds

    @property
    def name(self) -> str:
        return f"{self.n_layer}x{self.d_model}:{self.seq_len}:{self.vocab}"


def parse_shape(text: str, steps: int | None) -> Shape:
    """'4x128:256:4096' (layers x width : context : vocabulary) -> Shape; steps default to ~4M matmul FLOPs' worth."""
    size, ctx, vocab = text.split(":")
    layers, width = (int(v) for v in size.split("x"))
    default = 60 if int(ctx) * width >= 256 * 128 else 150  # 2 x 64 ctx 128 steps are ~5x shorter
    return Shape(layers, width, int(ctx), int(vocab), steps or default)


def ref_flops_per_token(s: Shape) -> int:
    """The reference's training FLOPs per token by squeeze's count: 6 x (12·d² per block + the tied head V·d)
    + 12·L·d·T for attention (Kaplan et al. 2020)."""
    return 6 * (12 * s.n_layer * s.d_model ** 2 + s.vocab * s.d_model) + 12 * s.n_layer * s.d_model * s.seq_len


class RefBlock(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, d: int, n_layer: int, n_head: int, seq_len: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(RefBlock(d, n_head) for _ in range(n_layer))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


@dataclass
class Measure:
    tok_s: float  # steady state after the skipped steps: the median chunk's rate
    startup_s: float  # the skipped steps' time beyond that rate: compile and warm-up
    others: float = 0.0  # share of the machine's CPUs other processes used meanwhile (0.5: one of 2 cores)
    wall_tok_s: float = 0.0  # every training token / the wall time to the last step, start-up included


BUSY = 0.25  # a round where other processes took more than this share of the CPUs in any column is "busy"


def _cpu_seconds(pid: str) -> float:
    """User + system CPU seconds of a live process (all its threads), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_tree_cpu() -> float:
    """CPU seconds of this process, its live descendants (inductor's compile workers) and its reaped children."""
    pids, seen = [str(os.getpid())], 0.0
    while pids:
        pid = pids.pop()
        seen += _cpu_seconds(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            pids += task.read_text().split()
    t = os.times()
    return seen + t.children_user + t.children_system


def machine_sample() -> tuple[float, float, float]:
    """(wall seconds, CPU seconds the whole machine was busy, CPU seconds of this process tree); Linux only."""
    try:
        jiffies = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        busy = (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except OSError:
        busy = 0.0
    return time.perf_counter(), busy, _own_tree_cpu()


def others_share(before: tuple, after: tuple) -> float:
    """Share of all CPUs that processes outside this one's tree kept busy between two machine_sample()s."""
    wall, busy, own = (b - a for a, b in zip(before, after))
    return max(busy - own, 0.0) / max(wall * (os.cpu_count() or 1), 1e-9)


def steady(steps: list[int], times: list[float], tokens: list[int], skip: int) -> Measure:
    """From (step, seconds since the first step began, tokens) every CHUNK steps: the median rate of the chunks
    after `skip`, and how much longer the first `skip` steps took than that rate predicts."""
    i = steps.index(skip)
    chunks = [(tokens[k] - tokens[k - 1], times[k] - times[k - 1]) for k in range(i + 1, len(steps))]
    seconds_per_token = statistics.median(dt / n for n, dt in chunks)
    return Measure(1 / seconds_per_token, max(times[i] - tokens[i] * seconds_per_token, 0.0))


def reference(setup, device: str, dtype: str, compiled: bool, skip: int) -> Measure:
    torch.manual_seed(0)
    m, loader = setup.cfg.model, setup.loader
    model = RefGPT(m.vocab_size, m.d_model, m.n_layer, m.n_head, m.seq_len).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=setup.cfg.train.lr, weight_decay=0.1)

    def loss_of(x, y):
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    step_fn = torch.compile(loss_of) if compiled else loss_of
    times, tokens = [], []
    t0 = time.perf_counter()
    for step in range(setup.total_steps):
        x, y = (t.to(device) for t in loader.batch(*divmod(step, loader.steps_per_epoch)))
        with autocast(device, dtype):
            loss = step_fn(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if (step + 1) % CHUNK == 0:
            times.append(time.perf_counter() - t0)
            tokens.append((step + 1) * y.numel())
    return steady(list(range(CHUNK, setup.total_steps + 1, CHUNK)), times, tokens, skip)


def squeeze_run(cfg, run_dir: Path, device: str, skip: int, compiled: bool) -> Measure:
    train(cfg, run_dir, force=True, quiet=True, device=device)
    info = json.loads((run_dir / "run.json").read_text())
    if (info["compile"] == "on") != compiled:  # `auto` in the default columns: the rule must have chosen as named
        raise SystemExit(f"{run_dir.name}: train.compile resolved to {info['compile']} ({info['compile_reason']})")
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train_loss" in r]  # logged every train.log_every = CHUNK steps
    m = steady([r["step"] for r in rows], [r["time"] for r in rows], [r["tokens"] for r in rows], skip)
    m.wall_tok_s = rows[-1]["tokens"] / rows[-1]["time"]
    return m


def long_epochs(shape: Shape, store: Path, device: str) -> int:
    """Epochs of the shape's budget that make a run long enough for `auto` to compile it, plus 10%: the first
    epoch count at which squeeze/device/precision.py's rule says compile, at this process's thread count."""
    cfg = squeeze_config(shape, store, "auto", "auto")
    cfg.model.vocab_size = shape.vocab
    per_epoch = compiling.train_flops(cfg, cfg.data.budget_tokens)
    for epochs in range(1, 1000):
        if compiling.decide(cfg, device, per_epoch * epochs, torch.get_num_threads())[0]:
            return math.ceil(epochs * 1.1)
    raise SystemExit(f"{shape.name}: auto would not compile even 1000 epochs of {cfg.data.budget_tokens:,} tokens")


def squeeze_config(shape: Shape, store: Path, compile: str, dtype: str, epochs: int = 1):
    """The default preset's standard-recipe config at `shape`: what `squeeze train` runs unless told otherwise;
    `compile` is train.compile (auto, on or off)."""
    cfg = presets.preset_config("default", "standard")
    cfg.model.n_layer, cfg.model.d_model, cfg.model.seq_len = shape.n_layer, shape.d_model, shape.seq_len
    cfg.model.n_head = shape.d_model // HEAD_DIM
    cfg.data.path, cfg.data.budget_tokens = str(store), shape.steps * BATCH * shape.seq_len + 1
    cfg.train.epochs, cfg.train.batch_size = epochs, BATCH
    cfg.train.compile, cfg.train.dtype, cfg.train.log_every = compile, dtype, CHUNK
    return cfg


LONG = "squeeze default, long run"


def columns(device: str, long: bool, width: int) -> list[tuple[str, str, str, bool]]:
    """(label, kind, dtype, compiled) of every column, dtypes resolved by the rule of squeeze/device/precision.py: the
    default's `auto`, and the compiled reference in what `auto` gives a compiled run (the like-for-like pair). The
    two default columns run with train.compile and train.dtype at auto: the short run stays eager, the long one
    (`long`: the head shape only) compiles, and its rate is over the whole wall time, compile included."""
    compiled_dtype = choose_dtype("auto", device, True, width=width)[0]
    cols = [("plain reference", "ref", "fp32", False), ("compiled reference", "ref", compiled_dtype, True),
            ("squeeze default", "squeeze", resolve_dtype("auto", device, False), False),
            *([(LONG, "squeeze", compiled_dtype, True)] if long else []),
            ("squeeze compiled fp32", "squeeze", "fp32", True)]
    if resolve_dtype("auto", device, True) == "bf16":  # native bf16 (or a GPU): a candidate for squeeze's best
        cols.append(("squeeze compiled bf16", "squeeze", "bf16", True))
    return cols


def measure_shape(shape: Shape, store: Path, work: Path, a, device: str, peaks: dict) -> dict:
    setup = make_setup(squeeze_config(shape, store, "off", "auto"))
    model = GPT(setup.cfg.model)
    sq_flops, params = model.flops_per_token(), model.param_counts()["total"]
    long = is_head(asdict(shape))
    cols = active = columns(device, long, shape.d_model)
    epochs = long_epochs(shape, store, device) if long else 1
    runs = {label: [] for label, *_ in cols}
    print(f"\n{shape.n_layer} layers x d {shape.d_model}, ctx {shape.seq_len}, vocab {setup.cfg.model.vocab_size}, "
          f"batch {BATCH}, {params:,} squeeze parameters; {setup.total_steps} steps per measurement, first "
          f"{a.skip} left out; {a.rounds} round(s)"
          + (f"; the long run: {epochs} epochs of them" if long else ""), flush=True)
    for r in range(a.rounds):
        for dtype in sorted({dtype for *_, dtype, _ in cols}):  # the peaks, measured again every round
            n = 8192 if device.startswith("cuda") else 2048
            peaks[dtype] = max(peaks.get(dtype, 0.0), perf.matmul_rate(n, device, dtype, reps=10, budget_s=2.0))
        order = active[r % len(active):] + active[:r % len(active)]  # rotate: none always runs first or last
        for label, kind, dtype, compiled in order:
            torch._dynamo.reset()  # every compiled column pays its compile, as a fresh process would (cache aside)
            before = machine_sample()
            if kind == "ref":
                m = reference(setup, device, dtype, compiled, a.skip)
            else:
                default = label in ("squeeze default", LONG)
                cfg = squeeze_config(shape, store, "auto" if default else "on" if compiled else "off",
                                     "auto" if default else dtype, epochs if label == LONG else 1)
                m = squeeze_run(cfg, work / label.replace(" ", "_").replace(",", ""), device, a.skip, compiled)
            m.others = others_share(before, machine_sample())
            runs[label].append(m)
        others = max(runs[label][-1].others for label, *_ in active)
        print(f"  round {r + 1}: " + ", ".join(f"{label} {rate(label, runs[label][-1]):,.0f}" for label, *_ in active)
              + f" tok/s; other processes used up to {others:.0%} of the CPUs"
              + (" (busy)" if others > BUSY else ""), flush=True)
        # squeeze's best: the candidate with the higher ratio to the plain reference in round 1 is kept, the
        # other one stops (a compiled column costs 10-45 s of compile a round on 2 cores)
        candidates = [c for c in active if c[0].startswith("squeeze compiled")]
        best = max(candidates, key=lambda c: runs[c[0]][0].tok_s / runs["plain reference"][0].tok_s)
        active = [c for c in active if c not in candidates or c == best]
    return summarize(shape, cols, runs, sq_flops, ref_flops_per_token(shape), peaks, best[0])


def rate(label: str, m: Measure) -> float:
    """A column's tokens/s: the long default run's over its whole wall time (what its user waits), every other
    column's steady state."""
    return m.wall_tok_s if label == LONG else m.tok_s


def is_head(shape: dict) -> bool:
    """The README's shape, 4 x 128, where `ratio:` is read."""
    return shape["n_layer"] == 4 and shape["d_model"] == 128


def summarize(shape: Shape, cols, runs: dict, sq_flops: int, ref_flops: int, peaks: dict, best: str) -> dict:
    """Per column: medians over the quiet rounds (no column of the round shared the CPUs with more than BUSY of
    other work), or over every round when none was quiet; the per-round numbers are kept next to them."""
    plain = [m.tok_s for m in runs["plain reference"]]
    others = [max(runs[label][r].others for label, *_ in cols if r < len(runs[label])) for r in range(len(plain))]
    use = [r for r, o in enumerate(others) if o <= BUSY] or list(range(len(plain)))
    rows = []
    for label, kind, dtype, compiled in cols:
        ms = runs[label]
        rates = [rate(label, m) for m in ms]
        ratios = [x / p for x, p in zip(rates, plain)]
        picked = [r for r in use if r < len(ms)] or [0]  # the dropped candidate ran in round 1 only
        tok_s = statistics.median(rates[r] for r in picked)
        flops = tok_s * (ref_flops if kind == "ref" else sq_flops)
        later = [ms[r].startup_s for r in picked if r > 0]
        rows.append({"column": label, "dtype": dtype, "compiled": compiled, "rounds_used": [r + 1 for r in picked],
                     "tok_s": tok_s, "tok_s_per_round": rates,
                     "ratio": statistics.median(ratios[r] for r in picked), "ratio_per_round": ratios,
                     "startup_s_cold": ms[0].startup_s, "startup_s_warm": statistics.median(later) if later else None,
                     "startup_s_per_round": [m.startup_s for m in ms], "others_per_round": [m.others for m in ms],
                     "flops_per_second": flops, "mfu": perf.mfu(flops, peaks[dtype])})
    comp_ref = next(row["tok_s_per_round"] for row in rows if row["column"] == "compiled reference")
    return {"shape": asdict(shape), "rows": rows, "best": best, "others_per_round": others,
            "rounds_used": [r + 1 for r in use], "quiet": len(use) < len(plain) or max(others) <= BUSY,
            "like_for_like": [b.tok_s / c for b, c in zip(runs[best], comp_ref)], "peaks": dict(peaks)}


def print_table(result: dict) -> None:
    best, used = result["best"], result["rounds_used"]
    print(f"{'column':<36} {'dtype':>5} {'compile':>7} {'tok/s':>9} {'vs plain':>9} {'start-up s':>11} "
          f"{'GFLOP/s':>8} {'MFU':>6}")
    for row in result["rows"]:
        label = row["column"] + (" (best)" if row["column"] == best else "")
        label += " (round 1 only)" if len(row["tok_s_per_round"]) == 1 < len(result["others_per_round"]) else ""
        warm = row["startup_s_warm"]
        startup = f"{row['startup_s_cold']:.1f}/{'-' if warm is None else f'{warm:.1f}'}" if row["compiled"] else "-"
        print(f"{label:<36} {row['dtype']:>5} {'yes' if row['compiled'] else 'no':>7} {row['tok_s']:>9,.0f} "
              f"{row['ratio']:>8.2f}x {startup:>11} {row['flops_per_second'] / 1e9:>8.1f} {row['mfu']:>6.1%}")
    print(f"medians over round(s) {', '.join(map(str, used))}"
          f"{'' if result['quiet'] else ' (no round was quiet)'}; other processes used "
          f"{', '.join(f'{o:.0%}' for o in result['others_per_round'])} of the CPUs in rounds 1.. (busy above "
          f"{BUSY:.0%}); start-up s = cold compile in round 1 / median of the later rounds (warm inductor cache)")
    for row in result["rows"]:
        print(f"  {row['column']} / plain per round: {', '.join(f'{x:.2f}' for x in row['ratio_per_round'])}")
    lfl = result["like_for_like"]
    print(f"  {best} / compiled reference per round: {', '.join(f'{x:.2f}' for x in lfl)}")


def machine(device: str) -> dict:
    info = perf.cpu_info()
    info.update(device=device, torch=torch.__version__, python=platform.python_version(),
                gpu=torch.cuda.get_device_name() if device.startswith("cuda") else None)
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="4x128:256:4096,2x64:128:1024",
                    help="comma list of LAYERSxWIDTH:CONTEXT:VOCAB (head dim 32, batch 16)")
    ap.add_argument("--steps", type=int, default=None, help="steps per measurement (default: 60 at 4x128 ctx 256, "
                                                            "150 for smaller shapes)")
    ap.add_argument("--skip", type=int, default=10, help="first steps left out of tokens/s (compile, warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each measures every column once, order rotated")
    ap.add_argument("--store", default=None, help="a token store to use for every shape (its vocabulary wins; "
                                                  "default: a synthetic store per vocabulary)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None, help="write every number (per round too) to this file")
    ap.add_argument("--quick", action="store_true",
                    help="one round, 40 steps (a smoke check; round 1 pays every cold compile: ~4-5 min on 2 cores)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.steps = 1, a.steps or 40
    if a.skip < CHUNK or a.skip % CHUNK or a.rounds < 1:
        ap.error(f"--skip must be a multiple of {CHUNK} (the steps of one timed chunk) and --rounds >= 1")
    shapes = [parse_shape(t, a.steps) for t in a.shapes.split(",")]
    if any(s.steps < a.skip + 4 * CHUNK or s.steps % CHUNK for s in shapes):
        ap.error(f"--steps must be a multiple of {CHUNK} leaving at least {4 * CHUNK} measured steps after --skip")
    torch.set_flush_denormal(True)  # squeeze sets it for its CPU runs; the reference gets it too
    info = machine(a.device)
    flags = perf.flags_text(info)
    print(f"CPU: {info['model']}; {flags}; {info['threads']} threads; torch {info['torch']}; device {a.device}"
          f"{' (' + info['gpu'] + ')' if info['gpu'] else ''}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="squeeze-throughput-"))
    # an empty inductor cache: round 1's start-up is a cold compile, later rounds' a warm-cache one (what a user's
    # first and second run pay); torch._dynamo.reset() before each column makes every compiled column compile again
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor"))
    t0, results, peaks = time.perf_counter(), [], {}
    try:
        for shape in shapes:
            if a.store:
                store = Path(a.store)
            else:  # enough training tokens for the budget after the 5% validation split, with a margin
                store = work / f"store{shape.vocab}"
                make_store(store, int(shape.steps * BATCH * shape.seq_len * 1.25) + 50_000, shape.vocab)
            result = measure_shape(shape, store, work, a, a.device, peaks)
            print_table(result)
            results.append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # stores, run directories and the inductor cache (~100s of MB)
    print("\npeak matmul FLOP/s measured here: " + ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in peaks.items())
          + f"; wall time {(time.perf_counter() - t0) / 60:.1f} min")
    for r in results:
        eager = next(row for row in r["rows"] if row["column"] == "squeeze default")
        print(f"eager: {eager['ratio']:.2f}  (squeeze default, eager, / plain reference at {Shape(**r['shape']).name}; "
              f"goal >= 1.0)")
    head = next((r for r in results if is_head(r["shape"])), results[0])
    ratio = next((r for r in head["rows"] if r["column"] == LONG), None)
    ratio = (ratio or next(r for r in head["rows"] if r["column"] == "squeeze default"))["ratio"]
    best = next(r for r in head["rows"] if r["column"] == head["best"])
    shape, rounds = Shape(**head["shape"]).name, ", ".join(map(str, head["rounds_used"]))
    print(f"best: {head['best']} {best['ratio']:.2f}x the plain reference at {shape}")
    print(f"ratio: {ratio:.2f}  ({LONG}: auto compiles it, start-up included, / plain reference at {shape}, median "
          f"of round(s) {rounds}; goal >= 1.5)")
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": info, "args": vars(a), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
