"""Ensembles and distillation on the built-in corpus at the data-efficiency benchmark's D0 (50k tokens, vocab 1024,
3 layers x d 96, ctx 128): K = 1..8 curves with their asymptote, mixture vs product vs learned weights, a distilled
single student, a chain of 4, and each one's data-efficiency multiplier against the standard law stored in
benchmarks/data_efficiency_fits.json (squeeze.scaling.efficiency).

Base point: the certified regularized optimum of benchmarks/RESULTS.md (lr 4e-3, wd 6.4, 8 epochs). Members reserve
the last 2,048 tokens of the 50k budget as the fitness slice of the learned weights (data.fitness_tokens), so every
ensemble uses the same 50k-token budget as the single model. Every run is an ordinary run directory under --out;
re-running skips finished runs.

    python benchmarks/ensemble.py [--out DIR] [--workers 2] [--store DIR]
(~15 min on 2 idle cores; ~60 min when they are shared)
"""
import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import torch

from squeeze import recipes
from squeeze.data.prepare import ensure_store
from squeeze.evaluation.ensemble import ensemble_eval, format_table
from squeeze.runs.execute import Job, run_jobs
from squeeze.scaling.efficiency import data_efficiency
from squeeze.study.members import chain_jobs, seeded
from squeeze.train.backend import TRAINER
from squeeze.train.distill import retention

HERE = Path(__file__).resolve().parent
D0, FITNESS, K = 50_000, 2048, 8


def base_config(store: Path):
    c = recipes.regularized()
    c.data.path, c.data.budget_tokens = str(store), D0
    c.model.n_layer, c.model.d_model, c.model.n_head, c.model.seq_len = 3, 96, 3, 128
    c.train.batch_size, c.train.compile, c.train.eval_tokens = 16, "off", 8192
    c.train.lr, c.train.weight_decay, c.train.epochs = 4e-3, 6.4, 8  # certified in benchmarks/RESULTS.md
    return c


