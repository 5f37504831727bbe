"""The eager model alone, forward + backward, side by side in one process (issue 33): squeeze's fused CPU forms
(`_RMSNorm`, `_Rope` in squeeze/model.py) against the same model on torch's own ops, and both against
throughput.py's plain reference GPT.

Each round times every column once, in turn, over `--steps` steps of a seeded batch of 16 (cross-entropy on the
logits, gradients cleared each step, no optimizer: the model's own cost, where throughput.py's columns include the
trainer's). The table gives the median over rounds of each column's time per step and its speed relative to the
plain reference (> 1 is faster). Denormals are flushed for every column (the plain reference's untrained tied
head otherwise falls into denormal products and runs ~10x slower at 4 x 128).

    python benchmarks/eager_model.py [--threads 1,2] [--rounds 9] [--shapes 2x64:128:1024,4x128:256:4096]
(from a checkout that is not pip-installed: PYTHONPATH=. in front)
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from throughput import HEAD_DIM, RefGPT, parse_shape  # benchmarks/ is on sys.path when this script runs

import squeeze.model as model_mod
from squeeze import presets
from squeeze.device import perf

FUSED = model_mod.eager_cpu_fp32
COLUMNS = ("plain reference", "squeeze, torch's ops", "squeeze, fused")


def squeeze_model(shape) -> model_mod.GPT:
    cfg = presets.preset_config("default", "standard").model
    cfg.n_layer, cfg.d_model, cfg.seq_len, cfg.vocab_size = shape.n_layer, shape.d_model, shape.seq_len, shape.vocab
    cfg.n_head = shape.d_model // HEAD_DIM
    return model_mod.GPT(cfg)


def time_steps(model, idx, target, steps: int) -> float:
    """Milliseconds per forward + backward step (one untimed step first)."""
    def step():
        logits = model(idx)
        F.cross_entropy(logits.flatten(0, 1).float(), target.flatten()).backward()
        model.zero_grad(set_to_none=True)
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def measure(shape, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    models = {"plain reference": RefGPT(shape.vocab, shape.d_model, shape.n_layer, shape.d_model // HEAD_DIM,
                                        shape.seq_len), "squeeze": squeeze_model(shape)}
    gen = torch.Generator().manual_seed(1)
    idx, target = (torch.randint(0, shape.vocab, (16, shape.seq_len), generator=gen) for _ in range(2))
    steps = 20 if shape.d_model * shape.seq_len < 256 * 128 else 5
    times: dict[str, list[float]] = {c: [] for c in COLUMNS}
    try:
        for _ in range(rounds):
            for col in COLUMNS:
                model_mod.eager_cpu_fp32 = FUSED if col == "squeeze, fused" else (lambda x: False)
                times[col].append(time_steps(models[col.split(",")[0]], idx, target, steps))
    finally:
        model_mod.eager_cpu_fp32 = FUSED
    return {c: statistics.median(v) for c, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="torch threads, one table each (default 1,2)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--shapes", default="2x64:128:1024,4x128:256:4096")
    a = ap.parse_args()
    torch.set_flush_denormal(True)
    info = perf.cpu_info()
    print(f"CPU: {info['model']}; {perf.flags_text(info)}; torch {torch.__version__}")
    for threads in (int(t) for t in a.threads.split(",")):
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s), median of {a.rounds} rounds; ms per step (speed vs the plain reference)")
        for text in a.shapes.split(","):
            shape = parse_shape(text, None)
            ms = measure(shape, a.rounds)
            ref = ms["plain reference"]
            cells = ", ".join(f"{c} {v:.1f} ({ref / v:.3f}x)" for c, v in ms.items())
            print(f"  {shape.name}: {cells}; fused / torch's ops: {ms[COLUMNS[1]] / ms[COLUMNS[2]]:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
