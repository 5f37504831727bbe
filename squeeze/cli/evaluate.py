"""`squeeze eval` (a run's loss, several runs' ensemble, or a task's accuracy), `squeeze sample` and `squeeze
export`: their flags and checks, the calls into the library, and what they print. Exercised by tests/test_cli.py,
tests/test_ensemble.py, tests/test_eval_tasks.py, tests/test_export.py and tests/test_snapshots.py.
"""
import argparse
import json
from pathlib import Path

import torch

from squeeze.cli import checks
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.evaluation.ensemble import ensemble_eval, format_table, snapshot_eval
from squeeze.evaluation.loss import evaluate
from squeeze.evaluation.tasks import task_accuracy
from squeeze.interop.export import FORMATS, describe_export, export_run
from squeeze.interop.gguf import architecture, import_gguf
from squeeze.runs.files import WEIGHT_FILES
from squeeze.train.checkpoint import check_tokenizer, load_run
from squeeze.train.setup import bind_to_store


def add_eval_parser(sub) -> None:
    e = sub.add_parser("eval", help="validation loss and bits per byte of a run (several runs: their ensemble)")
    e.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    e.add_argument("--orders", type=int, default=5, help="random member orders averaged in the K curve")
    e.add_argument("--data", default=None, help="token store (default: the run's own)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--weights", choices=("raw", "ema", "avg"), default="raw",
                   help="raw = model.safetensors; ema / avg = the averaged weights (train.ema_decay, "
                        "train.avg_last_epochs)")
    e.add_argument("--snapshots", action="store_true", help="the run's snapshotNNN.safetensors (train.lr_cycles) "
                                                               "as an ensemble: each one's loss, mixture, product, "
                                                               "learned weights, K curve")
    e.add_argument("--top-k", type=int, default=0, help="with --snapshots: keep the K snapshots with the largest "
                                                        "learned weights (without a fitness slice: the K best "
                                                        "validation losses, flagged optimistic); 0 = all")
    e.add_argument("--fit-top-k", action="store_true", help="with --snapshots: the learned mixture keeps the top-k "
                   "snapshots that the run's fitness slice chooses, with softmax weights fitted there (the NanoGPT "
                   "Slowrun record's weighting); the uniform mixture keeps them all")
    e.add_argument("--task", default=None, help="zero-shot multiple-choice accuracy instead: a .jsonl of "
                                                "{context, choices, label}, or 'heldout' (built from the store)")
    e.add_argument("--task-limit", type=int, default=0, help="score at most N examples (heldout default: 200)")
    e.add_argument("--task-seed", type=int, default=0, help="seed of the heldout task's examples")


def add_sample_parser(sub) -> None:
    s = sub.add_parser("sample", help="generate text from a run")
    s.add_argument("run_dir")
    s.add_argument("--prompt", default="", help="text to continue")
    s.add_argument("--tokens", type=int, default=200, help="tokens to generate")
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--seed", type=int, default=0)


def add_export_parser(sub) -> None:
    x = sub.add_parser("export", help="a run's model as a Hugging Face folder (transformers loads it offline)")
    x.add_argument("run_dir")
    x.add_argument("--format", default="hf", help="hf: Llama (Qwen3 for QK-norm models) + tokenizer (default)")
    x.add_argument("--out", required=True, help="folder to write")
    x.add_argument("--force", action="store_true", help="overwrite a folder that already holds a model")


def add_import_parser(sub) -> None:
    x = sub.add_parser("import", help="a Llama/Qwen3 .gguf file as a Hugging Face folder that --init reads")
    x.add_argument("file", help="the .gguf file")
    x.add_argument("--out", required=True, help="folder to write (config.json, model.safetensors, tokenizer.json)")


