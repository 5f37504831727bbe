"""Training throughput of the squeeze trainer against a plain reference GPT, measured side by side in one run.

The reference is the classic nanoGPT shape written here in ~40 lines: learned positions, LayerNorm, GELU MLP,
SDPA attention, AdamW, eager fp32, no compile. squeeze runs its real `train()` (loader, schedule, clipping,
logging, checkpoints) with its defaults for the machine (dtype auto, torch.compile). Same shape (4 layers, d 128,
ctx 256, vocab 4096), same batch (16), same data, same threads. Steady-state tokens/s skips the first steps
(compile and warmup). The runs alternate reference / squeeze for three rounds; the median per-round ratio is
reported.

    python benchmarks/throughput.py [--steps 120] [--store DIR]     (target: ratio >= 1.5 on 2 CPU cores)
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from squeeze import recipes
from squeeze.data.prepare import ensure_store
from squeeze.train.trainer import make_setup, train


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
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def reference_tokens_per_s(cfg, loader, steps: int, skip: int) -> float:
    torch.manual_seed(0)
    m = cfg.model
    model = RefGPT(m.vocab_size, m.d_model, m.n_layer, m.n_head, m.seq_len)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=0.1)
    tokens, t0 = 0, 0.0
    for step in range(steps):
        if step == skip:
            tokens, t0 = 0, time.perf_counter()
        x, y = loader.batch(*divmod(step, loader.steps_per_epoch))
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += y.numel()
    return tokens / (time.perf_counter() - t0)


def squeeze_tokens_per_s(cfg, run_dir: Path, skip: int) -> float:
    train(cfg, run_dir, force=True, quiet=True)
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train_loss" in r]
    first = next(r for r in rows if r["step"] >= skip)
    return (rows[-1]["tokens"] - first["tokens"]) / (rows[-1]["time"] - first["time"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120, help="training steps per measurement")
    ap.add_argument("--skip", type=int, default=20, help="first steps left out (compile, warmup)")
    ap.add_argument("--store", default=None, help="token store (default: built-in corpus, vocab 4096)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds (reference, then squeeze)")
    a = ap.parse_args()
    torch.set_flush_denormal(True)
    work = Path(tempfile.mkdtemp(prefix="squeeze-bench-"))
    store = Path(a.store) if a.store else ensure_store(None, work, 4096)
    cfg = recipes.preset("default", "standard")
    cfg.data.path, cfg.data.budget_tokens = str(store), a.steps * 16 * 256 + 1
    cfg.train.epochs, cfg.train.log_every, cfg.train.ckpt_every = 1, 10, 10 ** 9
    setup = make_setup(cfg)
    print(f"shape: {cfg.model.n_layer} layers, d {cfg.model.d_model}, ctx {cfg.model.seq_len}, vocab "
          f"{setup.cfg.model.vocab_size}, batch {cfg.train.batch_size}; {torch.get_num_threads()} threads; "
          f"squeeze: dtype {cfg.train.dtype}, compile {cfg.train.compile}", flush=True)
    ref, ours = [], []
    for i in range(a.repeats):
        ref.append(reference_tokens_per_s(setup.cfg, setup.loader, a.steps, a.skip))
        ours.append(squeeze_tokens_per_s(cfg, work / f"run{i}", a.skip))
        print(f"  round {i + 1}: reference {ref[-1]:,.0f} tok/s, squeeze {ours[-1]:,.0f} tok/s", flush=True)
    # The ratio of each round is the side-by-side number; the median of rounds resists a round that another
    # process on the machine slowed down.
    ratios = sorted(o / r for o, r in zip(ours, ref))
    print(f"reference (eager fp32): {statistics.median(ref):,.0f} tok/s (median)\n"
          f"squeeze trainer:        {statistics.median(ours):,.0f} tok/s (median)\n"
          f"ratio per round: {', '.join(f'{x:.2f}x' for x in ratios)}; median {statistics.median(ratios):.2f}x "
          f"(target >= 1.5)")


if __name__ == "__main__":
    sys.exit(main())
