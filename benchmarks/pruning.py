"""Data selection on a 2-core CPU: embedding throughput and k-means time, then validation loss of the regularized
recipe trained on each method's subset vs a random subset of the same token count vs the full budget, at a small
and a large budget.

Setup of benchmarks/data_efficiency.py: built-in corpus, vocab 1024, 2 layers x d 64, ctx 128, batch 16, the
regularized point certified there (lr 4e-3, wd 6.4, 8 epochs). Every subset keeps --keep of the budget's TOKENS;
each method gets its own random subset cut at exactly the method's kept-token count (seed = method index, so the
random rows also show the run-to-run spread of random subsets). Trainings run in 2 worker processes x 1 thread via
squeeze.runs.execute; finished runs and cached embeddings are reused, so a killed benchmark continues.

    python benchmarks/pruning.py [--out DIR] [--budgets 50000,100000] [--keep 0.5] [--workers 2]
(~38 min, busy 2 cores)
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from squeeze import recipes
from squeeze.cli import main as main_cli
from squeeze.data.mask import budget_doc_tokens, load_mask, save_mask
from squeeze.data.prepare import ensure_store
from squeeze.data.store import TokenStore
from squeeze.prune import select
from squeeze.runs.execute import Job, execute
from squeeze.train.backend import TRAINER

METHODS = {  # name -> extra `squeeze prune` flags
    "prototypes-easy": ["--method", "prototypes", "--keep-easy"],
    "prototypes-hard": ["--method", "prototypes", "--keep-hard"],
    "semdedup": ["--method", "semdedup"],
    "d4": ["--method", "d4", "--keep-hard"],
    "perplexity-middle": ["--method", "perplexity", "--slice", "middle", "--workers", "2"],
}


def speed(store: TokenStore, n_docs: int, n_points: int, k: int, say) -> dict:
    """MiniLM documents/s (and 256-piece chunks/s) on the store's first documents; k-means seconds on
    n_points x 384 synthetic unit vectors around k planted centres, faiss and the torch fallback."""
    from squeeze.prune.embed import MiniLM
    m = MiniLM()
    tok = store.tokenizer
    texts = [tok.decode(np.asarray(store.train[store.train_offsets[d]:store.train_offsets[d + 1]]).tolist())
             for d in range(n_docs)]
    n_chunks = len(m.chunks(texts)[0])
    t0 = time.perf_counter()
    m.embed(texts)
    secs = time.perf_counter() - t0
    out = {"minilm_docs": n_docs, "minilm_chunks": n_chunks, "minilm_seconds": round(secs, 2),
           "minilm_docs_per_s": round(n_docs / secs, 3), "minilm_chunks_per_s": round(n_chunks / secs, 2),
           "torch_threads": torch.get_num_threads()}
    say(f"  MiniLM: {n_docs} documents ({n_chunks} chunks) in {secs:.1f} s")
    rng = np.random.default_rng(0)
    centres = select.normalize(rng.normal(size=(k, 384)))
    x = select.normalize(centres[rng.integers(k, size=n_points)] + 0.05 * rng.normal(size=(n_points, 384)))
    for backend in ("faiss", "torch"):
        t0 = time.perf_counter()
        c = select.kmeans(x, k, seed=0, iters=20, backend=backend)
        secs = time.perf_counter() - t0
        out[f"kmeans_{backend}_seconds"] = round(secs, 2)
        out[f"kmeans_{backend}_mean_cos"] = round(float(select.assign(x, c)[1].mean()), 4)
        say(f"  k-means {backend}: {n_points:,} x 384, k={k}, 20 iterations: {secs:.1f} s")
    return out


def base_config(store: Path):
    c = recipes.recipe("regularized")
    c.data.path = str(store)
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = 2, 64, 2, 128
    c.train.batch_size, c.train.compile, c.train.eval_tokens = 16, "off", 8192
    c.train.lr, c.train.weight_decay, c.train.epochs = 4e-3, 6.4, 8  # certified in benchmarks/RESULTS.md
    return c


def masks_for_budget(store_dir: Path, store: TokenStore, budget: int, keep: float, out: Path, say) -> dict:
    """name -> mask path: each method's mask and a random mask of the same token count."""
    ntok = budget_doc_tokens(store, budget)
    masks = {}
    for i, (name, flags) in enumerate(METHODS.items()):
        path = out / f"{name}.json"
        if not path.exists():
            t0 = time.perf_counter()
            if main_cli(["prune", "--data", str(store_dir), "--budget-tokens", str(budget), "--keep", str(keep),
                         "--out", str(path), *flags]):
                sys.exit(f"squeeze prune {name} failed")
            say(f"  b{budget} {name}: mask in {time.perf_counter() - t0:.0f} s")
        kept = int(ntok[load_mask(path, store)].sum())
        rnd = out / f"random-for-{name}.json"
        if not rnd.exists():
            save_mask(rnd, store, select.random_keep(ntok, keep, seed=i, target_tokens=kept), method="random",
                      seed=i, kept_tokens=kept)
        masks[name], masks[f"random-for-{name}"] = path, rnd
    return masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-pruning", help="benchmark directory (runs and masks are reused)")
    ap.add_argument("--budgets", default="50000,100000", help="small,large budgets in unique training tokens")
    ap.add_argument("--keep", type=float, default=0.5, help="fraction of each budget's tokens every subset keeps")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--speed-docs", type=int, default=16, help="documents for the MiniLM throughput")
    ap.add_argument("--kmeans-points", type=int, default=100_000)
    a = ap.parse_args()
    t0, out = time.time(), Path(a.out)
    say = lambda m: print(f"[{(time.time() - t0) / 60:5.1f} min] {m}", file=sys.stderr, flush=True)
    store_dir = ensure_store(None, out, a.vocab)
    store = TokenStore.open(store_dir)
    results = {"keep": a.keep, "fraction_of": "tokens"}
    say("1/3 speed: MiniLM embedding and k-means")
    if (out / "speed.json").exists():  # measured by an earlier invocation (the torch k-means alone takes minutes)
        results["speed"] = json.loads((out / "speed.json").read_text())
    else:
        results["speed"] = speed(store, a.speed_docs, a.kmeans_points, 1000, say)
        (out / "speed.json").write_text(json.dumps(results["speed"], indent=2) + "\n")
    say("2/3 masks")
    base, jobs = base_config(store_dir), []
    for budget in (int(b) for b in a.budgets.split(",")):
        masks = masks_for_budget(store_dir, store, budget, a.keep, out / f"b{budget}" / "masks", say)
        for name, path in {"full": None, **masks}.items():
            cfg = base.copy()
            cfg.data.budget_tokens, cfg.data.keep_mask = budget, str(path or "")
            jobs.append((budget, name, Job(cfg, out / f"b{budget}" / "runs" / name)))
    say(f"3/3 training {len(jobs)} runs, {a.workers} workers x 1 thread")
    jobs.sort(key=lambda j: -(j[0] * (2 if j[1] == "full" else 1)))  # longest first: the pool ends together
    outcomes = execute([j for _, _, j in jobs], TRAINER, workers=a.workers, threads_per_worker=1)
    rows = [{"budget": b, "subset": n, "val_loss": o.summary and o.summary.get("val_loss"),
             "unique_tokens": o.summary and o.summary.get("unique_tokens"), "error": o.error}
            for (b, n, _), o in zip(jobs, outcomes)]
    results["runs"] = sorted(rows, key=lambda r: (r["budget"], r["subset"]))
    results["minutes"] = round((time.time() - t0) / 60, 1)
    (out / "pruning.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    say(f"done; {out / 'pruning.json'}")


def print_table(results: dict) -> None:
    by = {(r["budget"], r["subset"]): r for r in results["runs"]}
    print("| budget | subset | unique tokens | val loss | random subset, same tokens | method - random |")
    print("|---|---|---|---|---|---|")
    for budget in sorted({r["budget"] for r in results["runs"]}):
        full = by[(budget, "full")]
        print(f"| {budget:,} | full budget | {full['unique_tokens']:,} | {full['val_loss']:.4f} | | |")
        for name in METHODS:
            m, r = by[(budget, name)], by[(budget, f"random-for-{name}")]
            if m["val_loss"] is None or r["val_loss"] is None:
                print(f"| {budget:,} | {name} | failed: {m['error'] or r['error']} | | | |")
                continue
            print(f"| {budget:,} | {name} | {m['unique_tokens']:,} | {m['val_loss']:.4f} | {r['val_loss']:.4f} | "
                  f"{m['val_loss'] - r['val_loss']:+.4f} |")


if __name__ == "__main__":
    main()
