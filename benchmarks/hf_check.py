"""Load a `squeeze export` folder with transformers and compare it with the squeeze run it came from.

    python benchmarks/hf_check.py RUN_DIR HF_DIR

Prints the largest logit difference over 8 windows of held-out tokens (fp32) and whether greedy decoding with
HF `generate` and squeeze's `GPT.generate` gives the same 30 tokens. Needs transformers (`squeeze[hf]`).
"""
import argparse

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from squeeze.data.store import TokenStore
from squeeze.train.checkpoint import load_run


def main(run_dir: str, hf_dir: str) -> None:
    cfg, model, _ = load_run(run_dir)
    store = TokenStore.open(cfg.data.path)
    hf = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(hf_dir)
    T = cfg.model.seq_len
    x_BT = torch.from_numpy(np.asarray(store.val[:8 * T], dtype=np.int64).reshape(8, T))
    with torch.no_grad():
        ours_BTV, theirs_BTV = model(x_BT), hf(x_BT).logits
    print(f"{type(hf).__name__}: max |logit difference| {float((ours_BTV - theirs_BTV).abs().max()):.2e} over "
          f"{x_BT.numel():,} positions (largest |logit| {float(ours_BTV.abs().max()):.1f})")
    ids_1T = tok("KING HENRY:\n", return_tensors="pt").input_ids
    ours = model.generate(ids_1T, 30, temperature=0)[0].tolist()
    theirs = hf.generate(ids_1T, max_new_tokens=30, do_sample=False)[0].tolist()
    print(f"greedy 30 tokens identical: {ours == theirs}: {tok.decode(theirs)!r}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Compare a `squeeze export` folder, loaded with transformers, with the "
                                            "squeeze run it came from (logits and greedy decoding).")
    p.add_argument("run_dir", help="the squeeze run directory")
    p.add_argument("hf_dir", help="the folder `squeeze export RUN_DIR --format hf --out HF_DIR` wrote")
    a = p.parse_args()
    main(a.run_dir, a.hf_dir)
