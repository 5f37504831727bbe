"""Ablations of the data-efficiency options (issue 5): each option switched on against the tuned regularized
recipe, 3 seeds each, at one CPU-sized budget on the built-in corpus; mean, spread and change of validation loss.

Setup of benchmarks/data_efficiency.py: built-in corpus, BPE vocab 1024, D0 = 50k unique training tokens, ctx 128,
batch 16, eager fp32; the model is its small size (2 layers x d 64) at the certified regularized point of
benchmarks/RESULTS.md (AdamW lr 4e-3, wd 6.4, 8 epochs, cosine). Seed s sets both the init and the data-order seed.
EMA and last-k averaging change no training step, so they are read off the baseline runs themselves (val_loss_ema,
val_loss_avg next to val_loss): paired, same weights trajectory. Muon gets two weight decays: the one where its
per-step shrink muon_lr·wd (torch's Muon and AdamW both shrink by lr·wd) equals AdamW's 4e-3 x 6.4, and twice
that. Each run costs ~4 min on a core shared with other jobs (2.9k tokens/s): the list is the issue's options.
Runs are ordinary run directories under --out; a re-run skips finished ones.

    python benchmarks/ablations.py [--out DIR] [--workers 2] [--seeds 3]       (~45 min on 2 busy cores)
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from squeeze import recipes
from squeeze.data.prepare import ensure_store
from squeeze.io import read_json
from squeeze.runs.execute import Job, Outcome, execute
from squeeze.train.backend import TRAINER

ADAMW_LR, ADAMW_WD, EPOCHS, MUON_LR = 4e-3, 6.4, 8, 0.02
MUON_WD = ADAMW_LR * ADAMW_WD / MUON_LR  # 1.28: the same lr·wd shrink per step as the AdamW baseline

# name -> overrides of the baseline; "baseline" also carries the averaging options (they only read the weights).
OPTIONS: dict[str, list[str]] = {
    "baseline": ["train.ema_decay=0.95", "train.ema_start=0.5", "train.avg_last_epochs=2"],
    "loop": ["model.loop_start=1", "model.loop_end=2", "model.loop_repeats=2", "train.loop_from=0.5"],
    "loop+inject": ["model.loop_start=1", "model.loop_end=2", "model.loop_repeats=2", "train.loop_from=0.5",
                    "model.loop_inject=true"],
    "dropout 0.1": ["model.dropout=0.1"],
    "drop_path 0.1": ["model.drop_path=0.1"],
    "wd inverse": ["train.wd_schedule=inverse"],
    "doc shuffle": ["data.doc_shuffle=true"],
    "aug replace 0.05": ["train.aug_replace_rate=0.05"],
    **{f"muon wd {wd:g}": ["train.optimizer=muon", f"train.muon_lr={MUON_LR}", f"train.weight_decay={wd}"]
       for wd in (MUON_WD, MUON_WD * 2)},
    # follow-ups after the first table: the inverse schedule from a lower base wd (at 6.4 it over-decays: 10x by
    # the end), and the options that helped there, together, with the averaging read off the same runs
    "wd inverse, wd 1.6": ["train.wd_schedule=inverse", "train.weight_decay=1.6"],
    "best (combined)": ["model.loop_start=1", "model.loop_end=2", "model.loop_repeats=2", "train.loop_from=0.5",
                        "model.loop_inject=true", "data.doc_shuffle=true", "train.aug_replace_rate=0.05",
                        "train.ema_decay=0.95", "train.ema_start=0.5", "train.avg_last_epochs=2"],
    # second follow-up: the looped model against plain ones at equal training FLOPs (looping the last layer twice
    # more over the last half of the steps costs 1.34x the baseline's FLOPs at equal unique parameters): a plain
    # 3-layer model (the same mean depth, 1.5x the block parameters) and the plain 2-layer model for 11 epochs
    # (1.375x); and Muon's lr at AdamW's per-step shrink lr·wd = 0.0256, halved and doubled
    "plain 3 layers (equal FLOPs)": ["model.n_layer=3"],
    "plain 11 epochs (equal FLOPs)": ["train.epochs=11"],
    **{f"muon lr {lr:g} wd {ADAMW_LR * ADAMW_WD / lr:g}": [
        "train.optimizer=muon", f"train.muon_lr={lr}", f"train.weight_decay={ADAMW_LR * ADAMW_WD / lr}"]
       for lr in (MUON_LR / 2, MUON_LR * 2)},
    # third: the combined recipe without its loop, at the baseline's FLOPs and at the loop's (11 epochs)
    "doc shuffle + aug (no loop)": ["data.doc_shuffle=true", "train.aug_replace_rate=0.05"],
    "doc shuffle + aug, 11 epochs (equal FLOPs)": ["data.doc_shuffle=true", "train.aug_replace_rate=0.05",
                                                   "train.epochs=11"],
    # fourth: epochs re-certified with the options on, with and without the loop (does `best` keep it?), and the
    # plain baseline at 16 epochs (8 was certified on 3x96, and 11 beat it on this 2x64 model)
    "plain 16 epochs": ["train.epochs=16"],
    **{f"doc shuffle + aug, {ep} epochs": ["data.doc_shuffle=true", "train.aug_replace_rate=0.05",
                                           f"train.epochs={ep}"] for ep in (16, 22)},
    **{f"doc shuffle + aug + loop+inject, {ep} epochs": [
        "model.loop_start=1", "model.loop_end=2", "model.loop_repeats=2", "train.loop_from=0.5",
        "model.loop_inject=true", "data.doc_shuffle=true", "train.aug_replace_rate=0.05", f"train.epochs={ep}"]
       for ep in (11, 16, 22, 32)},
}


def base_config(store: Path, d0: int):
    from squeeze.config import apply_overrides
    c = recipes.regularized()
    c.data.path, c.data.budget_tokens = str(store), d0
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = 2, 64, 2, 128
    c.train.lr, c.train.weight_decay, c.train.epochs = ADAMW_LR, ADAMW_WD, EPOCHS
    c.train.batch_size, c.train.compile, c.train.eval_tokens = 16, "off", 8192
    return apply_overrides(c, [])


def jobs_for(base, out: Path, seeds: int) -> list[tuple[str, int, Job]]:
    from squeeze.config import apply_overrides
    jobs = []
    for seed in range(seeds):  # seed-major, so a partial run has every option at the first seeds
        for name, overrides in OPTIONS.items():
            cfg = apply_overrides(base, overrides + [f"train.seed={seed}", f"data.seed={seed}"])
            cfg.recipe = "regularized+" + name
            jobs.append((name, seed, Job(cfg, out / "runs" / name.replace(" ", "_") / f"seed{seed}")))
    return jobs


def table(losses: dict[str, dict[int, float]]) -> list[dict]:
    """Per option: mean and SD over seeds, and the paired change against the baseline of the same seed (mean, SD).
    `helps` = the mean change is negative by more than the largest of: the option's seed SD, the baseline's seed SD
    and the SD of the paired changes."""
    base = losses["baseline"]
    rows = []
    for name, by_seed in losses.items():
        seeds = sorted(set(by_seed) & set(base))
        if not seeds:
            continue
        vals = [by_seed[s] for s in seeds]
        deltas = [by_seed[s] - base[s] for s in seeds]
        sd = statistics.stdev(vals) if len(vals) > 1 else float("nan")
        sd_base = statistics.stdev([base[s] for s in seeds]) if len(seeds) > 1 else float("nan")
        mean_d = statistics.fmean(deltas)
        sd_d = statistics.stdev(deltas) if len(deltas) > 1 else float("nan")
        rows.append({"option": name, "seeds": len(seeds), "mean": statistics.fmean(vals), "sd": sd,
                     "delta": mean_d, "delta_sd": sd_d,
                     "helps": name != "baseline" and len(seeds) > 1 and mean_d < -max(sd, sd_base, sd_d)})
    return rows


def collect(jobs, outcomes) -> dict[str, dict[int, float]]:
    losses: dict[str, dict[int, float]] = {}
    for (name, seed, _), out in zip(jobs, outcomes):
        s = out.summary
        if out.error or not s or s.get("diverged"):
            print(f"{name} seed {seed}: {out.error or 'diverged'}", file=sys.stderr)
            continue
        losses.setdefault(name, {})[seed] = s["val_loss"]
        if name in ("baseline", "best (combined)"):  # the averaged weights of the same runs
            tag = "" if name == "baseline" else f"{name} + "
            losses.setdefault(f"{tag}EMA 0.95 (from 50%)", {})[seed] = s["val_loss_ema"]
            losses.setdefault(f"{tag}avg last 2 epochs", {})[seed] = s["val_loss_avg"]
    return losses


def add_flops(rows: list[dict], jobs, outcomes) -> None:
    """Each row's training FLOPs (summary.json, seed 0) over the baseline's; averaged weights share their runs'."""
    flops = {name: out.summary["flops"] for (name, seed, _), out in zip(jobs, outcomes)
             if seed == 0 and out.summary and out.summary.get("flops")}
    for r in rows:
        run = r["option"] if r["option"] in flops else next(
            (n for n in flops if r["option"].startswith(n + " + ")), "baseline")
        r["flops_ratio"] = flops[run] / flops["baseline"] if "baseline" in flops and run in flops else None