def multiplier(loss: float) -> str:
    fits = json.loads((HERE / "data_efficiency_fits.json").read_text())["data_scaling"]
    f = SimpleNamespace(**{k: fits["fit"][k] for k in "ABC"})
    e = data_efficiency(f, loss, D0, measured_budgets=fits["x"], measured_losses=fits["best_losses"])
    law = "beyond the standard asymptote" if e.beyond_asymptote else f"{e.multiplier:.2f}x"
    return f"{law} (interp. {e.interp_note})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-ensemble", help="benchmark directory (runs are kept and reused)")
    ap.add_argument("--workers", type=int, default=2, help="parallel 1-thread training processes")
    ap.add_argument("--store", default=None, help="an existing 1024-vocab token store of the built-in corpus")
    ap.add_argument("--rule", action="store_true", help="also train 8 members by the 2x-epochs 1/2-wd rule "
                                                        "(doubles the member cost)")
    ap.add_argument("--smoke", action="store_true", help="a 1-minute check of this script: 1 x d 32, 1 epoch, "
                                                         "K 3, D0 10k (numbers mean nothing)")
    ap.add_argument("--orders", type=int, default=4, help="random member orders averaged in the K curves")
    a = ap.parse_args()
    t0, out = time.time(), Path(a.out)
    torch.set_num_threads(a.workers)
    say = lambda m: print(f"[{(time.time() - t0) / 60:5.1f} min] {m}", file=sys.stderr, flush=True)
    store = Path(a.store) if a.store else ensure_store(None, out, 1024)
    base = base_config(store)
    global K, D0
    if a.smoke:
        K, D0 = 3, 10_000
        base.data.budget_tokens, base.train.epochs = D0, 1
        base.model.n_layer, base.model.d_model, base.model.n_head, base.model.seq_len = 1, 32, 2, 32
    member = base.copy()
    member.data.fitness_tokens = FITNESS
    rule = recipes.ensemble_member(member)  # 16 epochs, wd 3.2: the published member rule

    say("1/3 the single model and 8 members at the certified point" + (", 8 by the rule" if a.rule else ""))
    sets = {"certified": [Job(seeded(member, i), out / "certified" / f"member{i}") for i in range(K)]}
    if a.rule:
        sets["rule"] = [Job(seeded(rule, i), out / "rule" / f"member{i}") for i in range(K)]
    single = run_jobs([Job(base, out / "single"), *sum(sets.values(), [])], TRAINER, workers=a.workers,
                      threads_per_worker=1)[0]
    results = {"single": single["val_loss"], "single_params": single["params"]}
    teachers = [str(j.run_dir.resolve()) for j in sets["certified"]]

    say("2/3 in two processes: a student distilled from the certified ensemble, and a chain of 4 one member after "
        "another; meanwhile the ensembles are evaluated here (one pass each)")
    student_cfg = base.copy()
    student_cfg.distill.teachers, student_cfg.distill.alpha = ",".join(teachers), 0.5
    chain_base = member.copy()
    chain_base.distill.alpha = 0.5
    chain = chain_jobs(chain_base, out / "chain", 4, [])
    # chain member 0 has no teacher: it is the same training run as certified member 0, so reuse that one
    chain[0] = sets["certified"][0]
    chain[1].cfg.distill.teachers = str(chain[0].run_dir.resolve())
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [pool.submit(run_in_order, [Job(student_cfg, out / "student")]),
                   pool.submit(run_in_order, chain[1:])]
        evals = {}
        for name, jobs in sets.items():
            evals[name] = ensemble_eval([str(j.run_dir) for j in jobs], n_orders=a.orders)
            print(f"## {name} members\n{format_table(evals[name])}\n", flush=True)
        student = futures[0].result()[0]
        futures[1].result()
    best = "certified"

    say("3/3 the chain as an ensemble")
    evals["chain"] = ensemble_eval([str(j.run_dir) for j in chain], n_orders=a.orders)
    print(f"## chain of 4\n{format_table(evals['chain'])}\n", flush=True)

    ens = evals[best]
    ret = retention(single["val_loss"], student["val_loss"], ens["mixture"], student["params"], ens["params"])
    results.update(evals=evals, best=best, student=student, retention=ret,
                   chain_members=[json.loads((j.run_dir / "summary.json").read_text())["val_loss"] for j in chain],
                   minutes=round((time.time() - t0) / 60, 1))
    (out / "ensemble_results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    say(f"done in {(time.time() - t0) / 60:.1f} min; runs under {out}")


def run_in_order(jobs: list[Job]) -> list[dict]:
    """Train jobs one after another in one 1-thread process (a chain member needs the one before it)."""
    torch.set_num_threads(1)
    return [run_jobs([job], TRAINER, workers=1, threads_per_worker=1)[0] for job in jobs]


def table(r: dict) -> str:
    rows = [("single model (certified point, 50k tokens)", r["single"])]
    for name, label in (("certified", "certified point"), ("rule", "2x epochs, 1/2 wd")):
        if name not in r["evals"]:
            continue
        e = r["evals"][name]
        rows += [(f"mean member, {label}", e["mean_member_loss"]),
                 (f"ensemble K={len(e['members'])} {label}, mixture", e["mixture"]),
                 (f"ensemble K={len(e['members'])} {label}, product", e["product"])]
        if "learned" in e:
            rows.append((f"ensemble K={len(e['members'])} {label}, learned weights", e["learned"]))
        a = e.get("asymptote") or {}
        if "C" in a:
            rows.append((f"K->inf asymptote {label} (mixture, fit over orders)", a["C"]))
    rows += [(f"student distilled from the {r['best']} ensemble (alpha 0.5, T 1)", r["student"]["val_loss"])]
    rows += [(f"chain member {i}", v) for i, v in enumerate(r["chain_members"])]
    rows += [("chain of 4 as an ensemble, mixture", r["evals"]["chain"]["mixture"])]
    lines = ["| what | val loss | data-efficiency multiplier (standard law; interpolation) |", "|---|---|---|"]
    lines += [f"| {name} | {loss:.4f} | {multiplier(loss)} |" for name, loss in rows]
    ret = r["retention"]
    kept = "n/a" if ret["retention"] is None else f"{ret['retention']:.0%}"
    lines.append(f"\nstudent retention {kept} of the ensemble's gain at {ret['param_ratio']:.3f}x its parameters; "
                 f"teacher cost {r['student']['teacher_forward_flops']:.3g} forward FLOPs, "
                 f"{r['student']['teacher_seconds']:.0f} s of {r['student']['train_seconds']:.0f} s training")
    for name in r["evals"]:
        e = r["evals"][name]
        lines.append(f"K curve {name} (mixture, mean over orders): "
                     + " ".join(f"{v:.4f}" for v in e["mixture_curve_mean"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