def check_import(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("FILE", a.file, "file")
    checks.output_dir("--out", a.out)
    if (Path(a.out) / "config.json").exists():
        raise SqueezeError(f"{a.out}: already holds a model (config.json); choose another --out")
    architecture(Path(a.file))  # a corrupt file or a missing `gguf` package: one line, before anything is written
    checks.make_outputs(a.out)


def cmd_import(a: argparse.Namespace) -> None:
    out = import_gguf(a.file, a.out)
    print(f"{out}: config.json, model.safetensors and tokenizer.json from {a.file}; train from it with "
          f"`squeeze train --init {out}` or `squeeze run --init {out}`")


ORDERS_MAX = 10_000  # random member orders averaged in a K curve; each is a pass over the members' losses
TOKENS_MAX = 1_000_000  # tokens `squeeze sample` generates, one forward pass each


def check_eval(a: argparse.Namespace, _overrides: list[str]) -> None:
    """The run directories and flags of `squeeze eval`, and the combinations it refuses."""
    for run_dir in a.run_dirs:
        checks.existing("RUN_DIR", run_dir, "dir")
    checks.number("--orders", a.orders, 1, ORDERS_MAX)
    checks.existing("--data", a.data, "dir")
    checks.number("--top-k", a.top_k, 0, checks.COUNT_MAX)
    if a.task != "heldout":
        checks.existing("--task", a.task, "file")
    checks.number("--task-limit", a.task_limit, 0, checks.COUNT_MAX)
    checks.seed("--task-seed", a.task_seed)
    if (a.top_k or a.fit_top_k) and not a.snapshots:
        raise SqueezeError(f"{'--top-k' if a.top_k else '--fit-top-k'} applies to --snapshots")
    if a.top_k and a.fit_top_k:
        raise SqueezeError("--top-k and --fit-top-k: give one (a fixed K, or the K the fitness slice chooses)")
    if a.snapshots and (len(a.run_dirs) > 1 or a.task or a.weights != "raw"):
        raise SqueezeError("--snapshots takes one run directory and no --task or --weights")
    if len(a.run_dirs) > 1 and (a.task or a.weights != "raw"):
        raise SqueezeError("--task and --weights apply to one run; an ensemble uses each member's raw weights")


def check_sample(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("RUN_DIR", a.run_dir, "dir")
    checks.text("--prompt", a.prompt, empty=True)
    checks.number("--tokens", a.tokens, 1, TOKENS_MAX)
    checks.number("--temperature", a.temperature, 0.0)  # 0 = greedy
    checks.number("--top-k", a.top_k, 0, checks.COUNT_MAX)  # 0 = the whole vocabulary
    checks.seed("--seed", a.seed)


def check_export(a: argparse.Namespace, _overrides: list[str]) -> None:
    checks.existing("RUN_DIR", a.run_dir, "dir")
    checks.choice("--format", a.format, FORMATS, "format")
    checks.output_dir("--out", a.out)
    checks.make_outputs(a.out)


def cmd_eval(a: argparse.Namespace) -> None:
    if a.snapshots:
        return _eval_snapshots(a)
    if len(a.run_dirs) > 1:
        r = ensemble_eval(a.run_dirs, data=a.data, n_orders=a.orders)
        print(json.dumps(r) if a.json else format_table(r))
        return
    run_dir = a.run_dirs[0]
    if a.task:
        return _eval_task(a, run_dir)
    weights = WEIGHT_FILES[a.weights]
    cfg, model, info = load_run(run_dir, weights=weights)
    if a.data:
        cfg.data.path = a.data
    _, store = bind_to_store(cfg)
    check_tokenizer(Path(run_dir), info, store)
    out = evaluate(model, store.val, store.token_bytes, cfg.model.seq_len, cfg.train.batch_size,
                   dtype=cfg.train.dtype)
    if a.json:
        print(json.dumps({**out, "weights": weights}))
    else:
        print(f"{run_dir} ({weights}): val loss {out['loss']:.4f} nats/token, {out['bpb']:.4f} bits/byte "
              f"({out['tokens']:,} tokens, {out['bytes']:,} bytes)")


def _eval_snapshots(a: argparse.Namespace) -> None:
    """`squeeze eval RUN_DIR --snapshots [--top-k K] [--orders N] [--data DIR] [--json]`."""
    r = snapshot_eval(a.run_dirs[0], top_k=a.top_k, data=a.data, n_orders=a.orders, fit_top_k=a.fit_top_k)
    if a.json:
        print(json.dumps(r))
        return
    lines = [f"{r['run_dir']}: snapshots {', '.join(r['snapshots'])} (train.lr_cycles={r['lr_cycles']})"]
    sel = r["selection"]
    if sel:
        lines.append(f"  top {sel['top_k']} by {sel['by']}: " + ", ".join(f"{v:.4f}" for v in sel["scores"]))
    if a.fit_top_k:
        lw = r["learned_weights"]
        lines.append(f"  learned mixture: the top {lw['top_k']} of {len(r['snapshots'])} chosen on the fitness slice"
                     if lw else "  --fit-top-k: n/a (the run reserved no fitness slice: data.fitness_tokens=0)")
    print("\n".join(lines + [format_table(r)]))


def _eval_task(a: argparse.Namespace, run_dir: str) -> None:
    """`squeeze eval RUN_DIR --task PATH.jsonl|heldout [--task-limit N] [--task-seed S] [--json]`."""
    out = task_accuracy(run_dir, a.task, limit=a.task_limit, seed=a.task_seed, data=a.data)
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{run_dir}: task {out['task']}: acc {out['acc']:.4f}, acc_norm {out['acc_norm']:.4f} "
              f"({out['normalization']}) over {out['n']:,} examples (chance {out['chance']:.3f})")


def cmd_sample(a: argparse.Namespace) -> None:

    cfg, model, info = load_run(a.run_dir)
    store = TokenStore.open(cfg.data.path)
    check_tokenizer(Path(a.run_dir), info, store)
    tok = store.tokenizer
    ids = tok.encode(a.prompt).ids if a.prompt else [store.eot_id]
    gen = torch.Generator().manual_seed(a.seed)
    out = model.generate(torch.tensor([ids]), a.tokens, temperature=a.temperature, top_k=a.top_k, generator=gen)
    print(tok.decode(out[0].tolist(), skip_special_tokens=False).replace("<|endoftext|>", "\n\n"))


def cmd_export(a: argparse.Namespace) -> None:
    print(describe_export(a.out, export_run(a.run_dir, a.out, a.format, force=a.force)))