def markdown(rows: list[dict]) -> str:
    lines = ["| option | seeds | val loss mean | SD | change vs baseline (paired) | SD of change | FLOPs vs baseline | "
             "helps |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['flops_ratio']:.2f}x" if r.get("flops_ratio") else "-"
        lines.append(f"| {r['option']} | {r['seeds']} | {r['mean']:.4f} | {r['sd']:.4f} | {r['delta']:+.4f} | "
                     f"{r['delta_sd']:.4f} | {ratio} | {'yes' if r['helps'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-ablations", help="study directory (runs are kept and reused)")
    ap.add_argument("--d0", type=int, default=50_000, help="unique training tokens")
    ap.add_argument("--workers", type=int, default=2, help="parallel 1-thread training processes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--report-only", action="store_true", help="tabulate the finished runs under --out, train none")
    a = ap.parse_args()
    t0, out = time.time(), Path(a.out)
    store = ensure_store(None, out, a.vocab)
    jobs = jobs_for(base_config(store, a.d0), out, a.seeds)
    print(f"{len(jobs)} runs: {len(OPTIONS)} configurations x {a.seeds} seeds", file=sys.stderr, flush=True)
    if a.report_only:
        outcomes = [Outcome(summary=read_json(j.run_dir / "summary.json")) if (j.run_dir / "summary.json").exists()
                    else Outcome(error="not finished") for _, _, j in jobs]
    else:
        outcomes = execute([j for _, _, j in jobs], TRAINER, workers=a.workers, threads_per_worker=1)
    rows = table(collect(jobs, outcomes))
    add_flops(rows, jobs, outcomes)
    text = markdown(rows)
    print(text)
    (out / "ablations.md").write_text(text + "\n")
    (out / "ablations.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"done in {(time.time() - t0) / 60:.1f} min; runs under {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
